"""One root seed, split into named sub-seeds in one visible place (the run's seed tree).

Every random number a run uses comes from one of its sub-seeds, each a pure function of the root
seed (`--random_seed`) and its *name*: `derive_seed(root, name)`. The app names the sub-seeds it
draws from; the skeleton adds `data` (the order of the input stream) and `initializers` (Keras
initializers the model leaves unseeded, keyed by variable name). Consumers never see the
root: the data pipeline gets `data`, initializers get `init`, and so on, so adding a consumer
(a new name) cannot shift what another one draws, and no library changes for it. Inside a
sub-seed, per-use keys are derived again by name or by position, e.g. the MNIST GAN's:

    root ──┬─ data              seeded_input: derive(data, "files") shard order,
           │                    derive(data, "shuffle") window permutations
           ├─ initializers      Keras' unseeded initializers: derive(initializers, name)
           ├─ init              one key per variable: derive(init, full variable name)
           ├─ noise             generator inputs of global batch k: [noise, k]
           ├─ gradient_penalty  WGAN-GP interpolation weights at step s: [gradient_penalty, s]
           ├─ samples           the fixed samples.png noise grid (numpy PCG64)
           └─ eval              the fixed --eval generator inputs, batch i: [eval, i]

and the classifier's `dropout` (masks of global batch k: [dropout, k]). Every app's names are
in its run.json (`seeds`).

Keys like [sub_seed, k] are the two-element seeds of TF's `tf.random.stateless_*` ops: the
draw is a pure function of them, whatever the graph, the thread count or a resume. (The page's
graph-level `RunConfig(tf_random_seed=...)` is still set by the skeleton; it only reaches
unseeded stateful ops, which this project does not use.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
from collections.abc import Iterable, Mapping
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


_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class SeedTree:
    """The named sub-seeds of one run (see the module docstring); build with `from_root`.

    Attributes:
      root: the root seed.
      sub_seeds: {name: derive_seed(root, name)}, in the order the names were given.

    A sub-seed reads as an attribute, `tree.noise`; a name the run did not declare is an
    AttributeError naming the declared ones.
    """

    root: int
    sub_seeds: Mapping[str, int]

    @classmethod
    def from_root(cls, root: int, names: Iterable[str]) -> SeedTree:
        """Splits `root` (a non-negative int) into the sub-seeds `names` (lower-case
        identifiers, each once; "root" is not a name)."""
        check_int("SeedTree: root", root, minimum=0)
        names = list(names)
        for name in names:
            if (
                not isinstance(name, str)
                or not _NAME.fullmatch(name)
                or name in ("root", "sub_seeds")
            ):
                raise ValueError(
                    f"SeedTree: {name!r} is not a sub-seed name (a lower-case "
                    "identifier other than root)"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"SeedTree: a sub-seed name appears twice in {names}")
        return cls(
            root=root,
            sub_seeds=types.MappingProxyType({name: derive_seed(root, name) for name in names}),
        )

    def __getattr__(self, name: str) -> int:
        # Only called for names that are no attribute: the sub-seeds.
        sub_seeds = self.__dict__.get("sub_seeds", {})
        if name in sub_seeds:
            return sub_seeds[name]
        raise AttributeError(
            f"this run's seed tree has no sub-seed {name!r} (it has "
            f"{', '.join(sub_seeds) or 'none'}); declare it in the app's "
            "seed names"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SeedTree)
            and self.root == other.root
            and dict(self.sub_seeds) == dict(other.sub_seeds)
        )

    def __hash__(self) -> int:
        return hash((self.root, tuple(self.sub_seeds.items())))

    def has(self, *names: str) -> bool:
        """Whether every one of `names` is a sub-seed of this tree."""
        return all(name in self.sub_seeds for name in names)

    def as_dict(self) -> dict[str, Any]:
        """{"root": root, name: sub-seed, ...} for run.json."""
        return {"root": self.root, **self.sub_seeds}


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
