"""Tests for apps/mnist_classifier: options, refusals, and bit-for-bit reproducible training.

Training runs use a tiny IDX copy of real MNIST (640 train / 200 test images) and 8 steps, in
separate processes: same seed -> identical accuracy and bitwise-identical exported weights and
logits; seed + 1 -> different weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import mnist_data
import numpy as np
import pytest

import mnist_eval
from mnist_classifier import train_lib

_N_TRAIN, _N_TEST = 640, 200


def _write_idx(path: str, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def _tiny_idx_dir(path: str) -> str:
    """Real MNIST digits, few of them, as the four standard IDX files."""
    mnist = mnist_data.load_mnist()
    os.makedirs(path)
    for prefix, split, count in (("train", "train", _N_TRAIN), ("t10k", "test", _N_TEST)):
        images, labels = mnist.splits[split]
        _write_idx(os.path.join(path, f"{prefix}-images-idx3-ubyte"), images[:count])
        _write_idx(os.path.join(path, f"{prefix}-labels-idx1-ubyte"), labels[:count])
    return path


def _options(tmp: str, name: str, seed: int, **overrides: object) -> train_lib.TrainOptions:
    values = dict(model_dir=os.path.join(tmp, name), random_seed=seed, train_steps=8,
                  batch_size=32, buffer_size=256, log_step_count_steps=4,
                  data_dir=os.path.join(tmp, "data"), mnist_idx_dir=os.path.join(tmp, "idx"))
    values.update(overrides)
    return train_lib.TrainOptions(**values)  # type: ignore[arg-type]


# Runs one training in a fresh process, numerics set before TensorFlow is imported (as
# train.py does); prints the metrics as JSON.
_SCRIPT = """
import json, sys
import tf_determinism
tf_determinism.configure_environment(tf_determinism.Numerics())
from mnist_classifier import train_lib
kwargs = json.loads(sys.argv[1])
metrics = train_lib.run_training(train_lib.TrainOptions(**kwargs), lambda line: None)
print(json.dumps(metrics))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, train_lib.TrainOptions]:
    """Three tiny runs, each in its own process: seed 5 twice (a, b), seed 6 (c)."""
    tmp = str(tmp_path_factory.mktemp("classifier"))
    _tiny_idx_dir(os.path.join(tmp, "idx"))
    opts = {"a": _options(tmp, "a", 5), "b": _options(tmp, "b", 5), "c": _options(tmp, "c", 6)}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    procs = {}
    for name, o in opts.items():
        kwargs = {k: v for k, v in vars(o).items() if k != "numerics"}
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, json.dumps(kwargs)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"run {name} failed:\n{err[-3000:]}"
    return opts


def _variables(model_dir: str) -> dict[str, bytes]:
    variables_dir = os.path.join(model_dir, "export", "variables")
    result = {}
    for name in sorted(os.listdir(variables_dir)):
        with open(os.path.join(variables_dir, name), "rb") as f:
            result[name] = f.read()
    return result


def _metrics(model_dir: str) -> dict:
    with open(os.path.join(model_dir, train_lib.METRICS_JSON), encoding="utf-8") as f:
        return json.load(f)


def test_same_seed_same_bits_other_seed_differs(runs: dict[str, train_lib.TrainOptions]) -> None:
    a, b, c = (runs[k].model_dir for k in "abc")
    ma, mb, mc = _metrics(a), _metrics(b), _metrics(c)
    assert ma["global_step"] == mb["global_step"] == mc["global_step"] == 8
    assert ma["test_count"] == _N_TEST
    assert ma["test_accuracy"] == mb["test_accuracy"]
    assert ma["test_correct"] == mb["test_correct"]
    assert ma["test_accuracy"] > 0.3  # 8 steps of 32 images already learn something
    assert _variables(a) == _variables(b)
    assert ma["export_weights_sha256"] == mb["export_weights_sha256"]
    assert _variables(a) != _variables(c)
    assert ma["export_weights_sha256"] != mc["export_weights_sha256"]

    test_images = mnist_data.load_mnist(runs["a"].mnist_idx_dir).splits["test"][0]
    inputs = mnist_eval.to_classifier_input(test_images)
    logits = {}
    for name in "abc":
        with mnist_eval.load_classifier(runs[name].model_dir) as classifier:
            logits[name] = classifier.logits(inputs)
    assert logits["a"].shape == (_N_TEST, 10) and logits["a"].dtype == np.float32
    assert np.array_equal(logits["a"], logits["b"])
    assert not np.array_equal(logits["a"], logits["c"])


def test_run_record_and_export_layout(runs: dict[str, train_lib.TrainOptions]) -> None:
    model_dir = runs["a"].model_dir
    with open(os.path.join(model_dir, "run.json"), encoding="utf-8") as f:
        record = json.load(f)
    assert record["seed"] == 5
    assert record["flags"]["train_steps"] == 8 and record["flags"]["intra_op_threads"] == 2
    assert record["identity"]["data"].startswith("idx-")
    assert record["determinism"]["op_determinism_enabled"] is True
    assert os.path.isfile(os.path.join(model_dir, "export", "saved_model.pb"))
    # No staging directories left behind.
    assert not [n for n in os.listdir(model_dir) if n.startswith(".export-")]


def test_finished_run_reexports_identical_weights(
        runs: dict[str, train_lib.TrainOptions]) -> None:
    opts = runs["a"]
    before = _variables(opts.model_dir)
    lines: list[str] = []
    metrics = train_lib.run_training(opts, lines.append)
    assert any("nothing to train" in line for line in lines)
    assert _variables(opts.model_dir) == before
    assert metrics["export_weights_sha256"] == _metrics(runs["b"].model_dir)[
        "export_weights_sha256"]


def test_refuses_a_model_dir_of_another_run(runs: dict[str, train_lib.TrainOptions]) -> None:
    opts = runs["a"]
    other = dataclasses.replace(opts, dropout_rate=0.25)
    with pytest.raises(train_lib.RunError, match="dropout_rate: 0.5 there, 0.25 now"):
        train_lib.run_training(other, lambda line: None)


def test_missing_data_is_a_run_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    opts = _options(str(tmp_path), "x", 1, mnist_idx_dir=str(tmp_path / "nowhere"))
    with pytest.raises(train_lib.RunError, match="nowhere"):
        train_lib.run_training(opts, lambda line: None)
    assert not os.path.exists(opts.model_dir)


@pytest.mark.parametrize("field, value, message", [
    ("train_steps", 0, "train_steps must be an int >= 1"),
    ("batch_size", 2.0, "batch_size must be an int >= 1"),
    ("random_seed", -1, "random_seed must be an int >= 0"),
    ("learning_rate", 0.0, "learning_rate must be > 0"),
    ("dropout_rate", 1.0, r"dropout_rate must be in \[0, 1\)"),
    ("model_dir", "", "must not be empty"),
])
def test_options_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train_lib.TrainOptions(**{"model_dir": "m", field: value})  # type: ignore[arg-type]


def test_default_model_dir_matches_the_default_classifier_path() -> None:
    assert os.path.join(train_lib.default_model_dir(123), train_lib.EXPORT_DIR) == (
        mnist_eval.DEFAULT_CLASSIFIER_DIR)
    assert "--random_seed=123" in mnist_eval.TRAIN_COMMAND
