"""Stable seed derivation and stateless variable initializers.

Why not the graph seed: `RunConfig(tf_random_seed=...)` does not reach Keras-backed initializers
and op-level seeds combine with a per-graph counter, so weights could depend on how many random
ops were built before. Every initializer here is a `tf.random.stateless_*` op keyed by a seed
derived from (run seed, full variable name): rebuilding the graph, building it in a different
order, or changing the graph seed cannot change an initial weight.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import tensorflow as tf

_SEED_MASK = 0x7FFFFFFF  # 31 bits: valid as int32 and int64 stateless seed components.


def derive_seed(seed: int, *names: str | int) -> int:
    """Derives a stable sub-seed from a run seed and a path of names.

    Uses SHA-256 (never Python's `hash()`, which is salted per process for str).

    Args:
      seed: The run seed, a non-negative Python int.
      *names: Strings/ints naming the consumer, e.g. ("Generator/fc1/kernel", 0).

    Returns:
      An int in [0, 2**31 - 1].

    Raises:
      ValueError: If `seed` is not a non-negative int or a name is not str/int.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"derive_seed: seed must be a non-negative int, got {seed!r}")
    for name in names:
        if isinstance(name, bool) or not isinstance(name, str | int):
            raise ValueError(f"derive_seed: names must be str or int, got {name!r}")
    payload = json.dumps(["gan_models", seed, *names]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") & _SEED_MASK


def stateless_seed(seed: int, *names: str | int) -> tuple[int, int]:
    """Returns a `[2]` seed pair for `tf.random.stateless_*`, derived like `derive_seed`."""
    return derive_seed(seed, *names, "hi"), derive_seed(seed, *names, "lo")


def _fans(shape: list[int]) -> tuple[int, int]:
    # Same convention as Keras/TF glorot: receptive field times the last two dims.
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return receptive * shape[-2], receptive * shape[-1]


class StatelessGlorotUniform:
    """Glorot-uniform initializer drawn with `tf.random.stateless_uniform`.

    Same distribution as `tf.compat.v1.glorot_uniform_initializer` (U[-l, l],
    l = sqrt(6 / (fan_in + fan_out))); usable as a `get_variable` initializer.
    """

    def __init__(self, seed_pair: tuple[int, int]) -> None:
        self.seed_pair = seed_pair

    def __call__(self, shape: Any, dtype: Any = tf.float32,
                 partition_info: Any = None) -> tf.Tensor:
        del partition_info  # Unpartitioned variables only.
        dims = [int(d) for d in shape]
        fan_in, fan_out = _fans(dims)
        limit = math.sqrt(6.0 / float(fan_in + fan_out))
        return tf.random.stateless_uniform(
            dims, seed=self.seed_pair, minval=-limit, maxval=limit,
            dtype=tf.as_dtype(dtype).base_dtype)


class StatelessNormal:
    """Standard-normal initializer drawn with `tf.random.stateless_normal`."""

    def __init__(self, seed_pair: tuple[int, int]) -> None:
        self.seed_pair = seed_pair

    def __call__(self, shape: Any, dtype: Any = tf.float32,
                 partition_info: Any = None) -> tf.Tensor:
        del partition_info
        dims = [int(d) for d in shape]
        return tf.random.stateless_normal(
            dims, seed=self.seed_pair, dtype=tf.as_dtype(dtype).base_dtype)
