"""The GAN in the portable numerics mode (`--numerics=portable`): audited against the portable
allowlist (InfoGAN too), other bits than the fast mode, the mode part of the run. (Twice and
crash-resumed to the same bits: every app's contract, libs/repro_experiment/test_contract.py.)

That x86-64 and aarch64 train the same bits is proven under qemu-aarch64 by
build-support/arm_emulated_check.sh (CI), and op by op by apps/repro/repro/test_portable_emulated.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import repro_app
from run_record import read_losses, read_run_json
from tf_determinism import ops

PORTABLE = "--numerics=portable"


@pytest.fixture(autouse=True)
def fast_mode_after():
    """A run here sets this process's numerics mode; the next test's graphs start in fast."""
    yield
    ops.set_mode("fast")


def test_portable_run_is_audited_and_differs_from_fast(train_here, identical_runs, tmp_path):
    portable, fast = str(tmp_path / "portable"), str(tmp_path / "fast")
    train_here(portable, "--max_train_steps=2", "--gan_type=conditional", PORTABLE)
    train_here(fast, "--max_train_steps=2", "--gan_type=conditional")
    record = read_run_json(portable)
    assert record["identity"]["numerics"]["numerics"] == "portable"
    census = record["graph_ops"]["train"]
    # The GAN's convolutions and matmuls are the portable ones: float64 products of integer
    # slices (the audit admits a float64 MatMul only inside portable_exact), no TF kernel that
    # rounds float32 its own way on each architecture.
    assert census["MatMul"] > 0
    assert not set(census) & {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "Tanh"}
    assert not set(census) & {"ResourceApplyAdam", "SqrtGrad", "BiasAddGrad", "Mean", "Relu"}
    with pytest.raises(AssertionError) as differs:
        identical_runs(portable, fast)
    assert "the numerics mode" in str(differs.value)
    assert os.path.getsize(os.path.join(portable, "samples.png")) > 1000


def test_the_other_mode_in_the_same_model_dir_is_refused(train_here, tmp_path):
    model_dir = str(tmp_path / "portable")
    train_here(model_dir, "--max_train_steps=1", PORTABLE)
    with pytest.raises(repro_app.RunError) as refused:
        train_here(model_dir, "--max_train_steps=2")
    assert refused.value.exit_status == 2
    assert "numerics.numerics: 'portable' there, 'fast' now" in str(refused.value)


def test_infogan_is_portable_with_tfgans_penalty(train_here, tmp_path):
    """InfoGAN's mutual-information penalty from portable ops (TF-Probability's log_prob holds
    TF's LogSoftmax and Log): audited, and within float32 rounding of TF-GAN's at step 1."""
    losses = {}
    for mode in ("portable", "fast"):
        model_dir = str(tmp_path / mode)
        train_here(model_dir, "--max_train_steps=1", "--gan_type=infogan", f"--numerics={mode}")
        losses[mode] = read_losses(model_dir)[2]
        census = read_run_json(model_dir)["graph_ops"]["train"]
        assert ("LogSoftmax" in census) == (mode == "fast")
    for name, fast in losses["fast"].items():
        np.testing.assert_allclose(losses["portable"][name], fast, rtol=1e-6)
