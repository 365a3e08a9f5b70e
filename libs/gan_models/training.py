"""How one GAN global step runs, and what keeps it bit-for-bit deterministic on CPU.

Measured here (TF 2.15.1 CPU, 2 cores; op determinism, single threads and oneDNN off did not
help): gradients of the same graph built twice differed in the last bits, because
  1. TF's CPU `AddN` accumulates into whichever input buffer it can forward in place and
     moves that input to the front, so the summation order of a >2-input AddN depends on
     buffer reference counts at run time; `tf.gradients` sums a variable's gradient paths
     with one such AddN (the spectrally normalized kernels have 3-5 paths), and
  2. Grappler's arithmetic optimizer merges chains of 2-input adds back into such AddNs.
Fixes: `DeterministicAdam` aggregates gradients pairwise (2-input sums are commutative, so
exact whatever the order) and `deterministic_run_config` turns the arithmetic optimizer off.
`DeterministicAdam` also gates gradients (GATE_GRAPH) so no variable update can run before
every gradient, and hence every read feeding one, is computed.

State that several `session.run`s would otherwise race on is written in a separate run
(`step_state_update_op`): the global-step snapshot keying the gradient-penalty draws (in
the Estimator's main run `global_step` is incremented while the loss is computed) and the
spectral-norm power iteration (see `layers.py`). That run reads no input, so with TF-GAN's
sequential hooks one global step consumes `BATCHES_PER_STEP` input batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow_gan as tfgan
from tensorflow.core.protobuf import rewriter_config_pb2

from gan_models import layers

_SNAPSHOT_COLLECTION = "gan_models_step_snapshot"
STEP_SNAPSHOT_NAME = "gan_models_step_snapshot"

# Generator op run, discriminator op run, then the Estimator's main run (global step
# increment, loss, summaries): three batches. The step-state run pulls none.
BATCHES_PER_STEP = 3


def step_snapshot() -> tf.Variable:
    """Returns (creating once per graph) the int64 scalar snapshot of the global step."""
    graph = tf.compat.v1.get_default_graph()
    existing = graph.get_collection(_SNAPSHOT_COLLECTION)
    if existing:
        return existing[0]
    with graph.name_scope(None):  # Absolute name, whatever scope the caller is in.
        snapshot = tf.compat.v1.Variable(
            0, dtype=tf.int64, trainable=False, name=STEP_SNAPSHOT_NAME,
            collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES, _SNAPSHOT_COLLECTION])
    return snapshot


def step_state_update_op() -> tf.Operation:
    """Op: snapshot the global step and advance spectral norms (default graph)."""
    global_step = tf.compat.v1.train.get_or_create_global_step()
    snap = step_snapshot().assign(tf.cast(global_step, tf.int64), read_value=False)
    return tf.group(snap, layers.spectral_norm_update_op(), name="gan_models_step_state")


def gan_train_hooks(train_ops: tfgan.GANTrainOps) -> list[tf.estimator.SessionRunHook]:
    """`get_hooks_fn` for GAN estimators: step-state run, then one G and one D step.

    Args:
      train_ops: The `GANTrainOps` built by `tfgan.gan_train_ops`.

    Returns:
      Hooks in run order; with the Estimator's main run, one global step consumes
      `BATCHES_PER_STEP` input batches.
    """
    sequential: Callable[[tfgan.GANTrainOps], list[tf.estimator.SessionRunHook]]
    sequential = tfgan.get_sequential_train_hooks()
    return [tfgan.RunTrainOpsHook(step_state_update_op(), 1), *sequential(train_ops)]


class DeterministicAdam(tf.compat.v1.train.AdamOptimizer):
    """`AdamOptimizer` whose gradients do not depend on run-time buffer reuse or scheduling.

    Whatever the caller (TF-GAN's `create_train_op`) asks for, gradients are aggregated
    pairwise (`EXPERIMENTAL_TREE`) and gated with `GATE_GRAPH` (see the module docstring).
    """

    def compute_gradients(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["gate_gradients"] = tf.compat.v1.train.Optimizer.GATE_GRAPH
        kwargs["aggregation_method"] = tf.AggregationMethod.EXPERIMENTAL_TREE
        return super().compute_gradients(*args, **kwargs)


def deterministic_run_config(run_config: tf.estimator.RunConfig) -> tf.estimator.RunConfig:
    """`run_config` with Grappler's arithmetic optimizer off (everything else kept).

    Without a session_config, starts from the Estimator's default one (soft placement,
    one meta-optimizer iteration).
    """
    session_config = tf.compat.v1.ConfigProto()
    if run_config.session_config is not None:
        session_config.CopyFrom(run_config.session_config)
    else:
        session_config.allow_soft_placement = True
        session_config.graph_options.rewrite_options.meta_optimizer_iterations = (
            rewriter_config_pb2.RewriterConfig.ONE)
    session_config.graph_options.rewrite_options.arithmetic_optimization = (
        rewriter_config_pb2.RewriterConfig.OFF)
    return run_config.replace(session_config=session_config)
