"""The MNIST GAN on several processes (TF_CONFIG clusters on 127.0.0.1): the bits depend on
--micro_batches, not on the number of processes; a lost worker ends the run with one line and
a rerun resumes to the same bits; bad cluster input is refused before any training."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from repro_cluster import free_local_addresses, tf_config
from run_record import read_losses, read_run_json
from tf_determinism import child_env

APP = "mnist_gan.train"
M2 = ("--micro_batches=2", "--save_checkpoints_steps=2")
# The cluster path differs per gan_type only in its inputs (conditional: the rows' labels;
# infogan: structured codes, the MI penalty): one test each, the gradient penalty in one.
CONDITIONAL = ("--gan_type=conditional",)
INFOGAN = ("--gan_type=infogan", "--gradient_penalty_weight=5")


def test_one_or_two_processes_same_bits_other_seed_differs(train, identical_runs, tmp_path):
    """--micro_batches=2 on two local processes, twice: bitwise identical; a run started on
    one process and resumed on two (another W, the same M): identical too; seed+1 differs at
    step 1. (Two processes against one without any cluster: the killed-worker test below.)"""
    two, again, mixed, other = (str(tmp_path / n) for n in ("two", "again", "mixed", "other"))
    proc = train(two, "--max_train_steps=4", "--local_workers=2", *M2, *CONDITIONAL)
    assert "[worker 0]" in proc.stderr and "[chief]" in proc.stderr
    train(again, "--max_train_steps=4", "--local_workers=2", *M2, *CONDITIONAL)
    assert identical_runs(two, again)
    train(mixed, "--max_train_steps=2", "--local_workers=1", *M2, *CONDITIONAL)
    proc = train(mixed, "--max_train_steps=4", "--local_workers=2", *M2, *CONDITIONAL)
    assert "resuming at step 2 of 4" in proc.stderr
    assert identical_runs(two, mixed)
    assert read_run_json(two)["cluster"]["workers"] == 2
    # Only the chief wrote into the run directory.
    files = {n for n in os.listdir(two) if not n.startswith("events.out.tfevents.")}
    assert files == {".lock", "checkpoint", "graph.pbtxt", "losses.csv", "run.json",
                     "samples.png", *(f"model.ckpt-4.{e}" for e in
                                      ("data-00000-of-00001", "index", "meta"))}
    train(other, "--max_train_steps=1", "--local_workers=2", "--random_seed=124", *M2,
          *CONDITIONAL)
    names, _, losses = read_losses(two)
    _, _, losses_other = read_losses(other)
    assert all(losses[n][0].tobytes() != losses_other[n][0].tobytes() for n in names)


def _start(run_dir_flags: list[str], addresses: list[str], rank: int) -> subprocess.Popen:
    env = child_env({"TF_CONFIG": tf_config(addresses, rank)})
    return subprocess.Popen([sys.executable, "-m", APP, *run_dir_flags], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_killed_worker_fails_fast_and_rerun_resumes_to_the_same_bits(
        train, identical_runs, tmp_path):
    """Two cluster tasks started by hand; the worker is killed after the first checkpoint:
    the chief ends within 60 s naming it; rerunning the same two commands resumes and ends
    bitwise equal to a straight run of one process without any cluster."""
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train(straight, "--max_train_steps=6", *M2, *INFOGAN)
    # The same flags as `train`, as two cluster tasks started by hand (what a launcher does).
    flags = train.flags(resumed, "--max_train_steps=6", *M2, *INFOGAN)
    addresses = free_local_addresses(2)
    chief, worker = _start(flags, addresses, 0), _start(flags, addresses, 1)
    try:
        deadline = time.monotonic() + 300
        while not os.path.exists(os.path.join(resumed, "model.ckpt-2.index")):
            assert time.monotonic() < deadline and chief.poll() is None, chief.stderr.read()
            time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = chief.communicate(timeout=90)
        assert time.monotonic() - killed < 60
    finally:
        for proc in (chief, worker):
            if proc.poll() is None:
                proc.kill()
    assert chief.returncode == 4, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("E")]
    assert len(errors) == 1 and f"lost worker 0 ({addresses[1]})" in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr
    steps = read_losses(resumed)[1]
    assert steps[0] == 1 and len(steps) >= 2  # the rows up to the checkpoint are kept
    # The same two commands again (same TF_CONFIG): they resume from the last checkpoint.
    chief, worker = _start(flags, addresses, 0), _start(flags, addresses, 1)
    _, stderr = chief.communicate(timeout=300)
    worker.communicate(timeout=120)
    assert chief.returncode == 0 and worker.returncode == 0, stderr[-2000:]
    assert "resuming at step" in stderr
    assert identical_runs(straight, resumed)


@pytest.mark.parametrize("tf_config_value, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}),
     "TF_CONFIG must name exactly one chief"),
    (json.dumps({"cluster": {"chief": ["127.0.0.1:1"], "ps": ["127.0.0.1:2"]},
                 "task": {"type": "chief", "index": 0}}), "names job(s) ps"),
    (json.dumps({"cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]},
                 "task": {"type": "worker", "index": 3}}), "task worker 3 is not in the cluster"),
    (json.dumps({"cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3"]},
                 "task": {"type": "chief", "index": 0}}),
     "--micro_batches=2 must be divisible by the number of processes (3"),
])
def test_bad_cluster_input_is_one_line_before_training(run_module, tmp_path, tf_config_value,
                                                       message):
    model_dir = tmp_path / "run"
    proc = run_module(APP, f"--model_dir={model_dir}", f"--data_dir={tmp_path}", *M2,
                      check=False, extra_env={"TF_CONFIG": tf_config_value})
    assert proc.returncode == 2, proc.stderr[-1000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-1000:]
    assert not model_dir.exists()


def test_port_in_use_and_uneven_local_workers_are_refused(run_module, tmp_path):
    model_dir = tmp_path / "run"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        proc = run_module(APP, f"--model_dir={model_dir}", f"--data_dir={tmp_path}", *M2,
                          check=False, extra_env={"TF_CONFIG": tf_config([address], 0)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-1000:]
    assert f"cannot listen on chief ({address})" in proc.stderr
    proc = run_module(APP, f"--model_dir={model_dir}", "--local_workers=3", *M2, check=False)
    assert proc.returncode == 2 and "must be divisible by the number of processes (3" in (
        proc.stderr)
    assert not model_dir.exists()
