"""Tests for libs/mnist_eval: metrics on small fixed inputs against closed forms, input
scaling, a missing classifier. (Evaluating a real GAN run end to end is mnist_gan's
test_eval.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import mnist_eval

# ----------------------------------------------------------------------------- metrics


def test_frechet_distance_of_identical_sets_is_zero() -> None:
    logits = np.random.default_rng(0).normal(size=(500, 10))
    assert abs(mnist_eval.frechet_distance(logits, logits)) < 1e-9
    # Row order does not matter: same sample -> same Gaussian fit.
    assert abs(mnist_eval.frechet_distance(logits, logits[::-1])) < 1e-9


def test_frechet_distance_closed_forms() -> None:
    logits = np.random.default_rng(1).normal(size=(400, 10))
    # Shifting every coordinate by c leaves the covariance: distance = D * c^2.
    assert mnist_eval.frechet_distance(logits, logits + 0.5) == pytest.approx(2.5, rel=1e-9)
    # Scaling by s: Tr(C + s^2 C - 2 s C) = (1 - s)^2 Tr(C), plus the shifted means.
    trace = np.trace(np.cov(logits, rowvar=False))
    mean_shift = np.sum(np.mean(logits, 0) ** 2)
    expected = (1 - 2.0) ** 2 * (trace + mean_shift)
    assert mnist_eval.frechet_distance(logits, 2.0 * logits) == pytest.approx(expected, rel=1e-6)


def test_classifier_score_closed_forms() -> None:
    # A uniform classifier (the same distribution for every image) scores 1.
    assert mnist_eval.classifier_score(np.zeros((50, 10))) == pytest.approx(1.0, abs=1e-12)
    same_everywhere = np.tile(np.arange(10.0), (30, 1))
    assert mnist_eval.classifier_score(same_everywhere) == pytest.approx(1.0, abs=1e-12)
    # Confident and balanced over k classes scores k.
    for k in (2, 10):
        confident = np.repeat(np.eye(10)[:k] * 60.0, 5, axis=0)
        assert mnist_eval.classifier_score(confident) == pytest.approx(k, rel=1e-9)


def test_metrics_are_repeatable_and_input_sensitive() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 10)), rng.normal(size=(300, 10))
    assert mnist_eval.classifier_score(a) == mnist_eval.classifier_score(a.copy())
    assert mnist_eval.frechet_distance(a, b) == mnist_eval.frechet_distance(a.copy(), b.copy())
    assert mnist_eval.classifier_score(a) != mnist_eval.classifier_score(b)
    assert mnist_eval.frechet_distance(a, b) != mnist_eval.frechet_distance(a, b[::2])


def test_accuracy() -> None:
    logits = np.eye(10)[[1, 2, 3, 4]]
    assert mnist_eval.accuracy(logits, np.array([1, 2, 0, 4])) == (0.75, 3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mnist_eval.classifier_score(np.zeros((0, 10))), r"N >= 1"),
        (lambda: mnist_eval.classifier_score(np.zeros(10)), r"float \[N >= 1, D >= 1\]"),
        (lambda: mnist_eval.classifier_score(np.full((3, 10), np.nan)), "NaN"),
        (lambda: mnist_eval.frechet_distance(np.zeros((1, 10)), np.zeros((5, 10))), "N >= 2"),
        (lambda: mnist_eval.frechet_distance(np.zeros((5, 10)), np.zeros((5, 9))), "sizes differ"),
        (lambda: mnist_eval.accuracy(np.zeros((3, 10)), np.zeros(2, np.int64)), "int labels"),
        (lambda: mnist_eval.to_classifier_input(np.zeros((2, 28, 28))), "uint8"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()


def test_to_classifier_input_matches_the_gan_scaling() -> None:
    pixels = np.array([[[0, 128, 255] + [0] * 25] * 28], np.uint8)
    out = mnist_eval.to_classifier_input(pixels)
    assert out.dtype == np.float32 and out.shape == (1, 28, 28, 1)
    assert out[0, 0, :3, 0].tolist() == [-1.0, 0.0, 127.0 / 128.0]


def test_missing_classifier_names_the_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(mnist_eval.ClassifierNotFoundError) as info:
        mnist_eval.load_classifier(str(tmp_path / "absent"))
    message = str(info.value)
    assert str(tmp_path / "absent") in message
    assert isinstance(info.value, FileNotFoundError)
