"""Tests for apps/mnist_classifier: options, refusals, and bit-for-bit reproducible training.

Training runs use the conftest's tiny IDX copy of real MNIST (256 train / 64 test images) and
8 steps, each in its own process as a user runs the app: same seed -> identical accuracy and
bitwise-identical exported weights and logits; seed + 1 -> different weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import mnist_data
import mnist_eval
import mnist_input.data
import repro_app
from mnist_classifier import train_lib
from mnist_classifier.options import ClassifierOptions
from tf_determinism import child_env

STEPS = 8


def _options(tmp: str, tiny_idx_dir: str, name: str, seed: int) -> ClassifierOptions:
    return ClassifierOptions.with_defaults(
        model_dir=os.path.join(tmp, name), random_seed=seed, max_train_steps=STEPS,
        batch_size=32, buffer_size=256, log_step_count_steps=4,
        data_dir=os.path.join(tmp, "data"), mnist_idx_dir=tiny_idx_dir)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_idx_dir, one_core,
         bit_changing_env) -> dict[str, ClassifierOptions]:
    """Three tiny runs of the app, each in its own process: seed 5 twice (a, b), seed 6 (c).
    b runs on one core (where taskset exists) with bit-changing environment variables set,
    which the app must neutralize."""
    tmp = str(tmp_path_factory.mktemp("classifier"))
    opts = {"a": _options(tmp, tiny_idx_dir, "a", 5), "b": _options(tmp, tiny_idx_dir, "b", 5),
            "c": _options(tmp, tiny_idx_dir, "c", 6)}
    env = child_env()
    # The data are written once, before the parallel runs read them.
    mnist_input.data.prepare_mnist(opts["a"].data)
    procs = {}
    for name, o in opts.items():
        flags = [f"--{k}={v}" for k, v in repro_app.flat(o).items() if v is not None]
        prefix = (one_core or ()) if name == "b" else ()
        procs[name] = subprocess.Popen(
            [*prefix, sys.executable, "-m", "mnist_classifier.train", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**env, **bit_changing_env} if name == "b" else env)
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
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


def test_same_seed_same_bits_other_seed_differs(runs) -> None:
    a, b, c = (runs[k].model_dir for k in "abc")
    ma, mb, mc = _metrics(a), _metrics(b), _metrics(c)
    assert ma["global_step"] == mb["global_step"] == mc["global_step"] == STEPS
    assert ma["test_count"] == 64
    assert ma["test_accuracy"] == mb["test_accuracy"]
    assert ma["test_correct"] == mb["test_correct"]
    assert ma["test_accuracy"] > 0.2  # 8 steps of 32 images already learn something
    assert _variables(a) == _variables(b)
    assert ma["export_weights_sha256"] == mb["export_weights_sha256"]
    assert _variables(a) != _variables(c)
    assert ma["export_weights_sha256"] != mc["export_weights_sha256"]

    test_images = mnist_data.load_mnist(runs["a"].data.mnist_idx_dir).splits["test"][0]
    inputs = mnist_eval.to_classifier_input(test_images)
    logits = {}
    for name in "abc":
        with mnist_eval.load_classifier(runs[name].model_dir) as classifier:
            logits[name] = classifier.logits(inputs)
    assert logits["a"].shape == (64, 10) and logits["a"].dtype == np.float32
    assert np.array_equal(logits["a"], logits["b"])
    assert not np.array_equal(logits["a"], logits["c"])


def test_run_record_and_export_layout(runs, bit_changing_env) -> None:
    with open(os.path.join(str(runs["b"].model_dir), "run.json"), encoding="utf-8") as f:
        assert json.load(f)["determinism"]["overridden_environment"] == bit_changing_env
    model_dir = runs["a"].model_dir
    with open(os.path.join(model_dir, "run.json"), encoding="utf-8") as f:
        record = json.load(f)
    assert record["seed"] == 5
    assert record["flags"]["max_train_steps"] == STEPS and record["flags"]["intra_op_threads"] == 2
    assert record["identity"]["schedule"] == {"max_train_steps": STEPS}  # the decay length
    assert record["identity"]["data"].startswith("idx-")
    assert record["determinism"]["op_determinism_enabled"] is True
    assert record["graph_ops"]["train"]["ResourceApplyAdam"] == 8  # the audited train graph
    assert repro_app.from_dict(ClassifierOptions, record["options"]) == runs["a"]
    assert os.path.isfile(os.path.join(model_dir, "export", "saved_model.pb"))
    # No staging directories left behind.
    assert not [n for n in os.listdir(model_dir) if n.startswith(".export-")]


def test_finished_run_reexports_identical_weights(runs) -> None:
    opts = runs["a"]
    before = _variables(opts.model_dir)
    lines: list[str] = []
    metrics = train_lib.run_training(opts, lines.append)
    assert any("nothing to train" in line for line in lines)
    assert _variables(opts.model_dir) == before
    assert metrics["export_weights_sha256"] == _metrics(runs["b"].model_dir)[
        "export_weights_sha256"]


def test_refuses_a_model_dir_of_another_run(runs) -> None:
    opts = runs["a"]
    other = dataclasses.replace(opts, model=dataclasses.replace(opts.model, dropout_rate=0.25))
    with pytest.raises(repro_app.RunError, match="model.dropout_rate: 0.5 there, 0.25 now"):
        train_lib.run_training(other, lambda line: None)
    longer = dataclasses.replace(
        opts, schedule=dataclasses.replace(opts.schedule, max_train_steps=STEPS + 1))
    with pytest.raises(repro_app.RunError, match="schedule.max_train_steps: 8 there, 9 now"):
        train_lib.run_training(longer, lambda line: None)


def test_missing_data_is_a_run_error(tmp_path) -> None:
    opts = ClassifierOptions.with_defaults(model_dir=str(tmp_path / "x"),
                                           data_dir=str(tmp_path / "data"),
                                           mnist_idx_dir=str(tmp_path / "nowhere"))
    with pytest.raises(repro_app.RunError, match="nowhere"):
        train_lib.run_training(opts, lambda line: None)
    assert not os.path.exists(str(opts.model_dir))


@pytest.mark.parametrize("field, value, message", [
    ("max_train_steps", 0, "max_train_steps must be an int >= 1"),
    ("batch_size", 2.0, "batch_size must be an int"),
    ("random_seed", -1, "random_seed must be an int >= 0"),
    ("learning_rate", 0.0, "learning_rate must be > 0"),
    ("dropout_rate", 1.0, r"dropout_rate must be a number <= 0.99"),
    ("model_dir", "", "model_dir must be non-empty"),
    ("data_dir", "", "data_dir must be non-empty"),
])
def test_options_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClassifierOptions.with_defaults(**{field: value})


def test_help_lists_the_shared_flags_with_the_app_defaults(run_module) -> None:
    shown = run_module("mnist_classifier.train", "--help", check=False).stdout
    assert "--learning_rate" in shown and "--cpu_isa" in shown
    assert "--batch_size: Images per batch.\n    (default: '128')" in shown


def test_default_model_dir_is_where_the_gan_eval_looks() -> None:
    opts = ClassifierOptions.with_defaults().with_model_dir()
    assert os.path.join(str(opts.model_dir), train_lib.EXPORT_DIR) == (
        "runs/mnist_classifier/seed123/export")  # mnist_gan's --classifier_dir default


def _checkpoint_tensors(model_dir: str) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(model_dir)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_two_processes_with_two_micro_batches_same_bits_as_one(run_module, tiny_idx_dir,
                                                               tmp_path) -> None:
    """--micro_batches=2 on one process and on two (--local_workers=2): byte-identical
    metrics.json (accuracy and the exported weights' sha256) and checkpoint tensors; the
    micro-batch cut itself changes the model (M=1 differs). The rest of the cluster machinery
    (killed peers, W=4, resumes on another W) is tested on the GAN (mnist_gan/test_cluster)."""
    flags = [f"--data_dir={tmp_path / 'data'}", f"--mnist_idx_dir={tiny_idx_dir}",
             "--buffer_size=256", "--batch_size=32", "--max_train_steps=4", "--random_seed=5"]
    runs = {name: str(tmp_path / name) for name in ("w1", "w2", "m1")}
    run_module("mnist_classifier.train", *flags, f"--model_dir={runs['w1']}",
               "--micro_batches=2")
    proc = run_module("mnist_classifier.train", *flags, f"--model_dir={runs['w2']}",
                      "--micro_batches=2", "--local_workers=2")
    assert "[worker 0]" in proc.stderr
    run_module("mnist_classifier.train", *flags, f"--model_dir={runs['m1']}")
    with open(os.path.join(runs["w1"], train_lib.METRICS_JSON), "rb") as a, open(
            os.path.join(runs["w2"], train_lib.METRICS_JSON), "rb") as b:
        assert a.read() == b.read()
    one, two = _checkpoint_tensors(runs["w1"]), _checkpoint_tensors(runs["w2"])
    assert one.keys() == two.keys() and all(one[k].tobytes() == two[k].tobytes() for k in one)
    assert _variables(runs["w1"]) != _variables(runs["m1"])
    with open(os.path.join(runs["w2"], "run.json"), encoding="utf-8") as f:
        assert json.load(f)["cluster"]["workers"] == 2


def test_sigterm_checkpoints_the_step_and_the_same_command_resumes_identically(
        tiny_idx_dir, tmp_path) -> None:
    """The classifier shares the GAN's graceful preemption (repro_app.preemption; its cases
    are tested in mnist_gan/test_signals): exit 5 after a checkpointed step, then the same
    command ends byte-identical to an uninterrupted run."""
    flags = [f"--data_dir={tmp_path / 'data'}", f"--mnist_idx_dir={tiny_idx_dir}",
             "--buffer_size=256", "--batch_size=32", "--max_train_steps=60",
             "--save_checkpoints_steps=1000", "--log_step_count_steps=1", "--random_seed=5"]
    command = [sys.executable, "-m", "mnist_classifier.train", *flags]
    preempted, straight = tmp_path / "preempted", tmp_path / "straight"
    subprocess.run([*command, f"--model_dir={straight}"], env=child_env(), check=True,
                   capture_output=True)
    proc = subprocess.Popen([*command, f"--model_dir={preempted}"], env=child_env(),
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    for line in proc.stderr:
        if " step 3/60 " in line:
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == repro_app.EXIT_PREEMPTED, rest[-3000:]
    [error] = [ln for ln in rest.splitlines() if ln.startswith("E")]
    assert "SIGTERM: stopped after step" in error and "Traceback" not in rest
    assert not (preempted / train_lib.METRICS_JSON).exists()  # no export of a partial run
    subprocess.run([*command, f"--model_dir={preempted}"], env=child_env(), check=True,
                   capture_output=True)
    with open(preempted / train_lib.METRICS_JSON, "rb") as a, open(
            straight / train_lib.METRICS_JSON, "rb") as b:
        assert a.read() == b.read()
    one, two = _checkpoint_tensors(str(preempted)), _checkpoint_tensors(str(straight))
    assert one.keys() == two.keys() and all(one[k].tobytes() == two[k].tobytes() for k in one)
