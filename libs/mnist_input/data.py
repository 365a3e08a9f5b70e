"""MNIST's training records and pixels, shared by the apps that train on MNIST.

TensorFlow-backed: imported by train_libs after the pins (not by `mnist_input` itself).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

import mnist_data
import seeded_input
from mnist_input.options import MnistDataOptions
from repro_app.data import PreparedData
from repro_app.errors import RunError

# Both shape every run's stream (the data seed permutes the shards sorted by name, then
# interleaves them), and the run identity does not record them: change them and existing run
# directories would resume on other batches.
RECORD_PATTERN = "{split}-{idx:05d}-of-{num_shards:05d}.tfrecord"
NUM_SHARDS = 10


@dataclasses.dataclass(frozen=True)
class PreparedMnist(PreparedData):
    """The train split's records (PreparedData) and the MNIST splits (numpy), for evaluation on
    test/validation."""

    mnist: mnist_data.MnistSplits = dataclasses.field(kw_only=True)


def prepare_mnist(
    data: MnistDataOptions, log: Callable[[str], None] | None = None
) -> PreparedMnist:
    """Loads MNIST and writes (or reuses) the train split's TFRecords in
    `data.record_dir(<source>)` (saying so to `log`, if given).

    Raises:
      RunError: the data cannot be read or written (the message names the file or flag).
    """
    if log is not None:
        log(f"preparing MNIST TFRecords under {data.data_dir}")
    try:
        mnist = mnist_data.load_mnist(data.mnist_idx_dir)
        images, labels = mnist.splits["train"]
        record_dir = data.record_dir(mnist.source)
        manifest = seeded_input.write_records(
            "train",
            record_dir=record_dir,
            features={"image": images, "label": labels},
            num_shards=min(NUM_SHARDS, len(labels)),
            record_pattern=RECORD_PATTERN,
            compression=data.compression,
        )
    except (FileNotFoundError, ValueError, OSError) as e:
        raise RunError(str(e)) from None
    return PreparedMnist(
        record_dir=record_dir,
        record_pattern=RECORD_PATTERN,
        manifest=manifest,
        identity=f"{mnist.source}:{mnist.digest}",
        mnist=mnist,
    )


def scale_images(pixels: tf.Tensor, batch_size: int) -> tf.Tensor:
    """uint8 pixels [B, 28, 28] -> float32 [B, 28, 28, 1] in [-1, 1): the page's (x - 128) / 128
    (exact: every value is k/128; numpy arrays: mnist_eval.to_classifier_input)."""
    return tf.reshape((tf.cast(pixels, tf.float32) - 128.0) / 128.0, [batch_size, 28, 28, 1])
