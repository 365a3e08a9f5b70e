"""MNIST score, Fréchet distance and accuracy from classifier logits.

The score and distance are TF-GAN's own ``tfgan.eval.classifier_score_from_logits`` and
``tfgan.eval.frechet_classifier_distance_from_activations`` (float64), evaluated in a private
graph and session with pinned thread counts (``tf_determinism.session_config``) so the result is
the same float on any machine, as TF-GAN's MNIST evaluation computes them on its classifier's
logits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_gan as tfgan

import tf_determinism
from tf_determinism import graph_audit


def _check_logits(name: str, values: np.ndarray, min_rows: int) -> np.ndarray:
    array = np.asarray(values)
    if (
        array.ndim != 2
        or array.shape[0] < min_rows
        or array.shape[1] < 1
        or not np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(
            f"{name}: expected a float [N >= {min_rows}, D >= 1] array, got "
            f"{array.dtype} {list(array.shape)}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array.astype(np.float64)


def _run(
    fn: Callable[..., tf.Tensor], arrays: list[np.ndarray], numerics: tf_determinism.Numerics | None
) -> float:
    graph = tf.Graph()
    with graph.as_default():
        inputs = [tf.constant(a, tf.float64) for a in arrays]
        result = fn(*inputs)
    graph_audit.audit(graph)
    config = tf_determinism.session_config(numerics or tf_determinism.Numerics())
    with tf.compat.v1.Session(graph=graph, config=config) as session:
        return float(session.run(result))


def classifier_score(logits: np.ndarray, numerics: tf_determinism.Numerics | None = None) -> float:
    """The MNIST score (Inception score on our classifier): exp(E_x[KL(p(y|x) || p(y))]).

    Args:
      logits: float [N, C] classifier logits of N images (N >= 1).
      numerics: thread counts for the computation (default ``tf_determinism.Numerics()``).

    Returns:
      A float in [1, C]: 1 when every image gets the same class distribution (e.g. a uniform
      classifier), C for confident predictions spread evenly over C classes. Real MNIST test
      images score 9.83 on the default classifier (seed 123).
    """
    checked = _check_logits("classifier_score logits", logits, 1)
    return _run(tfgan.eval.classifier_score_from_logits, [checked], numerics)


def frechet_distance(
    activations1: np.ndarray,
    activations2: np.ndarray,
    numerics: tf_determinism.Numerics | None = None,
) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of activations (logits here).

    |m1 - m2|^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)), with sample means and covariances; biased
    upward for small N, so compare values computed with equal sample sizes.

    Args:
      activations1, activations2: float [N1, D] and [N2, D], N >= 2 (a covariance needs 2).
      numerics: thread counts for the computation (default ``tf_determinism.Numerics()``).

    Returns:
      A float >= 0 up to rounding (|value| < 1e-9 for identical inputs).
    """
    first = _check_logits("frechet_distance activations1", activations1, 2)
    second = _check_logits("frechet_distance activations2", activations2, 2)
    if first.shape[1] != second.shape[1]:
        raise ValueError(
            f"frechet_distance: activation sizes differ ({first.shape[1]} vs {second.shape[1]})"
        )
    return _run(tfgan.eval.frechet_classifier_distance_from_activations, [first, second], numerics)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """Top-1 accuracy of logits against integer labels.

    Args:
      logits: float [N, C], N >= 1.
      labels: int [N] in 0..C-1.

    Returns:
      (correct / N, correct): the fraction and the count of argmax(logits) == labels.
    """
    checked = _check_logits("accuracy logits", logits, 1)
    labels = np.asarray(labels)
    if labels.shape != (checked.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"accuracy: expected int labels [{checked.shape[0]}], got "
            f"{labels.dtype} {list(labels.shape)}"
        )
    correct = int(np.sum(np.argmax(checked, axis=1) == labels))
    return correct / len(labels), correct
