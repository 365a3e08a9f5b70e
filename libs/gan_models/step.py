"""One GAN global step as one `session.run`: a generator update, then a discriminator update.

Order within the run, fixed by control dependencies (not by scheduling):
  1. generator pass, per micro-batch i: G(z_i) -> D(G(z_i)) -> generator loss_i -> its
     gradients w.r.t. the generator's variables;
  2. generator update: Adam on the mean of the per-micro-batch gradients (a pairwise tree over
     i, `tf_determinism.reduce`); the generator's batch-norm moving averages from the tree mean
     of pass 1's batch statistics;
  3. discriminator pass, per micro-batch, after 2: G(z_i) again with the updated generator,
     D(real_i), D(G(z_i)) [and D(interpolates) for the gradient penalty] -> discriminator
     loss_i -> its gradients w.r.t. the discriminator's variables;
  4. discriminator update: Adam on their tree mean;
  5. after all of the above: one power iteration per spectrally normalized kernel (from the
     updated kernels), then the global-step increment.
This is TF-GAN's alternating schedule (its sequential hooks run a generator step, then a
discriminator step) with both updates on the same batch and noise, minus the third forward
pass that GANEstimator's main run spends on logging: the losses logged are those of passes 1
and 3 (tree means over micro-batches), computed anyway. One global step = one input batch.

Why this is race-free: in one `session.run` TF runs ops as soon as their inputs are ready, so
a variable's write must depend on every read of it in that run. Generator variables: read in
1 (feeding its losses and gradients, on which 2 depends) and in 3 (built under a dependency
on 2). Discriminator variables: read in 1 and 3; written in 4, which depends on 2 and on 3's
losses and gradients. `u` of the spectral norms: read in 1 and 3, written in 5. Adam slots,
moving averages: read and written in 2 or 4 only. The global step is only incremented (the
Estimator's hooks read it in the same run for scheduling only; repro_app's hooks count runs
instead).

Micro-batches (config.micro_batches M): the global batch's rows [i*B/M, (i+1)*B/M) are
micro-batch i, each its own pass with its own batch-norm statistics; a pass's gradients are
computed per micro-batch (never one `tf.gradients` over a summed loss, whose aggregation
would interleave the micro-batches' paths) and combined in micro-batch order. A process may
compute only micro-batches [first, last) and take the means from `share.mean` (a
`MicroBatchShare`), which combines them with the other processes' (multi-worker):
the update is a function of (seed, M) alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import tensorflow as tf
import tensorflow_gan as tfgan

from gan_models import layers, networks
from gan_models.config import GANConfig
from gan_models.losses import (
    discriminator_loss_terms,
    generator_loss_terms,
    loss_tensor_names,
    publish_losses,
)
from tf_determinism.optimizers import DeterministicAdam
from tf_determinism.reduce import MicroBatchMean, MicroBatchShare, micro_batch_means

# One global step consumes one input batch (GANEstimator's sequential hooks took three).
BATCHES_PER_STEP = 1


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """What `build_train_step` built.

    Attributes:
      train_op: Runs one whole global step (1-5 of the module docstring).
      losses: key -> published float32 scalar (`loss_tensor_names`): means over all M
        micro-batches, from the update passes.
      real_data: float32 [rows, 28, 28, 1], this process's real rows.
      generated_data: float32 [rows, 28, 28, 1], the discriminator pass's generated rows.
    """

    train_op: tf.Operation
    losses: dict[str, tf.Tensor]
    real_data: tf.Tensor
    generated_data: tf.Tensor


def optimizers(config: GANConfig) -> tuple[DeterministicAdam, DeterministicAdam]:
    """(generator, discriminator) Adam with beta1 = 0.5, as in the TF-GAN MNIST examples."""
    return (
        DeterministicAdam(config.resolved_gen_lr, beta1=0.5, name="GeneratorAdam"),
        DeterministicAdam(config.resolved_crit_lr, beta1=0.5, name="DiscriminatorAdam"),
    )


def gan_pass(config: GANConfig, generator_inputs: Any, real_data: tf.Tensor) -> Any:
    """One forward pass: a `GANModel` (`InfoGANModel` for infogan) in the Generator and
    Discriminator variable scopes (variables are created by the first call, reused after)."""

    def generator_fn(inputs: Any) -> tf.Tensor:
        return networks.generator(inputs, config, is_training=True)

    def discriminator_fn(data: tf.Tensor, conditioning: Any) -> Any:
        return networks.critic(data, conditioning, config)

    # tfgan.infogan_model opens its scopes without AUTO_REUSE: inherit it from here.
    scope = tf.compat.v1.get_variable_scope()
    with tf.compat.v1.variable_scope(scope, reuse=tf.compat.v1.AUTO_REUSE):
        if config.gan_type == "infogan":
            unstructured, categorical, continuous = generator_inputs
            return tfgan.infogan_model(
                generator_fn,
                discriminator_fn,
                real_data=real_data,
                unstructured_generator_inputs=[unstructured],
                structured_generator_inputs=[categorical, continuous],
            )
        return tfgan.gan_model(
            generator_fn, discriminator_fn, real_data=real_data, generator_inputs=generator_inputs
        )


def micro_slices(structure: Any, count: int) -> list[Any]:
    """`count` equal consecutive row slices of every tensor of `structure` (static rows)."""
    rows = int(tf.nest.flatten(structure)[0].shape[0]) // count
    return [
        tf.nest.map_structure(lambda x, i=i: x[i * rows : (i + 1) * rows], structure)
        for i in range(count)
    ]


@dataclasses.dataclass(frozen=True)
class PassValues:
    """What one micro-batch's pass contributes to the step, combined over micro-batches.

    Attributes:
      losses: key -> float32 scalar (the pass's loss terms).
      grads: (gradient or None, variable) per variable, as `compute_gradients` returns them.
      stats: the batch-norm statistics of the pass (generator pass only).
    """

    losses: dict[str, tf.Tensor]
    grads: list[tuple[tf.Tensor | None, tf.Variable]]
    stats: list[layers.BatchStats] = dataclasses.field(default_factory=list)

    def tensors(self) -> Any:
        """The combined values as one nested structure (variables and momenta left out)."""
        return (
            self.losses,
            [grad for grad, _ in self.grads],
            [(record.mean, record.variance) for record in self.stats],
        )

    def with_tensors(self, structure: Any) -> PassValues:
        """These values with `structure` (as from `tensors`) in place of the tensors."""
        losses, grads, stats = structure
        return PassValues(
            losses=losses,
            grads=list(zip(grads, [var for _, var in self.grads], strict=True)),
            stats=[
                dataclasses.replace(record, mean=mean, variance=variance)
                for record, (mean, variance) in zip(self.stats, stats, strict=True)
            ],
        )


def combine_passes(
    per_micro: Sequence[PassValues], micro_batch_mean: MicroBatchMean | None
) -> PassValues:
    """Element-wise means over all M micro-batches of the local passes' values
    (`tf_determinism.reduce.micro_batch_means`), in the first pass's structure."""
    first = per_micro[0]
    means = micro_batch_means([values.tensors() for values in per_micro], micro_batch_mean)
    return first.with_tensors(means)


def build_train_step(
    config: GANConfig,
    features: dict[str, Any],
    real_data: tf.Tensor,
    *,
    share: MicroBatchShare | None = None,
    add_summaries: bool = False,
) -> TrainStep:
    """Builds one global step in the default graph (see the module docstring).

    Args:
      config: The model configuration, including `micro_batches` M.
      features: `noise.training_features(...)` for the same rows as `real_data`.
      real_data: float32 [rows, 28, 28, 1] in [-1, 1]: the global batch (rows = B), or
        micro-batches [first, last) of it with `share`.
      share: This process's micro-batches and the mean across processes (default: all M
        here); every combined value goes through its `mean`.
      add_summaries: Loss scalars ("losses/<key>") and real/generated image grids.

    Returns:
      The `TrainStep`.

    Raises:
      ValueError: rows not divisible into the local micro-batches, or a share outside M.
    """
    first, last = (share.first, share.last) if share else (0, config.micro_batches)
    micro_batch_mean = share.mean if share else None
    local = last - first
    if not 0 <= first < last <= config.micro_batches:
        raise ValueError(
            f"build_train_step: micro-batches [{first}, {last}) are not a share of "
            f"{config.micro_batches}"
        )
    rows = int(real_data.shape[0])
    if rows % local:
        raise ValueError(f"build_train_step: {rows} rows do not split into {local} micro-batches")
    inputs = list(
        zip(
            micro_slices(features["generator_inputs"], local),
            micro_slices(real_data, local),
            strict=True,
        )
    )
    gen_opt, dis_opt = optimizers(config)
    global_step = tf.compat.v1.train.get_or_create_global_step()
    gen_losses, gen_update = _generator_phase(config, inputs, gen_opt, micro_batch_mean)
    with tf.control_dependencies([gen_update]):
        dis_losses, dis_update, generated = _discriminator_phase(
            config,
            inputs,
            dis_opt,
            micro_batch_mean,
            batch_index=features["batch_index"],
            first=first,
        )

    # 5: after every read of this step: spectral-norm vectors, then the step counter.
    losses = {**gen_losses, **dis_losses}
    with tf.control_dependencies([gen_update, dis_update, *losses.values()]):
        spectral = layers.spectral_norm_update_op()
    with tf.control_dependencies([spectral]):
        increment = global_step.assign_add(1, read_value=False)
    published = publish_losses(
        {key: losses[key] for key in loss_tensor_names(config)}, add_summaries
    )
    return TrainStep(
        train_op=tf.group(increment, name="gan_train_step"),
        losses=published,
        real_data=real_data,
        generated_data=generated,
    )


def _generator_phase(
    config: GANConfig,
    inputs: list[tuple[Any, tf.Tensor]],
    optimizer: DeterministicAdam,
    micro_batch_mean: MicroBatchMean | None,
) -> tuple[dict[str, tf.Tensor], tf.Operation]:
    """1-2: the generator pass per micro-batch, then its update (Adam on the combined
    gradients, moving averages from the combined batch statistics)."""
    passes = []
    for generator_inputs, real in inputs:
        with layers.recording_batch_stats() as stats:
            model = gan_pass(config, generator_inputs, real)
        terms = generator_loss_terms(config, model)
        passes.append(
            PassValues(
                terms,
                optimizer.compute_gradients(
                    terms["generator_loss"], var_list=model.generator_variables
                ),
                stats,
            )
        )
    combined = combine_passes(passes, micro_batch_mean)
    # The update after the losses: their weight-decay terms read the variables it writes.
    losses = combined.losses
    with tf.control_dependencies(list(losses.values())):
        update = tf.group(
            optimizer.apply_gradients(combined.grads),
            *layers.moving_average_updates(combined.stats),
            name="generator_update",
        )
    return losses, update


def _discriminator_phase(
    config: GANConfig,
    inputs: list[tuple[Any, tf.Tensor]],
    optimizer: DeterministicAdam,
    micro_batch_mean: MicroBatchMean | None,
    *,
    batch_index: tf.Tensor,
    first: int,
) -> tuple[dict[str, tf.Tensor], tf.Operation, tf.Tensor]:
    """3-4, built under the caller's dependency on the generator update: the generator re-run
    and the discriminator pass per micro-batch (local micro-batch i is global `first` + i),
    then the discriminator update. Returns its losses, update and the generated rows."""
    passes, generated = [], []
    for micro, (generator_inputs, real) in enumerate(inputs, start=first):
        model = gan_pass(config, generator_inputs, real)
        generated.append(model.generated_data)
        terms = discriminator_loss_terms(config, model, batch_index=batch_index, micro_batch=micro)
        passes.append(
            PassValues(
                terms,
                optimizer.compute_gradients(
                    terms["discriminator_loss"], var_list=model.discriminator_variables
                ),
            )
        )
    combined = combine_passes(passes, micro_batch_mean)
    losses = combined.losses
    with tf.control_dependencies(list(losses.values())):
        update = optimizer.apply_gradients(combined.grads, name="discriminator_update")
    return losses, update, tf.concat(generated, axis=0)
