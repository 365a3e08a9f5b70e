"""Generator and critic networks of TF-GAN's `examples/mnist/networks.py`, explicitly seeded.

Architecture (unchanged from the example):
  generator: dense 1024 (no bias) -> BN -> ReLU [-> class conditioning] -> dense 7*7*128
    -> BN -> ReLU -> deconv 64 (4x4, /2) -> BN -> ReLU -> deconv 32 (4x4, /2) -> BN -> ReLU
    -> conv 1 (4x4) -> tanh, output float32 [B, 28, 28, 1] in [-1, 1].
  critic (spectrally normalized body): conv 64 (4x4, /2) -> leaky ReLU(0.01) -> conv 128
    (4x4, /2) -> leaky ReLU -> flatten [-> class conditioning] -> dense 1024 (no bias) -> BN
    (batch statistics) -> leaky ReLU -> dense 1 logit (infogan: also categorical logits and
    Gaussian means for the codes).
All kernels but the conditioning and infogan heads carry L2 weight decay
(`config.weight_decay`), added as one regularization loss per network (`layers.py`). Every
width above (1024, 128, 64, 32; 64, 128, 1024; the class embedding's 256) is divided by
`config.width_divisor`, 1 unless a caller wants the same graph smaller (tests).

The functions follow TF-GAN's conventions: `generator(inputs, ...)` and
`critic(data, conditioning, ...)`, called by `tfgan.gan_model` / `tfgan.infogan_model`
inside the 'Generator' / 'Discriminator' variable scopes.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_probability as tfp

from gan_models import layers
from gan_models.config import GANConfig
from tf_determinism import ops

_LEAKY_ALPHA = 0.01


def _leaky_relu(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.leaky_relu(x, alpha=_LEAKY_ALPHA)


def _width(config: GANConfig, units: int) -> int:
    return units // config.width_divisor


def _generator_body(
    noise: tf.Tensor, one_hot_labels: tf.Tensor | None, config: GANConfig, is_training: bool
) -> tf.Tensor:
    seed = config.seeds.init
    net = layers.dense(
        noise, units=_width(config, 1024), name="fc1", seed=seed, use_bias=False, decay=True
    )
    net = ops.relu(layers.batch_norm(net, name="bn1", is_training=is_training))
    if one_hot_labels is not None:
        net = layers.condition_on_onehot(
            net, one_hot_labels=one_hot_labels, seed=seed, embedding_size=_width(config, 256)
        )
    channels = _width(config, 128)
    net = layers.dense(
        net, units=7 * 7 * channels, name="fc2", seed=seed, use_bias=False, decay=True
    )
    net = ops.relu(layers.batch_norm(net, name="bn2", is_training=is_training))
    net = tf.reshape(net, [-1, 7, 7, channels])
    net = layers.conv2d_transpose(
        net,
        filters=_width(config, 64),
        kernel_size=4,
        stride=2,
        name="deconv1",
        seed=seed,
        decay=True,
    )
    net = ops.relu(layers.batch_norm(net, name="bn3", is_training=is_training))
    net = layers.conv2d_transpose(
        net,
        filters=_width(config, 32),
        kernel_size=4,
        stride=2,
        name="deconv2",
        seed=seed,
        decay=True,
    )
    net = ops.relu(layers.batch_norm(net, name="bn4", is_training=is_training))
    net = layers.conv2d(
        net, filters=1, kernel_size=4, stride=1, name="conv_out", seed=seed, decay=True
    )
    layers.add_weight_decay_loss(config.weight_decay)
    # Same range as the real images: [-1, 1].
    return ops.tanh(net)


def generator(inputs: Any, config: GANConfig, is_training: bool) -> tf.Tensor:
    """The generator for `config.gan_type`.

    Args:
      inputs: unconditional: noise float32 [B, noise_dims]; conditional: (noise, one_hot_labels
        float32 [B, num_classes]); infogan: (unstructured noise float32 [B, noise_dims -
        continuous_dim], categorical code int32 [B] in [0, categorical_dim), continuous codes
        float32 [B, continuous_dim]). Lists are accepted for tuples (TF-GAN converts them).
      config: The model configuration (gan_type, seed, weight decay, code sizes).
      is_training: Batch norm uses batch statistics (reported to the active
        `layers.recording_batch_stats()` block; the step updates the moving averages) if True,
        the moving averages otherwise.

    Returns:
      Images float32 [B, 28, 28, 1] in [-1, 1].
    """
    if config.gan_type == "unconditional":
        return _generator_body(tf.convert_to_tensor(inputs), None, config, is_training)
    if config.gan_type == "conditional":
        noise, one_hot_labels = inputs
        return _generator_body(noise, one_hot_labels, config, is_training)
    unstructured, categorical, continuous = inputs
    all_noise = tf.concat(
        [unstructured, tf.one_hot(categorical, config.categorical_dim), continuous], axis=1
    )
    return _generator_body(all_noise, None, config, is_training)


def _critic_body(
    images: tf.Tensor, one_hot_labels: tf.Tensor | None, config: GANConfig
) -> tf.Tensor:
    seed = config.seeds.init
    net = layers.conv2d(
        images,
        filters=_width(config, 64),
        kernel_size=4,
        stride=2,
        name="conv1",
        seed=seed,
        decay=True,
        spectral_norm=True,
    )
    net = _leaky_relu(net)
    net = layers.conv2d(
        net,
        filters=_width(config, 128),
        kernel_size=4,
        stride=2,
        name="conv2",
        seed=seed,
        decay=True,
        spectral_norm=True,
    )
    net = _leaky_relu(net)
    net = tf.reshape(net, [-1, net.shape[1:].num_elements()])
    if one_hot_labels is not None:
        net = layers.condition_on_onehot(
            net,
            one_hot_labels=one_hot_labels,
            seed=seed,
            embedding_size=_width(config, 256),
            spectral_norm=True,
        )
    net = layers.dense(
        net,
        units=_width(config, 1024),
        name="fc",
        seed=seed,
        use_bias=False,
        decay=True,
        spectral_norm=True,
    )
    # The example always runs the critic's BN with batch statistics (is_training=True).
    net = layers.batch_norm(net, name="bn", is_training=True, track_moving_averages=False)
    return _leaky_relu(net)


def critic(data: tf.Tensor, conditioning: Any, config: GANConfig) -> Any:
    """The critic (discriminator) for `config.gan_type`.

    Args:
      data: Real or generated images float32 [B, 28, 28, 1] in [-1, 1].
      conditioning: The generator inputs (TF-GAN passes them); only the conditional critic
        reads them, taking the one-hot labels from (noise, one_hot_labels).
      config: The model configuration.

    Returns:
      unconditional/conditional: logits float32 [B, 1].
      infogan: (logits [B, 1], [Categorical(logits [B, categorical_dim]),
        Normal(loc [B, continuous_dim], scale 1)]) as `tfgan.infogan_model` expects.
    """
    if config.gan_type == "conditional":
        _, one_hot_labels = conditioning
        net = _critic_body(data, one_hot_labels, config)
    else:
        net = _critic_body(data, None, config)
    seed = config.seeds.init
    if config.gan_type != "infogan":
        logits = layers.dense(net, units=1, name="logits", seed=seed, decay=True)
        layers.add_weight_decay_loss(config.weight_decay)
        return logits
    # As in the example, the infogan heads carry no weight decay.
    logits_real = layers.dense(net, units=1, name="logits", seed=seed)
    logits_cat = layers.dense(
        net, units=config.categorical_dim, name="categorical_logits", seed=seed
    )
    mu_cont = layers.dense(net, units=config.continuous_dim, name="continuous_mean", seed=seed)
    layers.add_weight_decay_loss(config.weight_decay)
    q_cat = tfp.distributions.Categorical(logits=logits_cat)
    q_cont = tfp.distributions.Normal(loc=mu_cont, scale=tf.ones_like(mu_cont))
    return logits_real, [q_cat, q_cont]
