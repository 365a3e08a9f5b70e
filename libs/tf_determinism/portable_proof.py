"""The op-level proof of `tf_determinism.portable`: every portable op, forward and gradient, on
the shapes the apps use and on edge cases, computed in one process, so that two processes (x86
natively, aarch64 under qemu) can be compared bit for bit.

    python -m tf_determinism.portable_proof --make inputs.npz          # natively, once
    python -m tf_determinism.portable_proof inputs.npz out.npz [--onednn=1] [--threads=2]

The inputs are drawn once, natively, and loaded by every side (an emulated side never draws).
The outputs are computed in a TF1 graph with the project's pins (the apps' session config:
Grappler's arithmetic optimizer off), as the apps run them. `CONTROLS` are TF's own kernels on
the same inputs: they differ across the architectures, which shows the comparison can see a
difference. `compare(a, b)` names what differs and by how many ulp.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

# TF's own ops on some of the same inputs: known to differ between x86 and aarch64.
CONTROLS = (
    "control/tf_matmul",
    "control/tf_exp",
    "control/tf_inner_sum",
    "control/tf_maximum_subnormal",
)
_F32 = np.float32


def _edge_values() -> np.ndarray:
    """Zeros of both signs, subnormals, the smallest and largest normals, infinities, NaN."""
    tiny = np.array([1e-45, 1e-40, -3e-39], _F32)
    special = np.array([0.0, -0.0, 2.0**-126, -(2.0**-126), 3.4e38, -3.4e38, np.inf, -np.inf,
                        np.nan, 1.0, -1.0, 1e-20, -1e-30, 88.7, -103.9, 0.5], _F32)  # fmt: skip
    return np.concatenate([tiny, special])


def make_inputs(path: str, seed: int = 20261207) -> None:
    """Draws the inputs (numpy PCG64) and writes them to `path` (.npz)."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int, spread: float = 0.0) -> np.ndarray:
        x = rng.standard_normal(shape)
        return (x * np.exp(rng.uniform(-spread, spread, shape)) if spread else x).astype(_F32)

    edges = _edge_values()
    wide = np.concatenate([edges, rng.uniform(-110, 100, 4000).astype(_F32),
                           normal(2000, spread=20)])  # fmt: skip
    positive = np.concatenate([edges, np.exp(rng.uniform(-87, 88, 4000)).astype(_F32)])
    edge_rows = normal(8, 64, spread=3)
    edge_rows[0] = 0.0
    edge_rows[1, :16] = edges[:16]
    edge_rows[2] = -0.0
    edge_rows[3, 5] = 1e-40
    norm_x = normal(2, 16, 32, spread=2)
    norm_x[0, 0] = 0.0
    pool_x = normal(2, 14, 14, 8)
    pool_x[0, :4, :4, :] = np.resize(edges[np.isfinite(edges)], [4, 4, 8])
    logits = normal(32, 10, spread=2) * 3
    logits[0] = 1.0
    logits[1, 3] = 1e30
    logits[2, 0] = -np.inf
    np.savez(
        path,
        # Matmuls at the apps' inner dimensions (K) and their transposes.
        gan_fc=normal(8, 64), gan_fc_w=normal(64, 392),
        critic=normal(8, 6272, spread=2), critic_w=normal(6272, 16),
        filter_x=normal(6272, 16), filter_g=normal(6272, 8),
        classifier_x=normal(100352, 4), classifier_g=normal(100352, 4),
        dense_x=normal(8, 3136, spread=4), dense_w=normal(3136, 16),
        attention_q=normal(2, 4, 16, 8), attention_k=normal(2, 4, 16, 8),
        attention_v=normal(2, 4, 8, 16), attention_w=normal(2, 4, 5, 16),
        edge_rows=edge_rows, edge_w=normal(64, 8),
        # Convolutions at the GAN's and the classifier's filter shapes (narrower, batch 2).
        conv_in28=normal(2, 28, 28, 1), conv_w_critic1=normal(4, 4, 1, 16),
        conv_in14=normal(2, 14, 14, 16), conv_w_critic2=normal(4, 4, 16, 32),
        conv_in28x8=normal(2, 28, 28, 8), conv_w_out=normal(4, 4, 8, 1),
        conv_w_classifier=normal(3, 3, 1, 8),
        deconv_in7=normal(2, 7, 7, 32), deconv_w1=normal(4, 4, 16, 32),
        deconv_w2=normal(4, 4, 8, 16),
        # Sums: inner and outer axes, a batch-norm moment, a full sum.
        sum_x=normal(64, 3000, spread=4), conv_x=normal(8, 14, 14, 16),
        # The classifier's max-pool (with subnormals and signed zeros) and its schedule.
        pool_x=pool_x, steps=np.arange(0, 1010, dtype=np.int64),
        # The text LM's layer norm over its width (a row of zeros: variance 0).
        norm_x=norm_x,
        # Transcendentals over wide ranges and the edge cases.
        wide=wide, finite=wide[np.isfinite(wide)], positive=positive, near_zero=np.concatenate(
            [edges, rng.uniform(-1e-3, 1e-3, 1000).astype(_F32)]),
        logits=logits, lm_logits=normal(2, 16, 256, spread=1),
        labels=rng.integers(0, 10, 32).astype(np.int32),
        lm_labels=rng.integers(0, 256, (2, 16)).astype(np.int32),
        sigmoid_labels=rng.uniform(0, 1, (32, 10)).astype(_F32),
    )  # fmt: skip


def _subnormal(x: np.ndarray) -> np.ndarray:
    """Where x (float32) is subnormal, from its bits."""
    bits = x.view(np.uint32)
    return ((bits & 0x7F800000) == 0) & ((bits & 0x007FFFFF) != 0)


def _graph_outputs(inputs: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[Any, np.ndarray]]:
    """{name: tensor} of every portable op and gradient (and the controls), in the default
    graph, and {placeholder: value}: the inputs to feed."""
    import tensorflow as tf

    from tf_determinism import portable as p

    feeds: dict[Any, np.ndarray] = {}

    def fed(value: np.ndarray) -> Any:
        """A placeholder fed `value` at run time: a constant would be folded by Grappler on
        the main thread, not computed by the kernel in TF's pool (whose threads flush
        subnormals)."""
        placeholder = tf.compat.v1.placeholder(tf.as_dtype(value.dtype), value.shape)
        feeds[placeholder] = value
        return placeholder

    t = {name: fed(value) for name, value in inputs.items()}
    out: dict[str, Any] = {}

    def with_gradient(name: str, fn: Callable[..., Any], *args: Any) -> None:
        """fn(*args) and the gradient of sum(fn * w) by each float32 argument (w fixed)."""
        xs = [a for a in args if a.dtype == tf.float32]
        y = fn(*args)
        weights = tf.constant(
            np.linspace(-1.5, 2.0, y.shape.num_elements(), dtype=_F32).reshape(y.shape)
        )
        out[name] = y
        for i, g in enumerate(tf.gradients(p.reduce_sum(y * weights), xs)):
            if g is not None:  # (a cross-entropy's labels get none, as with TF's)
                out[f"{name}/grad{i}"] = g

    with_gradient("matmul/gan_fc", p.matmul, t["gan_fc"], t["gan_fc_w"])
    with_gradient("matmul/critic_K6272", p.matmul, t["critic"], t["critic_w"])
    with_gradient("matmul/filter_tn_K6272", lambda a, b: p.matmul(a, b, transpose_a=True),
                  t["filter_x"], t["filter_g"])  # fmt: skip
    with_gradient("matmul/classifier_tn_K100352",
                  lambda a, b: p.matmul(a, b, transpose_a=True), t["classifier_x"],
                  t["classifier_g"])  # fmt: skip
    with_gradient("matmul/dense_K3136", p.matmul, t["dense_x"], t["dense_w"])
    with_gradient("matmul/attention_nt", lambda q, k: p.matmul(q, k, transpose_b=True),
                  t["attention_q"], t["attention_k"])  # fmt: skip
    with_gradient("matmul/attention_nn", p.matmul, t["attention_q"], t["attention_v"])
    with_gradient("matmul/attention_tt", lambda q, w: p.matmul(q, w, transpose_a=True,
                  transpose_b=True), t["attention_q"], t["attention_w"])  # fmt: skip
    out["matmul/edge_rows"] = p.matmul(t["edge_rows"], t["edge_w"])
    conv = lambda stride: lambda x, w: p.conv2d(x, w, stride)  # noqa: E731
    deconv = lambda x, w: p.conv2d_transpose(x, w, 2)  # noqa: E731
    with_gradient("conv2d/critic1_s2", conv(2), t["conv_in28"], t["conv_w_critic1"])
    with_gradient("conv2d/critic2_s2", conv(2), t["conv_in14"], t["conv_w_critic2"])
    with_gradient("conv2d/out_s1", conv(1), t["conv_in28x8"], t["conv_w_out"])
    with_gradient("conv2d/classifier_3x3", conv(1), t["conv_in28"], t["conv_w_classifier"])
    with_gradient("conv2d_transpose/7to14", deconv, t["deconv_in7"], t["deconv_w1"])
    with_gradient("conv2d_transpose/14to28", deconv, t["conv_in14"], t["deconv_w2"])
    with_gradient("max_pool/2x2", lambda x: p.max_pool(x, 2), t["pool_x"])
    out["cosine_decay/1000_steps"] = p.cosine_decay(1e-3, t["steps"], 1000)
    with_gradient("normalize/lm", lambda x: p.normalize(x, -1, 1e-5), t["norm_x"])
    # (of magnitudes: a negative operand's NaN is negative on x86, positive on aarch64)
    with_gradient("sqrt/positive", p.sqrt, fed(np.abs(inputs["positive"])))
    for axis in (0, 1, None):
        with_gradient(f"reduce_sum/axis{axis}", lambda x, a=axis: p.reduce_sum(x, a), t["sum_x"])
    with_gradient("reduce_mean/moments", lambda x: p.reduce_mean(x, [0, 1, 2]), t["conv_x"])
    out["reduce_sum/edges"] = p.reduce_sum(t["wide"][:19])
    for name in ("exp", "expm1", "tanh", "sigmoid", "softplus"):
        for data in ("wide", "near_zero"):
            with_gradient(f"{name}/{data}", getattr(p, name), t[data])
    for name in ("log", "rsqrt"):
        with_gradient(f"{name}/positive", getattr(p, name), t["positive"])
        out[f"{name}/wide"] = getattr(p, name)(t["wide"])
    with_gradient("log1p/near_zero", p.log1p, t["near_zero"])
    out["log1p/wide"] = p.log1p(t["wide"])
    for name in ("softmax", "log_softmax"):
        with_gradient(f"{name}/classes", getattr(p, name), t["logits"])
        with_gradient(f"{name}/lm", getattr(p, name), t["lm_logits"])
    with_gradient("softmax/attention_axis2", lambda x: p.softmax(x, 2), t["attention_q"])
    with_gradient("sparse_xent/classes", p.sparse_softmax_cross_entropy_with_logits,
                  t["labels"], t["logits"])  # fmt: skip
    with_gradient("sparse_xent/lm", p.sparse_softmax_cross_entropy_with_logits,
                  t["lm_labels"], t["lm_logits"])  # fmt: skip
    with_gradient("sigmoid_xent", lambda z, x: p.sigmoid_cross_entropy_with_logits(z, x),
                  t["sigmoid_labels"], t["logits"])  # fmt: skip
    # TF's own single operations, which the portable allowlist admits (graph_audit).
    # On finite inputs (and sqrt on non-negative ones): a NaN an invalid operation makes is
    # negative on x86 and positive on aarch64, and x86's max returns one of its operands where
    # aarch64's returns NaN; a NaN loss ends a run anyway, and the portable ops write the
    # canonical NaN.
    fa, fb = t["finite"][:2000], t["finite"][2000:4000]
    for name, fn in (("AddV2", tf.add), ("Sub", tf.subtract), ("Mul", tf.multiply),
                     ("RealDiv", tf.math.truediv), ("DivNoNan", tf.math.divide_no_nan)):  # fmt: skip
        out[f"tf/{name}"] = fn(fa, fb)
    # Max of a subnormal: x86 (DAZ) returns the flushed zero, aarch64's scalar code (a short
    # vector) the subnormal (a control); portable.relu and portable.maximum select instead.
    pairs = inputs["finite"][:2000], inputs["finite"][2000:4000]
    subnormal = _subnormal(pairs[0]) | _subnormal(pairs[1])
    sa, sb = (fed(x[subnormal]) for x in pairs)
    out["control/tf_maximum_subnormal"] = tf.maximum(sa, sb)
    with_gradient("relu/subnormal", p.relu, tf.concat([sa, sb], 0))
    with_gradient("maximum/subnormal", p.maximum, sa, sb)
    with_gradient("relu", p.relu, t["finite"])
    with_gradient("maximum", p.maximum, fa, fb)
    out["tf/AddN"] = tf.math.add_n([fa, fb])
    out["tf/Sqrt"] = tf.sqrt(tf.abs(t["finite"]))
    for name, fn in (
        ("Neg", tf.negative),
        ("Abs", tf.abs),
        ("Square", tf.square),
        ("Floor", tf.floor),
        ("Round", tf.round),
        ("Relu", tf.nn.relu),
        ("LeakyRelu", lambda x: tf.nn.leaky_relu(x, 0.01)),
        ("Cast64", lambda x: tf.cast(tf.cast(x, tf.float64) / 3.0, tf.float32)),
        ("Max", lambda x: tf.reduce_max(tf.reshape(x[:5999], [-1, 7]), 1)),
    ):
        out[f"tf/{name}"] = fn(t["finite"])
    relu_grads = tf.gradients([tf.nn.relu(fa), tf.nn.leaky_relu(fa, 0.01)], [fa],
                              grad_ys=[fb, fb])  # fmt: skip
    out["tf/ReluGrad+LeakyReluGrad"] = relu_grads[0]
    key = tf.constant([7, 11], tf.int64)
    out["tf/StatelessRandomNormalV2"] = tf.random.stateless_normal([4096], key)
    out["tf/StatelessRandomUniformV2"] = tf.random.stateless_uniform([4096], key)
    out["control/tf_matmul"] = tf.matmul(t["critic"], t["critic_w"])
    out["control/tf_exp"] = tf.exp(t["wide"])
    out["control/tf_inner_sum"] = tf.reduce_sum(t["sum_x"], 1)
    return out, feeds


def compute(inputs_path: str, numerics: Any) -> dict[str, np.ndarray]:
    """Every output, computed in a session pinned as the apps' are (`numerics`, a
    tf_determinism.Numerics this process's environment was configured with)."""
    import tensorflow as tf

    import tf_determinism

    tf_determinism.configure_tensorflow(numerics)
    with np.load(inputs_path) as loaded:
        inputs = {name: loaded[name] for name in loaded.files}
    with tf.Graph().as_default():
        tensors, feeds = _graph_outputs(inputs)
        with tf.compat.v1.Session(config=tf_determinism.session_config(numerics)) as session:
            values = session.run(list(tensors.values()), feed_dict=feeds)
            return dict(zip(tensors, values, strict=True))


def ulps(a: np.ndarray, b: np.ndarray) -> int:
    """The largest distance in float32 ulps between two arrays (0 when bitwise equal; NaNs
    and infinities compare by their bits)."""
    ia, ib = (np.asarray(x, _F32).view(np.int32).astype(np.int64) for x in (a, b))
    ia, ib = (np.where(i < 0, -(i & 0x7FFFFFFF), i) for i in (ia, ib))
    return int(np.max(np.abs(ia - ib))) if ia.size else 0


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, int]:
    """{name: max ulps} of the outputs whose bytes differ (a name missing on one side: -1)."""
    differing = {}
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            differing[name] = -1
        elif a[name].tobytes() != b[name].tobytes():
            differing[name] = ulps(a[name], b[name])
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tf_determinism.portable_proof")
    parser.add_argument("inputs", help="the inputs (.npz); with --make, written")
    parser.add_argument("out", nargs="?", help="the outputs (.npz)")
    parser.add_argument("--make", action="store_true", help="draw and write the inputs")
    parser.add_argument("--onednn", type=int, choices=(0, 1), help="TF_ENABLE_ONEDNN_OPTS")
    parser.add_argument("--threads", type=int, default=2, help="the pinned thread pools")
    args = parser.parse_args(argv)
    if args.make:
        make_inputs(args.inputs)
        return 0
    import tf_determinism

    settings: dict[str, Any] = {"intra_op_threads": args.threads}
    if args.onednn is not None:
        settings["onednn"] = bool(args.onednn)
    numerics = tf_determinism.Numerics(**settings)
    tf_determinism.configure_environment(numerics)
    outputs = compute(args.inputs, numerics)
    np.savez(args.out, **outputs)
    print(f"portable_proof: {len(outputs)} outputs written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
