"""The MNIST GAN app end to end: flags, run directory, bitwise reproducibility, resume, faults.

Runs are real (real TF-GAN, real checkpoints, real digits) but a few steps long, on small nets
(conftest.SMALL). "The same command again" runs in fresh processes, as a user runs it; so do
another core count and another environment. The other properties run in this process
(`train_here`). One property runs on the full real MNIST (the unconditional GAN twice and
with another seed); the others use the conftest's tiny IDX copy of it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import repro_app
from run_record import read_losses, read_run_json


def test_real_mnist_same_flags_same_bits_other_seed_differs(train, train_here, identical_runs,
                                                            tmp_path):
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    for model_dir in (a, b):
        train(model_dir, "--max_train_steps=2", "--random_seed=123", tiny=False)
    assert identical_runs(a, b)
    names, steps_a, losses_a = read_losses(a)
    np.testing.assert_array_equal(steps_a, [1, 2])
    train_here(c, "--max_train_steps=2", "--random_seed=124", tiny=False)
    _, _, losses_c = read_losses(c)
    # A different seed differs from the very first step, and in the weights.
    assert all(losses_a[n][0].tobytes() != losses_c[n][0].tobytes() for n in names)
    assert not identical_runs(a, c)
    record = read_run_json(a)
    assert record["options"]["model"]["gan_type"] == "unconditional" and record["seed"] == 123
    assert record["seeds"]["root"] == 123 and len(set(record["seeds"].values())) == 8
    assert record["determinism"]["op_determinism_enabled"] is True
    # The audited graphs' op census (no approximate kernel, or the run would have stopped).
    assert record["graph_ops"]["train"]["ResourceApplyAdam"] > 0
    assert record["graph_ops"]["predict"]["Tanh"] > 0
    assert not set(record["graph_ops"]["train"]) & {"Rsqrt", "Reciprocal"}
    assert os.path.getsize(os.path.join(a, "samples.png")) > 1000


def test_one_core_and_a_bit_changing_environment_same_bits(train, train_here, identical_runs,
                                                           tmp_path, one_core,
                                                           bit_changing_env):
    """One schedulable core (the process-wide pool is sized by the pins, not by the cores)
    and every numerics variable set to a bit-changing value (the pins override them), both in
    one fresh process, against a plain run: identical."""
    if one_core is None:
        pytest.skip("needs taskset and two cores")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    train_here(a, "--max_train_steps=2", "--gan_type=infogan")
    train(b, "--max_train_steps=2", "--gan_type=infogan", prefix=one_core,
          extra_env=bit_changing_env)
    assert identical_runs(a, b)
    record = read_run_json(b)
    assert record["host"]["cpu"]["schedulable_cores"] == 1
    # The pool that actually ran oneDNN's ops (its own report) has the pinned 2 threads.
    assert record["host"]["onednn_threads"] == 2
    assert record["determinism"]["overridden_environment"] == bit_changing_env
    assert record["determinism"]["environment"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert read_run_json(a)["host"]["onednn_isa"] == record["host"]["onednn_isa"]


def test_resume_equals_straight_run_and_mismatch_is_refused(train_here, identical_runs,
                                                            tmp_path):
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train_here(straight, "--max_train_steps=6", "--gan_type=conditional")
    train_here(resumed, "--max_train_steps=3", "--gan_type=conditional")
    assert "resuming at step 3 of 6 in " + resumed in train_here(
        resumed, "--max_train_steps=6", "--gan_type=conditional")
    assert identical_runs(straight, resumed)

    # Another seed (or gan_type) in the same model_dir is refused, and nothing is touched.
    with open(os.path.join(resumed, "losses.csv"), "rb") as f:
        before = f.read()
    with pytest.raises(repro_app.RunError) as info:
        train_here(resumed, "--max_train_steps=9", "--random_seed=5", "--gan_type=infogan")
    assert info.value.exit_status == 2
    assert ("was made by a different run (model.gan_type: 'conditional' there, 'infogan' "
            "now; model.loss: 'wasserstein' there, 'modified' now; random_seed: 123 there, 5 "
            "now)") in str(info.value)
    with open(os.path.join(resumed, "losses.csv"), "rb") as f:
        assert f.read() == before


def test_another_micro_batches_is_refused_in_the_same_model_dir(train_here, tmp_path):
    """M is part of the model: a run made with --micro_batches=2 is not resumed with 1.
    (M=2 twice, resumed, on 1 or 2 processes, and with another seed: test_cluster.py.)"""
    model_dir = str(tmp_path / "run")
    train_here(model_dir, "--max_train_steps=1", "--micro_batches=2")
    assert read_run_json(model_dir)["options"]["model"]["micro_batches"] == 2
    with pytest.raises(repro_app.RunError, match="model.micro_batches: 2 there, 1 now"):
        train_here(model_dir, "--max_train_steps=2")
