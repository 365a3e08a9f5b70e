"""Sums whose order is fixed by the operands' positions, not by run time (imports TF).

A multi-input `AddN` on CPU sums in a run-time-dependent order (see optimizers.py). `tree_sum`
adds pairwise over the operands' index, (0+1)+(2+3), ..., each addition a 2-input add, which
is commutative and so exact whatever the kernel does: the result depends only on the values
and their positions. This is how per-micro-batch gradients and losses are combined, in one
process or across several (`micro_batch_means`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

# One packed float32 vector per local micro-batch -> their mean over all M micro-batches, a
# tree over micro-batch index (across processes: repro_cluster.collectives.MicroBatchMean).
MicroBatchMean = Callable[[list[tf.Tensor]], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class MicroBatchShare:
    """One process's part of every global step (multi-worker training, any model).

    Attributes:
      first, last: it computes micro-batches [first, last) of the M (its input holds their
        rows only).
      mean: combines its values with the other processes' (see `MicroBatchMean`).
    """

    first: int
    last: int
    mean: MicroBatchMean


def tree_sum(values: Sequence[Any]) -> Any:
    """Pairwise sum over index: [a, b, c, d, e] -> ((a + b) + (c + d)) + e.

    Args:
      values: One or more tensors of the same shape and dtype (a single one is returned as is).

    Returns:
      Their sum, a tensor of that shape and dtype.
    """
    level = list(values)
    if not level:
        raise ValueError("tree_sum: needs at least one value")
    while len(level) > 1:
        pairs = [tf.add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def tree_mean(values: Sequence[Any]) -> Any:
    """`tree_sum(values) / len(values)`, and exactly `values[0]` when there is one value."""
    if len(values) == 1:
        return values[0]
    return tree_sum(values) * (1.0 / len(values))


def micro_batch_means(per_micro: Sequence[Any], mean: MicroBatchMean | None = None) -> Any:
    """Element-wise means over micro-batches of one nested structure per local micro-batch.

    Args:
      per_micro: One structure (tf.nest) of float32 tensors per local micro-batch, the same
        in each; a None leaf (e.g. a variable without gradient) stays None.
      mean: None (every micro-batch is local: `tree_mean` per leaf), or a mean across
        processes. Then each micro-batch's leaves are packed into one float32 vector, so one
        exchange moves all of them; the tree mean of the packed vectors is element for element
        the tree mean of each leaf (the same additions in the same order), so packing cannot
        change a bit.

    Returns:
      The structure of means.
    """
    flat = [tf.nest.flatten(structure) for structure in per_micro]
    template = flat[0]
    if mean is None:
        means = [
            None if leaf is None else tree_mean([values[k] for values in flat])
            for k, leaf in enumerate(template)
        ]
    else:
        present = [leaf for leaf in template if leaf is not None]
        packed = [
            tf.concat([tf.reshape(v, [-1]) for v in values if v is not None], axis=0)
            for values in flat
        ]
        parts = iter(tf.split(mean(packed), [leaf.shape.num_elements() for leaf in present]))
        means = [None if leaf is None else tf.reshape(next(parts), leaf.shape) for leaf in template]
    return tf.nest.pack_sequence_as(per_micro[0], means)
