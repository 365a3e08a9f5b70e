"""Sums whose order is fixed by the operands' positions, not by run time (imports TF).

A multi-input `AddN` on CPU sums in a run-time-dependent order (see optimizers.py). `tree_sum`
adds pairwise over the operands' index, (0+1)+(2+3), ..., each addition a 2-input add, which
is commutative and so exact whatever the kernel does: the result depends only on the values
and their positions. This is how per-micro-batch gradients and losses are combined, in one
process or gathered from several workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf


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
