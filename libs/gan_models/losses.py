"""GAN losses by name, built from `tfgan.losses`, plus seeded gradient and MI penalties.

`make_loss_fns(config)` returns `(generator_loss_fn, discriminator_loss_fn)` in TF-GAN's
tuple-loss form (take a `GANModel`/`InfoGANModel`), for `tfgan.gan_loss` or `GANEstimator`.
They add the optional penalties themselves, so `gan_loss` must be called *without*
`gradient_penalty_weight`/`mutual_information_penalty_weight`:
  generator:      adversarial [+ mi_weight * MI]                 (+ L2 added by gan_loss)
  discriminator:  adversarial [+ gp_weight * GP] [+ mi_weight * MI] (+ L2 added by gan_loss)
the same sums, in the same order, as `tfgan.gan_loss` builds with those weights.

Why our own gradient penalty: `tfgan.losses.wasserstein_gradient_penalty` draws its
interpolation weights with an unseeded stateful `tf.random.uniform`, so two runs (or a resumed
and an uninterrupted run) differ. `gradient_penalty` is the same formula with the weights
passed in; `interpolation_weights` draws them statelessly from (seeds.gradient_penalty,
step snapshot).

The total losses as optimized (regularization included) are also published as named tensors
(`loss_tensor_names`) for logging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow_gan as tfgan

from gan_models.config import GANConfig
from gan_models.training import step_snapshot
from tf_determinism import stateless_key

LOSS_FUNCTIONS: dict[str, tuple[Callable[..., tf.Tensor], Callable[..., tf.Tensor]]] = {
    "wasserstein": (tfgan.losses.wasserstein_generator_loss,
                    tfgan.losses.wasserstein_discriminator_loss),
    "minimax": (tfgan.losses.minimax_generator_loss, tfgan.losses.minimax_discriminator_loss),
    "modified": (tfgan.losses.modified_generator_loss,
                 tfgan.losses.modified_discriminator_loss),
    "least_squares": (tfgan.losses.least_squares_generator_loss,
                      tfgan.losses.least_squares_discriminator_loss),
}
LOSS_SCOPE = "gan_models"
# With add_summaries, each published loss is also a TensorBoard scalar "losses/<key>".
LOSS_SUMMARY_SCOPE = "losses"


def _uses(weight: float | None) -> bool:
    # Same rule as tfgan's `_use_aux_loss` for Python numbers.
    return weight is not None and weight > 0


def loss_tensor_names(config: GANConfig) -> dict[str, str]:
    """Names of the per-step loss tensors in a graph built by `make_estimator`.

    Returns:
      {"generator_loss", "discriminator_loss"} (float32 scalars, totals as optimized,
      L2 included), plus "gradient_penalty" when a gradient-penalty weight > 0 is set and
      "mutual_information_penalty" for infogan (weight > 0) -> "gan_models/<key>:0".
      With add_summaries (as GANEstimator's loss summaries), the same tensors are the
      TensorBoard scalars "losses/<key>".
    """
    keys = ["generator_loss", "discriminator_loss"]
    if _uses(config.gradient_penalty_weight):
        keys.append("gradient_penalty")
    if config.gan_type == "infogan" and _uses(config.mutual_information_penalty_weight):
        keys.append("mutual_information_penalty")
    return {key: f"{LOSS_SCOPE}/{key}:0" for key in keys}


def _publish(tensor: tf.Tensor, key: str, add_summaries: bool) -> tf.Tensor:
    with tf.compat.v1.name_scope(f"{LOSS_SCOPE}/"):  # Absolute scope: stable names.
        published = tf.identity(tensor, name=key)
    if add_summaries:
        with tf.compat.v1.name_scope(f"{LOSS_SUMMARY_SCOPE}/"):
            tf.compat.v1.summary.scalar(key, published)
    return published


def interpolation_weights(config: GANConfig, batch_size: Any,
                          step: tf.Tensor | None = None) -> tf.Tensor:
    """Gradient-penalty interpolation weights, stateless in (seeds.gradient_penalty, step).

    Args:
      config: Supplies the gradient-penalty sub-seed.
      batch_size: int or int32 scalar tensor B.
      step: int64 scalar; defaults to the step snapshot variable (see `training.py`).

    Returns:
      float32 [B, 1, 1, 1] uniform in [0, 1).
    """
    if step is None:
        step = step_snapshot()
    seed = stateless_key(config.seeds.gradient_penalty, step)
    return tf.random.stateless_uniform(tf.stack([batch_size, 1, 1, 1]), seed=seed)


def gradient_penalty(gan_model: Any, *, alpha: tf.Tensor, epsilon: float = 1e-10,
                     target: float = 1.0, one_sided: bool = False) -> tf.Tensor:
    """WGAN-GP penalty, the formula of `tfgan.losses.wasserstein_gradient_penalty`.

    Args:
      gan_model: A `GANModel`/`InfoGANModel` with real_data/generated_data [B, 28, 28, 1].
      alpha: Interpolation weights float32, broadcastable to [B, 1, 1, 1].
      epsilon, target, one_sided: As in TF-GAN (defaults equal).

    Returns:
      float32 scalar: mean over the batch of (sqrt(|grad D(x_hat)|^2 + eps) / target - 1)^2.
    """
    with tf.compat.v1.name_scope(None, "gradient_penalty"):
        real = tf.convert_to_tensor(gan_model.real_data)
        generated = tf.convert_to_tensor(gan_model.generated_data)
        interpolates = real + alpha * (generated - real)
    with tf.compat.v1.name_scope(""):  # As TF-GAN: clear the name scope for update ops.
        with tf.compat.v1.variable_scope(gan_model.discriminator_scope,
                                         reuse=tf.compat.v1.AUTO_REUSE):
            critic_out = gan_model.discriminator_fn(interpolates, gan_model.generator_inputs)
    if isinstance(critic_out, tuple):
        critic_out = critic_out[0]
    # Pairwise aggregation: a multi-input AddN's order depends on buffer reuse (training.py).
    gradients = tf.gradients(ys=critic_out, xs=interpolates,
                             aggregation_method=tf.AggregationMethod.EXPERIMENTAL_TREE)[0]
    squares = tf.reduce_sum(tf.square(gradients), axis=list(range(1, gradients.shape.ndims)))
    penalties = tf.sqrt(squares + epsilon) / target - 1.0
    if one_sided:
        penalties = tf.maximum(0.0, penalties)
    return tf.compat.v1.losses.compute_weighted_loss(
        tf.square(penalties), 1.0, loss_collection=None,
        reduction=tf.compat.v1.losses.Reduction.SUM_BY_NONZERO_WEIGHTS)


def _regularization(scope: Any) -> tf.Tensor:
    return tf.compat.v1.losses.get_regularization_loss(scope.name if scope else None)


def make_loss_fns(config: GANConfig) -> tuple[Callable[..., tf.Tensor], Callable[..., tf.Tensor]]:
    """Generator and discriminator loss functions for `config` (see module docstring).

    Returns:
      (generator_loss_fn, discriminator_loss_fn), each `fn(gan_model, add_summaries=False)`
      -> float32 scalar, as `tfgan.gan_loss` expects.
    """
    gen_adversarial, dis_adversarial = LOSS_FUNCTIONS[config.resolved_loss]
    use_mi = config.gan_type == "infogan" and _uses(config.mutual_information_penalty_weight)
    use_gp = _uses(config.gradient_penalty_weight)

    def generator_loss_fn(gan_model: Any, add_summaries: bool = False) -> tf.Tensor:
        loss = gen_adversarial(gan_model, add_summaries=add_summaries)
        if use_mi:
            info = tfgan.losses.mutual_information_penalty(gan_model, add_summaries=add_summaries)
            loss += config.mutual_information_penalty_weight * _publish(
                info, "mutual_information_penalty", add_summaries)
        _publish(loss + _regularization(gan_model.generator_scope), "generator_loss", add_summaries)
        return loss

    def discriminator_loss_fn(gan_model: Any, add_summaries: bool = False) -> tf.Tensor:
        loss = dis_adversarial(gan_model, add_summaries=add_summaries)
        if use_gp:
            batch = tf.shape(gan_model.real_data)[0]
            alpha = interpolation_weights(config, batch)
            penalty = _publish(gradient_penalty(gan_model, alpha=alpha), "gradient_penalty",
                               add_summaries)
            if add_summaries:
                tf.compat.v1.summary.scalar("gradient_penalty_loss", penalty)
            loss += config.gradient_penalty_weight * penalty
        if use_mi:
            info = tfgan.losses.mutual_information_penalty(gan_model)
            loss += config.mutual_information_penalty_weight * info
        _publish(loss + _regularization(gan_model.discriminator_scope), "discriminator_loss",
                 add_summaries)
        return loss

    return generator_loss_fn, discriminator_loss_fn
