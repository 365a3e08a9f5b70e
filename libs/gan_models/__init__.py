"""GAN models and losses for MNIST on TF-GAN, reproducible bit for bit.

Importing this package installs the Python 3.11 `inspect.getargspec` shim TF-GAN 2.1.0 needs
(`tf_determinism.internals`). Public API:

  GANConfig, GAN_TYPES, LOSS_NAMES,           configuration, valid names, the sub-seeds
  SEED_NAMES                                  it draws from
  generator_inputs, training_features,        generator input structures (noise.py)
  sample_generator_inputs
  generator, critic                           the networks (networks.py)
  generator_loss_terms, gradient_penalty,     losses (losses.py)
  discriminator_loss_terms,
  interpolation_weights, loss_tensor_names
  build_train_step, BATCHES_PER_STEP          one deterministic global step, one session.run,
                                              cut into micro-batches (step.py)
  MicroBatchShare                             one process's micro-batches of a cluster step
  make_estimator, predict_input_fn,           the tf.estimator builder (estimator.py)
  add_image_summaries

Seeds, initializers, the deterministic optimizer and Grappler settings are tf_determinism's.
"""

from tf_determinism import internals

internals.install_getargspec_shim()

from gan_models.config import (  # noqa: E402
    DEFAULT_LEARNING_RATES,
    DEFAULT_LOSS,
    GAN_TYPES,
    LOSS_NAMES,
    SEED_NAMES,
    GANConfig,
)
from gan_models.estimator import add_image_summaries, make_estimator, predict_input_fn  # noqa: E402
from gan_models.losses import (  # noqa: E402
    discriminator_loss_terms,
    generator_loss_terms,
    gradient_penalty,
    interpolation_weights,
    loss_tensor_names,
)
from gan_models.networks import critic, generator  # noqa: E402
from gan_models.noise import (  # noqa: E402
    generator_inputs,
    sample_generator_inputs,
    training_features,
)
from gan_models.step import BATCHES_PER_STEP, MicroBatchShare, build_train_step  # noqa: E402

__all__ = [
    "BATCHES_PER_STEP",
    "DEFAULT_LEARNING_RATES",
    "DEFAULT_LOSS",
    "GAN_TYPES",
    "LOSS_NAMES",
    "SEED_NAMES",
    "GANConfig",
    "MicroBatchShare",
    "add_image_summaries",
    "build_train_step",
    "critic",
    "discriminator_loss_terms",
    "generator",
    "generator_inputs",
    "generator_loss_terms",
    "gradient_penalty",
    "interpolation_weights",
    "loss_tensor_names",
    "make_estimator",
    "predict_input_fn",
    "sample_generator_inputs",
    "training_features",
]
