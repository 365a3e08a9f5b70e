"""The GAN in the portable numerics mode (`--numerics=portable`): audited against the portable
allowlist, other bits than the fast mode, the mode part of the run; in the slow tier twice in
fresh processes and crash-resumed, to the same bits.

That x86-64 and aarch64 train the same bits is proven under qemu-aarch64 by
build-support/arm_emulated_check.sh (CI), and op by op by apps/repro/repro/test_portable_emulated.py.
"""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

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


def test_an_op_with_no_portable_form_is_refused_in_one_line(train_here, tmp_path):
    """InfoGAN's mutual-information penalty (TF-Probability's categorical log-likelihood) is
    not portable yet: refused before a step, naming the op, where, and the replacement."""
    model_dir = str(tmp_path / "infogan")
    with pytest.raises(repro_app.RefusedGraphError) as refused:
        train_here(model_dir, "--max_train_steps=1", "--gan_type=infogan", PORTABLE)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("train graph: ")
    assert "LogSoftmax" in message and "tf_determinism.portable.log_softmax" in message
    assert refused.value.exit_status == 2
    assert list(read_losses(model_dir)[1]) == [] and tf.train.latest_checkpoint(model_dir) is None


@pytest.mark.slow
def test_portable_twice_and_crash_resumed_same_bits(train, train_here, identical_runs, tmp_path):
    """Two fresh processes, and a run resumed from its step-2 checkpoint, to the same bits;
    another seed differs."""
    a, b, resumed, other = (str(tmp_path / n) for n in ("a", "b", "resumed", "other"))
    flags = ("--max_train_steps=3", "--save_checkpoints_steps=1", PORTABLE)
    train(a, *flags)
    train(b, *flags)
    assert identical_runs(a, b)
    train_here(resumed, "--max_train_steps=2", "--save_checkpoints_steps=1", PORTABLE)
    train_here(resumed, *flags)
    assert identical_runs(a, resumed)
    train_here(other, *flags, "--random_seed=5")
    with pytest.raises(AssertionError):
        identical_runs(a, other)
