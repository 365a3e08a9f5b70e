"""The ops the project's layers, losses and optimizer are built from, in the run's numerics mode
(imports TF): `fast`, TF's own kernels (the graph every app built before the mode existed, op
for op), or `portable`, tf_determinism.portable's (the same bits on x86-64 and aarch64).

The skeleton sets the mode once per process from `--numerics` (pins.configure_tensorflow);
libraries call these instead of TF's, and apps never branch on the mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from tf_determinism import portable as _portable

MODES = ("fast", "portable")
_mode = ["fast"]


def set_mode(mode: str) -> None:
    """The numerics mode of every graph built from now on in this process."""
    if mode not in MODES:
        raise ValueError(f"numerics mode must be one of {', '.join(MODES)}, got {mode!r}")
    _mode[0] = mode


def mode() -> str:
    """The process's numerics mode."""
    return _mode[0]


def portable() -> bool:
    """Whether graphs are built from portable ops."""
    return _mode[0] == "portable"


def matmul(a: Any, b: Any, *, transpose_a: bool = False, transpose_b: bool = False) -> Any:
    if portable():
        return _portable.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    return tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)


def conv2d(x: Any, filters: Any, stride: int) -> Any:
    """A "SAME" NHWC convolution."""
    if portable():
        return _portable.conv2d(x, filters, stride)
    return tf.nn.conv2d(x, filters, strides=[1, stride, stride, 1], padding="SAME")


def conv2d_transpose(x: Any, filters: Any, output_shape: Any, stride: int) -> Any:
    """A "SAME" NHWC transposed convolution to output_shape [B, H stride, W stride, C]."""
    if portable():
        return _portable.conv2d_transpose(x, filters, stride)
    return tf.nn.conv2d_transpose(
        x, filters, output_shape, strides=[1, stride, stride, 1], padding="SAME"
    )


def reduce_sum(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    if portable():
        return _portable.reduce_sum(x, axis, keepdims)
    return tf.reduce_sum(x, axis, keepdims=keepdims)


def reduce_mean(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    if portable():
        return _portable.reduce_mean(x, axis, keepdims)
    return tf.reduce_mean(x, axis, keepdims=keepdims)


def moments(x: Any, axes: Sequence[int]) -> tuple[Any, Any]:
    """`tf.nn.moments`: the mean and the variance (the mean of the squared deviation from the
    mean, which is no gradient path) over `axes`."""
    if not portable():
        return tf.nn.moments(x, axes)
    mean = _portable.reduce_mean(x, axes, keepdims=True)
    variance = _portable.reduce_mean(tf.square(x - tf.stop_gradient(mean)), axes, keepdims=True)
    return tf.squeeze(mean, axes), tf.squeeze(variance, axes)


def _outer_axes(x: tf.Tensor) -> list[int]:
    return list(range(x.shape.rank - 1))


def _portable_add_broadcast(x: Any, y: Any) -> Any:
    """x + y, y broadcast over x's leading axes, y's gradient a portable sum over them."""
    x, y = tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(y, tf.float32)
    leading = list(range(x.shape.rank - y.shape.rank))

    @tf.custom_gradient
    def op(x: tf.Tensor, y: tf.Tensor) -> Any:
        return x + y, lambda g: (g, _portable.reduce_sum(g, leading))

    return op(x, y)


def bias_add(x: Any, bias: Any) -> Any:
    """`tf.nn.bias_add`; portable: its gradient's sum over every axis but the last is too."""
    return _portable_add_broadcast(x, bias) if portable() else tf.nn.bias_add(x, bias)


def add_broadcast(x: Any, y: Any) -> Any:
    """x + y, y broadcast over x's leading axes (a position embedding [L, C] over [B, L, C]);
    portable: y's gradient is a portable sum over those axes."""
    return _portable_add_broadcast(x, y) if portable() else x + y


def scale_shift(x: Any, multiplier: Any, shift: Any) -> Any:
    """x * multiplier + shift, the per-channel [C] multiplier and shift broadcast over x
    [..., C] (a normalization's last step); portable: their gradients' sums over every axis but
    the last are too (TF's would be float32 Sums of the broadcast)."""
    if not portable():
        return x * multiplier + shift

    @tf.custom_gradient
    def op(x: tf.Tensor, multiplier: tf.Tensor, shift: tf.Tensor) -> Any:
        def grad(g: tf.Tensor) -> Any:
            # Through this op again, so that a second derivative (a gradient penalty's) is
            # portable too.
            axes = _outer_axes(x)
            d_x = op(g, multiplier, tf.zeros_like(shift))
            return d_x, _portable.reduce_sum(g * x, axes), _portable.reduce_sum(g, axes)

        return x * multiplier + shift, grad

    return op(*(tf.convert_to_tensor(t, tf.float32) for t in (x, multiplier, shift)))


def divide_by_scalar(x: Any, scalar: Any) -> Any:
    """x / scalar (a spectral norm's kernel / sigma); portable: the scalar's gradient,
    -sum(g x) / scalar**2, sums portably."""
    if not portable():
        return x / scalar

    @tf.custom_gradient
    def op(x: tf.Tensor, scalar: tf.Tensor) -> Any:
        y = x / scalar

        def grad(g: tf.Tensor) -> Any:
            return op(g, scalar), -_portable.reduce_sum(g * y) / scalar

        return y, grad

    return op(tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(scalar, tf.float32))


def sqrt(x: Any) -> Any:
    """`tf.sqrt` (correctly rounded everywhere); portable: its gradient as single ops."""
    return _portable.sqrt(x) if portable() else tf.sqrt(x)


def relu(x: Any) -> Any:
    return _portable.relu(x) if portable() else tf.nn.relu(x)


def maximum(x: Any, y: Any) -> Any:
    return _portable.maximum(x, y) if portable() else tf.maximum(x, y)


def max_pool(x: Any, size: int) -> Any:
    """A size x size NHWC max-pool with stride size, "VALID"; portable: compares and selects."""
    if portable():
        return _portable.max_pool(x, size)
    return tf.nn.max_pool2d(x, size, size, "VALID")


def cosine_decay(learning_rate: float, global_step: Any, decay_steps: int) -> Any:
    """learning_rate cosine-decayed to 0 over decay_steps (`tf.compat.v1.train.cosine_decay`;
    portable: the same schedule in float64 single ops, TF's float32 Cos is Eigen's)."""
    if portable():
        return _portable.cosine_decay(learning_rate, global_step, decay_steps)
    return tf.compat.v1.train.cosine_decay(learning_rate, global_step, decay_steps)


def log(x: Any) -> Any:
    return _portable.log(x) if portable() else tf.math.log(x)


def tanh(x: Any) -> Any:
    return _portable.tanh(x) if portable() else tf.tanh(x)


def sigmoid_cross_entropy_with_logits(labels: Any, logits: Any) -> Any:
    if portable():
        return _portable.sigmoid_cross_entropy_with_logits(labels, logits)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def sparse_softmax_cross_entropy_with_logits(labels: Any, logits: Any) -> Any:
    if portable():
        return _portable.sparse_softmax_cross_entropy_with_logits(labels, logits)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
