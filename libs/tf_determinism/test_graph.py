"""tf_determinism's TensorFlow side: stateless initializers, DeterministicAdam, stateless keys,
Grappler settings and numerics pins (in-process checks only; one TF import)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2

import tf_determinism as td
from tf_determinism.initializers import StatelessGlorotUniform, StatelessNormal, fans, variable_key
from tf_determinism.optimizers import DeterministicAdam

_v1 = tf.compat.v1
OFF = rewriter_config_pb2.RewriterConfig.OFF


def _initial_values(init_seed: int, graph_seed: int) -> dict[str, np.ndarray]:
    """Builds three variables in a fresh graph, after unrelated random ops; returns their
    initial values."""
    with tf.Graph().as_default() as graph:
        _v1.set_random_seed(graph_seed)
        tf.random.uniform([graph_seed % 5 + 1])  # Unrelated random ops built first.
        with _v1.variable_scope("Net"):
            variables = [
                _v1.get_variable(
                    "kernel",
                    [3, 3, 4, 8],
                    initializer=StatelessGlorotUniform(init_seed, "Net/kernel"),
                ),
                _v1.get_variable(
                    "dense", [20, 30], initializer=StatelessGlorotUniform(init_seed, "Net/dense")
                ),
                _v1.get_variable("u", [500, 1], initializer=StatelessNormal(init_seed, "Net/u")),
            ]
        with _v1.Session(graph=graph) as sess:
            sess.run(_v1.global_variables_initializer())
            return {v.op.name: x for v, x in zip(variables, sess.run(variables), strict=True)}


def test_fans_and_variable_key() -> None:
    assert fans([]) == (1, 1)
    assert fans([5]) == (5, 5)
    assert fans([3, 4]) == (3, 4)
    assert fans([2, 2, 3, 4]) == (12, 16)  # receptive field 2x2 times in/out channels
    assert variable_key(9, "a/b") == (td.derive_seed(9, "a/b"), 0)
    assert variable_key(9, "a/b") != variable_key(9, "a/c")
    assert variable_key(9, "a/b") != variable_key(10, "a/b")


def test_stateless_initializers_keyed_by_seed_and_name_only() -> None:
    first = _initial_values(3, graph_seed=1)
    # Another graph seed and another graph history: the same bytes.
    again = _initial_values(3, graph_seed=2)
    assert first.keys() == again.keys()
    for name in first:
        assert first[name].dtype == np.float32
        assert first[name].tobytes() == again[name].tobytes(), name
    # Another init seed: every variable differs.
    other = _initial_values(4, graph_seed=1)
    for name in first:
        assert first[name].tobytes() != other[name].tobytes(), name
    # The names key the draws: equal shapes, different names -> different values.
    a = StatelessGlorotUniform(3, "x")([20, 30])
    b = StatelessGlorotUniform(3, "y")([20, 30])
    assert a.numpy().tobytes() != b.numpy().tobytes()
    assert a.numpy().tobytes() == StatelessGlorotUniform(3, "x")([20, 30]).numpy().tobytes()
    # Glorot-uniform range and spread; standard normal.
    kernel = first["Net/kernel"]
    limit = math.sqrt(6.0 / (36 + 72))
    assert kernel.shape == (3, 3, 4, 8) and np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit
    np.testing.assert_allclose(kernel.std(), limit / math.sqrt(3), rtol=0.1)
    u = first["Net/u"]
    assert abs(float(u.mean())) < 0.2 and abs(float(u.std()) - 1.0) < 0.1
    half = StatelessNormal(3, "Net/u")([500, 1], dtype=tf.float16)
    assert half.dtype == tf.float16


def test_stateless_key() -> None:
    big = td.derive_seed(1, "noise")  # a 63-bit sub-seed fits an int64 key exactly
    key = td.stateless_key(big, 7)
    assert key.dtype == tf.int64 and key.shape == (2,)
    assert key.numpy().tolist() == [big, 7]
    assert td.stateless_key(big, tf.constant(7, tf.int32)).numpy().tolist() == [big, 7]
    draw = tf.random.stateless_normal([4], seed=key).numpy()
    assert draw.tobytes() == tf.random.stateless_normal([4], seed=[big, 7]).numpy().tobytes()
    assert (
        draw.tobytes()
        != tf.random.stateless_normal([4], seed=td.stateless_key(big, 8)).numpy().tobytes()
    )


def test_deterministic_adam_sums_gradients_pairwise_and_gates() -> None:
    with tf.Graph().as_default():
        w = _v1.get_variable("w", [3], initializer=_v1.ones_initializer())
        x = tf.constant([1.0, 2.0, 3.0])
        # w reaches the loss along four paths: the default AddN would sum them in one op.
        loss = tf.reduce_sum(w * x + w * w + tf.sin(w) + tf.exp(w))
        for call in ("compute_gradients", "minimize"):
            before = set(_v1.get_default_graph().get_operations())
            optimizer = DeterministicAdam(0.1)
            if call == "minimize":
                # Whatever the caller asks for is overridden.
                optimizer.minimize(
                    loss,
                    var_list=[w],
                    gate_gradients=0,
                    aggregation_method=tf.AggregationMethod.ADD_N,
                )
                grads = None
            else:
                grads = optimizer.compute_gradients(loss, [w])
            new_ops = [op for op in _v1.get_default_graph().get_operations() if op not in before]
            add_n = [op for op in new_ops if op.type == "AddN"]
            assert add_n and all(len(op.inputs) == 2 for op in add_n), call
            if grads is not None:
                # GATE_GRAPH: the returned gradient waits on a tuple barrier of all gradients.
                assert grads[0][0].op.type == "Identity" and grads[0][0].op.control_inputs
        # Reference: plain Adam sums the four paths in one 4-input AddN.
        before = set(_v1.get_default_graph().get_operations())
        _v1.train.AdamOptimizer(0.1).compute_gradients(loss, [w])
        plain = [
            op
            for op in _v1.get_default_graph().get_operations()
            if op not in before and op.type == "AddN"
        ]
        assert any(len(op.inputs) > 2 for op in plain)


def test_deterministic_run_config_and_session_config(tmp_path: Any) -> None:
    default = td.deterministic_run_config(tf.estimator.RunConfig(model_dir=str(tmp_path)))
    config = default.session_config
    rewrites = config.graph_options.rewrite_options
    assert rewrites.arithmetic_optimization == OFF and rewrites.remapping == OFF
    assert config.allow_soft_placement
    assert rewrites.meta_optimizer_iterations == rewriter_config_pb2.RewriterConfig.ONE
    custom = _v1.ConfigProto(inter_op_parallelism_threads=1, intra_op_parallelism_threads=2)
    kept = td.deterministic_run_config(tf.estimator.RunConfig(session_config=custom))
    assert kept.session_config.inter_op_parallelism_threads == 1
    assert kept.session_config.intra_op_parallelism_threads == 2
    assert kept.session_config.graph_options.rewrite_options.arithmetic_optimization == OFF
    assert custom.graph_options.rewrite_options.arithmetic_optimization != OFF  # Not mutated.

    pinned = td.session_config(td.Numerics(intra_op_threads=3, inter_op_threads=1))
    assert (pinned.intra_op_parallelism_threads, pinned.inter_op_parallelism_threads) == (3, 1)
    assert pinned.allow_soft_placement
    assert pinned.graph_options.rewrite_options.arithmetic_optimization == OFF
    assert pinned.graph_options.rewrite_options.remapping == OFF


def _bytes(config: Any) -> bytes:
    return config.SerializeToString(deterministic=True)


def test_the_session_configs_are_the_protos_they_were(tmp_path: Any) -> None:
    """Grappler's settings are applied once (session_config's are kept by
    deterministic_run_config), and every path gives the ConfigProto it gave when both applied
    them: the apps' (session_config through make_estimator's deterministic_run_config), a
    custom one, and none."""
    numerics = td.Numerics(intra_op_threads=3, inter_op_threads=1)
    pinned = _v1.ConfigProto(
        allow_soft_placement=True, intra_op_parallelism_threads=3, inter_op_parallelism_threads=1
    )
    pinned.graph_options.rewrite_options.arithmetic_optimization = OFF
    pinned.graph_options.rewrite_options.remapping = OFF
    assert _bytes(td.session_config(numerics)) == _bytes(pinned)
    apps = td.deterministic_run_config(
        tf.estimator.RunConfig(model_dir=str(tmp_path), session_config=td.session_config(numerics))
    )
    assert _bytes(apps.session_config) == _bytes(pinned)

    custom = _v1.ConfigProto(inter_op_parallelism_threads=1, intra_op_parallelism_threads=2)
    expected = _v1.ConfigProto(inter_op_parallelism_threads=1, intra_op_parallelism_threads=2)
    expected.graph_options.rewrite_options.arithmetic_optimization = OFF
    expected.graph_options.rewrite_options.remapping = OFF
    kept = td.deterministic_run_config(tf.estimator.RunConfig(session_config=custom))
    assert _bytes(kept.session_config) == _bytes(expected)

    default = _v1.ConfigProto(allow_soft_placement=True)
    rewrites = default.graph_options.rewrite_options
    rewrites.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    rewrites.arithmetic_optimization = rewrites.remapping = OFF
    made = td.deterministic_run_config(tf.estimator.RunConfig(model_dir=str(tmp_path)))
    assert _bytes(made.session_config) == _bytes(default)


def test_numerics_pins_record_and_guard() -> None:
    with pytest.raises(RuntimeError, match="before TensorFlow is imported"):
        td.configure_environment(td.Numerics())  # TF is imported in this process
    record = td.numerics_record(td.Numerics(onednn=False))
    assert {
        "intra_op_threads": 2,
        "inter_op_threads": 2,
        "onednn": False,
        "deterministic": True,
    }.items() <= record.items()
    assert {"TF_ENABLE_ONEDNN_OPTS", "op_determinism_enabled"} <= set(record)
    assert isinstance(record["op_determinism_enabled"], bool)
    with pytest.raises(AttributeError):
        td.Numerics().onednn = False  # type: ignore[misc]
