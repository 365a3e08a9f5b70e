"""How one GAN global step runs, and what keeps it bit-for-bit deterministic on CPU.

Generic TF determinism (pairwise, gated gradients: `tf_determinism.optimizers`; Grappler's
arithmetic optimizer off: `tf_determinism.deterministic_run_config`) lives in tf_determinism;
the spectrally normalized kernels, with 3-5 gradient paths each, are why the GAN needs it.

State that several `session.run`s would otherwise race on is written in a separate run
(`step_state_update_op`): the global-step snapshot keying the gradient-penalty draws (in
the Estimator's main run `global_step` is incremented while the loss is computed) and the
spectral-norm power iteration (see `layers.py`). That run reads no input, so with TF-GAN's
sequential hooks one global step consumes `BATCHES_PER_STEP` input batches.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tensorflow_gan as tfgan

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
