"""Generator inputs: stateless per-batch draws for training, fixed numpy grids for sampling.

Training inputs are `tf.random.stateless_*` draws from a per-batch `[2]` seed that the caller
makes from the run's noise sub-seed and the global batch index
(`tf_determinism.stateless_key(seeds.noise, index)`): the same batch always gets the same
noise, whatever the thread count, `num_parallel_calls` or how often the pipeline is rebuilt
(a resumed run). Each component folds a fixed tag into that seed so the components
are independent streams.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from gan_models.config import GANConfig

# Fixed fold-in tags of the components (part of the reproducibility contract: never renumber).
_NOISE_TAG, _CATEGORICAL_TAG, _CONTINUOUS_TAG = 0, 1, 2


def _component_seed(seed: tf.Tensor, tag: int) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(seed, tag)


def generator_inputs(config: GANConfig, batch_size: int, seed: Any,
                     one_hot_labels: Any = None) -> Any:
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
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"generator_inputs: batch_size must be a positive int, got {batch_size!r}")
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64) or seed.shape.as_list() != [2]:
        raise ValueError(
            f"generator_inputs: seed must be an int32/int64 tensor of shape [2], got "
            f"{seed.dtype.name} {seed.shape}")
    if config.gan_type != "conditional" and one_hot_labels is not None:
        raise ValueError(f"generator_inputs: one_hot_labels are only for gan_type 'conditional', "
                         f"not {config.gan_type!r}")
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
        [batch_size], seed=_component_seed(seed, _CATEGORICAL_TAG), minval=0,
        maxval=config.categorical_dim, dtype=tf.int32)
    continuous = tf.random.stateless_uniform(
        [batch_size, config.continuous_dim], seed=_component_seed(seed, _CONTINUOUS_TAG),
        minval=-1.0, maxval=1.0)
    return noise, categorical, continuous


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
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"sample_generator_inputs: {name} must be a positive int, "
                             f"got {value!r}")
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
