"""Stateless variable initializers keyed by (init sub-seed, full variable name).

Why not the graph seed: `RunConfig(tf_random_seed=...)` does not reach Keras-backed initializers,
and op-level seeds combine with a per-graph counter, so weights could depend on how many random
ops were built before. Each initializer here is a `tf.random.stateless_*` op whose key is derived
from the variable's own name: rebuilding the graph, building it in another order or changing
the graph seed cannot change an initial weight.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from tf_determinism.seeds import derive_seed


def variable_key(init_seed: int, name: str) -> tuple[int, int]:
    """The stateless seed of the variable `name` (its full scoped name)."""
    return derive_seed(init_seed, name), 0


def fans(shape: list[int]) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras/TF glorot counts them (receptive field x last two dims)."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return receptive * shape[-2], receptive * shape[-1]


class StatelessGlorotUniform:
    """Glorot-uniform U[-l, l], l = sqrt(6 / (fan_in + fan_out)), as a `get_variable` initializer.

    Same distribution as `tf.compat.v1.glorot_uniform_initializer`, drawn statelessly.

    Args:
      init_seed: the run's `SeedTree.init`.
      name: the variable's full name (scope included); keys the draw.
    """

    def __init__(self, init_seed: int, name: str) -> None:
        self.key = variable_key(init_seed, name)

    def __call__(
        self, shape: Any, dtype: Any = tf.float32, partition_info: Any = None
    ) -> tf.Tensor:
        del partition_info  # Unpartitioned variables only.
        dims = [int(d) for d in shape]
        fan_in, fan_out = fans(dims)
        limit = math.sqrt(6.0 / float(fan_in + fan_out))
        return tf.random.stateless_uniform(
            dims, seed=self.key, minval=-limit, maxval=limit, dtype=tf.as_dtype(dtype).base_dtype
        )


class StatelessNormal:
    """Standard-normal initializer drawn with `tf.random.stateless_normal` (args as above)."""

    def __init__(self, init_seed: int, name: str) -> None:
        self.key = variable_key(init_seed, name)

    def __call__(
        self, shape: Any, dtype: Any = tf.float32, partition_info: Any = None
    ) -> tf.Tensor:
        del partition_info
        return tf.random.stateless_normal(
            [int(d) for d in shape], seed=self.key, dtype=tf.as_dtype(dtype).base_dtype
        )
