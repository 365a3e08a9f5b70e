"""Explicitly seeded layers for the TF-GAN MNIST networks (TF1 `get_variable` style).

Built on `tf.compat.v1.get_variable` so that TF-GAN's `variable_scope` reuse (the critic is
called on real data, generated data and gradient-penalty interpolates) shares variables, and
so that every initializer is stateless and keyed by (init sub-seed, full variable name).

Spectral normalization mirrors `tfgan.features.spectral_normalization_custom_getter`
(one power iteration from a persisted `u`), except for *when* `u` is written: TF-GAN assigns
`u` on every access, i.e. two or three unordered assigns per `session.run` (real, generated
and interpolated critic calls) with no ordering against the other calls' reads, so the bits
can depend on thread scheduling. Here forward passes only read `u`;
`spectral_norm_update_op()` writes it, once per global step, after every read of that step
(see `step.py`).

Batch-norm moving averages likewise: a generator call with `is_training=True` does not
update them itself (the generator runs twice per step, once per micro-batch and pass); it
reports its batch statistics to the innermost `recording_batch_stats()` block, and the step
makes one update per moving average from the statistics of the passes it chooses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator

import tensorflow as tf

from tf_determinism import exact, ops
from tf_determinism.initializers import StatelessGlorotUniform, StatelessNormal

# Parallel collections (kernel i pairs with u i); Variables serialize into the MetaGraph.
SPECTRAL_NORM_KERNELS = "gan_models_spectral_norm_kernels"
SPECTRAL_NORM_U = "gan_models_spectral_norm_u"
WEIGHT_DECAY_KERNELS = "gan_models_weight_decay_kernels"
_WEIGHT_DECAY_SCOPES = "gan_models_weight_decay_scopes"
_v1 = tf.compat.v1


@dataclasses.dataclass(frozen=True)
class BatchStats:
    """One batch-norm call's statistics, for the caller to update the moving averages from.

    Attributes:
      moving_mean, moving_variance: The layer's moving-average variables, float32 [C].
      mean, variance: This call's batch statistics, float32 [C].
      momentum: The layer's moving-average momentum.
    """

    moving_mean: tf.Variable
    moving_variance: tf.Variable
    mean: tf.Tensor
    variance: tf.Tensor
    momentum: float


_RECORDERS: list[list[BatchStats]] = []


@contextlib.contextmanager
def recording_batch_stats() -> Iterator[list[BatchStats]]:
    """Collects the `BatchStats` of every training-mode batch norm built inside the block.

    Yields:
      The list the calls are appended to, in build order.
    """
    records: list[BatchStats] = []
    _RECORDERS.append(records)
    try:
        yield records
    finally:
        _RECORDERS.pop()


def moving_average_updates(stats: list[BatchStats]) -> list[tf.Operation]:
    """One assign per moving average: moving <- moving - (moving - statistic) * (1 - momentum).

    Args:
      stats: One record per layer, its mean/variance being the statistics to track (e.g. the
        means over a step's micro-batches).
    """
    updates = []
    for record in stats:
        for moving, stat in (
            (record.moving_mean, record.mean),
            (record.moving_variance, record.variance),
        ):
            updates.append(
                moving.assign_sub((moving - stat) * (1.0 - record.momentum), read_value=False)
            )
    return updates


def _full_name(var_name: str) -> str:
    return f"{_v1.get_variable_scope().name}/{var_name}"


def _kernel(name: str, shape: list[int], seed: int, decay: bool, spectral_norm: bool) -> tf.Tensor:
    kernel = _v1.get_variable(
        name, shape, dtype=tf.float32, initializer=StatelessGlorotUniform(seed, _full_name(name))
    )
    if decay and all(k is not kernel for k in _v1.get_collection(WEIGHT_DECAY_KERNELS)):
        _v1.add_to_collection(WEIGHT_DECAY_KERNELS, kernel)
    return spectral_normalize(kernel, seed=seed) if spectral_norm else kernel


def add_weight_decay_loss(weight_decay: float) -> None:
    """Adds one L2 regularization loss for the current variable scope (once per graph).

    Value: weight_decay * sum of ||kernel||^2 over the kernels built with `decay=True` in
    this scope, i.e. what the example's per-kernel `tf.keras.regularizers.l2` losses sum to.
    Why one loss: `get_regularization_loss` (called by `tfgan.gan_loss`) sums the collection
    with a multi-input AddN whose summation order depends on run-time buffer reuse (see
    `tf_determinism/optimizers.py`); with a single entry it is a pass-through, and the terms
    here are added pairwise in creation order.
    """
    scope = _v1.get_variable_scope().name
    if not weight_decay or scope in _v1.get_collection(_WEIGHT_DECAY_SCOPES):
        return
    _v1.add_to_collection(_WEIGHT_DECAY_SCOPES, scope)
    kernels = [
        k for k in _v1.get_collection(WEIGHT_DECAY_KERNELS) if k.op.name.startswith(scope + "/")
    ]
    if kernels:
        total = functools.reduce(tf.add, [ops.reduce_sum(tf.square(k)) for k in kernels])
        _v1.losses.add_loss(
            tf.multiply(weight_decay, total, name="weight_decay_loss"),
            _v1.GraphKeys.REGULARIZATION_LOSSES,
        )


def _bias(units: int) -> tf.Variable:
    return _v1.get_variable("bias", [units], dtype=tf.float32, initializer=_v1.zeros_initializer())


def _power_iteration(w_mat: tf.Tensor, u: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    v = exact.l2_normalize(ops.matmul(w_mat, u, transpose_a=True))
    u_new = exact.l2_normalize(ops.matmul(w_mat, v))
    return u_new, v


def spectral_normalize(kernel: tf.Variable, *, seed: int) -> tf.Tensor:
    """Divides `kernel` by its spectral norm estimated by one power iteration.

    Args:
      kernel: Kernel variable of shape [..., out]; it is viewed as a [-1, out] matrix.
      seed: The run's init sub-seed (the persisted `u` vector is drawn statelessly from it).

    Returns:
      The normalized kernel, same shape/dtype as `kernel`.
    """
    w_mat = tf.reshape(kernel, [-1, int(kernel.shape[-1])])
    u_var = _v1.get_variable(
        "spectral_norm_u",
        [int(w_mat.shape[0]), 1],
        dtype=tf.float32,
        initializer=StatelessNormal(seed, _full_name("spectral_norm_u")),
        trainable=False,
    )
    if all(u is not u_var for u in _v1.get_collection(SPECTRAL_NORM_U)):
        _v1.add_to_collection(SPECTRAL_NORM_KERNELS, kernel)
        _v1.add_to_collection(SPECTRAL_NORM_U, u_var)
    u_new, v = _power_iteration(w_mat, u_var)
    u_new, v = tf.stop_gradient(u_new), tf.stop_gradient(v)
    sigma = ops.matmul(ops.matmul(u_new, w_mat, transpose_a=True), v)[0][0]
    return ops.divide_by_scalar(kernel, sigma)


def spectral_norm_update_op() -> tf.Operation:
    """One power-iteration step for every spectrally normalized kernel of the default graph.

    Build it under control dependencies on everything else that reads `u` or the kernels in
    the same `session.run` (or run it alone) to stay race-free.
    """
    updates = []
    kernels = _v1.get_collection(SPECTRAL_NORM_KERNELS)
    for kernel, u_var in zip(kernels, _v1.get_collection(SPECTRAL_NORM_U), strict=True):
        w_mat = tf.reshape(kernel, [-1, int(kernel.shape[-1])])
        u_new, _ = _power_iteration(w_mat, u_var)
        updates.append(u_var.assign(u_new, read_value=False))
    return tf.group(*updates, name="spectral_norm_update")


def dense(
    x: tf.Tensor,
    *,
    units: int,
    name: str,
    seed: int,
    use_bias: bool = True,
    decay: bool = False,
    spectral_norm: bool = False,
) -> tf.Tensor:
    """Fully connected layer: [B, in] float32 -> [B, units] float32.

    `decay` marks the kernel for `add_weight_decay_loss`; `spectral_norm` normalizes it.
    """
    with _v1.variable_scope(name):
        kernel = _kernel("kernel", [int(x.shape[-1]), units], seed, decay, spectral_norm)
        y = ops.matmul(x, kernel)
        return ops.bias_add(y, _bias(units)) if use_bias else y


def conv2d(
    x: tf.Tensor,
    *,
    filters: int,
    kernel_size: int,
    stride: int,
    name: str,
    seed: int,
    decay: bool = False,
    spectral_norm: bool = False,
) -> tf.Tensor:
    """'SAME' convolution with bias: [B, H, W, C] -> [B, ceil(H/s), ceil(W/s), filters]."""
    with _v1.variable_scope(name):
        shape = [kernel_size, kernel_size, int(x.shape[-1]), filters]
        kernel = _kernel("kernel", shape, seed, decay, spectral_norm)
        y = ops.conv2d(x, kernel, stride)
        return ops.bias_add(y, _bias(filters))


def conv2d_transpose(
    x: tf.Tensor,
    *,
    filters: int,
    kernel_size: int,
    stride: int,
    name: str,
    seed: int,
    decay: bool = False,
) -> tf.Tensor:
    """'SAME' transposed convolution with bias: [B, H, W, C] -> [B, H*s, W*s, filters]."""
    with _v1.variable_scope(name):
        height, width = int(x.shape[1]), int(x.shape[2])
        shape = [kernel_size, kernel_size, filters, int(x.shape[-1])]
        kernel = _kernel("kernel", shape, seed, decay, spectral_norm=False)
        out_shape = tf.stack([tf.shape(x)[0], height * stride, width * stride, filters])
        y = ops.conv2d_transpose(x, kernel, out_shape, stride)
        y.set_shape([x.shape[0], height * stride, width * stride, filters])
        return ops.bias_add(y, _bias(filters))


def batch_norm(
    x: tf.Tensor,
    *,
    name: str,
    is_training: bool,
    track_moving_averages: bool = True,
    momentum: float = 0.999,
    epsilon: float = 0.001,
) -> tf.Tensor:
    """Batch normalization over all but the last axis (TF-GAN example: momentum .999, eps 1e-3).

    Args:
      x: float32 [B, ..., C].
      name: Variable scope name.
      is_training: Batch statistics (reported to the active `recording_batch_stats()` block,
        if any, for the caller's moving-average updates) if True, moving averages otherwise.
      track_moving_averages: False for the critic, which the example always runs with batch
        statistics: its moving averages would never be read, and with three critic calls per
        step their three unordered updates per `session.run` would race.

    Returns:
      Normalized `x`, same shape.
    """
    with _v1.variable_scope(name):
        channels = int(x.shape[-1])
        axes = list(range(x.shape.ndims - 1))
        gamma = _v1.get_variable("gamma", [channels], initializer=_v1.ones_initializer())
        beta = _v1.get_variable("beta", [channels], initializer=_v1.zeros_initializer())
        if not track_moving_averages:
            mean, variance = ops.moments(x, axes)
            return exact.batch_normalization(
                x, mean=mean, variance=variance, offset=beta, scale=gamma, epsilon=epsilon
            )
        moving_mean = _v1.get_variable(
            "moving_mean", [channels], trainable=False, initializer=_v1.zeros_initializer()
        )
        moving_var = _v1.get_variable(
            "moving_variance", [channels], trainable=False, initializer=_v1.ones_initializer()
        )
        if is_training:
            mean, variance = ops.moments(x, axes)
            if _RECORDERS:
                _RECORDERS[-1].append(BatchStats(moving_mean, moving_var, mean, variance, momentum))
        else:
            mean, variance = moving_mean, moving_var
        return exact.batch_normalization(
            x, mean=mean, variance=variance, offset=beta, scale=gamma, epsilon=epsilon
        )


def condition_on_onehot(
    x: tf.Tensor,
    *,
    one_hot_labels: tf.Tensor,
    seed: int,
    name: str = "condition",
    embedding_size: int = 256,
    spectral_norm: bool = False,
) -> tf.Tensor:
    """`tfgan.features.condition_tensor_from_onehot` with seeded initializers.

    Class embedding [num_classes, embedding_size] -> dense to x's feature count -> added to x.
    The lookup is a matmul with the one-hot matrix (exactly the selected row, since the other
    terms are exact zeros) so the embedding gradient is dense: no IndexedSlices/scatter ops,
    whose accumulation order is not guaranteed on every device.

    Args:
      x: float32 [B, ...] with fully defined non-batch dims.
      one_hot_labels: float32 [B, num_classes].
      seed: The run's init sub-seed (`SeedTree.init`).
      name: Variable scope name.
      embedding_size: Embedding width (TF-GAN default 256).
      spectral_norm: Normalize the dense kernel (True inside the critic, as in TF-GAN).

    Returns:
      `x` plus the class conditioning, same shape.
    """
    one_hot_labels.shape.assert_has_rank(2)
    with _v1.variable_scope(name):
        num_classes = int(one_hot_labels.shape[1])
        embedding = _v1.get_variable(
            "embedding",
            [num_classes, embedding_size],
            dtype=tf.float32,
            initializer=StatelessGlorotUniform(seed, _full_name("embedding")),
        )
        embedded = ops.matmul(tf.cast(one_hot_labels, tf.float32), embedding)
        mapped = dense(
            embedded,
            units=x.shape[1:].num_elements(),
            name="dense",
            seed=seed,
            spectral_norm=spectral_norm,
        )
        return x + tf.reshape(mapped, tf.shape(x))
