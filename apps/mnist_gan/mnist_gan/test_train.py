"""The MNIST GAN app end to end: flags, run directory, bitwise reproducibility, resume, faults.

Runs are real (real TF-GAN, real checkpoints, real digits) but a few steps long, each in a fresh
process as a user runs them. One property runs on the full real MNIST (the unconditional GAN
twice and with another seed); the others use the conftest's tiny IDX copy of it.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from run_record import read_losses, read_run_json


def _same_bits_other_seed_differs(train, identical_runs, tmp_path, gan_type, tiny):
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    for model_dir, seed in ((a, 123), (b, 123), (c, 124)):
        train(model_dir, "--max_train_steps=2", f"--gan_type={gan_type}",
              f"--random_seed={seed}", tiny=tiny)
    assert identical_runs(a, b)
    names, steps_a, losses_a = read_losses(a)
    np.testing.assert_array_equal(steps_a, [1, 2])
    _, _, losses_c = read_losses(c)
    # A different seed differs from the very first step, and in the weights.
    assert all(losses_a[n][0].tobytes() != losses_c[n][0].tobytes() for n in names)
    assert not identical_runs(a, c)
    record = read_run_json(a)
    assert record["options"]["model"]["gan_type"] == gan_type and record["seed"] == 123
    assert record["seeds"]["root"] == 123 and len(set(record["seeds"].values())) == 8
    assert record["determinism"]["op_determinism_enabled"] is True
    # The audited graphs' op census (no approximate kernel, or the run would have stopped).
    assert record["graph_ops"]["train"]["ResourceApplyAdam"] > 0
    assert record["graph_ops"]["predict"]["Tanh"] > 0
    assert not set(record["graph_ops"]["train"]) & {"Rsqrt", "Reciprocal"}
    assert os.path.getsize(os.path.join(a, "samples.png")) > 1000
    for d in (a, b, c):
        shutil.rmtree(d)


def test_real_mnist_same_flags_same_bits_other_seed_differs(train, identical_runs, tmp_path):
    _same_bits_other_seed_differs(train, identical_runs, tmp_path, "unconditional", tiny=False)


def test_one_core_and_two_cores_same_bits(train, identical_runs, tmp_path, one_core):
    # The process-wide thread pool is sized by the pins, not by the schedulable cores.
    if one_core is None:
        pytest.skip("needs taskset and two cores")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    train(a, "--max_train_steps=2", "--gan_type=conditional")
    train(b, "--max_train_steps=2", "--gan_type=conditional", prefix=one_core)
    assert identical_runs(a, b)
    host = read_run_json(b)["host"]
    assert host["cpu"]["schedulable_cores"] == 1
    # The pool that actually ran oneDNN's ops (its own report) has the pinned 2 threads.
    assert host["onednn_threads"] == 2


def test_bit_changing_environment_is_overridden(train, identical_runs, tmp_path,
                                                bit_changing_env):
    # Also: the same flags twice give the same bits (infogan; that another seed differs, per
    # gan_type, is gan_models' test, in process and cheaper).
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    train(a, "--max_train_steps=2", "--gan_type=infogan")
    train(b, "--max_train_steps=2", "--gan_type=infogan", extra_env=bit_changing_env)
    assert identical_runs(a, b)
    determinism = read_run_json(b)["determinism"]
    assert determinism["overridden_environment"] == bit_changing_env
    assert determinism["environment"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert read_run_json(a)["host"]["onednn_isa"] == read_run_json(b)["host"]["onednn_isa"]


def test_resume_equals_straight_run_and_mismatch_is_refused(train, identical_runs, tmp_path):
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train(straight, "--max_train_steps=6")
    train(resumed, "--max_train_steps=3")
    proc = train(resumed, "--max_train_steps=6")
    assert "resuming at step 3 of 6" in proc.stderr
    assert identical_runs(straight, resumed)

    # Another seed (or gan_type) in the same model_dir is refused, and nothing is touched.
    with open(os.path.join(resumed, "losses.csv"), "rb") as f:
        before = f.read()
    proc = train(resumed, "--max_train_steps=9", "--random_seed=5", "--gan_type=infogan",
                 check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert ("was made by a different run (model.gan_type: 'unconditional' there, 'infogan' "
            "now; model.loss: 'wasserstein' there, 'modified' now; random_seed: 123 there, 5 "
            "now)") in proc.stderr
    with open(os.path.join(resumed, "losses.csv"), "rb") as f:
        assert f.read() == before



def test_another_micro_batches_is_refused_in_the_same_model_dir(train, tmp_path):
    """M is part of the model: a run made with --micro_batches=2 is not resumed with 1.
    (M=2 twice, resumed, on 1 or 2 processes, and with another seed: test_cluster.py.)"""
    model_dir = str(tmp_path / "run")
    train(model_dir, "--max_train_steps=1", "--micro_batches=2")
    assert read_run_json(model_dir)["options"]["model"]["micro_batches"] == 2
    proc = train(model_dir, "--max_train_steps=2", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "model.micro_batches: 2 there, 1 now" in proc.stderr
