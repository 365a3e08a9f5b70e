"""The MNIST classifier experiment: the seeded MNIST stream, the CNN's Estimator, its loss
logged each step, and at the end a SavedModel export with its test accuracy (imports TF).

A run dir (default runs/mnist_classifier/seed<seed>) ends up holding the checkpoints, run.json,
losses.csv, `export/` (the SavedModel that `mnist_eval` loads; seed 123's is where the GAN's
--eval looks by default) and metrics.json (test accuracy and the exported weights' sha256).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import tensorflow as tf

import mnist_eval
import mnist_input.data
import repro_experiment
from mnist_classifier import model

METRICS_JSON = "metrics.json"
EXPORT_DIR = "export"


def batch_map(ctx: repro_experiment.Context):
    """Batch k -> ({"images": float32 [rows, 28, 28, 1] in [-1, 1), "batch_index": k}, labels
    int64 [rows]); k keys the dropout masks."""

    def to_features(batch: dict[str, tf.Tensor], index: tf.Tensor) -> Any:
        images = mnist_input.data.scale_images(batch["image"], ctx.rows)
        return {mnist_eval.INPUT_KEY: images, "batch_index": index}, batch["label"]

    return to_features


def estimator(
    ctx: repro_experiment.Context, run_config: tf.estimator.RunConfig
) -> tf.estimator.Estimator:
    opts = ctx.opts
    model_fn = model.make_model_fn(
        ctx.seeds,
        opts.schedule.max_train_steps,
        opts.model.learning_rate,
        opts.model.dropout_rate,
        micro_batches=opts.model.micro_batches,
        share=ctx.share,
    )
    return tf.estimator.Estimator(model_fn=model_fn, config=run_config)


def export_classifier(trained: Any, export_dir: str) -> str:
    """Exports the latest checkpoint as the SavedModel `mnist_eval` loads, at export_dir: to a
    temporary sibling, then renamed into place (the old or the new one, never a partial one).
    """

    def serving_input_receiver_fn() -> tf.estimator.export.ServingInputReceiver:
        images = tf.compat.v1.placeholder(tf.float32, [None, 28, 28, 1], name=mnist_eval.INPUT_KEY)
        return tf.estimator.export.ServingInputReceiver(
            {mnist_eval.INPUT_KEY: images}, {mnist_eval.INPUT_KEY: images}
        )

    staging = tempfile.mkdtemp(prefix=".export-", dir=os.path.dirname(os.path.abspath(export_dir)))
    try:
        exported = os.fsdecode(trained.export_saved_model(staging, serving_input_receiver_fn))
        if os.path.isdir(export_dir):
            os.replace(export_dir, os.path.join(staging, "old"))
        os.replace(exported, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def results(ctx: repro_experiment.Context, trained: Any, log: Any) -> dict[str, Any]:
    """export/ and metrics.json: the accuracy of the exported SavedModel on the test split (its
    first --test_images, or all of it)."""
    export_dir = export_classifier(trained, os.path.join(str(ctx.opts.model_dir), EXPORT_DIR))
    images, labels = ctx.prepared.mnist.splits["test"]
    count = ctx.opts.model.test_images or len(labels)
    images, labels = images[:count], labels[:count]
    with mnist_eval.load_classifier(export_dir, ctx.opts.numerics) as classifier:
        logits = classifier.logits(mnist_eval.to_classifier_input(images))
    test_accuracy, correct = mnist_eval.accuracy(logits, labels)
    log(
        f"test accuracy {test_accuracy:.4f} ({correct}/{len(labels)}); SavedModel in "
        f"{export_dir}"
    )
    return {
        METRICS_JSON: {
            "test_accuracy": test_accuracy,
            "test_correct": correct,
            "test_count": len(labels),
            "global_step": int(trained.get_variable_value("global_step")),
            "export_dir": EXPORT_DIR,
            "export_weights_sha256": mnist_eval.weights_sha256(export_dir),
        }
    }


EXPERIMENT = repro_experiment.Experiment(
    name="mnist_classifier",
    seed_names=("init", "dropout"),
    prepare=lambda opts, log: mnist_input.data.prepare_mnist(opts.data, log),
    batch_map=batch_map,
    estimator=estimator,
    scalars=lambda ctx: {model.LOSS_NAME: f"{model.LOSS_NAME}:0"},
    results=results,
)
