"""Tests for apps/mnist_classifier beyond every app's contract: its results (the export and
its test accuracy), its run record, options and refusals.

Training runs use the conftest's tiny IDX copy of real MNIST (256 train / 64 test images) and
8 steps, in this process.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

import mnist_data
import mnist_eval
import repro_app
from mnist_classifier import train_lib
from mnist_classifier.options import ClassifierOptions
from repro_experiment import runner
from run_record import read_losses

STEPS = 8


def _options(tmp: str, tiny_idx_dir: str, name: str, seed: int) -> ClassifierOptions:
    return ClassifierOptions.with_defaults(
        model_dir=os.path.join(tmp, name),
        random_seed=seed,
        max_train_steps=STEPS,
        batch_size=32,
        buffer_size=256,
        log_step_count_steps=4,
        data_dir=os.path.join(tmp, "data"),
        mnist_idx_dir=tiny_idx_dir,
    )


def _train(opts: ClassifierOptions, log=lambda line: None) -> dict:
    return runner.train(train_lib.EXPERIMENT, opts, log)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_idx_dir) -> dict[str, ClassifierOptions]:
    """Two tiny runs of the app in this process: seed 5 (a) and seed 6 (c). (The same seed
    twice, in a fresh process, on two processes, resumed, after SIGTERM: every app's
    contract, libs/repro_experiment/test_contract.py.)"""
    tmp = str(tmp_path_factory.mktemp("classifier"))
    opts = {"a": _options(tmp, tiny_idx_dir, "a", 5), "c": _options(tmp, tiny_idx_dir, "c", 6)}
    for o in opts.values():
        _train(o)
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


def test_results_export_and_accuracy_other_seed_differs(runs) -> None:
    a, c = (runs[k].model_dir for k in "ac")
    ma, mc = _metrics(a), _metrics(c)
    assert ma["global_step"] == mc["global_step"] == STEPS
    assert ma["test_count"] == 64 and ma["export_dir"] == train_lib.EXPORT_DIR
    assert ma["test_accuracy"] > 0.2  # 8 steps of 32 images already learn something
    assert ma["export_weights_sha256"] == mnist_eval.weights_sha256(os.path.join(a, "export"))
    assert _variables(a) != _variables(c)
    assert ma["export_weights_sha256"] != mc["export_weights_sha256"]
    test_images = mnist_data.load_mnist(runs["a"].data.mnist_idx_dir).splits["test"][0]
    with mnist_eval.load_classifier(a) as classifier:
        logits = classifier.logits(mnist_eval.to_classifier_input(test_images))
    assert logits.shape == (64, 10) and logits.dtype == np.float32
    correct = int(
        np.sum(
            np.argmax(logits, 1)
            == mnist_data.load_mnist(runs["a"].data.mnist_idx_dir).splits["test"][1]
        )
    )
    assert correct == ma["test_correct"]


def test_run_record_and_export_layout(runs) -> None:
    model_dir = runs["a"].model_dir
    with open(os.path.join(model_dir, "run.json"), encoding="utf-8") as f:
        record = json.load(f)
    assert record["seed"] == 5 and record["app"] == "mnist_classifier"
    assert set(record["seeds"]) == {"root", "data", "initializers", "init", "dropout"}
    assert record["flags"]["max_train_steps"] == STEPS and record["flags"]["intra_op_threads"] == 2
    assert record["identity"]["schedule"] == {"max_train_steps": STEPS}  # the decay length
    assert record["identity"]["data"].startswith("idx-")
    assert record["determinism"]["op_determinism_enabled"] is True
    assert record["graph_ops"]["train"]["ResourceApplyAdam"] == 8  # the audited train graph
    assert record["results"] == [train_lib.METRICS_JSON]
    assert repro_app.from_dict(ClassifierOptions, record["options"]) == runs["a"]
    assert os.path.isfile(os.path.join(model_dir, "export", "saved_model.pb"))
    assert list(read_losses(model_dir)[1]) == list(range(1, STEPS + 1))
    # No staging directories left behind.
    assert not [n for n in os.listdir(model_dir) if n.startswith(".export-")]


def test_finished_run_reexports_identical_weights(runs) -> None:
    opts = runs["a"]
    before, metrics = _variables(opts.model_dir), _metrics(opts.model_dir)
    lines: list[str] = []
    _train(opts, lines.append)
    assert any("nothing to train" in line for line in lines)
    assert _variables(opts.model_dir) == before and _metrics(opts.model_dir) == metrics


def test_refuses_a_model_dir_of_another_run(runs) -> None:
    opts = runs["a"]
    other = dataclasses.replace(opts, model=dataclasses.replace(opts.model, dropout_rate=0.25))
    with pytest.raises(repro_app.RunError, match="model.dropout_rate: 0.5 there, 0.25 now"):
        _train(other)
    longer = dataclasses.replace(
        opts, schedule=dataclasses.replace(opts.schedule, max_train_steps=STEPS + 1)
    )
    with pytest.raises(repro_app.RunError, match="schedule.max_train_steps: 8 there, 9 now"):
        _train(longer)


def test_missing_data_is_a_run_error(tmp_path) -> None:
    opts = ClassifierOptions.with_defaults(
        model_dir=str(tmp_path / "x"),
        data_dir=str(tmp_path / "data"),
        mnist_idx_dir=str(tmp_path / "nowhere"),
    )
    with pytest.raises(repro_app.RunError, match="nowhere"):
        _train(opts)
    assert not os.path.exists(str(opts.model_dir))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("max_train_steps", 0, "max_train_steps must be an int >= 1"),
        ("batch_size", 2.0, "batch_size must be an int"),
        ("random_seed", -1, "random_seed must be an int >= 0"),
        ("learning_rate", 0.0, "learning_rate must be > 0"),
        ("dropout_rate", 1.0, r"dropout_rate must be a number <= 0.99"),
        ("model_dir", "", "model_dir must be non-empty"),
        ("data_dir", "", "data_dir must be non-empty"),
    ],
)
def test_options_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClassifierOptions.with_defaults(**{field: value})


def test_help_lists_the_shared_flags_with_the_app_defaults(run_module) -> None:
    shown = run_module("mnist_classifier.train", "--help", check=False).stdout
    assert "--learning_rate" in shown and "--cpu_isa" in shown
    assert "--batch_size: Examples per batch" in shown and "(default: '128')" in shown


def test_default_model_dir_is_where_the_gan_eval_looks_and_names_the_portable_mode() -> None:
    opts = runner.resolved(train_lib.EXPERIMENT, ClassifierOptions.with_defaults())
    assert os.path.join(str(opts.model_dir), train_lib.EXPORT_DIR) == (
        "runs/mnist_classifier/seed123/export"
    )  # mnist_gan's --classifier_dir default
    portable = ClassifierOptions.with_defaults(numerics="portable")
    assert runner.resolved(train_lib.EXPERIMENT, portable).model_dir == (
        "runs/mnist_classifier/seed123-portable"  # the other mode's run is another run
    )
