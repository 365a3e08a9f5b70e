"""Portable float32 ops: the same bits on x86-64 and aarch64, whatever the kernels (imports TF).

Why TF's own ops differ across the two: a matmul's or a sum's order and its fused
multiply-adds follow the CPU's kernels (Eigen's and oneDNN's blocking, 8 AVX lanes against 4
NEON lanes), and Eigen's exp, log, tanh, sigmoid fuse multiply-adds on aarch64, not in the x86
wheel (../shared/reference/arm-findings.md). What does agree: single IEEE operations (+, -, *,
/, sqrt, floor, casts, comparisons), sums of integers that fit in float64's 53 bits (exact in
any order), bit manipulation, gathers and stateless random draws. Every op here is built from
those alone:

  matmul(a, b, transpose_a, transpose_b)   exact slices: each row of op(a) and column of op(b)
                                          scaled by a power of two taken from its bits, cut into
                                          2 float64 slices of beta integer bits, 3 float64
                                          GEMMs of integers (exact in any order while
                                          2 * beta + ceil(log2 K) <= 53, checked when the graph
                                          is built), combined in a fixed order, cast to float32
  conv2d, conv2d_transpose                 the SAME convolutions as one portable matmul of patches
                                          (slices, no arithmetic); their adjoint adds the
                                          patches back in a fixed order
  reduce_sum, reduce_mean                  the same slicing, one scale per reduced group
  exp, log, log1p, expm1, tanh, sigmoid,   fixed formulas in float64 single ops (range reduction
  softplus, rsqrt                          from bits, Horner polynomials, no fused multiply-add)
  softmax, log_softmax, the sigmoid and    from the above; sums of exp by exact slices
  sparse softmax cross-entropies
  sqrt, normalize (a layer norm's core),   sqrt correctly rounded, its gradient single ops;
  relu, maximum, max_pool, cosine_decay    compares and selects; the schedule in float64

Each has its gradient (`tf.custom_gradient`), built from portable ops too. Inputs: a float32
subnormal is read as a zero of its sign (TF flushes them on both, by its own rules; here by the
bits); outputs below float32's smallest normal are flushed the same way, before the cast. A NaN
output is the canonical quiet NaN (0x7fc00000: x86's default NaN is negative, aarch64's
positive); an infinite or NaN input to a matmul or sum gives NaN where it enters.

Measured: `libs/tf_determinism/test_portable.py` (accuracy against float64, edge cases) and
`apps/repro/repro/test_portable_emulated.py` (equal bits natively and under qemu-aarch64).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

_F32_MIN = 2.0**-126  # float32's smallest normal
_SIGN32 = -(2**31)  # 0x80000000 as an int32
_EXP32 = 0x7F800000
_QUIET_NAN = 0x7FC00000
# exp's range reduction (fdlibm's split of ln 2: n * LN2_HI is exact for |n| < 2**11).
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT2 = 1.41421356237309514547e00
_EXP_DEGREE, _EXPM1_DEGREE, _ATANH_TERMS = 13, 17, 11


# The name scope of every float64 GEMM and sum of integer-valued slices: graph_audit allows
# float64 MatMul and Sum only there.
EXACT_SCOPE = "portable_exact"


class PortableShapeError(ValueError):
    """A portable op's operands are not what it supports (one line)."""


# --- float32 <-> float64, from the bits -----------------------------------------------------


def _flush32(x: tf.Tensor) -> tf.Tensor:
    """float32 x with subnormals replaced by zeros of their sign (decided by the bits)."""
    bits = tf.bitcast(x, tf.int32)
    tiny = tf.equal(tf.bitwise.bitwise_and(bits, _EXP32), 0)
    return tf.where(tiny, tf.bitcast(tf.bitwise.bitwise_and(bits, _SIGN32), tf.float32), x)


def _to64(x: Any) -> tf.Tensor:
    """float32 -> float64 (exact), subnormals flushed first."""
    return tf.cast(_flush32(tf.convert_to_tensor(x, tf.float32)), tf.float64)


def _canonical_nan(y: tf.Tensor) -> tf.Tensor:
    nan = tf.fill(tf.shape(y), tf.bitcast(tf.constant(_QUIET_NAN, tf.int32), tf.float32))
    return tf.where(tf.math.is_nan(y), nan, y)


def _to32(y: tf.Tensor) -> tf.Tensor:
    """float64 -> float32: |y| below float32's smallest normal becomes a zero of its sign
    (before the cast, so no cast meets a subnormal result), NaN the canonical one."""
    y = tf.where(tf.abs(y) < _F32_MIN, y * 0.0, y)
    return _canonical_nan(tf.cast(y, tf.float32))


def _pow2(e: tf.Tensor) -> tf.Tensor:
    """2**e as float64 from its bits (int e, -1022 <= e <= 1023)."""
    biased = tf.cast(e, tf.int64) + 1023
    return tf.bitcast(tf.bitwise.left_shift(biased, tf.constant(52, tf.int64)), tf.float64)


def _exponent(magnitude: tf.Tensor) -> tf.Tensor:
    """e with 0 <= magnitude < 2**e for a float32 >= 0 (its biased exponent - 126): a scale
    from the bits, no log2 (0 gives -126; Inf 129)."""
    return tf.bitwise.right_shift(tf.bitcast(magnitude, tf.int32), 23) - 126


def _where(condition: tf.Tensor, value: float, x: tf.Tensor) -> tf.Tensor:
    """x with `value` where condition holds (a clamp that keeps NaN: tf.minimum and
    tf.maximum treat NaN differently on x86 and aarch64)."""
    return tf.where(condition, tf.fill(tf.shape(x), tf.constant(value, x.dtype)), x)


def relu(x: Any) -> tf.Tensor:
    """max(x, 0) as a compare and a select. TF's Relu and Maximum of a subnormal operand
    return the flushed zero on x86 (DAZ) but, in aarch64's scalar code, the subnormal itself
    (FZ flushes the compare's inputs, not the selected value): measured, portable_proof's
    control. A compare reads a subnormal as zero on both, and a select moves bits."""
    x = tf.convert_to_tensor(x, tf.float32)
    return tf.where(x > 0.0, x, tf.zeros_like(x))


def maximum(x: Any, y: Any) -> tf.Tensor:
    """max(x, y) as a compare and a select (see relu): y where x >= y is false (also a NaN)."""
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.convert_to_tensor(y, tf.float32)
    return tf.where(x >= y, x, y)


# --- exact slices -----------------------------------------------------------------------------


def slice_bits(terms: int) -> int:
    """beta, the integer bits of each slice, for sums of `terms` products of two slices:
    2 * beta + ceil(log2 terms) <= 53, so every partial sum is an integer float64 holds."""
    if terms < 1:
        raise PortableShapeError(f"a portable sum needs at least one term, got {terms}")
    return (53 - math.ceil(math.log2(terms))) // 2


def _slices(x64: tf.Tensor, beta: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Two integer-valued float64 slices of x64 in (-1, 1): x64 ~ s0 / 2**beta + s1 / 2**2beta,
    |s0| <= 2**beta, 0 <= s1 < 2**beta (floor's remainders; every operation exact)."""
    scale = 2.0**beta
    r = x64 * scale
    s0 = tf.floor(r)
    s1 = tf.floor((r - s0) * scale)
    return s0, s1


def _static(dim: Any, what: str) -> int:
    if dim is None:
        raise PortableShapeError(f"{what} must be known when the graph is built")
    return int(dim)


@tf.custom_gradient
def _matmul_nn(a: tf.Tensor, b: tf.Tensor) -> Any:
    y = _exact_matmul(a, b)

    def grad(g: tf.Tensor) -> Any:
        return _matmul_nt(g, b), _matmul_tn(a, g)

    return y, grad


@tf.custom_gradient
def _matmul_nt(a: tf.Tensor, b: tf.Tensor) -> Any:
    y = _exact_matmul(a, b, transpose_b=True)

    def grad(g: tf.Tensor) -> Any:
        return _matmul_nn(g, b), _matmul_tn(g, a)

    return y, grad


@tf.custom_gradient
def _matmul_tn(a: tf.Tensor, b: tf.Tensor) -> Any:
    y = _exact_matmul(a, b, transpose_a=True)

    def grad(g: tf.Tensor) -> Any:
        return _matmul_nt(b, g), _matmul_nn(a, g)

    return y, grad


@tf.custom_gradient
def _matmul_tt(a: tf.Tensor, b: tf.Tensor) -> Any:
    y = _exact_matmul(a, b, transpose_a=True, transpose_b=True)

    def grad(g: tf.Tensor) -> Any:
        return _matmul_tt(b, g), _matmul_tt(g, a)

    return y, grad


_MATMULS = {
    (False, False): _matmul_nn,
    (False, True): _matmul_nt,
    (True, False): _matmul_tn,
    (True, True): _matmul_tt,
}


def matmul(a: Any, b: Any, *, transpose_a: bool = False, transpose_b: bool = False) -> tf.Tensor:
    """`tf.linalg.matmul(a, b, transpose_a, transpose_b)` for float32 [..., M, K] x [..., K, N]
    (batch dimensions equal), exact-slice (see the module docstring), with its gradient.

    Raises:
      PortableShapeError: a rank below 2, unequal batch dimensions, or an inner dimension not
        known when the graph is built.
    """
    a, b = tf.convert_to_tensor(a, tf.float32), tf.convert_to_tensor(b, tf.float32)
    if a.shape.rank is None or b.shape.rank is None or min(a.shape.rank, b.shape.rank) < 2:
        raise PortableShapeError(
            f"portable.matmul: operands of rank >= 2, got {a.shape}, {b.shape}"
        )
    if a.shape.rank != b.shape.rank or not a.shape[:-2].is_compatible_with(b.shape[:-2]):
        raise PortableShapeError(
            f"portable.matmul: batch dimensions must be equal, got {a.shape}, {b.shape}"
        )
    return _MATMULS[(transpose_a, transpose_b)](a, b)


def _exact_matmul(
    a: tf.Tensor, b: tf.Tensor, *, transpose_a: bool = False, transpose_b: bool = False
) -> tf.Tensor:
    inner_a, inner_b = (-2 if transpose_a else -1), (-1 if transpose_b else -2)
    k = _static(a.shape[inner_a], f"portable.matmul: the inner dimension of {a.shape}")
    beta = slice_bits(k)
    a64, b64 = _to64(a), _to64(b)
    ea = _exponent(tf.reduce_max(tf.abs(_flush32(a)), axis=inner_a, keepdims=True))
    eb = _exponent(tf.reduce_max(tf.abs(_flush32(b)), axis=inner_b, keepdims=True))
    a0, a1 = _slices(a64 * _pow2(-ea), beta)
    b0, b1 = _slices(b64 * _pow2(-eb), beta)

    def product(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.name_scope(EXACT_SCOPE):  # the audit's mark of an integer-valued product
            return tf.linalg.matmul(x, y, transpose_a=transpose_a, transpose_b=transpose_b)

    # Fixed order: the leading product, then the two cross terms (the fourth is below 2**-2beta).
    total = product(a0, b0) * 2.0 ** (-2 * beta) + (product(a0, b1) + product(a1, b0)) * 2.0 ** (
        -3 * beta
    )
    row_scale = tf.linalg.matrix_transpose(ea) if transpose_a else ea  # [..., M, 1]
    column_scale = tf.linalg.matrix_transpose(eb) if transpose_b else eb  # [..., 1, N]
    return _to32(total * _pow2(row_scale) * _pow2(column_scale))


# --- convolutions ---------------------------------------------------------------------------


def _same_padding(size: int, out: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF's "SAME" padding (before, after) of one spatial axis."""
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _geometry(shape: Any, kernel: tuple[int, int], stride: int, out: tuple[int, int]) -> Any:
    """((pad_top, pad_bottom), (pad_left, pad_right)) of a SAME convolution."""
    return tuple(
        _same_padding(_static(shape[1 + a], "a convolution's spatial size"), out[a], kernel[a],
                      stride)
        for a in (0, 1)
    )  # fmt: skip


def _im2col(x: tf.Tensor, kernel: tuple[int, int], stride: int, out: tuple[int, int]) -> Any:
    """The SAME convolution's patches of x [B, H, W, C]: [B, Ho, Wo, kh * kw * C], in the
    filter's (row, column, channel) order (slices and a concat: no arithmetic)."""
    (top, bottom), (left, right) = _geometry(x.shape, kernel, stride, out)
    padded = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    pieces = [
        padded[:, i : i + (out[0] - 1) * stride + 1 : stride,
               j : j + (out[1] - 1) * stride + 1 : stride, :]
        for i in range(kernel[0])
        for j in range(kernel[1])
    ]  # fmt: skip
    return tf.concat(pieces, axis=-1)


def _col2im(cols: tf.Tensor, kernel: tuple[int, int], stride: int, size: Any) -> tf.Tensor:
    """The adjoint of `_im2col`: every patch value added back to its input position, the
    kh * kw contributions summed pairwise in a fixed order (single additions), [B, H, W, C]."""
    out_h, out_w = (_static(d, "a convolution's shape") for d in cols.shape[1:3])
    channels = _static(cols.shape[3], "a convolution's channels") // (kernel[0] * kernel[1])
    out = (out_h, out_w)
    (top, bottom), (left, right) = _geometry([None, *size, channels], kernel, stride, out)
    height, width = size[0] + top + bottom, size[1] + left + right
    span = ((out_h - 1) * stride + 1, (out_w - 1) * stride + 1)
    pieces = []
    for n, piece in enumerate(tf.split(cols, kernel[0] * kernel[1], axis=-1)):
        i, j = divmod(n, kernel[1])
        if stride > 1:  # zeros between the rows and columns: [B, Ho * s, Wo * s, C], cropped
            piece = tf.reshape(piece, [-1, out_h, 1, out_w, 1, channels])
            piece = tf.pad(piece, [[0, 0], [0, 0], [0, stride - 1], [0, 0], [0, stride - 1],
                                   [0, 0]])  # fmt: skip
            piece = tf.reshape(piece, [-1, out_h * stride, out_w * stride, channels])
            piece = piece[:, : span[0], : span[1], :]
        pieces.append(tf.pad(piece, [[0, 0], [i, height - i - span[0]],
                                     [j, width - j - span[1]], [0, 0]]))  # fmt: skip
    while len(pieces) > 1:
        pairs = [tf.add(pieces[k], pieces[k + 1]) for k in range(0, len(pieces) - 1, 2)]
        pieces = pairs + ([pieces[-1]] if len(pieces) % 2 else [])
    return pieces[0][:, top : top + size[0], left : left + size[1], :]


def conv2d(x: Any, filters: Any, stride: int = 1) -> tf.Tensor:
    """`tf.nn.conv2d(x, filters, stride, "SAME")` (NHWC), as one portable matmul of x's patches
    [B Ho Wo, kh kw Cin] by the filters [kh kw Cin, Cout]; gradient: the filters' by a portable
    matmul of the patches and the incoming gradient, x's by the adjoint of the patches (its
    contributions added in a fixed order). Never Winograd, FFT or a kernel's own blocking."""
    x, filters = tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(filters, tf.float32)
    kh, kw, cin, cout = (_static(d, "a filter's shape") for d in filters.shape)
    height, width = (_static(d, "a convolution's input shape") for d in x.shape[1:3])
    out = (-(-height // stride), -(-width // stride))

    @tf.custom_gradient
    def op(x: tf.Tensor, filters: tf.Tensor) -> Any:
        patches = tf.reshape(_im2col(x, (kh, kw), stride, out), [-1, kh * kw * cin])
        matrix = tf.reshape(filters, [kh * kw * cin, cout])
        y = tf.reshape(matmul(patches, matrix), [-1, *out, cout])

        def grad(g: tf.Tensor) -> Any:
            g = tf.reshape(g, [-1, cout])
            cols = tf.reshape(matmul(g, matrix, transpose_b=True), [-1, *out, kh * kw * cin])
            d_filters = tf.reshape(matmul(patches, g, transpose_a=True), filters.shape)
            return _col2im(cols, (kh, kw), stride, (height, width)), d_filters

        return y, grad

    return op(x, filters)


def conv2d_transpose(x: Any, filters: Any, stride: int) -> tf.Tensor:
    """`tf.nn.conv2d_transpose(x, filters, [B, H s, W s, Cout], stride, "SAME")` (filters
    [kh, kw, Cout, Cin]): the adjoint of the patches of x times the filters, a portable matmul
    [B H W, Cin] by [Cin, kh kw Cout]; its gradients: x's, the patches of g by the filters; the
    filters', the patches of g by x (portable matmuls)."""
    x, filters = tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(filters, tf.float32)
    kh, kw, cout, cin = (_static(d, "a filter's shape") for d in filters.shape)
    height, width = (_static(d, "a convolution's input shape") for d in x.shape[1:3])
    size = (height * stride, width * stride)

    @tf.custom_gradient
    def op(x: tf.Tensor, filters: tf.Tensor) -> Any:
        flat = tf.reshape(x, [-1, cin])
        matrix = tf.reshape(filters, [kh * kw * cout, cin])
        cols = tf.reshape(matmul(flat, matrix, transpose_b=True),
                          [-1, height, width, kh * kw * cout])  # fmt: skip
        y = _col2im(cols, (kh, kw), stride, size)

        def grad(g: tf.Tensor) -> Any:
            patches = tf.reshape(_im2col(g, (kh, kw), stride, (height, width)),
                                 [-1, kh * kw * cout])  # fmt: skip
            d_x = tf.reshape(matmul(patches, matrix), tf.shape(x))
            d_filters = tf.reshape(matmul(patches, flat, transpose_a=True), filters.shape)
            return d_x, d_filters

        return y, grad

    return op(x, filters)


# --- sums ---------------------------------------------------------------------------------


def _axes(x: tf.Tensor, axis: int | Sequence[int] | None) -> list[int]:
    rank = _static(x.shape.rank, "portable sums: the rank")
    axes = range(rank) if axis is None else [axis] if isinstance(axis, int) else axis
    return sorted({a % rank for a in axes})


def _count(x: tf.Tensor, axes: list[int]) -> int:
    return math.prod(
        _static(x.shape[a], f"portable sums: dimension {a} of {x.shape}") for a in axes
    )


def _sum_bits(terms: int) -> int:
    """beta for sums of `terms` single slices (|slice| <= 2**beta): terms * 2**beta <= 2**53;
    at most 40 (two slices then keep 80 bits, far beyond float32's 24)."""
    return min(53 - math.ceil(math.log2(max(terms, 2))), 40)


def _sliced_sum(r: tf.Tensor, axes: list[int], beta: int) -> tf.Tensor:
    """The float64 sum over `axes` (kept) of r in [-1, 1], by 2 exact integer slices."""
    s0, s1 = _slices(r, beta)
    with tf.name_scope(EXACT_SCOPE):  # the audit's mark of an integer-valued sum
        t0, t1 = tf.reduce_sum(s0, axes, keepdims=True), tf.reduce_sum(s1, axes, keepdims=True)
    return t0 * 2.0 ** (-beta) + t1 * 2.0 ** (-2 * beta)


def _exact_sum64(x: tf.Tensor, axes: list[int]) -> tf.Tensor:
    """The float64 sum over `axes` (kept) of float32 x: per group a scale from the bits of its
    largest magnitude, then the sliced sum."""
    e = _exponent(tf.reduce_max(tf.abs(_flush32(x)), axis=axes, keepdims=True))
    return _sliced_sum(_to64(x) * _pow2(-e), axes, _sum_bits(_count(x, axes))) * _pow2(e)


def _sum64_of_unit(e64: tf.Tensor, axes: list[int]) -> tf.Tensor:
    """The float64 sum over `axes` (kept) of float64 values in [0, 1] (exp(x - max x)): a sum
    of exps that is the same on every CPU."""
    return _sliced_sum(e64, axes, _sum_bits(_count(e64, axes)))


def broadcast(g: tf.Tensor, shape: tf.Tensor, axes: list[int]) -> tf.Tensor:
    """g (kept dimensions of size 1 at `axes`) broadcast to `shape`, whose gradient is the
    portable sum back over `axes` (TF's broadcasting ops' gradients are float32 Sums)."""

    @tf.custom_gradient
    def op(g: tf.Tensor) -> Any:
        return tf.broadcast_to(g, shape), lambda gg: reduce_sum(gg, axes, keepdims=True)

    return op(g)


def reduce_sum(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """`tf.reduce_sum` of float32 x over `axis` (None: all), by exact slices, with its gradient
    (the incoming gradient broadcast back: no arithmetic)."""
    x = tf.convert_to_tensor(x, tf.float32)
    axes = _axes(x, axis)

    @tf.custom_gradient
    def summed(x: tf.Tensor) -> Any:
        total = _to32(_exact_sum64(x, axes))
        y = total if keepdims else tf.squeeze(total, axes)

        def grad(g: tf.Tensor) -> tf.Tensor:
            kept = g if keepdims else tf.reshape(g, tf.shape(total))
            return broadcast(kept, tf.shape(x), axes)

        return y, grad

    return summed(x)


def reduce_mean(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """`tf.reduce_mean` of float32 x: the exact-slice sum divided by the count in float64 (one
    rounding to float32), with its gradient (g / count, broadcast)."""
    x = tf.convert_to_tensor(x, tf.float32)
    axes = _axes(x, axis)
    count = float(_count(x, axes))

    @tf.custom_gradient
    def mean(x: tf.Tensor) -> Any:
        total = _to32(_exact_sum64(x, axes) / count)
        y = total if keepdims else tf.squeeze(total, axes)

        def grad(g: tf.Tensor) -> tf.Tensor:
            kept = g if keepdims else tf.reshape(g, tf.shape(total))
            return broadcast(kept / count, tf.shape(x), axes)

        return y, grad

    return mean(x)


# --- float64 single-op functions ------------------------------------------------------------


def _horner(x: tf.Tensor, coefficients: Sequence[float]) -> tf.Tensor:
    """sum(c[i] * x**i) by Horner's rule, one multiply and one add per step (never fused)."""
    y = tf.fill(tf.shape(x), tf.constant(coefficients[-1], tf.float64))
    for c in reversed(coefficients[:-1]):
        y = y * x + c
    return y


_EXP_TAYLOR = [1.0 / math.factorial(i) for i in range(_EXP_DEGREE + 1)]
_EXPM1_TAYLOR = [1.0 / math.factorial(i + 1) for i in range(_EXPM1_DEGREE)]


def exp64(x: tf.Tensor) -> tf.Tensor:
    """exp of float64 x, clamped to [-120, 100] (beyond, float32's results are 0 and inf; no
    float64 subnormal arises, which the two CPUs might flush apart; NaN stays): x = n ln2 + r
    with n = round(x / ln2) and the split ln2 (exact products), exp(r) by a degree-13 Taylor
    polynomial (|r| <= 0.347), times 2**n from the bits."""
    x = _where(x > 100.0, 100.0, _where(x < -120.0, -120.0, x))
    n = tf.round(x * _INV_LN2)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    return _horner(r, _EXP_TAYLOR) * _pow2(
        tf.cast(tf.where(tf.math.is_nan(n), tf.zeros_like(n), n), tf.int64)
    )


def expm1_64(x: tf.Tensor) -> tf.Tensor:
    """exp(x) - 1 without cancellation near 0: a degree-17 Taylor polynomial for |x| < 0.5,
    exp64(x) - 1 beyond."""
    small = tf.abs(x) < 0.5
    near = x * _horner(tf.where(small, x, tf.zeros_like(x)), _EXPM1_TAYLOR)
    return tf.where(small, near, exp64(tf.where(small, tf.zeros_like(x), x)) - 1.0)


def log64(x: tf.Tensor) -> tf.Tensor:
    """log of float64 x > 0 (0: -inf, < 0 or NaN: NaN, inf: inf): x = m 2**e from the bits,
    m in [sqrt2/2, sqrt2), log m = 2 atanh(s), s = (m - 1) / (m + 1), by 11 odd terms."""
    positive = tf.logical_and(x > 0.0, tf.math.is_finite(x))
    safe = tf.where(positive, x, tf.ones_like(x))
    bits = tf.bitcast(safe, tf.int64)
    e = tf.bitwise.right_shift(bits, tf.constant(52, tf.int64)) - 1023
    mantissa = tf.bitwise.bitwise_and(bits, tf.constant((1 << 52) - 1, tf.int64))
    m = tf.bitcast(tf.bitwise.bitwise_or(mantissa, tf.constant(1023 << 52, tf.int64)), tf.float64)
    high = m > _SQRT2
    m = tf.where(high, m * 0.5, m)
    e = tf.cast(e, tf.float64) + tf.cast(high, tf.float64)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    atanh = s * _horner(z, [1.0 / (2 * i + 1) for i in range(_ATANH_TERMS)])
    y = e * _LN2_HI + (2.0 * atanh + e * _LN2_LO)
    special = tf.where(
        tf.equal(x, 0.0),
        tf.fill(tf.shape(x), tf.constant(-math.inf, tf.float64)),
        tf.where(tf.equal(x, math.inf), x, tf.fill(tf.shape(x), tf.constant(math.nan, tf.float64))),
    )
    return tf.where(positive, y, special)


def log1p64(x: tf.Tensor) -> tf.Tensor:
    """log(1 + x) for float64 x >= -1, accurate near 0: u = 1 + x (rounded), then
    log(u) * x / (u - 1) (the rounding of u cancels), x itself where u == 1."""
    u = 1.0 + x
    ratio = log64(u) * (x / tf.where(tf.equal(u, 1.0), tf.ones_like(u), u - 1.0))
    return tf.where(tf.equal(u, 1.0), x, tf.where(tf.math.is_inf(x), log64(u), ratio))


def sigmoid64(x: tf.Tensor) -> tf.Tensor:
    """1 / (1 + exp(-x)), with exp of -|x| only (no overflow)."""
    e = exp64(-tf.abs(x))
    return tf.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh64(x: tf.Tensor) -> tf.Tensor:
    """sign(x) t, t = expm1(2|x|) / (expm1(2|x|) + 2) (1 beyond |x| = 20)."""
    y = 2.0 * tf.abs(x)
    em1 = expm1_64(_where(y > 40.0, 40.0, y))
    t = _where(y > 40.0, 1.0, em1 / (em1 + 2.0))
    return tf.where(x < 0.0, -t, tf.where(tf.equal(x, 0.0), x, t))


def softplus64(x: tf.Tensor) -> tf.Tensor:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))."""
    return _where(x < 0.0, 0.0, x) + log1p64(exp64(-tf.abs(x)))


_COS_TAYLOR = [(-1.0) ** i / math.factorial(2 * i) for i in range(16)]


def cos64(x: tf.Tensor) -> tf.Tensor:
    """cos of float64 x for 0 <= x <= pi (a cosine schedule's angle): Taylor's series in x**2 to
    the 30th power by Horner's rule (truncation below 4e-20 there; not cos beyond)."""
    return _horner(x * x, _COS_TAYLOR)


def cosine_decay(learning_rate: float, step: Any, decay_steps: int) -> tf.Tensor:
    """float32 learning_rate * (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2 (the
    schedule of tf.compat.v1.train.cosine_decay, alpha 0), in float64 single ops from the
    integer step: no division (pi / decay_steps is Python's), no float minimum."""
    step64 = tf.cast(tf.minimum(tf.cast(step, tf.int64), decay_steps), tf.float64)
    decayed = 0.5 * (1.0 + cos64(step64 * (math.pi / decay_steps)))
    return _to32(learning_rate * _where(decayed < 0.0, 0.0, decayed))


def max_pool(x: Any, size: int) -> tf.Tensor:
    """A size x size NHWC max-pool with stride size ("VALID": trailing rows and columns that
    fill no window are dropped) as compares and selects (see maximum), the window's values in
    a fixed pairwise order; its gradient goes to the value selected (Pack / Unpack, selects)."""
    x = tf.convert_to_tensor(x, tf.float32)
    height, width, channels = (_static(d, "max_pool's input") for d in x.shape[1:])
    rows, cols = height // size, width // size
    blocks = tf.reshape(
        x[:, : rows * size, : cols * size, :], [-1, rows, size, cols, size, channels]
    )
    values = tf.unstack(
        tf.reshape(
            tf.transpose(blocks, [2, 4, 0, 1, 3, 5]), [size * size, -1, rows, cols, channels]
        )
    )
    while len(values) > 1:
        pairs = [maximum(a, b) for a, b in zip(values[::2], values[1::2], strict=False)]
        values = pairs + values[len(pairs) * 2 :]
    return values[0]


# --- float32 ops with their gradients -------------------------------------------------------


def sqrt(x: Any) -> tf.Tensor:
    """`tf.sqrt` (correctly rounded everywhere) whose gradient g * 0.5 / sqrt(x) is single ops
    (TF's SqrtGrad kernel gave other bits on aarch64, measured), through this op again, so that
    a second derivative (a gradient penalty's) is portable too."""

    @tf.custom_gradient
    def op(x: tf.Tensor) -> Any:
        return tf.sqrt(x), lambda g: (g * 0.5) / op(x)

    return op(tf.convert_to_tensor(x, tf.float32))


def normalize(x: Any, axis: int, epsilon: float) -> tf.Tensor:
    """(x - mean) / sqrt(variance + epsilon) over `axis`, a layer norm's core: the statistics
    are portable means broadcast back by `broadcast`, so their gradients are portable sums."""
    x = tf.convert_to_tensor(x, tf.float32)
    shape, axes = tf.shape(x), _axes(x, axis)
    centered = x - broadcast(reduce_mean(x, axes, keepdims=True), shape, axes)
    variance = reduce_mean(tf.square(centered), axes, keepdims=True)
    return centered / broadcast(sqrt(variance + epsilon), shape, axes)


def _divide(g: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """g / y, correctly rounded: DivNoNan, which Grappler leaves alone (a RealDiv of a folded
    constant of ones it rewrites into the approximate Reciprocal; see exact.py)."""
    return tf.math.divide_no_nan(g, y)


def _elementwise(fn64: Any, gradient: Any) -> Any:
    """A float32 op y = to32(fn64(to64(x))) whose gradient is gradient(x, y, g) in float32."""

    @tf.custom_gradient
    def op(x: tf.Tensor) -> Any:
        y = _to32(fn64(_to64(x)))
        return y, lambda g: gradient(x, y, g)

    return lambda x: op(tf.convert_to_tensor(x, tf.float32))


# The float32 ops: one rounding of the float64 formula; gradients in float32 single ops.
exp = _elementwise(exp64, lambda x, y, g: g * y)
expm1 = _elementwise(expm1_64, lambda x, y, g: g * (y + 1.0))
log = _elementwise(log64, lambda x, y, g: _divide(g, x))
log1p = _elementwise(log1p64, lambda x, y, g: _divide(g, 1.0 + x))
sigmoid = _elementwise(sigmoid64, lambda x, y, g: g * (y * (1.0 - y)))
tanh = _elementwise(tanh64, lambda x, y, g: g * (1.0 - y * y))
softplus = _elementwise(softplus64, lambda x, y, g: g * sigmoid(x))


def _rsqrt64(x: tf.Tensor) -> tf.Tensor:
    """1 / sqrt(x): +-inf at +-0 (sqrt keeps the sign of zero), NaN below 0, 0 at inf."""
    root = tf.sqrt(x)
    infinite = tf.where(
        tf.bitcast(x, tf.int64) < 0, -math.inf * tf.ones_like(x), math.inf * tf.ones_like(x)
    )
    return tf.where(tf.equal(root, 0.0), infinite, _divide(tf.ones_like(x), root))


rsqrt = _elementwise(_rsqrt64, lambda x, y, g: g * (-0.5 * (y * y * y)))


def _softmax64(x: tf.Tensor, axis: int) -> tuple[tf.Tensor, tf.Tensor]:
    """(e, sum e) in float64, e = exp(x - max x) over `axis` (the max is exact: no rounding)."""
    x64 = _to64(x)
    shifted = x64 - tf.reduce_max(x64, axis, keepdims=True)
    e = exp64(shifted)
    return e, _sum64_of_unit(e, [axis % x.shape.rank])


def softmax(logits: Any, axis: int = -1) -> tf.Tensor:
    """`tf.nn.softmax`: e / sum(e), e = exp(x - max x), in float64 (one rounding); gradient
    y * (g - sum(g * y)), the sum portable."""
    logits = tf.convert_to_tensor(logits, tf.float32)

    @tf.custom_gradient
    def op(x: tf.Tensor) -> Any:
        e, total = _softmax64(x, axis)
        y = _to32(e / total)
        return y, lambda g: y * (g - reduce_sum(g * y, axis, keepdims=True))

    return op(logits)


def log_softmax(logits: Any, axis: int = -1) -> tf.Tensor:
    """`tf.nn.log_softmax`: x - max x - log(sum e) in float64; gradient g - softmax * sum(g)."""
    logits = tf.convert_to_tensor(logits, tf.float32)

    @tf.custom_gradient
    def op(x: tf.Tensor) -> Any:
        x64 = _to64(x)
        shifted = x64 - tf.reduce_max(x64, axis, keepdims=True)
        y = _to32(shifted - log64(_sum64_of_unit(exp64(shifted), [axis % x.shape.rank])))
        return y, lambda g: g - softmax(x, axis) * reduce_sum(g, axis, keepdims=True)

    return op(logits)


def sparse_softmax_cross_entropy_with_logits(labels: Any, logits: Any) -> tf.Tensor:
    """`tf.nn.sparse_softmax_cross_entropy_with_logits` over the last axis: -log_softmax at the
    label (a gather); gradient (softmax - one_hot) * g."""
    logits = tf.convert_to_tensor(logits, tf.float32)
    labels = tf.convert_to_tensor(labels)
    depth = _static(logits.shape[-1], "the classes of portable cross-entropy")

    @tf.custom_gradient
    def op(x: tf.Tensor) -> Any:
        x64 = _to64(x)
        shifted = x64 - tf.reduce_max(x64, -1, keepdims=True)
        log_total = log64(_sum64_of_unit(exp64(shifted), [x.shape.rank - 1]))
        picked = tf.gather(shifted, labels, axis=-1, batch_dims=labels.shape.rank)
        y = _to32(log_total[..., 0] - picked)

        def grad(g: tf.Tensor) -> tf.Tensor:
            one_hot = tf.one_hot(labels, depth, dtype=tf.float32)
            return (softmax(x) - one_hot) * g[..., None]

        return y, grad

    return op(logits)


def sigmoid_cross_entropy_with_logits(labels: Any, logits: Any) -> tf.Tensor:
    """`tf.nn.sigmoid_cross_entropy_with_logits`: max(x, 0) - x z + log1p(exp(-|x|)) in float64
    (one rounding); gradient (sigmoid(x) - z) * g (the labels get none, as TF's)."""
    logits = tf.convert_to_tensor(logits, tf.float32)
    labels = tf.convert_to_tensor(labels, tf.float32)

    @tf.custom_gradient
    def op(x: tf.Tensor) -> Any:
        x64, z64 = _to64(x), _to64(labels)
        y = _to32(_where(x64 < 0.0, 0.0, x64) - x64 * z64 + log1p64(exp64(-tf.abs(x64))))
        return y, lambda g: (sigmoid(x) - labels) * g

    return op(logits)
