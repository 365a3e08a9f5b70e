"""Gradients whose bits do not depend on run-time buffer reuse or scheduling.

Measured here (TF 2.15.1 CPU; op determinism, single threads and oneDNN off did not help):
gradients of the same graph built twice differed in the last bits, because
  1. TF's CPU `AddN` accumulates into whichever input buffer it can forward in place and moves
     that input to the front, so the summation order of a >2-input AddN depends on buffer
     reference counts at run time; `tf.gradients` sums a variable's gradient paths with one
     such AddN (e.g. spectrally normalized kernels have 3-5 paths), and
  2. Grappler's arithmetic optimizer merges chains of 2-input adds back into such AddNs
     (`deterministic_grappler` in pins.py turns it off).
`DeterministicAdam` aggregates gradients pairwise (`EXPERIMENTAL_TREE`: 2-input sums are
commutative, so exact whatever the order) and gates them (`GATE_GRAPH`), so no variable update
can run before every gradient, and hence every read feeding one, is computed.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


class DeterministicAdam(tf.compat.v1.train.AdamOptimizer):
    """`AdamOptimizer` whose gradients are aggregated pairwise and gated, whatever the caller
    (e.g. TF-GAN's `create_train_op`, or `minimize`) asks for."""

    def compute_gradients(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["gate_gradients"] = tf.compat.v1.train.Optimizer.GATE_GRAPH
        kwargs["aggregation_method"] = tf.AggregationMethod.EXPERIMENTAL_TREE
        return super().compute_gradients(*args, **kwargs)
