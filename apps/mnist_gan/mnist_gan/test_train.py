"""The MNIST GAN app beyond every app's contract (twice, resume, two processes, SIGTERM:
libs/repro_experiment/test_contract.py): one core and a bit-changing environment, its run.json,
the refusals that name its own options.

Runs are real (real TF-GAN, real checkpoints, real digits from the conftest's tiny IDX copy)
but a few steps long, on small nets (conftest.SMALL); another core count and another
environment run in a fresh process, the rest in this process (`train_here`).
"""

from __future__ import annotations

import os

import pytest

import repro_app
from run_record import read_run_json


def test_one_core_and_a_bit_changing_environment_same_bits(
    train, train_here, identical_runs, tmp_path, one_core, bit_changing_env
):
    """One schedulable core (the process-wide pool is sized by the pins, not by the cores)
    and every numerics variable set to a bit-changing value (the pins override them), both in
    one fresh process, against a plain run: identical."""
    if one_core is None:
        pytest.skip("needs taskset and two cores")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    train_here(a, "--max_train_steps=2", "--gan_type=infogan")
    train(
        b, "--max_train_steps=2", "--gan_type=infogan", prefix=one_core, extra_env=bit_changing_env
    )
    assert identical_runs(a, b)
    record = read_run_json(b)
    assert record["host"]["cpu"]["schedulable_cores"] == 1
    # The pool that actually ran oneDNN's ops (its own report) has the pinned 2 threads.
    assert record["host"]["onednn_threads"] == 2
    assert record["determinism"]["overridden_environment"] == bit_changing_env
    assert record["determinism"]["environment"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert read_run_json(a)["host"]["onednn_isa"] == record["host"]["onednn_isa"]
    # The seed tree: the skeleton's and the GAN's named sub-seeds.
    assert record["app"] == "mnist_gan" and record["seed"] == 123
    assert set(record["seeds"]) == {
        "root",
        "data",
        "initializers",
        "init",
        "noise",
        "gradient_penalty",
        "samples",
        "eval",
    }
    # The audited graphs' op census (no approximate kernel, or the run would have stopped).
    assert record["graph_ops"]["train"]["ResourceApplyAdam"] > 0
    assert record["graph_ops"]["predict"]["Tanh"] > 0
    assert not set(record["graph_ops"]["train"]) & {"Rsqrt", "Reciprocal"}
    assert record["results"] == ["samples.png"]
    assert os.path.getsize(os.path.join(b, "samples.png")) > 1000


def test_another_run_in_the_same_model_dir_is_refused(train_here, tmp_path):
    """(A resume equal to the straight run: every app's contract.)"""
    resumed = str(tmp_path / "resumed")
    train_here(resumed, "--max_train_steps=1", "--gan_type=conditional")
    # Another seed (or gan_type) in the same model_dir is refused, and nothing is touched.
    with open(os.path.join(resumed, "losses.csv"), "rb") as f:
        before = f.read()
    with pytest.raises(repro_app.RunError) as info:
        train_here(resumed, "--max_train_steps=9", "--random_seed=5", "--gan_type=infogan")
    assert info.value.exit_status == 2
    assert (
        "was made by a different run (model.gan_type: 'conditional' there, 'infogan' "
        "now; model.loss: 'wasserstein' there, 'modified' now; random_seed: 123 there, 5 "
        "now)"
    ) in str(info.value)
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
