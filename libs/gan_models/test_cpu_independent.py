"""No graph gan_models builds holds a CPU-dependent op (tf_determinism.graph_audit): eval and
predict here (the train graphs of every gan_type x loss, M=1 and M=2, the gradient penalty on,
are audited where test_training.py trains them). And what runs after Grappler holds none
either: the audit's model of constant folding is checked on the executed (partition) graph of
a real step."""

from __future__ import annotations

from typing import Any

import pytest
import tensorflow as tf

import gan_models as gm
import tf_determinism
from tf_determinism import SeedTree, graph_audit

_v1 = tf.compat.v1
_ROWS = 4


def _config(gan_type: str, loss: str, micro_batches: int) -> gm.GANConfig:
    return gm.GANConfig(
        gan_type=gan_type,
        loss=loss,
        micro_batches=micro_batches,
        gradient_penalty_weight=1.0,
        seeds=SeedTree.from_root(3, gm.SEED_NAMES),
    )


def _build(config: gm.GANConfig, mode: str, rows: int = _ROWS) -> Any:
    """The model_fn's spec for `mode` in the default graph (as Estimator builds it), on a
    batch of `rows`."""
    estimator = gm.make_estimator(config, tf.estimator.RunConfig(model_dir="/unused"))
    if mode == tf.estimator.ModeKeys.PREDICT:
        inputs = gm.sample_generator_inputs(config, 2, 2)
        features, labels = _v1.data.make_one_shot_iterator(gm.predict_input_fn(inputs)()).get_next()
    else:
        one_hot = (
            tf.one_hot(tf.range(rows) % config.num_classes, config.num_classes)
            if config.gan_type == "conditional"
            else None
        )
        features = gm.training_features(
            config, batch_size=rows, batch_index=tf.constant(0, tf.int64), one_hot_labels=one_hot
        )
        labels = tf.zeros([rows, 28, 28, 1])
    return estimator.model_fn(features, labels, mode, estimator.config)


@pytest.mark.parametrize("gan_type", gm.GAN_TYPES)
def test_eval_and_predict_graphs_pass_the_audit(gan_type: str) -> None:
    loss = "minimax" if gan_type == "unconditional" else gm.DEFAULT_LOSS[gan_type]
    for mode in (tf.estimator.ModeKeys.EVAL, tf.estimator.ModeKeys.PREDICT):
        with tf.Graph().as_default() as graph:
            _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
            _build(_config(gan_type, loss, 2), mode)
            graph_audit.audit(graph)


@pytest.mark.parametrize("loss", ["minimax", "modified"])
def test_micro_batches_of_one_example_pass_the_audit(loss: str) -> None:
    # A micro-batch of one: a loss's gradient is then a folded constant of ones, which a
    # RealDiv in the log gradients would turn into Reciprocal (CI's emulated run, batch 2, M=2).
    with tf.Graph().as_default() as graph:
        _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
        _build(_config("infogan", loss, 2), tf.estimator.ModeKeys.TRAIN, rows=2)
        graph_audit.audit(graph)


def test_the_executed_step_holds_no_approximate_kernel() -> None:
    # infogan + minimax + M=2 + gradient penalty: logs, log1p, softmax cross-entropy, the
    # normal's log-density, every division the GAN builds.
    with tf.Graph().as_default():
        _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
        spec = _build(_config("infogan", "minimax", 2), tf.estimator.ModeKeys.TRAIN)
        config = tf_determinism.session_config(tf_determinism.Numerics())
        metadata = _v1.RunMetadata()
        with _v1.Session(config=config) as session:
            session.run(_v1.global_variables_initializer())
            session.run(
                spec.train_op,
                options=_v1.RunOptions(output_partition_graphs=True),
                run_metadata=metadata,
            )
    nodes = [node for graph in metadata.partition_graphs for node in graph.node]
    assert not [n.name for n in nodes if n.op in graph_audit.DENIED_OPS]
    # Every reciprocal constant folding computed is a scalar (Eigen's exact scalar path).
    folded = [n for n in nodes if n.op == "Const" and n.name.endswith("_recip")]
    assert folded and all(not n.attr["value"].tensor.tensor_shape.dim for n in folded)
    assert any(n.op.startswith("_Mkl") for n in nodes)  # oneDNN's rewrite ran too
