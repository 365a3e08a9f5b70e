"""Judging MNIST generators offline with our own classifier: MNIST score and Fréchet distance.

TF-GAN scores its MNIST GANs with a classifier downloaded at run time; this library uses the
SavedModel that ``apps/mnist_classifier`` trains reproducibly instead (where to find it is the
caller's business). Public API:

  INPUT_KEY, LOGITS_KEY, CLASSES_KEY        the SavedModel's serving signature contract
  Classifier, load_classifier,              loading it (``ClassifierNotFoundError`` if absent)
  ClassifierNotFoundError, to_classifier_input,
  resolve_export_dir, weights_sha256        the SavedModel directory and its weights' digest
  accuracy, classifier_score,               metrics on logits (TF-GAN's formulas)
  frechet_distance

metrics.json and eval.json are written with ``tf_determinism.write_json_atomic``.
"""

from mnist_eval.classifier import (
    CLASSES_KEY,
    INPUT_KEY,
    LOGITS_KEY,
    Classifier,
    ClassifierNotFoundError,
    load_classifier,
    resolve_export_dir,
    to_classifier_input,
    weights_sha256,
)
from mnist_eval.metrics import accuracy, classifier_score, frechet_distance

__all__ = [
    "CLASSES_KEY",
    "INPUT_KEY",
    "LOGITS_KEY",
    "Classifier",
    "ClassifierNotFoundError",
    "accuracy",
    "classifier_score",
    "frechet_distance",
    "load_classifier",
    "resolve_export_dir",
    "to_classifier_input",
    "weights_sha256",
]
