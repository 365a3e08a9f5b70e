"""MNIST as seeded TFRecords, shared by the apps that train on it."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import tensorflow as tf

import mnist_data
import seeded_input
from repro_app.errors import RunError
from repro_app.groups import DataOptions

RECORD_PATTERN = "{split}-{idx:05d}-of-{num_shards:05d}.tfrecord"
NUM_SHARDS = 10


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """The MNIST splits (numpy) and the train split's records.

    Attributes:
      mnist: the splits, for evaluation on test/validation.
      record_dir: `<data_dir>/<source>/<compression>`, holding the train records.
      manifest: seeded_input's manifest of them.
      identity: "<source>:<content digest>", the data's part of the run identity (not the
        manifest digest: compression changes the shard bytes only).
    """

    mnist: mnist_data.MnistSplits
    record_dir: str
    manifest: dict[str, Any]
    identity: str


def prepare_mnist(data: DataOptions) -> PreparedData:
    """Loads MNIST and writes (or reuses) the train split's TFRecords.

    Raises:
      RunError: the data cannot be read or written (the message names the file or flag).
    """
    try:
        mnist = mnist_data.load_mnist(data.mnist_idx_dir)
        images, labels = mnist.splits["train"]
        record_dir = os.path.join(data.data_dir, mnist.source, data.compression.lower())
        manifest = seeded_input.write_records(
            "train", record_dir=record_dir, features={"image": images, "label": labels},
            num_shards=min(NUM_SHARDS, len(labels)), record_pattern=RECORD_PATTERN,
            compression=data.compression)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise RunError(str(e)) from None
    return PreparedData(mnist, record_dir, manifest, f"{mnist.source}:{mnist.digest}")


def scale_images(pixels: tf.Tensor, batch_size: int) -> tf.Tensor:
    """uint8 pixels [B, 28, 28] -> float32 [B, 28, 28, 1] in [-1, 1): the page's (x - 128) / 128
    (exact: every value is k/128; numpy arrays: mnist_eval.to_classifier_input)."""
    return tf.reshape((tf.cast(pixels, tf.float32) - 128.0) / 128.0, [batch_size, 28, 28, 1])


def train_input_fn(prepared: PreparedData, *, data: DataOptions, data_seed: int,
                   start_batch: int, batch_map_fn: Any, micro_batches: int = 1,
                   micro_range: tuple[int, int] | None = None) -> Any:
    """seeded_input's input_fn over the prepared train records (see its docs for the stream).

    Args:
      prepared: from prepare_mnist.
      data: batch size, shuffle window, parallelism and compression.
      data_seed: the run's `SeedTree.data`.
      start_batch: global index of the first batch (a resume skips the trained ones).
      batch_map_fn: fn(batch {"image": uint8 [rows, 28, 28], "label": int64 [rows]}, index
        int64) -> the model's (features, labels); rows = B, or the micro_range's rows.
      micro_batches, micro_range: yield only rows [i*B/M, j*B/M) of each batch (a process
        computing micro-batches i..j-1 of every global batch).
    """
    return seeded_input.input_fn(
        "train", record_dir=prepared.record_dir, batch_size=data.batch_size,
        random_seed=data_seed, buffer_size=data.buffer_size, num_parallel=data.num_parallel,
        compression=data.compression, record_pattern=RECORD_PATTERN, start_batch=start_batch,
        batch_map_fn=batch_map_fn, micro_batches=micro_batches, micro_range=micro_range)
