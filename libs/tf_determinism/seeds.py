"""One root seed, split into named sub-seeds in one visible place (the run's seed tree).

Every random number a run uses comes from one of the sub-seeds below, each a pure function of
the root seed (`--random_seed`) and its name. Consumers never see the root: the data pipeline
gets `data`, initializers get `init`, and so on, so that adding a consumer cannot shift what
another one draws. Inside a sub-seed, per-use keys are derived again by name or by position:

    root ──┬─ data              seeded_input: derive(data, "files") shard order,
           │                    derive(data, "shuffle") window permutations
           ├─ init              one key per variable: derive(init, full variable name)
           ├─ noise             generator inputs of global batch k: [noise, k]
           ├─ dropout           dropout masks of global batch k: [dropout, k]
           ├─ gradient_penalty  WGAN-GP interpolation weights at step s: [gradient_penalty, s]
           ├─ samples           the fixed samples.png noise grid (numpy PCG64)
           └─ eval              the fixed --eval generator inputs, batch i: [eval, i]

Keys like [sub_seed, k] are the two-element seeds of TF's `tf.random.stateless_*` ops: the
draw is a pure function of them, whatever the graph, the thread count or a resume. (The page's
graph-level `RunConfig(tf_random_seed=...)` is still set by the apps; it only reaches
unseeded stateful ops, which this project does not use.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from tf_determinism.checks import check_int


def derive_seed(seed: int, *names: str | int) -> int:
    """A stable sub-seed of `seed` for the path `names`.

    SHA-256 of the JSON list [seed, *names] (never Python's `hash()`, which is salted per
    process for str), so the same on every platform and Python version.

    Args:
      seed: a non-negative int.
      *names: str or int path components, e.g. ("init", "Generator/fc1/kernel").

    Returns:
      An int in [0, 2**63): valid as an int64 component of a stateless seed and as a numpy
      seed.

    Raises:
      ValueError: `seed` is not a non-negative int, or a name is not a str or int.
    """
    check_int("derive_seed: seed", seed, minimum=0)
    for name in names:
        if isinstance(name, bool) or not isinstance(name, str | int):
            raise ValueError(f"derive_seed: names must be str or int, got {name!r}")
    payload = json.dumps([seed, *names]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") >> 1


@dataclasses.dataclass(frozen=True)
class SeedTree:
    """The named sub-seeds of one run (see the module docstring); build with `from_root`."""

    root: int
    data: int
    init: int
    noise: int
    dropout: int
    gradient_penalty: int
    samples: int
    eval: int

    @classmethod
    def from_root(cls, root: int) -> SeedTree:
        """Splits `root` (a non-negative int) into every named sub-seed."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "root"]
        return cls(root=root, **{name: derive_seed(root, name) for name in names})

    def as_dict(self) -> dict[str, Any]:
        """{name: sub-seed} for run.json."""
        return dataclasses.asdict(self)


def stateless_key(sub_seed: int, index: Any, micro_batch: Any = None) -> Any:
    """The int64 [2] stateless seed of (sub_seed, global batch index[, micro-batch index]).

    Without `micro_batch`: [sub_seed, index]. With it: that key with the micro-batch index
    folded in, so a micro-batch's draws depend on (seed, global batch, micro-batch) only, not
    on how many micro-batches a process computes or where (another worker).

    Args:
      sub_seed: A `SeedTree` sub-seed.
      index: int64 scalar tensor or int, the global batch index.
      micro_batch: Optional int (or int scalar tensor) in [0, micro_batches).
    """
    import tensorflow as tf

    key = tf.stack([tf.constant(sub_seed, tf.int64), tf.cast(index, tf.int64)])
    if micro_batch is None:
        return key
    return tf.random.experimental.stateless_fold_in(key, tf.cast(micro_batch, tf.int64))
