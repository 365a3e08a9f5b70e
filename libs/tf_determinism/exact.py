"""Normalizations written with correctly rounded operations only (imports TF).

Why: TF's CPU `Rsqrt` and `Reciprocal` kernels are Eigen packet code compiled to `rsqrtps` /
`rcpps` plus one Newton step. The first bits of those instructions come from the vendor's
tables (AMD's differ from Intel's), so `tf.math.rsqrt`, `tf.nn.l2_normalize` and
`tf.nn.batch_normalization` (both built on rsqrt) give other bits on another CPU vendor, whatever
the ISA pin. `sqrt` and division are correctly rounded by IEEE 754 on every CPU.

Each function below divides its own numerator by a square root: never `1 / sqrt(v)` and never
`x * (1 / y)`. Grappler's constant folding rewrites a division whose numerator is a constant of
ones into `Reciprocal`, and a division by a constant into a multiplication by a reciprocal
folded with the same approximate kernel (`graph_audit` refuses both shapes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import tensorflow as tf

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
        square_sum = tf.reduce_sum(tf.square(x), axis, keepdims=True)
        return x / tf.sqrt(tf.maximum(square_sum, tf.cast(epsilon, x.dtype)))


def batch_normalization(x: Any, *, mean: Any, variance: Any, offset: Any, scale: Any,
                        epsilon: float) -> tf.Tensor:
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
        multiplier = scale / tf.sqrt(variance + epsilon)
        return x * multiplier + (offset - mean * multiplier)
