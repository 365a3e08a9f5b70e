"""Building blocks of the seeded pipelines: argument checks, shard reading, per-epoch shuffling.

See the package docstring (``seeded_input/__init__.py``) for the determinism guarantee, and
``pipeline.input_fn`` for the composed pipeline.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from seeded_input import shards as shards_lib
from tf_determinism import derive_seed

# Large enough to act as "forever" for n_epochs=None, small enough for int64 arithmetic.
_FOREVER = 2**62
# Default number of shards read concurrently; a constant (not num_parallel) so that the
# interleave order, hence the stream, does not change with the degree of parallelism.
_DEFAULT_CYCLE_LENGTH = 16


def check_int(name: str, value: Any, minimum: int | None) -> None:
    """Raises ValueError naming ``name`` unless value is an int (not bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def check_n_epochs(n_epochs: int | None) -> None:
    """Raises ValueError unless n_epochs is None (forever) or an int >= 1."""
    if n_epochs is not None:
        check_int("n_epochs", n_epochs, 1)


def records_from_paths(
    paths: list[str],
    *,
    random_seed: int,
    compression: str,
    num_parallel: int,
    cycle_length: int | None,
    deterministic: bool,
) -> tf.data.Dataset:
    """One epoch of serialized records from ``paths`` (already sorted)."""
    order = np.random.default_rng(derive_seed(random_seed, "files")).permutation(len(paths))
    files = tf.data.Dataset.from_tensor_slices([paths[i] for i in order])
    cycle = min(len(paths), cycle_length or _DEFAULT_CYCLE_LENGTH)
    tf_compression = shards_lib.tf_compression_type(compression)
    return files.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=tf_compression),
        cycle_length=cycle,
        block_length=1,
        # Parallel interleave with deterministic=True yields the sequential interleave order.
        num_parallel_calls=num_parallel if num_parallel > 1 else None,
        deterministic=deterministic if num_parallel > 1 else None,
    )


def dataset_from_records(
    split: str,
    *,
    record_dir: str,
    record_pattern: str,
    random_seed: int,
    compression: str = "NONE",
    num_parallel: int = 1,
    cycle_length: int | None = None,
    deterministic: bool = True,
    verify: str = "sha256",
) -> tf.data.Dataset:
    """One epoch of the split's serialized examples, in a seeded, listing-independent order.

    The shards are listed, sorted, checked (see shards.resolve_shards) and permuted with a seed
    derived from ``random_seed``; then ``cycle_length`` shards at a time are interleaved one
    record each.

    Args:
        split: split name, e.g. "train".
        record_dir: directory holding the shards (and usually the manifest).
        record_pattern: shard file pattern, e.g. shards.DEFAULT_RECORD_PATTERN.
        random_seed: a non-negative int.
        compression: "NONE", "GZIP" or "ZLIB"; must match the files.
        num_parallel: threads reading shards, >= 1; does not change the order.
        cycle_length: shards read concurrently (default min(num shards, 16)); part of the
            stream's identity.
        deterministic: False lets parallel reads reorder records (faster, not reproducible).
        verify: with a manifest, "sha256", "size" or "none" (see shards.resolve_shards).

    Returns:
        A dataset of scalar tf.string serialized tf.train.Example protos.

    Raises:
        FileNotFoundError, ValueError: see shards.resolve_shards; bad num_parallel/cycle_length.
    """
    check_int("num_parallel", num_parallel, 1)
    check_int("random_seed", random_seed, 0)
    if cycle_length is not None:
        check_int("cycle_length", cycle_length, 1)
    paths, _ = shards_lib.resolve_shards(
        split,
        record_dir=record_dir,
        record_pattern=record_pattern,
        compression=compression,
        verify=verify,
    )
    return records_from_paths(
        paths,
        random_seed=random_seed,
        compression=compression,
        num_parallel=num_parallel,
        cycle_length=cycle_length,
        deterministic=deterministic,
    )


def _window_order(size: tf.Tensor, epoch_seed: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """Uniform permutation of range(size), a pure function of (epoch_seed, window)."""
    seed = tf.random.experimental.stateless_fold_in(epoch_seed, window, alg="philox")
    return tf.random.experimental.stateless_shuffle(tf.range(size), seed, alg="philox")


def shuffled_windows(
    dataset: tf.data.Dataset,
    *,
    buffer_size: int,
    n_epochs: int | None,
    random_seed: int,
    first_epoch: int = 0,
    skip: int = 0,
    to_batches: Callable[[tf.data.Dataset], tf.data.Dataset] | None = None,
) -> tf.data.Dataset:
    """Epochs of ``dataset`` as shuffled windows (the core of shuffle_repeat_prefetch).

    Each epoch is cut into consecutive windows of ``buffer_size`` elements (the last one may
    be shorter) and window w of epoch e is permuted with stateless seeds folded from
    (random_seed, e, w). Stateless ops take explicit seeds, so TF's global/graph seed cannot
    leak in, and any epoch or window can be produced without reading the earlier ones.

    Args:
        dataset, buffer_size, n_epochs, random_seed, first_epoch: as in
            shuffle_repeat_prefetch (validated there).
        skip: elements of epoch ``first_epoch`` to drop, 0 <= skip < epoch size; whole windows
            are skipped before batching, so they are read but neither copied nor permuted.
        to_batches: optional fn(elements of one epoch) -> the same elements, in order, as
            batches of any sizes, each component with a leading element axis; they are
            rebatched into windows. input_fn parses chunks of serialized records here, so the
            permutation moves parsed numbers instead of heap-allocated strings (that halved
            the pipeline's CPU overhead per example).

    Returns:
        A dataset of windows: each component batched, leading dimension <= buffer_size.
    """
    key = tf.constant([derive_seed(random_seed, "shuffle"), 0], tf.int64)
    skip_windows, skip_rest = divmod(int(skip), int(buffer_size))

    def epoch_windows(epoch: tf.Tensor) -> tf.data.Dataset:
        epoch_seed = tf.random.experimental.stateless_fold_in(key, epoch, alg="philox")
        is_first = tf.equal(epoch, first_epoch)
        start = tf.where(is_first, tf.constant(skip_windows, tf.int64), tf.constant(0, tf.int64))
        drop = tf.where(is_first, skip_rest, 0)
        # Resume: jump over whole windows before batching them.
        elements = dataset.skip(start * buffer_size) if skip else dataset
        if to_batches is None:
            windows = elements.batch(buffer_size)
        else:
            windows = to_batches(elements).rebatch(buffer_size)
        windows = windows.enumerate(start=start) if skip else windows.enumerate()

        def permute(index: tf.Tensor, window: Any) -> Any:
            size = tf.shape(tf.nest.flatten(window)[0], out_type=tf.int64)[0]
            order = _window_order(size, epoch_seed, index)
            if skip:
                order = order[tf.where(tf.equal(index, start), drop, 0) :]
            return tf.nest.map_structure(lambda t: tf.gather(t, order), window)

        return windows.map(permute)

    stop = _FOREVER if n_epochs is None else max(int(n_epochs), int(first_epoch))
    return tf.data.Dataset.range(int(first_epoch), stop).flat_map(epoch_windows)


def shuffle_repeat_prefetch(
    dataset: tf.data.Dataset,
    *,
    buffer_size: int,
    n_epochs: int | None,
    random_seed: int,
    first_epoch: int = 0,
    prefetch_size: int = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Shuffles each epoch with its own seed, then repeats, then prefetches.

    Shuffling happens inside each epoch (before repeat), so every element appears exactly once
    per epoch. The shuffle is a window shuffle: the epoch is cut into consecutive windows of
    ``buffer_size`` elements and each window is permuted uniformly with a stateless seed from
    (random_seed, epoch, window). Windows never cross an epoch boundary. Like a shuffle buffer
    of that size, elements move at most about buffer_size positions (a window holds the same
    elements every epoch, in a new order); buffer_size >= the epoch's size shuffles the whole
    epoch uniformly. (A stateless window permutation replaced ``Dataset.shuffle``, whose order
    depends on TF's global seed and which cost ~25% more CPU per example.) Each epoch's order
    is a pure function of (random_seed, epoch), so epochs before ``first_epoch`` are never read.

    Args:
        dataset: one epoch of elements of fixed shape (e.g. from dataset_from_records); it
            must yield the same sequence each time it is iterated.
        buffer_size: shuffle window size in elements, >= 1.
        n_epochs: total epochs, >= 1, or None to repeat forever.
        random_seed: a non-negative int.
        first_epoch: index of the first epoch to produce (for resuming), >= 0.
        prefetch_size: elements to prefetch (default AUTOTUNE, 0 for none; does not affect
            the values).

    Returns:
        Elements of epochs first_epoch .. n_epochs - 1 (or forever), in order.

    Raises:
        ValueError: buffer_size < 1, n_epochs < 1, first_epoch < 0, non-int arguments.
    """
    check_int("buffer_size", buffer_size, 1)
    check_n_epochs(n_epochs)
    check_int("random_seed", random_seed, 0)
    check_int("first_epoch", first_epoch, 0)
    shuffled = shuffled_windows(
        dataset,
        buffer_size=buffer_size,
        n_epochs=n_epochs,
        random_seed=random_seed,
        first_epoch=first_epoch,
    ).unbatch()
    return shuffled.prefetch(prefetch_size) if prefetch_size else shuffled
