"""The probe's experiment: MNIST digits through Keras layers built as a Keras user builds them
(no initializer seeds, `training=True` where a layer has a training mode), a softmax
cross-entropy, DeterministicAdam, and two logged scalars: the loss and the accuracy."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

import mnist_input.data
import repro_experiment
from tf_determinism.optimizers import DeterministicAdam, micro_batch_update

keras = tf.keras


def _body(names: list[str]) -> list[Any]:
    """The layers of `names`, image layers first (in the order below), then the flat ones."""
    made: dict[str, list[Any]] = {
        "Embedding": [keras.layers.Lambda(lambda x: tf.cast(x * 4.0 + 4.0, tf.int32)),
                      keras.layers.Embedding(9, 2), keras.layers.Reshape([28, 28, 2])],
        "Conv2D": [keras.layers.Conv2D(4, 3, strides=2, activation="relu")],
        "Conv2DTranspose": [keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same")],
        "BatchNormalization": [keras.layers.Conv2D(2, 3), keras.layers.BatchNormalization()],
        "Dense": [keras.layers.Flatten(), keras.layers.Dense(16, activation="relu")],
        "LayerNormalization": [keras.layers.Flatten(), keras.layers.Dense(8),
                               keras.layers.LayerNormalization()],
        "Dropout": [keras.layers.Flatten(), keras.layers.Dense(8), keras.layers.Dropout(0.5)],
    }  # fmt: skip
    return [layer for name in made if name in names for layer in made[name]]


def _logits(layers: list[Any], head: Any, images: tf.Tensor) -> tf.Tensor:
    x = images
    for layer in layers:
        x = layer(x, training=True)  # Keras drops `training` for a layer without the mode
    return head(keras.layers.Flatten()(x) if x.shape.rank > 2 else x)


def model_fn(
    features: dict[str, tf.Tensor], labels: tf.Tensor, mode: str, ctx: repro_experiment.Context
) -> Any:
    layers, head = _body(ctx.opts.model.layers.split(",")), keras.layers.Dense(10)

    def loss_fn(micro: int, rows: tuple[tf.Tensor, tf.Tensor]) -> Any:
        logits = _logits(layers, head, rows[0])
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=rows[1], logits=logits)
        )
        correct = tf.cast(tf.equal(tf.argmax(logits, 1), rows[1]), tf.float32)
        return loss, {"accuracy": tf.reduce_mean(correct)}

    update = micro_batch_update(
        DeterministicAdam(1e-3),
        loss_fn,
        (features["images"], labels),
        micro_batches=ctx.micro_batches,
        share=ctx.share,
    )
    tf.identity(update.scalars["accuracy"], name="accuracy")
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.identity(update.loss, name="loss"), train_op=update.train_op
    )


def batch_map(ctx: repro_experiment.Context):
    def to_features(batch: dict[str, tf.Tensor], index: tf.Tensor) -> Any:
        images = mnist_input.data.scale_images(batch["image"], ctx.rows)
        return {"images": images, "batch_index": index}, batch["label"]

    return to_features


EXPERIMENT = repro_experiment.Experiment(
    name="repro_experiment.keras_probe",
    seed_names=(),
    prepare=lambda opts, log: mnist_input.data.prepare_mnist(opts.data, log),
    batch_map=batch_map,
    estimator=lambda ctx, run_config: tf.estimator.Estimator(
        lambda features, labels, mode: model_fn(features, labels, mode, ctx), config=run_config
    ),
    scalars=lambda ctx: {"loss": "loss:0", "accuracy": "accuracy:0"},
)
