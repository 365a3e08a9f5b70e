"""Generator inputs: stateless per-batch draws for training, fixed numpy grids for sampling.

Training inputs (`training_features`) are `tf.random.stateless_*` draws, one per micro-batch,
from the seed `tf_determinism.stateless_key(seeds.noise, global batch, micro-batch)`: the same
micro-batch always gets the same noise, whatever the thread count, `num_parallel_calls`, how
often the pipeline is rebuilt (a resumed run) or which process computes it (another worker).
Each component folds a fixed tag into that seed so the components are independent streams.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from gan_models.config import GANConfig
from tf_determinism import check_int, stateless_key

# Fixed fold-in tags of the components (part of the reproducibility contract: never renumber).
_NOISE_TAG, _CATEGORICAL_TAG, _CONTINUOUS_TAG = 0, 1, 2


def _component_seed(seed: tf.Tensor, tag: int) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(seed, tag)


def generator_inputs(
    config: GANConfig, batch_size: int, seed: Any, one_hot_labels: Any = None
) -> Any:
    """The generator input structure of one training batch (features for `make_estimator`).

    Args:
      config: gan_type and sizes.
      batch_size: B, a positive Python int.
      seed: int32/int64 tensor (or array) of shape [2], dedicated to this batch's generator
        inputs, a pure function of (noise sub-seed, batch index).
      one_hot_labels: conditional only (required): float32 [B, num_classes], the real batch's
        labels; the generator is conditioned on them, as in TF-GAN's conditional example.

    Returns:
      unconditional: noise float32 [B, noise_dims] ~ N(0, 1).
      conditional: (noise float32 [B, noise_dims], one_hot_labels float32 [B, num_classes]).
      infogan: (unstructured noise float32 [B, noise_dims - continuous_dim] ~ N(0, 1),
        categorical code int32 [B] uniform in [0, categorical_dim),
        continuous codes float32 [B, continuous_dim] ~ U[-1, 1)) as in TF-GAN's
        `get_infogan_noise`.

    Raises:
      ValueError: On a bad batch size, seed shape/dtype, or labels given/missing wrongly.
    """
    check_int("generator_inputs: batch_size", batch_size)
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64) or seed.shape.as_list() != [2]:
        raise ValueError(
            f"generator_inputs: seed must be an int32/int64 tensor of shape [2], got "
            f"{seed.dtype.name} {seed.shape}"
        )
    if config.gan_type != "conditional" and one_hot_labels is not None:
        raise ValueError(
            f"generator_inputs: one_hot_labels are only for gan_type 'conditional', "
            f"not {config.gan_type!r}"
        )
    noise_shape = [batch_size, config.unstructured_noise_dims]
    noise = tf.random.stateless_normal(noise_shape, seed=_component_seed(seed, _NOISE_TAG))
    if config.gan_type == "unconditional":
        return noise
    if config.gan_type == "conditional":
        if one_hot_labels is None:
            raise ValueError("generator_inputs: gan_type 'conditional' needs one_hot_labels")
        labels = tf.convert_to_tensor(one_hot_labels, dtype=tf.float32)
        labels.shape.assert_is_compatible_with([batch_size, config.num_classes])
        return noise, labels
    categorical = tf.random.stateless_uniform(
        [batch_size],
        seed=_component_seed(seed, _CATEGORICAL_TAG),
        minval=0,
        maxval=config.categorical_dim,
        dtype=tf.int32,
    )
    continuous = tf.random.stateless_uniform(
        [batch_size, config.continuous_dim],
        seed=_component_seed(seed, _CONTINUOUS_TAG),
        minval=-1.0,
        maxval=1.0,
    )
    return noise, categorical, continuous


def training_features(
    config: GANConfig,
    *,
    batch_size: int,
    batch_index: Any,
    one_hot_labels: Any = None,
    micro_range: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The features of global batch `batch_index` for training (`make_estimator`'s contract).

    Args:
      config: gan_type, sizes, `micro_batches` M and the noise sub-seed.
      batch_size: B, the global batch size; M must divide it.
      batch_index: int64 scalar, the global batch index in the run's stream.
      one_hot_labels: conditional only (required): float32 [rows, num_classes], the labels of
        the real rows these features go with.
      micro_range: (i, j): features of micro-batches i..j-1 only (rows i*B/M to j*B/M of the
        global batch), for a process that computes just those; default: all M.

    Returns:
      {"generator_inputs": the `generator_inputs` structure for those rows, micro-batch by
      micro-batch, "batch_index": int64 scalar}.

    Raises:
      ValueError: M does not divide B, or a bad micro_range.
    """
    micro = config.micro_batches
    if batch_size % micro:
        raise ValueError(
            f"training_features: micro_batches {micro} must divide the batch size {batch_size}"
        )
    first, last = micro_range if micro_range is not None else (0, micro)
    if not 0 <= first < last <= micro:
        raise ValueError(f"training_features: micro_range {micro_range} is not within [0, {micro}]")
    rows = batch_size // micro
    parts = []
    for i in range(first, last):
        labels = None
        if one_hot_labels is not None:
            labels = one_hot_labels[(i - first) * rows : (i - first + 1) * rows]
        seed = stateless_key(config.seeds.noise, batch_index, i)
        parts.append(generator_inputs(config, rows, seed, labels))
    inputs = tf.nest.map_structure(lambda *xs: tf.concat(xs, axis=0), *parts)
    return {"generator_inputs": inputs, "batch_index": tf.cast(batch_index, tf.int64)}


def sample_generator_inputs(config: GANConfig, n_rows: int, n_cols: int) -> Any:
    """Fixed generator inputs for an n_rows x n_cols sample grid (row-major), as numpy.

    unconditional: every cell has its own noise.
    conditional: row r shows class r % num_classes; noise varies by column only, so a column
      is one "style" across classes.
    infogan: row r has categorical code r % categorical_dim; unstructured noise and continuous
      codes vary by column only (TF-GAN's categorical visualization, transposed).

    Args:
      config: gan_type and sizes.
      n_rows, n_cols: Grid shape (positive ints); N = n_rows * n_cols.
      (The draws come from numpy PCG64 seeded with config.seeds.samples.)

    Returns:
      The `generator_inputs` structure with leading dim N: float32 noise/labels/codes,
      int32 categorical codes.
    """
    for name, value in (("n_rows", n_rows), ("n_cols", n_cols)):
        check_int(f"sample_generator_inputs: {name}", value)
    rng = np.random.Generator(np.random.PCG64(config.seeds.samples))
    rows = np.repeat(np.arange(n_rows), n_cols)
    if config.gan_type == "unconditional":
        return rng.standard_normal((n_rows * n_cols, config.noise_dims)).astype(np.float32)
    column_noise = rng.standard_normal((n_cols, config.unstructured_noise_dims))
    noise = np.tile(column_noise, (n_rows, 1)).astype(np.float32)
    if config.gan_type == "conditional":
        labels = np.eye(config.num_classes, dtype=np.float32)[rows % config.num_classes]
        return noise, labels
    categorical = (rows % config.categorical_dim).astype(np.int32)
    column_codes = rng.uniform(-1.0, 1.0, (n_cols, config.continuous_dim))
    continuous = np.tile(column_codes, (n_rows, 1)).astype(np.float32)
    return noise, categorical, continuous
