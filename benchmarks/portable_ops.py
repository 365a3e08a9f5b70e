"""Cost of tf_determinism.portable's ops against TF's own, at the apps' shapes (not a test).

Each op runs forward and backward (the gradient of a weighted sum) inside one graph per
variant, in sessions pinned as the apps' are, alternating native and portable repeats; the
median seconds of each and their ratio (native / portable: 1 is free, 0.1 is ten times slower)
are printed side by side, one row per op.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tf_determinism

# (name, input shapes, fn(tf-like module, *inputs)): matmuls at the GAN's, the classifier's and
# the text LM's shapes (batch 32), a batch-norm moment, the attention softmax, a loss.
CASES: list[tuple[str, list[list[int]], Callable[..., Any]]] = [
    ("GAN fc2 32x1024 @ 1024x6272", [[32, 1024], [1024, 6272]], lambda m, a, b: m.matmul(a, b)),
    ("GAN critic fc 32x6272 @ 6272x1024", [[32, 6272], [6272, 1024]], lambda m, a, b: m.matmul(a, b)),
    ("classifier fc1 128x3136 @ 3136x256", [[128, 3136], [3136, 256]],
     lambda m, a, b: m.matmul(a, b)),
    ("text LM mlp 2048x128 @ 128x512", [[2048, 128], [128, 512]], lambda m, a, b: m.matmul(a, b)),
    ("text LM attention 32x4x64x32 @ T", [[32, 4, 64, 32], [32, 4, 64, 32]],
     lambda m, q, k: m.matmul(q, k, transpose_b=True)),
    ("batch-norm mean 32x14x14x64 over 0,1,2", [[32, 14, 14, 64]],
     lambda m, x: m.reduce_mean(x, [0, 1, 2])),
    ("softmax 32x4x64x64", [[32, 4, 64, 64]], lambda m, x: m.softmax(x)),
    ("text LM cross-entropy 2048x256", [[2048, 256]],
     lambda m, x: m.sparse_softmax_cross_entropy_with_logits(np.zeros([2048], np.int32), x)),
]  # fmt: skip


class _Native:
    """TF's own ops under the portable module's names."""

    def __init__(self, tf: Any) -> None:
        self.matmul = lambda a, b, **kw: tf.linalg.matmul(a, b, **kw)
        self.reduce_mean, self.reduce_sum = tf.reduce_mean, tf.reduce_sum
        self.softmax = tf.nn.softmax
        self.sparse_softmax_cross_entropy_with_logits = (
            tf.nn.sparse_softmax_cross_entropy_with_logits
        )


def _timer(module: Any, shapes: list[list[int]], fn: Callable[..., Any], numerics: Any) -> Any:
    """fn() -> seconds of one forward and backward pass of fn in its own graph and session."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.default_rng(0)
        xs = [tf.Variable(rng.standard_normal(s).astype(np.float32)) for s in shapes]
        y = fn(module, *[tf.identity(x) for x in xs])
        loss = tf.reduce_sum(y * tf.constant(0.5))
        grads = tf.gradients(loss, xs)
        # Fetched, each reduced to a scalar: nothing of the pass can be pruned.
        step = [tf.reduce_sum(t) for t in (y, *grads)]
        session = tf.compat.v1.Session(config=tf_determinism.session_config(numerics))
        session.run(tf.compat.v1.global_variables_initializer())
        session.run(step)  # warm-up

    def once() -> float:
        start = time.perf_counter()
        session.run(step)
        return time.perf_counter() - start

    return once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    numerics = tf_determinism.Numerics()
    tf_determinism.configure_environment(numerics)
    import tensorflow as tf

    from tf_determinism import portable

    tf_determinism.configure_tensorflow(numerics)
    print(f"{'op (forward and backward)':42s} {'native s':>9s} {'portable s':>10s} {'ratio':>7s}")
    for name, shapes, fn in CASES:
        native = _timer(_Native(tf), shapes, fn, numerics)
        ported = _timer(portable, shapes, fn, numerics)
        times: dict[str, list[float]] = {"native": [], "portable": []}
        for _ in range(args.repeats):
            times["native"].append(native())
            times["portable"].append(ported())
        n, p = (statistics.median(times[k]) for k in ("native", "portable"))
        print(f"{name:42s} {n:9.4f} {p:10.4f} {n / p:7.3f}")


if __name__ == "__main__":
    main()
