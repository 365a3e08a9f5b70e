"""The MNIST GAN on several processes (TF_CONFIG clusters on 127.0.0.1): the bits depend on
--micro_batches, not on the number of processes (W = 1, 2, 4 at M = 4, and a resume on another
W); a lost worker ends the run with one line and a rerun resumes to the same bits; bad cluster
input is refused before any training. The clusters are real processes, each importing
TensorFlow: minutes, so they are the slow tier (`--local_workers=2` equal to one process is
every app's contract, libs/repro_experiment/test_contract.py); the refusals are quick."""

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
# Four micro-batches of 2 rows: W = 1, 2 and 4 processes each compute whole subtrees of the
# pairwise tree over micro-batches (repro_cluster.collectives: the "subtree" exchange).
M4 = ("--micro_batches=4", "--save_checkpoints_steps=1", "--max_train_steps=4")
# infogan with the gradient penalty: structured codes, the MI penalty and keyed interpolation
# weights all cross the cluster; the conditional GAN adds the rows' labels (test below).
INFOGAN = ("--gan_type=infogan", "--gradient_penalty_weight=5")


@pytest.fixture(scope="module")
def one_process(train_here, tmp_path_factory) -> str:
    """The W = 1 run every cluster run must equal: infogan, M=4, 4 steps, no cluster."""
    model_dir = str(tmp_path_factory.mktemp("w1") / "run")
    train_here(model_dir, *M4, *INFOGAN)
    return model_dir


@pytest.mark.slow
def test_two_processes_same_bits_as_one_other_seed_differs(
    train, train_here, identical_runs, one_process, tmp_path
):
    """W=2 from step 0 equals W=1, byte for byte, for the infogan and the conditional GAN;
    another seed differs at step 1; only the chief writes the run directory, and run.json
    says what each process's collectives move per step."""
    two = str(tmp_path / "two")
    proc = train(two, *M4, *INFOGAN, "--local_workers=2")
    assert "[worker 0]" in proc.stderr and "[chief]" in proc.stderr
    assert identical_runs(one_process, two)
    record = read_run_json(two)
    assert record["cluster"]["workers"] == 2
    per_step = record["cluster"]["per_step"]
    assert per_step["method"] == "subtree" and per_step["collectives"] == 4  # 2 a pass
    assert per_step["sent_bytes"] == per_step["received_bytes"] > 0
    files = {n for n in os.listdir(two) if not n.startswith("events.out.tfevents.")}
    assert files == {
        ".lock",
        "checkpoint",
        "graph.pbtxt",
        "losses.csv",
        "manifest.json",
        "run.json",
        "samples.png",
        *(f"model.ckpt-4.{e}" for e in ("data-00000-of-00001", "index", "meta")),
    }
    conditional = ("--gan_type=conditional", "--max_train_steps=2")
    here, there = str(tmp_path / "c1"), str(tmp_path / "c2")
    train_here(here, *M4, *conditional)
    train(there, *M4, *conditional, "--local_workers=2")
    assert identical_runs(here, there)
    other = str(tmp_path / "other")
    train_here(other, *M4, *INFOGAN, "--random_seed=124", "--max_train_steps=1")
    names, _, losses = read_losses(two)
    _, _, losses_other = read_losses(other)
    assert all(losses[n][0].tobytes() != losses_other[n][0].tobytes() for n in names)


@pytest.mark.slow
def test_four_processes_then_two_resume_to_the_same_bits(
    train, identical_runs, one_process, tmp_path
):
    """Steps 1-2 on W=4, steps 3-4 on W=2 (another W, the same M): equal to W=1."""
    run = str(tmp_path / "mixed")
    train(run, *M4, *INFOGAN, "--local_workers=4", "--max_train_steps=2")
    assert read_run_json(run)["cluster"]["per_step"]["method"] == "subtree"
    proc = train(run, *M4, *INFOGAN, "--local_workers=2")
    assert "resuming at step 2 of 4" in proc.stderr
    assert identical_runs(one_process, run)


def _start(run_dir_flags: list[str], addresses: list[str], rank: int) -> subprocess.Popen:
    env = child_env({"TF_CONFIG": tf_config(addresses, rank)})
    return subprocess.Popen(
        [sys.executable, "-m", APP, *run_dir_flags],
        env=env,
        stdout=subprocess.DEVNULL,
        text=True,
        stderr=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
    )


def _start_all(flags: list[str], addresses: list[str]) -> list[subprocess.Popen]:
    return [_start(flags, addresses, rank) for rank in range(len(addresses))]


@pytest.mark.slow
def test_killed_worker_of_four_fails_fast_and_rerun_resumes_to_the_same_bits(
    train, identical_runs, one_process, tmp_path
):
    """Four cluster tasks started by hand (what a launcher does); worker 1 is killed after the
    first checkpoint: the chief ends within 60 s with one line naming the lost peers;
    rerunning the same four commands resumes and ends bitwise equal to W=1."""
    run = str(tmp_path / "killed")
    flags = train.flags(run, *M4, *INFOGAN)
    addresses = free_local_addresses(4)
    procs = _start_all(flags, addresses)
    chief = procs[0]
    try:
        deadline = time.monotonic() + 300
        while not os.path.exists(os.path.join(run, "model.ckpt-1.index")):
            assert time.monotonic() < deadline and chief.poll() is None, chief.stderr.read()
            time.sleep(0.2)
        procs[2].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = chief.communicate(timeout=90)
        assert time.monotonic() - killed < 60
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert chief.returncode == 4, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("E")]
    assert len(errors) == 1 and "lost one of worker 0" in errors[0], stderr[-2000:]
    assert f"worker 1 ({addresses[2]})" in errors[0] and "Traceback" not in stderr
    steps = read_losses(run)[1]
    assert steps[0] == 1 and len(steps) >= 1  # the rows up to the checkpoint are kept
    procs = _start_all(flags, addresses)  # the same four commands again
    _, stderr = procs[0].communicate(timeout=300)
    for proc in procs[1:]:
        proc.wait(timeout=120)
    assert [p.returncode for p in procs] == [0, 0, 0, 0], stderr[-2000:]
    assert "resuming at step" in stderr
    assert identical_runs(one_process, run)


@pytest.mark.parametrize(
    "tf_config_value, message",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        (
            json.dumps(
                {"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}
            ),
            "TF_CONFIG must name exactly one chief",
        ),
        (
            json.dumps(
                {
                    "cluster": {"chief": ["127.0.0.1:1"], "ps": ["127.0.0.1:2"]},
                    "task": {"type": "chief", "index": 0},
                }
            ),
            "names job(s) ps",
        ),
        (
            json.dumps(
                {
                    "cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]},
                    "task": {"type": "worker", "index": 3},
                }
            ),
            "task worker 3 is not in the cluster",
        ),
        (
            json.dumps(
                {
                    "cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3"]},
                    "task": {"type": "chief", "index": 0},
                }
            ),
            "--micro_batches=2 must be divisible by the number of processes (3",
        ),
    ],
)
def test_bad_cluster_input_is_one_line_before_training(
    run_module, tmp_path, tf_config_value, message
):
    model_dir = tmp_path / "run"
    proc = run_module(
        APP,
        f"--model_dir={model_dir}",
        f"--data_dir={tmp_path}",
        "--micro_batches=2",
        check=False,
        extra_env={"TF_CONFIG": tf_config_value},
    )
    assert proc.returncode == 2, proc.stderr[-1000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-1000:]
    assert not model_dir.exists()


def test_port_in_use_and_uneven_local_workers_are_refused(run_module, tmp_path):
    model_dir = tmp_path / "run"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        proc = run_module(
            APP,
            f"--model_dir={model_dir}",
            f"--data_dir={tmp_path}",
            "--micro_batches=2",
            check=False,
            extra_env={"TF_CONFIG": tf_config([address], 0)},
        )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-1000:]
    assert f"cannot listen on chief ({address})" in proc.stderr
    proc = run_module(
        APP, f"--model_dir={model_dir}", "--local_workers=3", "--micro_batches=2", check=False
    )
    assert proc.returncode == 2 and "must be divisible by the number of processes (3" in (
        proc.stderr
    )
    assert not model_dir.exists()
