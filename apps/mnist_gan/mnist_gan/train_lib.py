"""The MNIST GAN experiment: seeded_input's MNIST stream, gan_models' Estimator on the seeded
RunConfig, the losses logged each step, and samples.png (imports TensorFlow).

`train.py` runs it through the skeleton (repro_experiment): the run directory, resume, faults
and clusters are the skeleton's. Tests and benchmarks call `repro_experiment.runner.train`
with `EXPERIMENT` and explicit options.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

import gan_models
import mnist_input.data
import repro_experiment
from mnist_gan.options import GanOptions
from mnist_gan.samples import png_grid

SAMPLE_ROWS, SAMPLE_COLS = 10, 10


def gan_config(opts: GanOptions, seeds: Any) -> gan_models.GANConfig:
    """The gan_models configuration: the model options plus the run's seed tree."""
    return gan_models.GANConfig(**dataclasses.asdict(opts.model), seeds=seeds)


def resolve(opts: GanOptions) -> GanOptions:
    """opts with the gan_type's default loss filled in (run.json records the loss trained)."""
    loss = gan_models.GANConfig(gan_type=opts.model.gan_type, loss=opts.model.loss).resolved_loss
    return dataclasses.replace(opts, model=dataclasses.replace(opts.model, loss=loss))


def batch_map(ctx: repro_experiment.Context):
    """The reference page's `extended_input_fn`: batch k becomes (features, real images), with
    X = (pixels - 128) / 128 as float32 [rows, 28, 28, 1] in [-1, 1), and features
    `gan_models.training_features`: the generator noise (and InfoGAN codes, or the one-hot
    labels of the conditional GAN) of each of this process's micro-batches, drawn statelessly
    from (seeds.noise, k, micro-batch), and k."""
    config = gan_config(ctx.opts, ctx.seeds)

    def add_noise_and_swap(batch: dict[str, tf.Tensor], index: tf.Tensor) -> Any:
        one_hot = None
        if config.gan_type == "conditional":
            one_hot = tf.one_hot(batch["label"], config.num_classes, dtype=tf.float32)
        features = gan_models.training_features(
            config,
            batch_size=ctx.opts.data.batch_size,
            batch_index=index,
            one_hot_labels=one_hot,
            micro_range=ctx.micro_range if ctx.share else None,
        )
        return features, mnist_input.data.scale_images(batch["image"], ctx.rows)

    return add_noise_and_swap


def estimator(
    ctx: repro_experiment.Context, run_config: tf.estimator.RunConfig
) -> tf.estimator.Estimator:
    """gan_models' Estimator on the seeded RunConfig (this process's share of a cluster)."""
    return gan_models.make_estimator(gan_config(ctx.opts, ctx.seeds), run_config, share=ctx.share)


def samples(ctx: repro_experiment.Context, trained: Any, log: Any) -> dict[str, bytes]:
    """samples.png: the generator's images of the fixed sample grid (seeds.samples)."""
    config = gan_config(ctx.opts, ctx.seeds)
    inputs = gan_models.sample_generator_inputs(config, SAMPLE_ROWS, SAMPLE_COLS)
    images = np.concatenate(
        list(trained.predict(gan_models.predict_input_fn(inputs), yield_single_examples=False)),
        axis=0,
    )
    step = trained.get_variable_value("global_step")
    title = (
        f"{config.gan_type} / {config.resolved_loss} / seed {ctx.opts.random_seed} / "
        f"step {step}"
    )
    return {"samples.png": png_grid(images, n_rows=SAMPLE_ROWS, n_cols=SAMPLE_COLS, title=title)}


EXPERIMENT = repro_experiment.Experiment(
    name="mnist_gan",
    seed_names=gan_models.SEED_NAMES,
    prepare=lambda opts, log: mnist_input.data.prepare_mnist(opts.data, log),
    batch_map=batch_map,
    estimator=estimator,
    scalars=lambda ctx: gan_models.loss_tensor_names(gan_config(ctx.opts, ctx.seeds)),
    results=samples,
    run_name=lambda opts: f"{opts.model.gan_type}-{opts.model.loss}-seed{opts.random_seed}",
    resolve=resolve,
)
