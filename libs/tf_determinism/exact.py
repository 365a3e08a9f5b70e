"""Normalizations and softmax written with correctly rounded operations only (imports TF).

Why: TF's CPU `Rsqrt` and `Reciprocal` kernels are Eigen packet code compiled to `rsqrtps` /
`rcpps` plus one Newton step, and so is the CPU `Softmax` kernel's inverse of the row sum. The
first bits of those instructions come from the vendor's tables (AMD's differ from Intel's), so
`tf.math.rsqrt`, `tf.nn.l2_normalize`, `tf.nn.batch_normalization`, layer normalization (all
built on rsqrt) and `tf.nn.softmax` give other bits on another CPU vendor, whatever the ISA pin.
`sqrt`, `exp` and division are correctly rounded, or computed by the same instructions, on
every x86 CPU.

  l2_normalize, batch_normalization, layer_normalization, softmax   the replacements
  exact_gradients()                                                 Log/Log1p gradients

Each function below divides its own numerator: never `1 / sqrt(v)` and never
`x * (1 / y)`. Grappler's constant folding rewrites a division whose numerator is a constant of
ones into `Reciprocal`, and a division by a constant into a multiplication by a reciprocal
folded with the same approximate kernel (`graph_audit` refuses both shapes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import tensorflow as tf

from tf_determinism import ops, portable

# Gradient functions registered below, by the op type they replace TF's for.
_EXACT_GRADIENTS = {"Log": "TfDeterminismExactLog", "Log1p": "TfDeterminismExactLog1p"}


def _divide(grad: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """grad / y, correctly rounded (y != 0). DivNoNan, not RealDiv: when `grad` is a constant of
    ones (a loss's own gradient, folded), Grappler rewrites RealDiv(ones, y) into the
    approximate Reciprocal; DivNoNan it leaves alone, and its kernel is a division (divps)."""
    return tf.math.divide_no_nan(grad, y)


@tf.RegisterGradient(_EXACT_GRADIENTS["Log"])
def _log_grad(op: tf.Operation, grad: tf.Tensor) -> tf.Tensor:
    # TF's _LogGrad: grad * reciprocal(x).
    with tf.control_dependencies([grad]):
        return _divide(grad, tf.math.conj(op.inputs[0]))


@tf.RegisterGradient(_EXACT_GRADIENTS["Log1p"])
def _log1p_grad(op: tf.Operation, grad: tf.Tensor) -> tf.Tensor:
    # TF's _Log1pGrad: grad * reciprocal(1 + x).
    with tf.control_dependencies([grad]):
        return _divide(grad, 1 + tf.math.conj(op.inputs[0]))


@contextlib.contextmanager
def exact_gradients() -> Iterator[None]:
    """Within the block, `Log` and `Log1p` ops built (by any code: TF-GAN's losses, TF's
    sigmoid cross-entropy) get gradients that divide (grad / x) instead of TF's
    grad * reciprocal(x). Graph mode (the default graph's gradient override map)."""
    with tf.compat.v1.get_default_graph().gradient_override_map(_EXACT_GRADIENTS):
        yield


def l2_normalize(x: Any, *, axis: Any = None, epsilon: float = 1e-12) -> tf.Tensor:
    """`tf.nn.l2_normalize` (x / sqrt(max(sum(x^2), epsilon))), exactly rounded.

    Args:
      x: float tensor.
      axis: The axes summed over (None: all), as in `tf.nn.l2_normalize`.
      epsilon: Lower bound of the squared norm, as in `tf.nn.l2_normalize`.

    Returns:
      A tensor of x's shape and dtype.
    """
    with tf.name_scope("exact_l2_normalize"):
        x = tf.convert_to_tensor(x)
        square_sum = ops.reduce_sum(tf.square(x), axis, keepdims=True)
        return x / ops.sqrt(ops.maximum(square_sum, tf.cast(epsilon, x.dtype)))


def batch_normalization(
    x: Any, *, mean: Any, variance: Any, offset: Any, scale: Any, epsilon: float
) -> tf.Tensor:
    """`tf.nn.batch_normalization`, exactly rounded: x * m + (offset - mean * m) with
    m = scale / sqrt(variance + epsilon) (TF: m = rsqrt(variance + epsilon) * scale).

    The division is per channel (the size of `variance`), so it costs what rsqrt did.

    Args:
      x: float tensor [..., C].
      mean, variance, offset, scale: float tensors broadcastable to x (e.g. [C]).
      epsilon: Added to the variance.

    Returns:
      A tensor of x's shape and dtype.
    """
    with tf.name_scope("exact_batchnorm"):
        multiplier = scale / ops.sqrt(variance + epsilon)
        return ops.scale_shift(x, multiplier, offset - mean * multiplier)


def softmax(logits: Any, axis: int = -1) -> tf.Tensor:
    """`tf.nn.softmax`, exactly rounded: e / sum(e) with e = exp(x - max(x)) (TF's CPU Softmax
    kernel multiplies by an approximate reciprocal of the sum, `rcpps`).

    The max is only a shift (softmax does not change with it), so no gradient flows through it.

    Args:
      logits: float tensor.
      axis: the axis normalized over.

    Returns:
      A tensor of the logits' shape and dtype whose entries along `axis` sum to 1.
    """
    with tf.name_scope("exact_softmax"):
        x = tf.convert_to_tensor(logits)
        if ops.portable():
            return portable.softmax(x, axis)
        e = tf.exp(x - tf.stop_gradient(tf.reduce_max(x, axis, keepdims=True)))
        return e / tf.reduce_sum(e, axis, keepdims=True)


def layer_normalization(
    x: Any, *, scale: Any, offset: Any, epsilon: float = 1e-5, axis: int = -1
) -> tf.Tensor:
    """Layer normalization (Ba et al.; Keras' `LayerNormalization`), exactly rounded:
    (x - mean) / sqrt(variance + epsilon) * scale + offset over `axis` (TF's ops compute
    rsqrt(variance + epsilon), with `rsqrtps`).

    Args:
      x: float tensor [..., C] (for axis=-1).
      scale, offset: float tensors broadcastable to x (e.g. [C]).
      epsilon: added to the variance.
      axis: the axis whose mean and variance normalize.

    Returns:
      A tensor of x's shape and dtype.
    """
    with tf.name_scope("exact_layer_norm"):
        x = tf.convert_to_tensor(x)
        if ops.portable():
            return ops.scale_shift(portable.normalize(x, axis, epsilon), scale, offset)
        centered = x - ops.reduce_mean(x, axis, keepdims=True)
        variance = ops.reduce_mean(tf.square(centered), axis, keepdims=True)
        return centered / ops.sqrt(variance + epsilon) * scale + offset
