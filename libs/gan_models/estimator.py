"""`make_estimator`: a `tf.estimator.Estimator` for one `GANConfig`.

unconditional/conditional: `tfgan.estimator.GANEstimator`. infogan (which GANEstimator cannot
express): a model_fn from TF-GAN's pieces (`tfgan.infogan_model`, `tfgan.gan_loss`, and the
GANEstimator spec builders), so all gan_types train, evaluate and predict the same way.

Input contract (`estimator.train(input_fn, max_steps=N)`): `input_fn` returns a dataset of
(features, labels) where
  features = `noise.generator_inputs(...)` for this gan_type (conditional: (noise, real one-hot
             labels), as in TF-GAN's conditional example), and
  labels   = real images float32 [B, 28, 28, 1] in [-1, 1].
For `predict`, use `predict_input_fn(inputs)` (e.g. over `sample_generator_inputs`);
predictions are images float32 [28, 28, 1] in [-1, 1], one per row of the inputs.

One global step = step-state run + generator step + discriminator step (TF-GAN's sequential
hooks) + the Estimator's main run (global-step increment, loss, summaries): it consumes
`BATCHES_PER_STEP` (= 3) input batches, for every gan_type. A run resumed at global step k
must therefore skip 3 * k batches. Per-step losses: `loss_tensor_names(config)`; fetched in
the main run they are the losses on its (third) batch after that step's two updates.

Avoid reading `global_step` in the main run for anything but logging: it is incremented in
that same run, so the value read there is either side of the increment.

Determinism (see training.py): both optimizers are `DeterministicAdam` and `run_config` goes
through `deterministic_run_config`; with a fixed thread configuration on the same machine,
two runs with the same config.seeds and input batches give bitwise-identical losses and
weights, and so does a run resumed from a checkpoint that skips the consumed batches.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import tensorflow as tf
import tensorflow_gan as tfgan

from gan_models import networks
from gan_models.config import GANConfig
from gan_models.losses import make_loss_fns
from gan_models.training import gan_train_hooks
from tf_determinism import deterministic_run_config
from tf_determinism.optimizers import DeterministicAdam

_gan_estimator_lib = tfgan.estimator.gan_estimator
_ModeKeys = tf.estimator.ModeKeys
_MAX_GRID = 5  # TF-GAN example's grid_size.


def add_image_summaries(gan_model: Any) -> None:
    """Image-grid summaries of real and generated batches (up to 5x5, as the example).

    Args:
      gan_model: A `GANModel`/`InfoGANModel` with images float32 [B, 28, 28, 1].
    """
    batch = gan_model.generated_data.shape[0]
    side = min(_MAX_GRID, math.isqrt(int(batch))) if batch is not None else 0
    for name, images in (("real_data", gan_model.real_data),
                         ("generated_data", gan_model.generated_data)):
        if side:
            grid = tfgan.eval.image_grid(images[: side * side], grid_shape=(side, side),
                                         image_shape=(28, 28), num_channels=1)
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


def _optimizers(config: GANConfig) -> Any:
    # Adam with beta1 = 0.5, as in the TF-GAN MNIST examples. Callables: built in the model graph.
    def generator_optimizer() -> tf.compat.v1.train.Optimizer:
        return DeterministicAdam(config.resolved_gen_lr, beta1=0.5, name="GeneratorAdam")

    def discriminator_optimizer() -> tf.compat.v1.train.Optimizer:
        return DeterministicAdam(config.resolved_crit_lr, beta1=0.5, name="DiscriminatorAdam")

    return _gan_estimator_lib.Optimizers(generator_optimizer, discriminator_optimizer)


def _checked_params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    # GANEstimator forwards `params` keys named like `tfgan.gan_loss` arguments to gan_loss;
    # that would bypass GANConfig (e.g. TF-GAN's unseeded gradient penalty).
    forbidden = sorted(set(params) & set(inspect.getfullargspec(
        tfgan.gan_loss).args))
    if forbidden:
        raise ValueError(f"make_estimator: params keys {forbidden} are tfgan.gan_loss arguments; "
                         f"set them through GANConfig")
    return dict(params)


def make_estimator(config: GANConfig, run_config: tf.estimator.RunConfig,
                   params: dict[str, Any] | None = None) -> tf.estimator.Estimator:
    """Builds the Estimator for `config` (see the module docstring for the input contract).

    Args:
      config: The model configuration.
      run_config: Supplies model_dir, checkpointing, summaries and session config. It is used
        via `deterministic_run_config` (Grappler's arithmetic optimizer off). Its
        `tf_random_seed` does not matter to the model: every random op here is explicitly
        seeded from config.seeds.
      params: Optional Estimator params (must not contain `tfgan.gan_loss` argument names).

    Returns:
      A `tf.estimator.Estimator` (a `GANEstimator` for unconditional/conditional).

    Raises:
      ValueError: On forbidden params.
    """
    if not isinstance(config, GANConfig):
        raise ValueError(f"make_estimator: config must be a GANConfig, got {type(config).__name__}")
    params = _checked_params(params)
    run_config = deterministic_run_config(run_config)
    generator_loss_fn, discriminator_loss_fn = make_loss_fns(config)

    def generator_loss_with_images(gan_model: Any, add_summaries: bool = False) -> tf.Tensor:
        if add_summaries:
            add_image_summaries(gan_model)
        return generator_loss_fn(gan_model, add_summaries=add_summaries)

    def discriminator_fn(data: tf.Tensor, conditioning: Any) -> Any:
        return networks.critic(data, conditioning, config)

    optimizers = _optimizers(config)
    if config.gan_type != "infogan":
        def generator_fn(generator_inputs: Any, mode: str) -> tf.Tensor:
            return networks.generator(generator_inputs, config, is_training=mode == _ModeKeys.TRAIN)

        return tfgan.estimator.GANEstimator(
            generator_fn=generator_fn, discriminator_fn=discriminator_fn,
            generator_loss_fn=generator_loss_with_images,
            discriminator_loss_fn=discriminator_loss_fn,
            generator_optimizer=optimizers.gopt, discriminator_optimizer=optimizers.dopt,
            get_hooks_fn=gan_train_hooks, add_summaries=None, use_loss_summaries=True,
            config=run_config, params=params)

    def infogan_model_fn(features: Any, labels: Any, mode: str,
                         params: Any) -> tf.estimator.EstimatorSpec:
        del params  # Everything comes from `config`.

        def generator_fn(inputs: Any) -> tf.Tensor:
            return networks.generator(inputs, config, is_training=mode == _ModeKeys.TRAIN)

        if mode == _ModeKeys.PREDICT:
            gan_model = _gan_estimator_lib.make_prediction_gan_model(
                features, generator_fn, "Generator")
            return _gan_estimator_lib.get_predict_estimator_spec(gan_model)
        unstructured, categorical, continuous = features
        gan_model = tfgan.infogan_model(
            generator_fn, discriminator_fn, real_data=labels,
            unstructured_generator_inputs=[unstructured],
            structured_generator_inputs=[categorical, continuous])
        gan_loss = tfgan.gan_loss(gan_model, generator_loss_with_images, discriminator_loss_fn,
                                  add_summaries=True)
        if mode == _ModeKeys.EVAL:
            return _gan_estimator_lib.get_eval_estimator_spec(gan_model, gan_loss)
        return _gan_estimator_lib.get_train_estimator_spec(
            gan_model, gan_loss, optimizers, gan_train_hooks)

    return tf.estimator.Estimator(model_fn=infogan_model_fn, config=run_config, params=params)
