"""Means over a cluster's micro-batches, the same bits on every process and for every W that
divides M (imports TF; graph mode, one graph per process).

Process r of W holds L = M/W consecutive micro-batches, [r*L, (r+1)*L), and one packed float32
vector per local micro-batch (a pass's losses, gradients and batch statistics). The mean over
all M is `tf_determinism.reduce.tree_mean`: a pairwise tree over micro-batch index, times 1/M.
Two exchanges compute exactly that tree:

* "subtree", when L is a power of two: the first log2(L) levels of the tree pair micro-batches
  of one process only, so each process sums its own L vectors into S_r, and the rest of the
  tree is the pairwise tree over rank of the S_r. A reduce-scatter (all-to-all: chunk j of
  every S_r to process j, in rank order) lets process j sum chunk j over rank with that tree,
  and an all-gather of the summed chunks gives every process the whole sum. Each process sends
  and receives 2(W-1)/W vectors, what a ring all-reduce moves. (TF's own all-reduce sums in an
  order that depends on W; recursive halving with distance doubling would pair ranks like
  this tree, distance halving would not.)
* "gather", otherwise (e.g. M=6 on W=2, L=3): every micro-batch's vector is all-gathered,
  (W-1)L vectors received, and each process runs the whole tree.

Rank order is TF's: the sorted device names, "/job:chief/..." before "/job:worker/...", then
by task; it does not depend on the start order or on the group leader. Every process builds
the same collectives in the same order, so their instance keys (counted per process) match.
"""

from __future__ import annotations

import dataclasses
import itertools

import tensorflow as tf

from tf_determinism import internals
from tf_determinism.reduce import tree_mean, tree_sum

_GROUP_KEY = 1
_FLOAT_BYTES = 4
# Process-wide: every collective a process builds needs its own instance key, the same in
# every process (they build the same graphs in the same order). A server keeps an instance's
# shape and type for its lifetime, so a second graph in the same process must not reuse keys.
_INSTANCE_KEYS = itertools.count(1)


def _instance_key() -> int:
    return next(_INSTANCE_KEYS)


@dataclasses.dataclass
class Traffic:
    """What this process's collectives move per global step (from their static tensor sizes).

    Attributes:
      sent_bytes, received_bytes: summed over every collective of the step.
      collectives: how many collective ops the step runs.
    """

    sent_bytes: int = 0
    received_bytes: int = 0
    collectives: int = 0

    def add(self, peers: int, elements: int) -> None:
        """One collective in which this process sends and receives `elements` float32 to and
        from each of `peers` processes."""
        self.sent_bytes += peers * elements * _FLOAT_BYTES
        self.received_bytes += peers * elements * _FLOAT_BYTES
        self.collectives += 1


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class MicroBatchMean:
    """fn(local: this process's L vectors float32 [N], in micro-batch order) -> the mean over
    all M micro-batches, float32 [N], as `tree_mean` of all M vectors in one process gives it.

    Args:
      processes: W.
      micro_batches: M (W divides it).
      timeout_seconds: A collective waiting longer for a peer (a frozen or absent process)
        fails with DeadlineExceededError; a dead peer fails at once with UnavailableError.
      method: None for the cheapest exact one; "gather" to gather every micro-batch anyway
        (what the subtree method replaced: the benchmark's and a test's comparison).

    Attributes:
      method: "local" (W = 1), "subtree" or "gather" (see the module docstring).
      traffic: What the collectives built so far move per step.
    """

    def __init__(
        self,
        processes: int,
        micro_batches: int,
        *,
        timeout_seconds: float,
        method: str | None = None,
    ) -> None:
        if micro_batches % processes:
            raise ValueError(
                f"MicroBatchMean: {processes} processes do not divide "
                f"{micro_batches} micro-batches"
            )
        self.processes, self.micro_batches = processes, micro_batches
        self.local = micro_batches // processes
        best = (
            "local" if processes == 1 else "subtree" if _is_power_of_two(self.local) else "gather"
        )
        if method not in (None, best, "gather") or (method == "gather" and processes == 1):
            raise ValueError(
                f"MicroBatchMean: method {method!r} cannot serve {processes} "
                f"processes with {self.local} micro-batches each"
            )
        self.method = method or best
        self.traffic = Traffic()
        self._timeout = timeout_seconds

    def __call__(self, local: list[tf.Tensor]) -> tf.Tensor:
        if len(local) != self.local:
            raise ValueError(f"MicroBatchMean: {len(local)} local vectors, expected {self.local}")
        if self.method == "local":
            return tree_mean(local)
        if self.method == "gather":
            return tree_mean(self._all_gather_rows(tf.stack(local)))
        return self._subtree_sum(local) * (1.0 / self.micro_batches)

    def _all_gather_rows(self, rows: tf.Tensor) -> list[tf.Tensor]:
        """[L, N] here -> the W*L rows of every process, rank-major."""
        gathered = internals.collective_ops().all_gather(
            rows,
            group_size=self.processes,
            group_key=_GROUP_KEY,
            instance_key=_instance_key(),
            timeout=self._timeout,
        )
        self.traffic.add(self.processes - 1, rows.shape.num_elements())
        return tf.unstack(tf.reshape(gathered, [self.processes * self.local, -1]))

    def _subtree_sum(self, local: list[tf.Tensor]) -> tf.Tensor:
        """The tree sum of all M vectors: local subtree, reduce-scatter, all-gather."""
        ops = internals.collective_ops()
        own = tree_sum(local)
        size = own.shape.num_elements()
        chunk = -(-size // self.processes)  # ceil: zeros pad the last chunk
        chunks = tf.reshape(
            tf.pad(own, [[0, chunk * self.processes - size]]), [self.processes, chunk]
        )
        received = ops.all_to_all_v2(
            chunks,
            group_size=self.processes,
            group_key=_GROUP_KEY,
            instance_key=_instance_key(),
            timeout=self._timeout,
        )
        self.traffic.add(self.processes - 1, chunk)
        summed = tree_sum(tf.unstack(tf.reshape(received, [self.processes, chunk])))
        gathered = ops.all_gather_v2(
            summed,
            group_size=self.processes,
            group_key=_GROUP_KEY,
            instance_key=_instance_key(),
            timeout=self._timeout,
        )
        self.traffic.add(self.processes - 1, chunk)
        return tf.reshape(gathered, [-1])[:size]


def any_process(flag: tf.Tensor, processes: int, *, timeout_seconds: float) -> tf.Tensor:
    """float32 scalar: 1 when `flag` (a float32 scalar, 0 or 1) is 1 in any of the W processes
    that run this op in the same step (one float gathered from each), else 0."""
    gathered = internals.collective_ops().all_gather(
        tf.reshape(flag, [1]),
        group_size=processes,
        group_key=_GROUP_KEY,
        instance_key=_instance_key(),
        timeout=timeout_seconds,
    )
    return tf.reduce_max(gathered)
