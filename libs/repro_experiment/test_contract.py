"""The skeleton's contract, tested once for every app (parametrized over repro's APPS): at tiny
settings, each app

  * run twice (here and in a fresh process) gives byte-identical losses.csv, checkpoints and
    results, and another seed differs from step 1;
  * resumed after a crash (steps after its last checkpoint lost) equals the straight run;
  * on `--local_workers=2` equals one process at the same --micro_batches=2;
  * stopped by SIGTERM ends with exit status 5 after a checkpointed step, and the same command
    then ends identical to the straight run;
  * has only audited graphs (no CPU-dependent kernel) in run.json's census.

A new app passes it by being added to APPS below with its tiny flags; it needs no test of its
own for any of this. Every run uses M = 2 micro-batches, so that one straight run serves all.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import repro_app
from run_record import read_losses, read_run_json
from tf_determinism import child_env, graph_audit

STEPS = 40
COMMON = (
    "--micro_batches=2",
    f"--max_train_steps={STEPS}",
    "--save_checkpoints_steps=1000",
    "--keep_checkpoint_max=1",
    "--log_step_count_steps=1",
    "--save_summary_steps=1000",
    "--buffer_size=256",
)
# Each app's options class and its smallest settings that still build every op of its graph.
APPS = {
    "mnist_gan": ("GanOptions", "--width_divisor=16", "--batch_size=8"),
    "mnist_classifier": ("ClassifierOptions", "--batch_size=8"),
    "text_lm": (
        "TextLmOptions",
        "--batch_size=8",
        "--seq_len=16",
        "--width=16",
        "--heads=2",
        "--layers=1",
    ),
}
_WORDS = (
    "the",
    "a",
    "cat",
    "sat",
    "on",
    "mat",
    "and",
    "dog",
    "ran",
    "far",
    "away",
    "home",
    "why",
    "not",
    "today",
    "is",
    "was",
    "fine",
    "\n",
)


class _Crash(Exception):
    """A crash after some steps (as kill -9: what was not checkpointed is lost)."""


class _AtStep(tf.estimator.SessionRunHook):
    """A hook calling `self.act()` once global step `step` has been computed."""

    def __init__(self, step: int) -> None:
        self.step = step

    def begin(self) -> None:
        self._global_step = tf.compat.v1.train.get_global_step()

    def after_create_session(self, session, coord) -> None:
        self._at = int(session.run(self._global_step))

    def after_run(self, run_context, run_values) -> None:
        self._at += 1
        if self._at == self.step:
            self.act()

    def act(self) -> None:
        raise NotImplementedError


class _CrashAfter(_AtStep):
    def act(self) -> None:
        raise _Crash()


class _SignalAt(_AtStep):
    def act(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture(scope="session")
def tiny_text_dir(tmp_path_factory) -> str:
    """About 12 KB of generated text in two files (no Debian package needed)."""
    directory = tmp_path_factory.mktemp("tiny_text")
    words = np.random.default_rng(0).choice(_WORDS, size=3000)
    for i, part in enumerate(np.array_split(words, 2)):
        (directory / f"part{i}").write_text(" ".join(part))
    return str(directory)


@pytest.fixture(scope="module", params=sorted(APPS))
def app(request, tiny_idx_dir, tiny_text_dir, tmp_path_factory, run_here):
    """One app: its name, `fresh(model_dir, *flags)`, its tiny run in a fresh process, and
    `here(model_dir, *flags)`, the same run in this process (no TensorFlow import)."""
    name = request.param
    class_name, *tiny = APPS[name]
    data = {"text_lm": f"--text_dir={tiny_text_dir}"}.get(name, f"--mnist_idx_dir={tiny_idx_dir}")
    command = [*COMMON, *tiny, data, f"--data_dir={tmp_path_factory.mktemp('data')}"]
    options = getattr(importlib.import_module(f"{name}.options"), class_name)

    def flags_of(model_dir, *extra: str) -> list[str]:
        return [*command, f"--model_dir={model_dir}", *extra]

    def here(model_dir, *extra: str, hooks=()) -> list[str]:
        return run_here(name, options, flags_of(model_dir, *extra), hooks)

    def fresh(model_dir, *extra: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", f"{name}.train", *flags_of(model_dir, *extra)],
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )

    return {"name": name, "here": here, "fresh": fresh}


@pytest.fixture(scope="module")
def straight(app, tmp_path_factory) -> str:
    """The run every other run must equal: STEPS steps at M=2, one process, no interruption."""
    model_dir = str(tmp_path_factory.mktemp("straight") / "run")
    app["here"](model_dir)
    return model_dir


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    """(exit status, stderr) of a fresh process, which printed no traceback."""
    _, stderr = proc.communicate(timeout=600)
    assert "Traceback" not in stderr, stderr[-3000:]
    return proc.returncode, stderr


def test_twice_in_a_fresh_process_identical_another_seed_differs(
    app, straight, identical_runs, tmp_path
):
    again = str(tmp_path / "again")
    code, stderr = _finish(app["fresh"](again))
    assert code == 0, stderr[-3000:]
    assert identical_runs(straight, again)
    assert read_run_json(again)["results"] == read_run_json(straight)["results"]
    other = str(tmp_path / "other")
    app["here"](other, "--random_seed=124", "--max_train_steps=1")
    names, _, ours = read_losses(straight)
    _, _, theirs = read_losses(other)
    assert all(ours[n][0].tobytes() != theirs[n][0].tobytes() for n in names)


def test_resume_after_a_crash_equals_the_straight_run(app, straight, identical_runs, tmp_path):
    model_dir = str(tmp_path / "crashed")
    every_10 = "--save_checkpoints_steps=10"
    with pytest.raises(_Crash):
        app["here"](model_dir, every_10, hooks=[_CrashAfter(23)])
    assert list(read_losses(model_dir)[1]) == list(range(1, 24))  # 21-23 are not checkpointed
    assert f"resuming at step 20 of {STEPS} in {model_dir}" in app["here"](model_dir, every_10)
    assert identical_runs(straight, model_dir)


def test_two_local_workers_equal_one_process(app, straight, identical_runs, tmp_path):
    model_dir = str(tmp_path / "two")
    code, stderr = _finish(app["fresh"](model_dir, "--local_workers=2"))
    assert code == 0 and "[worker 0]" in stderr, stderr[-3000:]
    assert identical_runs(straight, model_dir)
    assert read_run_json(model_dir)["cluster"]["workers"] == 2


def test_sigterm_stops_after_a_checkpointed_step_and_the_same_command_resumes(
    app, straight, identical_runs, tmp_path
):
    """The signal arrives during step 3 (sent by this process to itself: the handler and the
    stop are the same as for a kill from outside, mnist_gan/test_signals.py)."""
    model_dir = str(tmp_path / "preempted")
    with pytest.raises(repro_app.PreemptedError) as stopped:
        app["here"](model_dir, hooks=[_SignalAt(3)])
    assert stopped.value.exit_status == repro_app.EXIT_PREEMPTED == 5
    assert str(stopped.value) == (
        f"SIGTERM: stopped after step 3, checkpoint "
        f"{model_dir}/model.ckpt-3; the same command resumes from it"
    )
    assert list(read_losses(model_dir)[1]) == [1, 2, 3]
    assert f"resuming at step 3 of {STEPS} in {model_dir}" in app["here"](model_dir)
    assert identical_runs(straight, model_dir)


def test_every_graph_is_audited_and_clean(app, straight):
    census = read_run_json(straight)["graph_ops"]
    assert census["train"] and set(census) <= {"train", "predict"}
    for mode, ops in census.items():
        assert not set(ops) & set(graph_audit.DENIED_OPS), (mode, set(ops))
