"""`make_estimator`: a `tf.estimator.Estimator` for one `GANConfig`, every gan_type alike.

The model_fn is built from TF-GAN's pieces (`tfgan.gan_model` / `tfgan.infogan_model`, its
losses and prediction spec) rather than `tfgan.estimator.GANEstimator`, whose train op runs a
global step as four `session.run`s and a logging-only third forward pass: training is
`step.build_train_step`, one `session.run` per global step.

Input contract (`estimator.train(input_fn, max_steps=N)`): `input_fn` returns a dataset of
(features, labels), one element per global step, where
  features = `noise.training_features(config, batch_size=B, batch_index=k, ...)` for batch k
             (the generator inputs of its M micro-batches, and k), and
  labels   = real images float32 [B, 28, 28, 1] in [-1, 1] (conditional: the one-hot labels
             given to `training_features` are these images' classes).
A run resumed at global step k must therefore start at batch k. Per-step losses:
`loss_tensor_names(config)`, the losses of that step's update passes.
`evaluate` takes the same input and reports the mean losses of one forward pass per batch
(no update). For `predict`, use `predict_input_fn(inputs)` (e.g. over
`sample_generator_inputs`); predictions are images float32 [28, 28, 1] in [-1, 1], one per row
of the inputs, from the generator's batch-norm moving averages.

Determinism (see step.py): with a fixed thread configuration on the same machine, two runs
with the same config (seeds, M) and input batches give bitwise-identical losses and weights,
and so does a run resumed from a checkpoint that starts at the next batch.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf
import tensorflow_gan as tfgan

from gan_models import networks
from gan_models.config import GANConfig
from gan_models.losses import discriminator_loss_terms, generator_loss_terms, publish_losses
from gan_models.step import MicroBatchShare, build_train_step, gan_pass, micro_slices
from tf_determinism import deterministic_run_config, exact, internals
from tf_determinism.reduce import tree_mean

_ModeKeys = tf.estimator.ModeKeys
_MAX_GRID = 5  # TF-GAN example's grid_size.


def add_image_summaries(real_data: tf.Tensor, generated_data: tf.Tensor) -> None:
    """Image-grid summaries of real and generated batches (up to 5x5, as the example).

    Args:
      real_data, generated_data: images float32 [B, 28, 28, 1].
    """
    batch = generated_data.shape[0]
    side = min(_MAX_GRID, math.isqrt(int(batch))) if batch is not None else 0
    for name, images in (("real_data", real_data), ("generated_data", generated_data)):
        if side:
            grid = tfgan.eval.image_grid(
                images[: side * side], grid_shape=(side, side), image_shape=(28, 28), num_channels=1
            )
            tf.compat.v1.summary.image(name, grid, max_outputs=1)
        else:  # Unknown static batch size: no grid, a few single images.
            tf.compat.v1.summary.image(name, images, max_outputs=4)


def predict_input_fn(inputs: Any) -> Any:
    """An `input_fn` for `estimator.predict` over one generator-input structure.

    Estimator reads a 2-tuple dataset element as (features, labels), so tuple features
    (conditional: (noise, one_hot_labels)) would be split apart; pairing them with a dummy
    label (which `predict` discards) keeps the structure intact for every gan_type.

    Args:
      inputs: A `generator_inputs` structure of arrays/tensors with leading dim N.

    Returns:
      A no-argument `input_fn` yielding the whole structure as one batch of N.
    """

    def input_fn() -> tf.data.Dataset:
        features = tf.nest.map_structure(tf.convert_to_tensor, inputs)
        num = tf.shape(tf.nest.flatten(features)[0])[0]
        return tf.data.Dataset.from_tensors((features, tf.zeros([num])))

    return input_fn


def _eval_spec(
    config: GANConfig, features: dict[str, Any], labels: tf.Tensor
) -> tf.estimator.EstimatorSpec:
    # The training passes' losses without the updates: per micro-batch, then the tree mean.
    per_micro = []
    for micro, (inputs, real) in enumerate(
        zip(
            micro_slices(features["generator_inputs"], config.micro_batches),
            micro_slices(labels, config.micro_batches),
            strict=True,
        )
    ):
        model = gan_pass(config, inputs, real)
        per_micro.append(
            {
                **generator_loss_terms(config, model),
                **discriminator_loss_terms(
                    config, model, batch_index=features["batch_index"], micro_batch=micro
                ),
            }
        )
    losses = publish_losses(
        {key: tree_mean([terms[key] for terms in per_micro]) for key in per_micro[0]},
        add_summaries=False,
    )
    metrics = {key: tf.compat.v1.metrics.mean(value) for key, value in losses.items()}
    return tf.estimator.EstimatorSpec(
        _ModeKeys.EVAL, loss=losses["generator_loss"], eval_metric_ops=metrics
    )


def make_estimator(
    config: GANConfig, run_config: tf.estimator.RunConfig, *, share: MicroBatchShare | None = None
) -> tf.estimator.Estimator:
    """Builds the Estimator for `config` (see the module docstring for the input contract).

    Args:
      config: The model configuration.
      run_config: Supplies model_dir, checkpointing, summaries and session config. It is used
        via `deterministic_run_config` (Grappler's arithmetic optimizer off; a session config
        from `tf_determinism.session_config` has it already and is kept). Its
        `tf_random_seed` does not matter to the model: every random op here is explicitly
        seeded from config.seeds.
      share: One process of several (see `build_train_step`): the training input holds the
        rows of micro-batches [first, last) only. (A cluster task's device comes with its
        run_config's device_fn.)

    Returns:
      A `tf.estimator.Estimator`.
    """
    if not isinstance(config, GANConfig):
        raise ValueError(f"make_estimator: config must be a GANConfig, got {type(config).__name__}")
    run_config = deterministic_run_config(run_config)
    add_summaries = run_config.save_summary_steps is not None

    def model_fn(features: Any, labels: Any, mode: str) -> tf.estimator.EstimatorSpec:
        # exact_gradients: TF-GAN's minimax/modified losses take logs, whose TF gradients
        # multiply by an approximate reciprocal.
        with exact.exact_gradients():
            return build(features, labels, mode)

    def build(features: Any, labels: Any, mode: str) -> tf.estimator.EstimatorSpec:
        if mode == _ModeKeys.PREDICT:
            return internals.tfgan_predict_spec(
                features,
                lambda inputs: networks.generator(inputs, config, is_training=False),
                "Generator",
            )
        if mode == _ModeKeys.EVAL:
            return _eval_spec(config, features, labels)
        step = build_train_step(config, features, labels, share=share, add_summaries=add_summaries)
        if add_summaries:
            add_image_summaries(step.real_data, step.generated_data)
        return tf.estimator.EstimatorSpec(
            _ModeKeys.TRAIN, loss=step.losses["generator_loss"], train_op=step.train_op
        )

    return tf.estimator.Estimator(model_fn=model_fn, config=run_config)
