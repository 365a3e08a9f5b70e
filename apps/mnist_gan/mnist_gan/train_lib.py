"""The MNIST GAN experiment as importable functions: data, input, run record, training, samples.

`train.py` only parses flags into `TrainOptions` and calls `run_experiment`. Tests call these
functions with explicit arguments (flags are never parsed under pytest).
"""

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import mnist_data
import numpy as np
import tensorflow as tf

import gan_models
import seeded_input
import tf_numerics
from mnist_gan.hooks import LossRecorderHook
from mnist_gan.samples import write_samples_png
from run_record import (
    LossesWriter,
    RunMismatchError,
    build_run_json,
    check_resumable,
    truncate_losses,
    write_run_json,
)

RECORD_PATTERN = "{split}-{idx:05d}-of-{num_shards:05d}.tfrecord"
NUM_SHARDS = 10
SAMPLE_ROWS, SAMPLE_COLS = 10, 10


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Everything one run depends on (the app's flags, minus the numerics set before import)."""

    model_dir: str
    random_seed: int = 123
    gan_type: str = "unconditional"
    loss: str | None = None
    max_train_steps: int = 1000
    batch_size: int = 32
    noise_dims: int = 64
    gen_lr: float | None = None
    crit_lr: float | None = None
    gradient_penalty_weight: float | None = None
    buffer_size: int = 10000
    num_parallel: int = 2
    compression: str = "NONE"
    save_summary_steps: int = 100
    save_checkpoints_steps: int = 500
    log_step_count_steps: int = 100
    keep_checkpoint_max: int = 2
    data_dir: str = "data"
    mnist_idx_dir: str | None = None
    numerics: tf_numerics.Numerics = tf_numerics.Numerics()


# Fields that may change between a run and its resume without changing any number it computes:
# how long to train, how often to log/save, where files live, and I/O parallelism/compression
# (seeded_input guarantees those give the identical stream).
_RESUMABLE_FIELDS = frozenset({
    "model_dir", "max_train_steps", "save_summary_steps", "save_checkpoints_steps",
    "log_step_count_steps", "keep_checkpoint_max", "data_dir", "num_parallel", "compression",
})


def gan_config(opts: TrainOptions) -> gan_models.GANConfig:
    """The gan_models configuration for these options."""
    return gan_models.GANConfig(
        gan_type=opts.gan_type, loss=opts.loss, noise_dims=opts.noise_dims,
        gen_lr=opts.gen_lr, crit_lr=opts.crit_lr,
        gradient_penalty_weight=opts.gradient_penalty_weight, seed=opts.random_seed,
    )


class RunError(Exception):
    """A refusal the user can fix (bad data dir, mismatched model_dir): one line, exit 2."""


def default_model_dir(gan_type: str, loss: str, seed: int) -> str:
    return os.path.join("runs", "mnist_gan", f"{gan_type}-{loss}-seed{seed}")


def run_record(opts: TrainOptions, manifest: dict, data_identity: str) -> dict[str, Any]:
    """The run.json content: identity (must match on resume) plus provenance."""
    record = build_run_json(opts, _RESUMABLE_FIELDS, manifest, data_identity,
                            tf_numerics.numerics_record(opts.numerics))
    record["batches_per_step"] = gan_models.BATCHES_PER_STEP
    return record


def check_model_dir(model_dir: str, record: dict[str, Any]) -> None:
    """Refuses to resume a model_dir whose recorded identity differs from this run's.

    Raises:
      RunError: naming the first differing fields and both values.
    """
    try:
        check_resumable(model_dir, record["identity"])
    except RunMismatchError as e:
        raise RunError(str(e)) from None


def make_train_input_fn(opts: TrainOptions, record_dir: str, start_batch: int):
    """The reference page's `extended_input_fn`, on seeded_input.

    Each batch becomes (generator inputs, real images): X = (pixels - 128) / 128 as float32
    [B, 28, 28, 1] in [-1, 1), plus the generator noise (and InfoGAN codes, or one-hot labels
    for the conditional GAN). The noise is drawn with stateless ops from a seed that is a pure
    function of (random_seed, batch index), so parallel maps and resumes cannot change it.
    """
    config = gan_config(opts)
    batch_size = opts.batch_size

    def add_noise_and_swap(batch, seed):
        images = (tf.cast(batch["image"], tf.float32) - 128.0) / 128.0
        images = tf.reshape(images, [batch_size, 28, 28, 1])
        one_hot = None
        if config.gan_type == "conditional":
            one_hot = tf.one_hot(batch["label"], config.num_classes, dtype=tf.float32)
        return gan_models.generator_inputs(config, batch_size, seed, one_hot), images

    return seeded_input.input_fn(
        "train", batch_size=batch_size, buffer_size=opts.buffer_size,
        num_parallel=opts.num_parallel, compression=opts.compression,
        random_seed=opts.random_seed, parse_fn=None, record_dir=record_dir,
        record_pattern=RECORD_PATTERN, start_batch=start_batch,
        batch_map_fn=add_noise_and_swap)


def restored_step(model_dir: str) -> int:
    """The global step of model_dir's latest checkpoint, 0 when there is none."""
    checkpoint = tf.train.latest_checkpoint(model_dir)
    return int(tf.train.load_variable(checkpoint, "global_step")) if checkpoint else 0


def make_run_config(opts: TrainOptions) -> tf.estimator.RunConfig:
    """The page's seeded RunConfig, plus pinned threads (they change the bits)."""
    return tf.estimator.RunConfig(
        model_dir=opts.model_dir,
        tf_random_seed=opts.random_seed,
        save_summary_steps=opts.save_summary_steps,
        save_checkpoints_steps=opts.save_checkpoints_steps,
        keep_checkpoint_max=opts.keep_checkpoint_max,
        # The app logs its own progress (losses, steps/s, ETA); Estimator's would duplicate it.
        log_step_count_steps=None,
        session_config=tf_numerics.session_config(opts.numerics),
    )


def generate_samples(estimator: tf.estimator.Estimator, opts: TrainOptions) -> np.ndarray:
    """Generated images float32 [rows*cols, 28, 28, 1] in [-1, 1] for the fixed sample grid."""
    inputs = gan_models.sample_generator_inputs(
        gan_config(opts), SAMPLE_ROWS, SAMPLE_COLS, opts.random_seed)
    images = estimator.predict(gan_models.predict_input_fn(inputs), yield_single_examples=False)
    return np.concatenate(list(images), axis=0)


def _prepare(opts: TrainOptions) -> tuple[dict, str, str]:
    """Loads MNIST and writes/reuses its TFRecords; user-facing errors become RunError."""
    try:
        mnist = mnist_data.load_mnist(opts.mnist_idx_dir)
        images, labels = mnist.splits["train"]
        record_dir = os.path.join(opts.data_dir, mnist.source, opts.compression.lower())
        manifest = seeded_input.write_records(
            "train", record_dir, {"image": images, "label": labels}, num_shards=NUM_SHARDS,
            record_pattern=RECORD_PATTERN, compression=opts.compression)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise RunError(str(e)) from None
    return manifest, record_dir, mnist.source + ":" + mnist.digest


def run_experiment(opts: TrainOptions, log: Callable[[str], None],
                   extra_hooks: Sequence[tf.estimator.SessionRunHook] = ()) -> dict[str, Any]:
    """Trains (or resumes) the GAN to opts.max_train_steps; writes the run directory.

    extra_hooks (e.g. a benchmark's timer) run after the loss recorder.

    Returns:
      A summary: model_dir, first/last step trained this call, the final losses.

    Raises:
      RunError: bad data input, or model_dir belongs to a different run.
    """
    tf_numerics.configure_tensorflow(opts.numerics)
    log(f"preparing MNIST TFRecords under {opts.data_dir}")
    manifest, record_dir, data_identity = _prepare(opts)
    record = run_record(opts, manifest, data_identity)
    check_model_dir(opts.model_dir, record)
    os.makedirs(opts.model_dir, exist_ok=True)
    write_run_json(opts.model_dir, record)

    config = gan_config(opts)
    step = restored_step(opts.model_dir)
    losses_path = os.path.join(opts.model_dir, "losses.csv")
    # Rows written after the last checkpoint (a crash) are recomputed now: drop them first.
    truncate_losses(losses_path, step)
    estimator = gan_models.make_estimator(config, make_run_config(opts))
    if step < opts.max_train_steps:
        log(f"{'resuming at' if step else 'starting'} step {step} of {opts.max_train_steps} "
            f"in {opts.model_dir}")
        loss_names = gan_models.loss_tensor_names(config)
        writer = LossesWriter(losses_path, list(loss_names))
        hook = LossRecorderHook(writer, loss_names, opts.max_train_steps,
                                opts.log_step_count_steps, log)
        # Each global step consumes BATCHES_PER_STEP batches; skip the ones already trained on.
        start_batch = step * gan_models.BATCHES_PER_STEP
        try:
            estimator.train(make_train_input_fn(opts, record_dir, start_batch),
                            max_steps=opts.max_train_steps, hooks=[hook, *extra_hooks])
        finally:
            writer.close()
    else:
        log(f"{opts.model_dir} is already at step {step}; nothing to train")
    samples_path = os.path.join(opts.model_dir, "samples.png")
    write_samples_png(samples_path, generate_samples(estimator, opts), SAMPLE_ROWS, SAMPLE_COLS,
                      f"{opts.gan_type} / {config.resolved_loss} / seed {opts.random_seed} / "
                      f"step {restored_step(opts.model_dir)}")
    log(f"wrote {samples_path}")
    return {"model_dir": opts.model_dir, "start_step": step,
            "end_step": restored_step(opts.model_dir)}
