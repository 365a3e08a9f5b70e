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

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf

from tf_determinism import ops
from tf_determinism.reduce import MicroBatchShare, micro_batch_means


class DeterministicAdam(tf.compat.v1.train.AdamOptimizer):
    """`AdamOptimizer` whose gradients are aggregated pairwise and gated, whatever the caller
    (e.g. TF-GAN's `create_train_op`, or `minimize`) asks for. In the portable numerics mode
    its update is TF's formula written as single ops (TF's fused ResourceApplyAdam kernel is one
    Eigen expression, which a compiler may contract into fused multiply-adds on aarch64)."""

    def compute_gradients(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["gate_gradients"] = tf.compat.v1.train.Optimizer.GATE_GRAPH
        kwargs["aggregation_method"] = tf.AggregationMethod.EXPERIMENTAL_TREE
        return super().compute_gradients(*args, **kwargs)

    def _resource_apply_dense(self, grad: Any, var: Any) -> Any:
        if not ops.portable():
            return super()._resource_apply_dense(grad, var)
        beta1_power, beta2_power = self._get_beta_accumulators()
        lr, beta1, beta2, epsilon = (
            tf.cast(t, var.dtype.base_dtype)
            for t in (self._lr_t, self._beta1_t, self._beta2_t, self._epsilon_t)
        )
        # TF's kernel: lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t); m += (g - m)(1 - beta1);
        # v += (g^2 - v)(1 - beta2); var -= lr_t m / (sqrt(v) + epsilon).
        lr_t = (
            lr
            * tf.sqrt(1.0 - tf.cast(beta2_power, lr.dtype))
            / (1.0 - tf.cast(beta1_power, lr.dtype))
        )
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        m_t = tf.compat.v1.assign(m, m + (grad - m) * (1.0 - beta1))
        v_t = tf.compat.v1.assign(v, v + (tf.square(grad) - v) * (1.0 - beta2))
        update = tf.compat.v1.assign_sub(var, lr_t * m_t / (tf.sqrt(v_t) + epsilon))
        return tf.group(update, m_t, v_t)


@dataclasses.dataclass(frozen=True)
class MicroBatchUpdate:
    """What `micro_batch_update` built.

    Attributes:
      loss: the mean loss over the micro-batches (and processes).
      train_op: the update op, which increments the global step.
      scalars: every other scalar the loss_fn returned, averaged exactly as the loss; name them
        in the graph to log them (`tf.identity(update.scalars["kl"], name="kl")`, then
        Experiment.scalars' {"kl": "kl:0"}).
    """

    loss: tf.Tensor
    train_op: tf.Operation
    scalars: dict[str, tf.Tensor]


def micro_batch_update(
    optimizer: tf.compat.v1.train.Optimizer,
    loss_fn: Callable[[int, Any], tf.Tensor | tuple[tf.Tensor, Mapping[str, tf.Tensor]]],
    rows: Any,
    *,
    micro_batches: int,
    share: MicroBatchShare | None = None,
) -> MicroBatchUpdate:
    """One update of the trainable variables from per-micro-batch passes, any model.

    The global batch's rows [i*B/M, (i+1)*B/M) are micro-batch i, each its own pass
    `loss_fn(i, its rows)`; each pass's gradients are computed on their own (never one
    `tf.gradients` of a summed loss, whose aggregation would interleave the passes) and their
    mean over the M micro-batches is a pairwise tree over i (`reduce.micro_batch_means`; across
    processes, `share.mean`), so the update is a function of (seed, M) alone. The loss and any
    other scalars the passes return are averaged the same way, so every logged column is the
    same on one process and on several. At M = 1 it is `optimizer.minimize(loss)`.

    Args:
      optimizer: e.g. a DeterministicAdam.
      loss_fn: fn(global micro-batch index, rows: `rows`' structure, sliced) -> the float32
        scalar loss, or (the loss, {name: float32 scalar}) to log more than the loss (e.g. a
        VAE's reconstruction and KL terms); it may key its random draws by the index.
      rows: a nest of [R, ...] tensors: the rows of this process's micro-batches.
      micro_batches: M.
      share: this process's micro-batches [first, last) and the mean across processes; None:
        all M are here.
    """
    first, last = (share.first, share.last) if share else (0, micro_batches)
    parts = [tf.split(t, last - first) for t in tf.nest.flatten(rows)]
    passes = []
    for local, micro in enumerate(range(first, last)):
        returned = loss_fn(micro, tf.nest.pack_sequence_as(rows, [p[local] for p in parts]))
        loss, scalars = returned if isinstance(returned, tuple) else (returned, {})
        grads = [grad for grad, _ in optimizer.compute_gradients(loss)]
        passes.append((loss, dict(scalars), grads))
    loss, scalars, grads = micro_batch_means(passes, share.mean if share else None)
    variables = tf.compat.v1.trainable_variables()
    update = optimizer.apply_gradients(
        list(zip(grads, variables, strict=True)),
        global_step=tf.compat.v1.train.get_or_create_global_step(),
    )
    return MicroBatchUpdate(loss, update, scalars)
