"""Signals from outside, to a real process (every app's contract, in
libs/repro_experiment/test_contract.py, signals a run in the test's own process and resumes it
to the same bits): SIGTERM mid-run finishes the step, checkpoints it and exits 5 in one line; a
second signal ends the process at once; in a cluster a signal to one worker stops every process
after the same step; kill -9, which no process can catch: the rerun recomputes the steps since
the last checkpoint, to the same bits (the last two are the slow tier)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
import tensorflow as tf

import repro_app
from run_record import read_losses
from tf_determinism import child_env

APP = "mnist_gan.train"
# No checkpoint on the way (only step 0's): the one after the signal is the preemption's.
STEPS = ("--max_train_steps=60", "--save_checkpoints_steps=1000", "--log_step_count_steps=1")
_STOPPED = re.compile(r"stopped after step (\d+), checkpoint (\S+); the same command resumes")


def _start(train, model_dir, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", APP, *train.flags(model_dir, *STEPS, *extra)],
        env=child_env(),
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def _read_until(proc: subprocess.Popen, pattern: str) -> re.Match:
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    proc.wait()
    raise AssertionError(
        f"{pattern!r} never printed (exit {proc.returncode}):\n" + "".join(seen)[-3000:]
    )


def _finish(proc: subprocess.Popen) -> list[str]:
    """The error lines of the rest of its stderr, after it exited."""
    assert proc.stderr is not None
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    assert "Traceback" not in rest, rest[-3000:]
    return [ln for ln in rest.splitlines() if re.match(r"(\[\w+( \d+)?\] )?E\d{4}", ln)]


def _assert_checkpointed_at(model_dir, step: int) -> None:
    checkpoint = tf.train.latest_checkpoint(str(model_dir))
    assert checkpoint == os.path.join(str(model_dir), f"model.ckpt-{step}")
    _, steps, _ = read_losses(os.path.join(model_dir, "losses.csv"))
    assert list(steps) == list(range(1, step + 1))  # every finished step, nothing after


@pytest.fixture(scope="module")
def reference(train_here, tmp_path_factory):
    """The uninterrupted run of STEPS (in this process: reruns and references need no fresh
    process; the signals do)."""
    model_dir = tmp_path_factory.mktemp("reference")
    train_here(model_dir, *STEPS)
    return str(model_dir)


def test_sigterm_from_outside_finishes_the_step_and_exits_5_in_one_line(train, tmp_path):
    """As Kubernetes sends it: the step in flight is finished and checkpointed, one line, exit
    5 (the same command then resumes to the straight run's bits: every app's contract)."""
    model_dir = tmp_path / "preempted"
    proc = _start(train, model_dir)
    _read_until(proc, r" step 5/60 ")
    proc.send_signal(signal.SIGTERM)
    [line] = _finish(proc)
    assert proc.returncode == repro_app.EXIT_PREEMPTED
    found = _STOPPED.search(line)
    assert found and "SIGTERM: stopped after step" in line, line
    step = int(found.group(1))
    assert 5 <= step < 60 and found.group(2) == os.path.join(str(model_dir), f"model.ckpt-{step}")
    _assert_checkpointed_at(model_dir, step)


@pytest.mark.slow
def test_kill_9_mid_run_loses_the_steps_since_the_checkpoint_and_the_rerun_is_identical(
    train, train_here, identical_runs, reference, tmp_path
):
    model_dir = tmp_path / "killed"
    proc = _start(train, model_dir)
    _read_until(proc, r" step 5/60 ")
    proc.kill()
    proc.communicate(timeout=60)
    _, steps, _ = read_losses(os.path.join(model_dir, "losses.csv"))
    assert len(steps) >= 5  # rows past checkpoint 0: the rerun drops and recomputes them
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("model.ckpt-0")
    train_here(model_dir, *STEPS)  # the same flags
    assert identical_runs(str(model_dir), reference)


def test_a_second_signal_ends_the_process_at_once(train, tmp_path):
    proc = _start(train, tmp_path / "run")
    _read_until(proc, r" step 3/60 ")
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _read_until(proc, r"SIGINT \(pid \d+\): finishing this step, then a checkpoint")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.wait(timeout=60) == -signal.SIGTERM  # the kernel's default action


@pytest.mark.slow
def test_a_signal_to_one_worker_stops_the_whole_cluster_after_one_step(
    train, train_here, identical_runs, tmp_path
):
    reference = tmp_path / "reference"
    train_here(reference, *STEPS, "--micro_batches=2")  # one process
    model_dir = tmp_path / "cluster"
    proc = _start(train, model_dir, "--micro_batches=2", "--local_workers=2")
    worker = int(_read_until(proc, r"worker 0: pid (\d+)").group(1))
    _read_until(proc, r"\[chief\] .* step 5/60 ")
    os.kill(worker, signal.SIGTERM)
    lines = _finish(proc)
    assert proc.returncode == repro_app.EXIT_PREEMPTED, lines
    [chief] = [ln for ln in lines if ln.startswith("[chief]")]
    [worker_line] = [ln for ln in lines if ln.startswith("[worker 0]")]
    assert "another process's signal: stopped after step" in chief, chief
    assert "SIGTERM: stopped after step" in worker_line, worker_line
    steps = {int(_STOPPED.search(ln).group(1)) for ln in (chief, worker_line)}
    assert len(steps) == 1, lines  # the same step in both
    _assert_checkpointed_at(model_dir, steps.pop())

    # Resumed on one process (another W, the same M: test_cluster resumes on a cluster).
    train_here(model_dir, *STEPS, "--micro_batches=2")
    assert identical_runs(str(model_dir), str(reference))
