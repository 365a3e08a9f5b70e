"""tf_determinism.portable: accuracy against float64 and the edge cases, natively. (The same
bits under qemu-aarch64: apps/repro/repro/test_portable_emulated.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tf_determinism import portable as p
from tf_determinism.portable_proof import ulps

F32_MIN = 2.0**-126
rng = np.random.default_rng(7)


def _rounded(reference: np.ndarray) -> np.ndarray:
    """float32 of a float64 reference, below float32's smallest normal flushed (as TF's CPU
    kernels and the portable ops flush)."""
    return np.where(np.abs(reference) < F32_MIN, 0.0 * reference, reference).astype(np.float32)


def _run(fn, *args):
    return fn(*(tf.constant(a) for a in args)).numpy()


WIDE = rng.uniform(-87, 88, 100_000).astype(np.float32)
SMALL = rng.uniform(-1e-4, 1e-4, 20_000).astype(np.float32)
POSITIVE = np.exp(rng.uniform(-87, 88, 100_000)).astype(np.float32)


@pytest.mark.parametrize(
    "name, reference, x",
    [
        ("exp", np.exp, WIDE),
        ("expm1", np.expm1, np.concatenate([WIDE / 4, SMALL])),
        ("log", np.log, POSITIVE),
        ("log1p", np.log1p, np.concatenate([rng.uniform(-0.999, 50, 50_000), SMALL])),
        ("tanh", np.tanh, np.concatenate([WIDE / 8, SMALL])),
        ("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), WIDE),
        ("softplus", lambda x: np.logaddexp(0.0, x), WIDE),
        ("rsqrt", lambda x: 1.0 / np.sqrt(x), POSITIVE),
    ],
)
def test_transcendentals_are_within_2_ulp_of_the_rounded_float64_value(name, reference, x):
    """Measured here: 0 ulp on every input of these ranges (target: at most 2)."""
    x = x.astype(np.float32)
    assert ulps(_run(getattr(p, name), x), _rounded(reference(x.astype(np.float64)))) <= 2


NAN = float("nan")
INF = float("inf")


@pytest.mark.parametrize(
    "name, x, expected",
    [
        ("exp", [-INF, INF, 0.0, -0.0, 1e-40, 89.0, -104.0], [0.0, INF, 1.0, 1.0, 1.0, INF, 0.0]),
        ("log", [0.0, -0.0, -1.0, INF, 1.0, 1e-40], [-INF, -INF, NAN, INF, 0.0, -INF]),
        ("log1p", [-1.0, -2.0, INF, -0.0, 1e-30], [-INF, NAN, INF, -0.0, 1e-30]),
        ("tanh", [-0.0, INF, -INF, 1e-40, 30.0], [-0.0, 1.0, -1.0, 0.0, 1.0]),
        ("sigmoid", [INF, -INF, 0.0, -200.0], [1.0, 0.0, 0.5, 0.0]),
        ("softplus", [INF, -INF, 0.0, -200.0], [INF, 0.0, float(np.log(2.0)), 0.0]),
        ("rsqrt", [0.0, -0.0, -1.0, INF, 4.0, 1e-40], [INF, -INF, NAN, 0.0, 0.5, INF]),
        ("expm1", [-0.0, -INF, INF, 1e-30], [-0.0, -1.0, INF, 1e-30]),
    ],
)
def test_special_values(name, x, expected):
    got = _run(getattr(p, name), np.array(x, np.float32))
    want = np.array(expected, np.float32)
    assert got.tobytes() == np.where(np.isnan(want), np.float32("nan"), want).tobytes(), got


def test_a_nan_out_is_the_canonical_quiet_nan():
    """x86's default NaN is negative, aarch64's positive: a NaN is written as 0x7fc00000."""
    negative_nan = np.array([0xFFC00001], np.uint32).view(np.float32)
    for fn in (p.exp, p.log, p.tanh):
        assert _run(fn, negative_nan).view(np.uint32)[0] == 0x7FC00000
    rows = np.ones([2, 4], np.float32)
    rows[1, 2] = np.inf
    out = _run(p.matmul, rows, np.ones([4, 3], np.float32))
    assert (out[0] == 4.0).all() and (out[1].view(np.uint32) == 0x7FC00000).all()


@pytest.mark.parametrize("m, k, n", [(32, 64, 1024), (8, 6272, 64), (4, 100352, 4), (5, 3, 7)])
def test_matmul_is_closer_to_the_exact_product_than_tf_matmul(m, k, n):
    """|C - AB| / (|A||B|) against the float64 product: within the float32 rounding of the result
    (2**-24), as exact slices drop only a term below 2**-2beta; float32 accumulation rounds
    every addition."""
    a = (rng.standard_normal((m, k)) * np.exp(rng.uniform(-3, 3, (m, k)))).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    scale = np.abs(a64) @ np.abs(b64)
    error = lambda c: np.max(np.abs(c - a64 @ b64) / scale)  # noqa: E731
    portable, native = _run(p.matmul, a, b), tf.matmul(a, b).numpy()
    assert error(portable) <= 2.0**-24
    assert k < 64 or error(portable) < error(native)


def test_matmul_of_integers_is_exact_and_transposes_and_batches_agree():
    a = rng.integers(-1000, 1000, (2, 3, 6, 9)).astype(np.float32)
    b = rng.integers(-1000, 1000, (2, 3, 9, 5)).astype(np.float32)
    exact = np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
    assert _run(p.matmul, a, b).tobytes() == exact.tobytes()
    at, bt = np.swapaxes(a, -1, -2).copy(), np.swapaxes(b, -1, -2).copy()
    for ta, tb in ((True, False), (False, True), (True, True)):
        got = p.matmul(at if ta else a, bt if tb else b, transpose_a=ta, transpose_b=tb)
        assert got.numpy().tobytes() == exact.tobytes(), (ta, tb)


def test_gradients_match_tfs_in_value():
    x = tf.constant(rng.standard_normal((6, 8)).astype(np.float32))
    w = tf.constant(rng.standard_normal((8, 10)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 10, 6))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        ours = p.reduce_mean(
            p.sparse_softmax_cross_entropy_with_logits(labels, p.matmul(p.tanh(x), w))
        ) + p.reduce_sum(p.softplus(x) * p.sigmoid(x) * p.exp(x / 4))
        theirs = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.matmul(tf.tanh(x), w))
        ) + tf.reduce_sum(tf.nn.softplus(x) * tf.sigmoid(x) * tf.exp(x / 4))
        soft = p.reduce_sum(p.softmax(x) * x) + p.reduce_sum(p.log_softmax(x) * x)
        soft_tf = tf.reduce_sum(tf.nn.softmax(x) * x) + tf.reduce_sum(tf.nn.log_softmax(x) * x)
        z = tf.constant(rng.uniform(0, 1, (6, 8)).astype(np.float32))
        sig = p.reduce_sum(p.sigmoid_cross_entropy_with_logits(z, x) + p.log1p(tf.abs(x)))
        sig_tf = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(z, x) + tf.math.log1p(
            tf.abs(x)))  # fmt: skip
    for a, b in ((ours, theirs), (soft, soft_tf), (sig, sig_tf)):
        for ga, gb in zip(tape.gradient(a, [x, w]), tape.gradient(b, [x, w]), strict=True):
            if gb is not None:
                np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-6)


def test_sums_and_means_are_the_rounded_float64_sum():
    x = (rng.standard_normal((64, 3000)) * np.exp(rng.uniform(-4, 4, (64, 3000)))).astype(
        np.float32
    )
    x64 = x.astype(np.float64)
    assert _run(lambda t: p.reduce_sum(t, 1), x).tobytes() == _rounded(x64.sum(1)).tobytes()
    assert _run(lambda t: p.reduce_sum(t, 0), x).tobytes() == _rounded(x64.sum(0)).tobytes()
    assert _run(p.reduce_mean, x).tobytes() == _rounded(x64.mean()).tobytes()
    kept = _run(lambda t: p.reduce_sum(t, [0, 1], keepdims=True), x)
    assert kept.shape == (1, 1) and kept.tobytes() == _rounded(x64.sum()).reshape(1, 1).tobytes()


def test_softmax_and_log_softmax_are_the_rounded_float64_values():
    x = (rng.standard_normal((32, 256)) * 4).astype(np.float32)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(1, keepdims=True))
    assert _run(p.softmax, x).tobytes() == _rounded(e / e.sum(1, keepdims=True)).tobytes()
    log = x64 - x64.max(1, keepdims=True) - np.log(e.sum(1, keepdims=True))
    assert ulps(_run(p.log_softmax, x), _rounded(log)) <= 1


def test_the_slice_width_keeps_every_sum_exact():
    assert [p.slice_bits(k) for k in (1, 64, 1024, 6272, 100352)] == [26, 23, 21, 20, 18]
    for k in (64, 6272, 100352):
        assert 2 * p.slice_bits(k) + int(np.ceil(np.log2(k))) <= 53
    with tf.Graph().as_default():
        unknown = tf.compat.v1.placeholder(tf.float32, [4, None])
        with pytest.raises(p.PortableShapeError, match="inner dimension .* must be known"):
            p.matmul(unknown, tf.zeros([3, 2]), transpose_b=True)


# The convolutions of the apps: the GAN's critic and generator (4x4, stride 2 and 1), the
# classifier's 3x3; (input shape, filter shape, stride).
CONVOLUTIONS = [
    ([2, 28, 28, 1], [4, 4, 1, 8], 2),
    ([2, 14, 14, 8], [4, 4, 8, 16], 2),
    ([2, 28, 28, 4], [4, 4, 4, 1], 1),
    ([3, 28, 28, 1], [3, 3, 1, 4], 1),
    ([2, 7, 7, 3], [3, 3, 3, 5], 2),
]


@pytest.mark.parametrize("x_shape, w_shape, stride", CONVOLUTIONS)
def test_conv2d_and_its_gradients_compute_what_tf_does(x_shape, w_shape, stride):
    x = tf.constant(rng.standard_normal(x_shape).astype(np.float32))
    w = tf.constant(rng.standard_normal(w_shape).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        ours = p.conv2d(x, w, stride)
        theirs = tf.nn.conv2d(x, w, stride, "SAME")
        weights = tf.constant(rng.standard_normal(theirs.shape).astype(np.float32))
        loss_ours, loss_theirs = tf.reduce_sum(ours * weights), tf.reduce_sum(theirs * weights)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    for a, b in zip(tape.gradient(loss_ours, [x, w]), tape.gradient(loss_theirs, [x, w]),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("x_shape, w_shape, stride", [
    ([2, 7, 7, 16], [4, 4, 8, 16], 2), ([2, 14, 14, 8], [4, 4, 4, 8], 2),
    ([2, 5, 5, 3], [3, 3, 2, 3], 1)])  # fmt: skip
def test_conv2d_transpose_and_its_gradients_compute_what_tf_does(x_shape, w_shape, stride):
    x = tf.constant(rng.standard_normal(x_shape).astype(np.float32))
    w = tf.constant(rng.standard_normal(w_shape).astype(np.float32))
    out_shape = [x_shape[0], x_shape[1] * stride, x_shape[2] * stride, w_shape[2]]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        ours = p.conv2d_transpose(x, w, stride)
        theirs = tf.nn.conv2d_transpose(x, w, out_shape, stride, "SAME")
        weights = tf.constant(rng.standard_normal(out_shape).astype(np.float32))
        loss_ours, loss_theirs = tf.reduce_sum(ours * weights), tf.reduce_sum(theirs * weights)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    for a, b in zip(tape.gradient(loss_ours, [x, w]), tape.gradient(loss_theirs, [x, w]),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [[2, 28, 28, 8], [3, 7, 7, 3]])
def test_max_pool_and_its_gradient_are_tfs_bits(shape):
    """A max moves an operand, and without ties the gradient goes where TF's MaxPoolGrad sends
    it; 7 x 7 drops the last row and column, as "VALID" does."""
    x = tf.constant(rng.standard_normal(shape).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = p.max_pool(x, 2), tf.nn.max_pool2d(x, 2, 2, "VALID")
        weights = tf.constant(rng.standard_normal(theirs.shape).astype(np.float32))
        loss_ours, loss_theirs = tf.reduce_sum(ours * weights), tf.reduce_sum(theirs * weights)
    assert ours.numpy().tobytes() == theirs.numpy().tobytes()
    assert (
        tape.gradient(loss_ours, x).numpy().tobytes()
        == tape.gradient(loss_theirs, x).numpy().tobytes()
    )


def test_cosine_decay_is_the_rounded_float64_schedule_and_ends_at_zero():
    steps = np.arange(0, 1010)
    reference = 1e-3 * 0.5 * (1.0 + np.cos(np.pi * np.minimum(steps, 1000) / 1000))
    got = _run(lambda s: p.cosine_decay(1e-3, s, 1000), steps)
    assert ulps(got, _rounded(reference)) <= 1
    assert got[0] == np.float32(1e-3) and (got[1000:] == 0.0).all() and (got >= 0.0).all()


def test_convolutions_need_no_static_batch():
    """A SavedModel's serving input has batch None: the same bits as with the batch known."""
    x = rng.standard_normal([3, 14, 14, 2]).astype(np.float32)
    w = rng.standard_normal([3, 3, 2, 4]).astype(np.float32)
    known = _run(lambda a, b: p.conv2d_transpose(p.conv2d(a, b, 2), b, 2), x, w)
    with tf.Graph().as_default():
        unknown = tf.compat.v1.placeholder(tf.float32, [None, 14, 14, 2])
        y = p.conv2d_transpose(p.conv2d(unknown, tf.constant(w), 2), tf.constant(w), 2)
        with tf.compat.v1.Session() as session:
            assert session.run(y, {unknown: x}).tobytes() == known.tobytes()
