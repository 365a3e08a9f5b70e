"""Tests for libs/mnist_eval (metrics, classifier loading) and apps/mnist_gan/eval_lib.

Metrics are checked on small fixed inputs against closed forms; the end-to-end evaluation
runs on a tiny GAN checkpoint (1 step) and a tiny classifier (10 steps), both trained here on
a few hundred real MNIST digits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mnist_data
import numpy as np
import pytest

import mnist_eval
from mnist_classifier import train_lib as classifier_lib
from mnist_gan import eval_lib
from mnist_gan import train_lib as gan_lib

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


@pytest.mark.parametrize("call, message", [
    (lambda: mnist_eval.classifier_score(np.zeros((0, 10))), r"N >= 1"),
    (lambda: mnist_eval.classifier_score(np.zeros(10)), r"float \[N >= 1, D >= 1\]"),
    (lambda: mnist_eval.classifier_score(np.full((3, 10), np.nan)), "NaN"),
    (lambda: mnist_eval.frechet_distance(np.zeros((1, 10)), np.zeros((5, 10))), "N >= 2"),
    (lambda: mnist_eval.frechet_distance(np.zeros((5, 10)), np.zeros((5, 9))), "sizes differ"),
    (lambda: mnist_eval.accuracy(np.zeros((3, 10)), np.zeros(2, np.int64)), "int labels"),
    (lambda: mnist_eval.to_classifier_input(np.zeros((2, 28, 28))), "uint8"),
])
def test_bad_inputs_raise_clear_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()


def test_to_classifier_input_matches_the_gan_scaling() -> None:
    pixels = np.array([[[0, 128, 255] + [0] * 25] * 28], np.uint8)
    out = mnist_eval.to_classifier_input(pixels)
    assert out.dtype == np.float32 and out.shape == (1, 28, 28, 1)
    assert out[0, 0, :3, 0].tolist() == [-1.0, 0.0, 127.0 / 128.0]


def test_missing_classifier_names_the_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(mnist_eval.ClassifierNotFoundError) as info:
        mnist_eval.load_classifier(str(tmp_path / "absent"))
    message = str(info.value)
    assert "./pants run apps/mnist_classifier -- --random_seed=123" in message
    assert str(tmp_path / "absent") in message
    assert isinstance(info.value, FileNotFoundError)


# ------------------------------------------------------------------ end-to-end GAN evaluation

_N_TRAIN, _N_TEST = 600, 200


def _write_idx(path: str, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A 1-step GAN run and a 10-step classifier on a tiny IDX copy of real MNIST."""
    tmp = str(tmp_path_factory.mktemp("eval"))
    idx_dir = os.path.join(tmp, "idx")
    os.makedirs(idx_dir)
    mnist = mnist_data.load_mnist()
    for prefix, split, count in (("train", "train", _N_TRAIN), ("t10k", "test", _N_TEST)):
        images, labels = mnist.splits[split]
        _write_idx(os.path.join(idx_dir, f"{prefix}-images-idx3-ubyte"), images[:count])
        _write_idx(os.path.join(idx_dir, f"{prefix}-labels-idx1-ubyte"), labels[:count])
    data_dir = os.path.join(tmp, "data")
    classifier_dir = os.path.join(tmp, "classifier")
    classifier_lib.run_training(classifier_lib.TrainOptions(
        model_dir=classifier_dir, random_seed=3, train_steps=10, batch_size=32,
        buffer_size=256, data_dir=data_dir, mnist_idx_dir=idx_dir), lambda line: None)
    gan_dir = os.path.join(tmp, "gan")
    gan_lib.run_experiment(gan_lib.TrainOptions(
        model_dir=gan_dir, random_seed=4, max_train_steps=1, batch_size=8, buffer_size=64,
        keep_checkpoint_max=1, data_dir=data_dir, mnist_idx_dir=idx_dir), lambda line: None)
    return {"gan": gan_dir, "classifier": classifier_dir, "tmp": tmp}


# Re-evaluates in a fresh process (same environment as this one).
_SCRIPT = """
import json, sys
from mnist_gan import eval_lib
print(json.dumps(eval_lib.run_eval(sys.argv[1], sys.argv[2], 600, 11, lambda line: None)))
"""


def test_eval_end_to_end_is_reproducible(trained: dict[str, str]) -> None:
    gan_dir, classifier_dir = trained["gan"], trained["classifier"]
    lines: list[str] = []
    # 600 images: two generator batches of 500, the second one truncated.
    result = eval_lib.run_eval(gan_dir, classifier_dir, 600, 11, lines.append)
    path = os.path.join(gan_dir, eval_lib.EVAL_JSON)
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == result
    with open(path, "rb") as f:
        first_bytes = f.read()
    assert result["global_step"] == 1 and result["num_images"] == 600
    assert result["gan_type"] == "unconditional" and result["loss"] == "wasserstein"
    assert result["data"]["reference_split"] == "train"  # IDX data has no validation split
    assert result["data"]["reference_count"] == _N_TRAIN and result["data"]["test_count"] == _N_TEST
    gen, real = result["generated"], result["real"]
    for value in (gen["mnist_score"], real["mnist_score"], real["test_mnist_score"]):
        assert 1.0 <= value <= 10.0
    assert gen["frechet_distance"] > real["frechet_distance"] >= 0.0
    assert real["mnist_score"] > gen["mnist_score"]  # 1 GAN step: blobs, not digits
    assert result["classifier"]["weights_sha256"] == mnist_eval.weights_sha256(classifier_dir)
    assert any("MNIST score" in line for line in lines)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, gan_dir, classifier_dir],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == result
    with open(path, "rb") as f:
        assert f.read() == first_bytes

    other = eval_lib.run_eval(gan_dir, classifier_dir, 600, 12, lambda line: None)
    assert other["generated"]["mnist_score"] != gen["mnist_score"]
    assert other["generated"]["frechet_distance"] != gen["frechet_distance"]
    assert other["real"] == real  # the real-data ceiling does not depend on the seed


def test_eval_generator_inputs_are_seeded(trained: dict[str, str]) -> None:
    import tensorflow as tf

    config = gan_lib.gan_config(eval_lib.options_from_run(trained["gan"]))

    def draw(seed: int) -> np.ndarray:
        dataset = eval_lib.eval_input_fn(config, 700, seed)()
        return np.concatenate([features.numpy() for features, _ in dataset])

    first = draw(5)
    assert first.shape == (1000, config.noise_dims) and first.dtype == np.float32
    assert np.array_equal(first, draw(5))
    assert not np.array_equal(first, draw(6))
    assert tf.executing_eagerly()


def test_eval_refusals(trained: dict[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    gan_dir = trained["gan"]
    with pytest.raises(gan_lib.RunError, match="apps/mnist_classifier -- --random_seed=123"):
        eval_lib.run_eval(gan_dir, str(tmp_path / "no_classifier"), 600, 1, lambda line: None)
    with pytest.raises(gan_lib.RunError, match="run.json"):
        eval_lib.run_eval(str(tmp_path), trained["classifier"], 600, 1, lambda line: None)
    with pytest.raises(gan_lib.RunError, match="num_images must be an int >= 2"):
        eval_lib.run_eval(gan_dir, trained["classifier"], 1, 1, lambda line: None)
