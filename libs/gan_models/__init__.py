"""GAN models and losses for MNIST on TF-GAN, reproducible bit for bit.

Importing this package installs the Python 3.11 `inspect.getargspec` shim TF-GAN 2.1.0 needs
(see `_compat.py`). Public API:

  GANConfig, GAN_TYPES, LOSS_NAMES            configuration and valid names
  generator_inputs, sample_generator_inputs   generator input structures (noise.py)
  generator, critic                           the networks (networks.py)
  make_loss_fns, gradient_penalty,            losses (losses.py)
  interpolation_weights, loss_tensor_names
  make_estimator, predict_input_fn,           the tf.estimator builder (estimator.py)
  add_image_summaries
  BATCHES_PER_STEP, gan_train_hooks           one deterministic training step (training.py)

Seeds, initializers, the deterministic optimizer and Grappler settings are tf_determinism's.
"""

from gan_models import _compat

_compat.install()

from gan_models.config import (  # noqa: E402
    DEFAULT_LEARNING_RATES,
    DEFAULT_LOSS,
    GAN_TYPES,
    LOSS_NAMES,
    GANConfig,
)
from gan_models.estimator import (  # noqa: E402
    add_image_summaries,
    make_estimator,
    predict_input_fn,
)
from gan_models.losses import (  # noqa: E402
    gradient_penalty,
    interpolation_weights,
    loss_tensor_names,
    make_loss_fns,
)
from gan_models.networks import critic, generator  # noqa: E402
from gan_models.noise import generator_inputs, sample_generator_inputs  # noqa: E402
from gan_models.training import BATCHES_PER_STEP, gan_train_hooks  # noqa: E402

__all__ = [
    "BATCHES_PER_STEP",
    "DEFAULT_LEARNING_RATES",
    "DEFAULT_LOSS",
    "GAN_TYPES",
    "LOSS_NAMES",
    "GANConfig",
    "add_image_summaries",
    "critic",
    "gan_train_hooks",
    "generator",
    "generator_inputs",
    "gradient_penalty",
    "interpolation_weights",
    "loss_tensor_names",
    "make_estimator",
    "make_loss_fns",
    "predict_input_fn",
    "sample_generator_inputs",
]
