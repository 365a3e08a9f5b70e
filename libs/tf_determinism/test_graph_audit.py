"""graph_audit refuses CPU-dependent ops (and Grappler's reciprocal rewrites); exact's
normalizations build none and compute what TF's do."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf

from tf_determinism import exact, graph_audit

_v1 = tf.compat.v1


def _graph(build: Callable[[tf.Tensor], object], dtype: tf.DType = tf.float32) -> tf.Graph:
    """A graph applying `build` to a variable-backed float tensor [4, 8]; with a graph seed, as
    the Estimator sets one (RunConfig's tf_random_seed)."""
    with tf.Graph().as_default() as graph:
        _v1.set_random_seed(1)
        with _v1.variable_scope("net"):
            x = _v1.get_variable("x", [4, 8], dtype, initializer=_v1.ones_initializer())
            build(tf.identity(x))
    return graph


def _refusal(graph: tf.Graph) -> str:
    with pytest.raises(graph_audit.CpuDependentOpError) as caught:
        graph_audit.audit(graph)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_rsqrt_is_refused_in_one_line_naming_op_scope_and_replacement() -> None:
    def build(x: tf.Tensor) -> None:
        with tf.name_scope("norm"):
            tf.math.rsqrt(x + 1.0, name="inv")

    message = _refusal(_graph(build))
    assert message == (
        "Rsqrt op 'net/norm/inv' (name scope net/norm): rsqrtps + a Newton step, so its bits "
        "follow the CPU vendor; use x / tf.sqrt(v) (tf_determinism.exact.l2_normalize, "
        "exact.batch_normalization)"
    )


@pytest.mark.parametrize(
    "build, op",
    [
        (lambda x: tf.nn.l2_normalize(x, axis=1), "Rsqrt"),
        (lambda x: tf.nn.batch_normalization(x, 0.0, 1.0, 0.0, 1.0, 1e-3), "Rsqrt"),
        (lambda x: tf.math.reciprocal(x), "Reciprocal"),
        (lambda x: tf.nn.softmax(x), "Softmax"),
        (lambda x: tf.math.atan(x), "Atan"),
        # Grappler's constant folding turns these into the Reciprocal kernel.
        (lambda x: 1.0 / tf.sqrt(x), "RealDiv"),
        (lambda x: x / tf.constant(np.arange(1.0, 9.0, dtype=np.float32)), "RealDiv"),
    ],
)
def test_cpu_dependent_shapes_are_refused(build: Callable, op: str) -> None:
    assert _refusal(_graph(build)).startswith(f"{op} op ")


def test_exact_and_harmless_shapes_pass() -> None:
    def build(x: tf.Tensor) -> None:
        exact.l2_normalize(x, axis=1)
        mean, variance = tf.nn.moments(x, [0])
        exact.batch_normalization(
            x, mean=mean, variance=variance, offset=0.0, scale=2.0, epsilon=1e-3
        )
        _ = x / 3.0, x / tf.ones([8]), x / tf.sqrt(x), tf.reduce_mean(x)

    census = graph_audit.audit(_graph(build))
    assert census["RealDiv"] == 5 and census["Sqrt"] == 3 and "Rsqrt" not in census
    assert list(census) == sorted(census)
    # The approximations are float32/16 only: Eigen's float64 packets divide.
    assert graph_audit.audit(_graph(lambda x: tf.math.rsqrt(x), tf.float64))["Rsqrt"] == 1


def test_exact_gradients_divide() -> None:
    def build(x: tf.Tensor) -> None:
        loss = tf.reduce_sum(tf.math.log(x) + tf.math.log1p(x))
        tf.gradients(loss, x)

    assert _refusal(_graph(build)).startswith("Reciprocal op 'net/gradients/net/Log_grad/")
    with tf.Graph().as_default() as graph:
        x = _v1.get_variable("x", [4, 8], initializer=_v1.ones_initializer())
        w = _v1.get_variable("w", [4, 8], initializer=_v1.ones_initializer())
        with exact.exact_gradients():
            logs = tf.math.log(x) + tf.math.log1p(x)
        # The incoming gradient a constant of ones (RealDiv(ones, x) would become Reciprocal),
        # and a computed one.
        (ones_grad,) = tf.gradients(tf.reduce_sum(logs), x)
        (weighted_grad,) = tf.gradients(tf.reduce_sum(w * logs), x)
        graph_audit.audit(graph)
        rng = np.random.default_rng(1)
        with _v1.Session() as session:
            session.run(
                [
                    x.assign(rng.uniform(0.5, 4.0, (4, 8)).astype(np.float32)),
                    w.assign(rng.uniform(-2.0, 2.0, (4, 8)).astype(np.float32)),
                ]
            )
            x_value, w_value, ones, weighted = session.run([x, w, ones_grad, weighted_grad])
    # Correctly rounded divisions and one addition, as numpy's float32 gives them.
    one = np.float32(1)
    np.testing.assert_array_equal(ones, one / x_value + one / (1 + x_value))
    np.testing.assert_array_equal(weighted, w_value / x_value + w_value / (1 + x_value))


def test_exact_normalizations_compute_what_tf_does() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 16)).astype(np.float32)
    np.testing.assert_allclose(
        exact.l2_normalize(x, axis=1).numpy(), tf.nn.l2_normalize(x, axis=1).numpy(), rtol=1e-6
    )
    mean, variance = tf.nn.moments(tf.constant(x), [0])
    offset, scale = rng.normal(size=16).astype(np.float32), rng.normal(size=16).astype(np.float32)
    ours = exact.batch_normalization(
        x, mean=mean, variance=variance, offset=offset, scale=scale, epsilon=1e-3
    )
    theirs = tf.nn.batch_normalization(x, mean, variance, offset, scale, 1e-3)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_exact_softmax_and_layer_norm_compute_what_tf_does_and_pass_the_audit() -> None:
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(3, 5, 16)) * 4).astype(np.float32)
    np.testing.assert_allclose(
        exact.softmax(x).numpy(), tf.nn.softmax(x).numpy(), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        exact.softmax(x, axis=1).numpy(), tf.nn.softmax(x, axis=1).numpy(), rtol=1e-6, atol=1e-7
    )
    masked = exact.softmax(x - 1e9 * np.triu(np.ones((16, 16), np.float32), 1)[:5]).numpy()
    assert np.all(masked[..., 10:] == 0) and np.allclose(masked.sum(-1), 1, rtol=1e-6)
    scale, offset = rng.normal(size=16).astype(np.float32), rng.normal(size=16).astype(np.float32)
    keras = tf.keras.layers.LayerNormalization(epsilon=1e-5)
    keras.build(x.shape)
    keras.set_weights([scale, offset])
    np.testing.assert_allclose(
        exact.layer_normalization(x, scale=scale, offset=offset).numpy(),
        keras(x).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )

    def build(v: tf.Tensor) -> None:  # forward and backward, as a model uses them
        y = exact.layer_normalization(exact.softmax(v), scale=2.0, offset=1.0)
        tf.gradients(tf.reduce_sum(y * y), v)

    census = graph_audit.audit(_graph(build))
    assert census["Exp"] >= 1 and census["Sqrt"] >= 1 and census["SqrtGrad"] >= 1
    assert not {"Softmax", "Rsqrt", "Reciprocal"} & set(census)
    assert _refusal(_graph(lambda v: tf.nn.softmax(v))).startswith("Softmax op ")


@pytest.mark.parametrize(
    "build, op",
    [
        (lambda x: x + tf.random.normal([4, 8]), "RandomStandardNormal"),
        (lambda x: x + tf.random.normal([4, 8], seed=42), "RandomStandardNormal"),
        (lambda x: x + tf.random.uniform([4, 8]), "RandomUniform"),
        (lambda x: tf.random.shuffle(x), "RandomShuffle"),
        (lambda x: tf.random.categorical(x, 2), "Multinomial"),
        (lambda x: tf.random.truncated_normal([2]), "TruncatedNormal"),
        (lambda x: tf.random.uniform([2], maxval=5, dtype=tf.int32), "RandomUniformInt"),
        (lambda x: tf.random.gamma([2], 1.0), "RandomGamma"),
        (lambda x: tf.random.poisson([2], 1.0), "RandomPoissonV2"),
        (lambda x: _v1.get_variable("w", [8, 2]), "RandomUniform"),  # TF1's default init
    ],
)
def test_stateful_random_ops_are_refused_in_a_train_graph(build: Callable, op: str) -> None:
    graph = _graph(build)
    assert graph_audit.audit(graph)[op] >= 1  # a predict graph may hold them
    with pytest.raises(graph_audit.StatefulRandomOpError) as caught:
        graph_audit.audit(graph, training=True)
    message = str(caught.value)
    assert message.startswith(f"{op} op '") and "\n" not in message
    assert message.endswith(
        "a stateful random op draws from a counter this process keeps, so a resumed run or "
        "another process draws other numbers (and an op seed gives every micro-batch the same "
        "ones); use tf.random.stateless_* keyed by a named seed, the batch index and the "
        "micro-batch (seed=tf_determinism.stateless_key(ctx.seeds.<name>, "
        "features['batch_index'], micro))"
    )


def test_dropout_is_refused_naming_the_stateless_dropout() -> None:
    graph = _graph(lambda x: tf.compat.v1.nn.dropout(x, rate=0.5))
    with pytest.raises(graph_audit.StatefulRandomOpError) as caught:
        graph_audit.audit(graph, training=True)
    assert str(caught.value).startswith(
        "RandomUniform op 'net/dropout/random_uniform/RandomUniform' (name scope "
        "net/dropout/random_uniform: Keras' Dropout or tf.nn.dropout): a stateful random op "
    )
    assert str(caught.value).endswith("; use tf_determinism.layers.dropout(x, rate, key, tag), "
                                      "key = tf_determinism.stateless_key(ctx.seeds.dropout, "
                                      "features['batch_index'], micro)")  # fmt: skip


def test_every_stateful_random_op_of_tf_is_known() -> None:
    """Every stateful op of TF's registry whose name says it draws, but tf.data's (the
    skeleton's seeded input), is in RANDOM_OPS: a TF upgrade's new one fails here."""
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    ops = op_def_pb2.OpList()
    ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
    drawing = {
        op.name
        for op in ops.op
        if op.is_stateful
        and any(w in op.name for w in ("Random", "Multinomial", "Sampler", "Rng", "Stateful"))
        and not any(w in op.name for w in ("Dataset", "SeedGenerator", "PartitionedCall"))
        and op.name != "StatelessRandomGetAlg"  # stateful only in name: it reads the algorithm
    }
    assert drawing - set(graph_audit.RANDOM_OPS) == set()


def test_stateless_draws_pass_in_a_train_graph() -> None:
    def build(x: tf.Tensor) -> None:
        key = tf.constant([1, 2], tf.int64)
        tf.random.stateless_normal([4, 8], seed=key)
        tf.nn.experimental.stateless_dropout(x, 0.5, seed=key)
        tf.keras.layers.Dense(3, kernel_initializer=tf.keras.initializers.GlorotUniform(5))(x)

    census = graph_audit.audit(_graph(build), training=True)
    assert census["StatelessRandomNormalV2"] == 1


def _portable_refusal(build) -> str:
    with pytest.raises(graph_audit.NonPortableOpError) as caught:
        graph_audit.audit(_graph(build), training=True, portable=True)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_the_portable_audit_refuses_tfs_own_kernels_naming_the_portable_op() -> None:
    from tf_determinism import portable

    message = _portable_refusal(lambda x: tf.matmul(x, tf.ones([8, 2])))
    assert message.startswith("MatMul op 'net/MatMul' (name scope net): no portable form of it is "
                              "proven for float32, so x86-64 and aarch64 may round it otherwise; "
                              "use tf_determinism.ops.matmul")  # fmt: skip
    assert "portable.tanh" in _portable_refusal(lambda x: tf.tanh(x))
    assert "ops.reduce_sum" in _portable_refusal(lambda x: tf.reduce_sum(x, 1))
    # A float64 product is allowed only as the portable matmul's integer slices.
    as64 = lambda x: tf.cast(x, tf.float64)  # noqa: E731
    assert "float64" in _portable_refusal(lambda x: tf.matmul(as64(x), as64(tf.ones([8, 2]))))
    census = graph_audit.audit(_graph(lambda x: portable.reduce_sum(portable.tanh(portable.matmul(
        x, tf.ones([8, 2]))))), training=True, portable=True)  # fmt: skip
    assert census["MatMul"] == 3 and "Tanh" not in census


def test_the_portable_audit_ignores_gradients_no_run_executes() -> None:
    """tf.gradients builds the gradient of a constant's broadcast too (a float32 Sum no update
    needs): not run, so not refused; a live one is."""
    from tf_determinism import portable

    def dead(x: tf.Tensor) -> None:
        loss = portable.reduce_sum(x + 1e-3)  # the constant's gradient: an unused Sum
        _v1.assign_sub(_v1.global_variables()[0], tf.gradients(loss, [x])[0])

    graph_audit.audit(_graph(dead), training=True, portable=True)

    def live(x: tf.Tensor) -> None:
        bias = tf.identity(tf.ones([8]))
        loss = portable.reduce_sum(x + bias)  # the bias's gradient: a float32 Sum, used
        _v1.assign_sub(_v1.global_variables()[0], tf.gradients(loss, [bias])[0] + x)

    assert _portable_refusal(live).startswith("Sum op 'net/gradients/net/add_grad/Sum'")


def test_every_portable_op_names_its_proof_and_the_proof_computes_it() -> None:
    from tf_determinism import portable_proof

    with tf.Graph().as_default():
        import tempfile

        with tempfile.TemporaryDirectory() as directory:
            portable_proof.make_inputs(f"{directory}/inputs.npz")
            with np.load(f"{directory}/inputs.npz") as loaded:
                outputs, _ = portable_proof._graph_outputs({n: loaded[n] for n in loaded.files})
    for name, allowed in graph_audit.PORTABLE_OPS.items():
        assert allowed.why and allowed.proof, name
        if allowed.proof.endswith("tf/*") and allowed.why.startswith("one correctly rounded"):
            assert any(name in key for key in outputs if key.startswith("tf/")), name
