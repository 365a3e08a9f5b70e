"""Stateless variable initializers keyed by (init sub-seed, full variable name).

Why not the graph seed: `RunConfig(tf_random_seed=...)` does not reach Keras-backed initializers,
and op-level seeds combine with a per-graph counter, so weights could depend on how many random
ops were built before. Each initializer here is a `tf.random.stateless_*` op whose key is derived
from the variable's own name: rebuilding the graph, building it in another order or changing
the graph seed cannot change an initial weight.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Callable, Iterator
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


def _keras_initializer(initial_value: Any) -> Any:
    """The Keras initializer an `add_weight` variable is initialized by (Keras passes
    functools.partial(initializer, shape, dtype=...)), or None."""
    if not isinstance(initial_value, functools.partial):
        return None
    initializer = initial_value.func
    keras_base = tf.keras.initializers.Initializer
    return initializer if isinstance(initializer, keras_base) else None


def _seeded_creator(init_seed: int) -> Callable[..., Any]:
    def creator(next_creator: Callable[..., Any], **kwargs: Any) -> Any:
        initializer = _keras_initializer(kwargs.get("initial_value"))
        config = initializer.get_config() if initializer is not None else {}
        if config.get("seed", 0) is None:  # a Keras initializer without a seed
            graph = tf.compat.v1.get_default_graph()
            full_name = graph.unique_name(kwargs.get("name") or "Variable", mark_as_used=False)
            seeded = type(initializer).from_config(
                {**config, "seed": variable_key(init_seed, full_name)[0]}
            )
            partial = kwargs["initial_value"]
            kwargs["initial_value"] = functools.partial(seeded, *partial.args, **partial.keywords)
        return next_creator(**kwargs)

    return creator


@contextlib.contextmanager
def seeded_keras_initializers(init_seed: int) -> Iterator[None]:
    """Within the block (graph mode, the default graph), a variable that a Keras initializer
    without a seed initializes (every Keras layer's default: `Dense`, `Conv2D`, `Embedding`,
    `tf.compat.v1.layers`, ...) gets that initializer seeded by (init_seed, the variable's full
    name), like `StatelessGlorotUniform`.

    Keras draws an unseeded initializer's seed from Python's `random` in each process, so two
    runs start from other weights; keyed by name, the weights do not depend on the process, the
    order the layers are built in, or what else the graph holds. A seeded initializer is left
    as the model has it.
    """
    with tf.variable_creator_scope(_seeded_creator(init_seed)):
        yield


def with_seeded_keras_initializers(
    model_fn: Callable[..., Any], init_seed: int
) -> Callable[..., Any]:
    """`model_fn` (an Estimator's), building its graph inside `seeded_keras_initializers`; the
    same signature (the Estimator passes the arguments it names)."""

    def seeded(*args: Any, **kwargs: Any) -> Any:
        with seeded_keras_initializers(init_seed):
            return model_fn(*args, **kwargs)

    seeded.__signature__ = inspect.signature(model_fn)  # type: ignore[attr-defined]
    return seeded
