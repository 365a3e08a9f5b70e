"""Rank-ordered gathers between the processes of a cluster, on TF's collective ops (imports
TF; graph mode, one graph per process).

Every process builds the same gathers in the same order (so the instance keys match); each
gather returns every process's values concatenated in rank order, which TF fixes as the
sorted order of the device names ("/job:chief/..." before "/job:worker/...", then by task):
identical bytes everywhere, whatever the start order or the group leader. What the processes
then compute from them (a pairwise tree over micro-batch index) is the same on each.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import tensorflow as tf
from tensorflow.python.ops import collective_ops

_GROUP_KEY = 1


def rank_ordered_gather(group_size: int, *, timeout_seconds: float
                        ) -> Callable[[list[tf.Tensor]], list[tf.Tensor]]:
    """A gather fn for `gan_models.build_train_step` across `group_size` processes.

    Args:
      group_size: W, the number of processes (each must call with as many values).
      timeout_seconds: A collective waiting longer for a peer (a frozen or absent process)
        fails with `tf.errors.DeadlineExceededError`; a dead peer fails at once with
        `tf.errors.UnavailableError`.

    Returns:
      fn(local: list of L float32 [N] tensors) -> the list of all W * L tensors, rank-major:
      process r's values at [r * L, (r + 1) * L).
    """
    instance_keys = itertools.count(1)

    def gather(local: list[tf.Tensor]) -> list[tf.Tensor]:
        stacked = tf.stack(local)  # [L, N]
        gathered = collective_ops.all_gather(
            stacked, group_size=group_size, group_key=_GROUP_KEY,
            instance_key=next(instance_keys), timeout=timeout_seconds)
        return tf.unstack(tf.reshape(gathered, [group_size * len(local), -1]))

    return gather
