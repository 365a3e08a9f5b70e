"""A byte-level Transformer decoder (pre-norm, as GPT-2) as a tf.estimator model_fn: bytes ->
embedding + position -> `layers` x [x += drop(attention(LN(x))); x += drop(MLP(LN(x)))] -> LN
-> logits. Weights are stateless draws keyed by (init seed, name), dropout by (dropout seed,
batch, micro-batch, layer); softmax and layer norm are tf_determinism.exact's."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from tf_determinism import exact, ops, stateless_key
from tf_determinism.layers import dense, dropout, layer_norm, variable
from tf_determinism.optimizers import DeterministicAdam, micro_batch_update

VOCAB, LOSS_NAME = 256, "train_loss"
_v1 = tf.compat.v1


def _attention(x: tf.Tensor, heads: int, seed: int) -> tf.Tensor:
    batch, length, width = tf.shape(x)[0], int(x.shape[1]), int(x.shape[2])
    q, k, v = (
        tf.transpose(tf.reshape(t, [batch, length, heads, width // heads]), [0, 2, 1, 3])
        for t in tf.split(dense(x, 3 * width, "qkv", seed), 3, axis=-1)
    )
    scores = ops.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(width // heads))
    future = 1.0 - tf.linalg.band_part(tf.ones([length, length]), -1, 0)  # j > i
    mixed = tf.transpose(ops.matmul(exact.softmax(scores - 1e9 * future), v), [0, 2, 1, 3])
    return dense(tf.reshape(mixed, [batch, length, width]), width, "out", seed)


def logits_fn(tokens: tf.Tensor, model: Any, seed: int, key: tf.Tensor | None = None):
    """int32 bytes [B, L] -> float32 logits [B, L, 256]; `key` (int64 [2]): dropout on."""
    with _v1.variable_scope("lm", reuse=_v1.AUTO_REUSE):
        x = ops.add_broadcast(
            dense(tf.one_hot(tokens, VOCAB), model.width, "embedding", seed),
            variable("position", [int(tokens.shape[1]), model.width], seed),
        )
        for i in range(model.layers):
            with _v1.variable_scope(f"block{i}"):
                x += dropout(
                    _attention(layer_norm(x, "ln1", seed), model.heads, seed),
                    model.dropout_rate,
                    key,
                    2 * i,
                )
                hidden = ops.relu(
                    dense(layer_norm(x, "ln2", seed), 4 * model.width, "mlp_in", seed)
                )
                x += dropout(
                    dense(hidden, model.width, "mlp_out", seed), model.dropout_rate, key, 2 * i + 1
                )
        return dense(layer_norm(x, "ln_final", seed), VOCAB, "logits", seed)


def _losses(tokens: tf.Tensor, targets: tf.Tensor, model: Any, seed: int, key: Any = None):
    """Cross-entropy in nats of each next byte, float32 [B, L]."""
    return ops.sparse_softmax_cross_entropy_with_logits(
        targets, logits_fn(tokens, model, seed, key)
    )


def _sample(context: tf.Tensor, model: Any, seeds: Any) -> tf.Tensor:
    """model.sample_bytes bytes after each context [B, L]; Gumbel-max keyed by (samples seed,
    t)."""
    steps = model.sample_bytes
    logits_fn(context, model, seeds.init)  # creates the variables outside the loop

    def step(t: tf.Tensor, window: tf.Tensor, out: tf.TensorArray) -> Any:
        logits = logits_fn(window, model, seeds.init)[:, -1]
        u = tf.random.stateless_uniform(
            tf.shape(logits), stateless_key(seeds.samples, t), minval=1e-7, maxval=1.0
        )
        byte = tf.argmax(logits * 1.25 - ops.log(-ops.log(u)), -1, tf.int32)
        return t + 1, tf.concat([window[:, 1:], byte[:, None]], 1), out.write(t, byte)

    _, _, out = tf.while_loop(
        lambda t, *_: t < steps,
        step,
        [tf.constant(0), context, tf.TensorArray(tf.int32, steps)],
    )
    return tf.transpose(out.stack())


def make_model_fn(model: Any, seeds: Any, share: Any = None):
    """TRAIN: ({"tokens", "batch_index"}, next bytes): cross-entropy, Adam. PREDICT:
    {"tokens", "targets"} -> "loss" per window; {"context"} -> "text", sampled bytes."""

    def model_fn(features: dict[str, tf.Tensor], labels: Any, mode: str) -> Any:
        if mode == tf.estimator.ModeKeys.PREDICT:
            predictions = (
                {"text": _sample(features["context"], model, seeds)}
                if "context" in features
                else {
                    "loss": ops.reduce_mean(
                        _losses(features["tokens"], features["targets"], model, seeds.init), 1
                    )
                }
            )
            return tf.estimator.EstimatorSpec(mode, predictions=predictions)

        def loss_fn(micro: int, rows: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
            key = stateless_key(seeds.dropout, features["batch_index"], micro)
            return ops.reduce_mean(_losses(*rows, model, seeds.init, key))

        update = micro_batch_update(
            DeterministicAdam(model.learning_rate),
            loss_fn,
            (features["tokens"], labels),
            micro_batches=model.micro_batches,
            share=share,
        )
        return tf.estimator.EstimatorSpec(
            mode, loss=tf.identity(update.loss, name=LOSS_NAME), train_op=update.train_op
        )

    return model_fn
