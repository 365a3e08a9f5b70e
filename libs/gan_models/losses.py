"""GAN losses by name, built from `tfgan.losses`, plus seeded gradient and MI penalties.

`generator_loss_terms` / `discriminator_loss_terms` take one pass's `GANModel`/`InfoGANModel`
(one micro-batch) and return the total loss as optimized, with the penalties it contains:
  generator:      adversarial [+ mi_weight * MI]                    + L2 of the generator
  discriminator:  adversarial [+ gp_weight * GP] [+ mi_weight * MI] + L2 of the discriminator
the same sums, in the same order, as `tfgan.gan_loss` builds with those weights.

Why our own gradient penalty: `tfgan.losses.wasserstein_gradient_penalty` draws its
interpolation weights with an unseeded stateful `tf.random.uniform`, so two runs (or a resumed
and an uninterrupted run) differ. `gradient_penalty` is the same formula with the weights
passed in; `interpolation_weights` draws them statelessly from (seeds.gradient_penalty,
global batch, micro-batch).

The step (step.py) combines the terms over micro-batches and publishes them as named tensors
(`loss_tensor_names`, `publish_losses`) for logging and TensorBoard.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow_gan as tfgan

from gan_models.config import GANConfig
from tf_determinism import ops, portable, stateless_key

LOSS_FUNCTIONS: dict[str, tuple[Callable[..., tf.Tensor], Callable[..., tf.Tensor]]] = {
    "wasserstein": (
        tfgan.losses.wasserstein_generator_loss,
        tfgan.losses.wasserstein_discriminator_loss,
    ),
    "minimax": (tfgan.losses.minimax_generator_loss, tfgan.losses.minimax_discriminator_loss),
    "modified": (tfgan.losses.modified_generator_loss, tfgan.losses.modified_discriminator_loss),
    "least_squares": (
        tfgan.losses.least_squares_generator_loss,
        tfgan.losses.least_squares_discriminator_loss,
    ),
}


def _xent(label: float, logits: tf.Tensor) -> tf.Tensor:
    """The mean sigmoid cross-entropy of logits against a constant label."""
    labels = tf.fill(tf.shape(logits), tf.constant(label, tf.float32))
    return ops.reduce_mean(ops.sigmoid_cross_entropy_with_logits(labels, logits))


def _outputs(model: Any) -> tuple[tf.Tensor, tf.Tensor]:
    return model.discriminator_real_outputs, model.discriminator_gen_outputs


# The same losses from portable ops (`--numerics=portable`): TF-GAN's formulas (the minimax
# discriminator's one-sided label smoothing 0.25 included) with portable means and
# cross-entropies; the mean of a weighted loss with weights 1 is TF-GAN's reduction here.
PORTABLE_LOSS_FUNCTIONS: dict[str, tuple[Callable[..., tf.Tensor], Callable[..., tf.Tensor]]] = {
    "wasserstein": (
        lambda m: -ops.reduce_mean(_outputs(m)[1]),
        lambda m: ops.reduce_mean(_outputs(m)[1]) - ops.reduce_mean(_outputs(m)[0]),
    ),
    "minimax": (
        lambda m: -_xent(0.0, _outputs(m)[1]),
        lambda m: _xent(0.875, _outputs(m)[0]) + _xent(0.0, _outputs(m)[1]),
    ),
    "modified": (
        lambda m: _xent(1.0, _outputs(m)[1]),
        lambda m: _xent(0.875, _outputs(m)[0]) + _xent(0.0, _outputs(m)[1]),
    ),
    "least_squares": (
        lambda m: 0.5 * ops.reduce_mean(tf.square(_outputs(m)[1] - 1.0)),
        lambda m: 0.5 * ops.reduce_mean(tf.square(_outputs(m)[0] - 1.0))
        + 0.5 * ops.reduce_mean(tf.square(_outputs(m)[1])),
    ),
}


def mutual_information_penalty(model: Any) -> tf.Tensor:
    """InfoGAN's penalty, `tfgan.losses.mutual_information_penalty`: minus the mean of the
    structured codes' mean log-likelihoods under the critic's predicted distributions (the
    categorical code's Categorical, the continuous code's Normal). Portable mode: the same
    formulas from portable ops (a sparse cross-entropy; the normal's density in single ops and
    portable.log), where TF-Probability's log_prob holds TF's LogSoftmax and Log."""
    if not ops.portable():
        return tfgan.losses.mutual_information_penalty(model)
    categorical, continuous = model.structured_generator_inputs
    q_categorical, q_normal = model.predicted_distributions
    log_likelihood_categorical = -ops.reduce_mean(
        ops.sparse_softmax_cross_entropy_with_logits(categorical, q_categorical.logits)
    )
    scale = tf.convert_to_tensor(q_normal.scale)
    # DivNoNan: Grappler would fold a RealDiv by the constant ones into TF's Reciprocal.
    log_density = (
        -0.5 * tf.square(tf.math.divide_no_nan(continuous - q_normal.loc, scale))
        - 0.5 * math.log(2.0 * math.pi)
        - portable.log(scale)
    )
    return -(log_likelihood_categorical + ops.reduce_mean(log_density)) * 0.5


def loss_functions(config: GANConfig) -> tuple[Callable[..., tf.Tensor], Callable[..., tf.Tensor]]:
    """(generator's, discriminator's) adversarial loss of config.resolved_loss in the process's
    numerics mode."""
    table = PORTABLE_LOSS_FUNCTIONS if ops.portable() else LOSS_FUNCTIONS
    return table[config.resolved_loss]


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
      "mutual_information_penalty" for infogan (weight > 0) -> "gan_models/<key>:0": the
      step's losses, means over its micro-batches, taken from the update passes (step.py).
      When training writes summaries, the same tensors are the TensorBoard scalars
      "losses/<key>".
    """
    keys = ["generator_loss", "discriminator_loss"]
    if _uses(config.gradient_penalty_weight):
        keys.append("gradient_penalty")
    if config.gan_type == "infogan" and _uses(config.mutual_information_penalty_weight):
        keys.append("mutual_information_penalty")
    return {key: f"{LOSS_SCOPE}/{key}:0" for key in keys}


def publish_losses(losses: dict[str, tf.Tensor], add_summaries: bool) -> dict[str, tf.Tensor]:
    """Names each loss "gan_models/<key>" (see `loss_tensor_names`), plus a TensorBoard scalar
    "losses/<key>" with add_summaries.

    Args:
      losses: key -> float32 scalar (the keys of `loss_tensor_names`).
      add_summaries: Also add the scalar summaries.

    Returns:
      key -> the published (identity) tensor.
    """
    published = {}
    for key, tensor in losses.items():
        with tf.compat.v1.name_scope(f"{LOSS_SCOPE}/"):  # Absolute scope: stable names.
            published[key] = tf.identity(tensor, name=key)
        if add_summaries:
            with tf.compat.v1.name_scope(f"{LOSS_SUMMARY_SCOPE}/"):
                tf.compat.v1.summary.scalar(key, published[key])
    return published


def interpolation_weights(
    config: GANConfig, batch_size: Any, batch_index: Any, micro_batch: Any = 0
) -> tf.Tensor:
    """Gradient-penalty interpolation weights, stateless in (seed, global batch, micro-batch).

    Args:
      config: Supplies the gradient-penalty sub-seed.
      batch_size: int or int32 scalar tensor: the micro-batch's rows.
      batch_index: int64 scalar: the global batch index.
      micro_batch: int in [0, micro_batches).

    Returns:
      float32 [rows, 1, 1, 1] uniform in [0, 1).
    """
    seed = stateless_key(config.seeds.gradient_penalty, batch_index, micro_batch)
    return tf.random.stateless_uniform(tf.stack([batch_size, 1, 1, 1]), seed=seed)


def gradient_penalty(
    gan_model: Any,
    *,
    alpha: tf.Tensor,
    epsilon: float = 1e-10,
    target: float = 1.0,
    one_sided: bool = False,
) -> tf.Tensor:
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
        with tf.compat.v1.variable_scope(
            gan_model.discriminator_scope, reuse=tf.compat.v1.AUTO_REUSE
        ):
            critic_out = gan_model.discriminator_fn(interpolates, gan_model.generator_inputs)
    if isinstance(critic_out, tuple):
        critic_out = critic_out[0]
    # Pairwise aggregation: a multi-input AddN's order depends on buffer reuse (see
    # tf_determinism/optimizers.py).
    gradients = tf.gradients(
        ys=critic_out, xs=interpolates, aggregation_method=tf.AggregationMethod.EXPERIMENTAL_TREE
    )[0]
    squares = ops.reduce_sum(tf.square(gradients), axis=list(range(1, gradients.shape.ndims)))
    penalties = ops.sqrt(squares + epsilon) / target - 1.0
    if one_sided:
        penalties = ops.maximum(penalties, 0.0)
    if ops.portable():
        return ops.reduce_mean(tf.square(penalties))
    return tf.compat.v1.losses.compute_weighted_loss(
        tf.square(penalties),
        1.0,
        loss_collection=None,
        reduction=tf.compat.v1.losses.Reduction.SUM_BY_NONZERO_WEIGHTS,
    )


def _regularization(scope: Any) -> tf.Tensor:
    return tf.compat.v1.losses.get_regularization_loss(scope.name if scope else None)


def generator_loss_terms(config: GANConfig, gan_model: Any) -> dict[str, tf.Tensor]:
    """The generator's loss on one pass (see the module docstring).

    Returns:
      {"generator_loss": float32 scalar, total as optimized (L2 included)}, plus
      "mutual_information_penalty" for infogan with a weight > 0.
    """
    adversarial, _ = loss_functions(config)
    loss = adversarial(gan_model)
    terms = {}
    if config.gan_type == "infogan" and _uses(config.mutual_information_penalty_weight):
        info = mutual_information_penalty(gan_model)
        loss += config.mutual_information_penalty_weight * info
        terms["mutual_information_penalty"] = info
    return {"generator_loss": loss + _regularization(gan_model.generator_scope), **terms}


def discriminator_loss_terms(
    config: GANConfig, gan_model: Any, *, batch_index: Any = None, micro_batch: Any = 0
) -> dict[str, tf.Tensor]:
    """The discriminator's loss on one pass (see the module docstring).

    Args:
      config: The model configuration.
      gan_model: One pass's `GANModel`/`InfoGANModel`.
      batch_index: int64 scalar, the global batch index (keys the gradient penalty; required
        when a gradient-penalty weight > 0 is set).
      micro_batch: The pass's micro-batch index (keys the gradient penalty).

    Returns:
      {"discriminator_loss": float32 scalar, total as optimized (L2 included)}, plus
      "gradient_penalty" when a gradient-penalty weight > 0 is set.
    """
    _, adversarial = loss_functions(config)
    loss = adversarial(gan_model)
    terms = {}
    if _uses(config.gradient_penalty_weight):
        if batch_index is None:
            raise ValueError("discriminator_loss_terms: the gradient penalty needs batch_index")
        rows = tf.shape(gan_model.real_data)[0]
        alpha = interpolation_weights(config, rows, batch_index, micro_batch)
        penalty = gradient_penalty(gan_model, alpha=alpha)
        loss += config.gradient_penalty_weight * penalty
        terms["gradient_penalty"] = penalty
    if config.gan_type == "infogan" and _uses(config.mutual_information_penalty_weight):
        loss += config.mutual_information_penalty_weight * mutual_information_penalty(gan_model)
    return {"discriminator_loss": loss + _regularization(gan_model.discriminator_scope), **terms}
