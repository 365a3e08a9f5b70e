"""The classifier in the portable numerics mode (`--numerics=portable`): audited against the
portable allowlist, its SavedModel portable too, other bits than the fast mode. (Twice and
crash-resumed to the same bits: every app's contract, libs/repro_experiment/test_contract.py.)

That x86-64 and aarch64 train the same bits is proven under qemu-aarch64 by
build-support/arm_emulated_check.sh (CI), and op by op by apps/repro/repro/test_portable_emulated.py.
"""

from __future__ import annotations

import json
import os

import pytest
from tensorflow.core.protobuf import saved_model_pb2

from mnist_classifier import train_lib
from mnist_classifier.options import ClassifierOptions
from run_record import read_run_json
from tf_determinism import ops

APP = "mnist_classifier"
PORTABLE = "--numerics=portable"
# TF's kernels the portable graph must not hold (each rounds float32 its own way on aarch64, or
# is a float max of subnormals: graph_audit.PORTABLE_OPS says why).
NOT_PORTABLE = {
    "Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MaxPool", "MaxPoolGrad", "Relu",
    "ReluGrad", "BiasAdd", "BiasAddGrad", "Cos", "Mean", "SparseSoftmaxCrossEntropyWithLogits",
    "ResourceApplyAdam",
}  # fmt: skip


@pytest.fixture(autouse=True)
def fast_mode_after():
    """A run here sets this process's numerics mode; the next test's graphs start in fast."""
    yield
    ops.set_mode("fast")


@pytest.fixture
def flags(tiny_idx_dir, tmp_path):
    """flags(model_dir, *extra): a run on the tiny MNIST, batch 8, a checkpoint every step."""
    return lambda model_dir, *extra: [
        f"--model_dir={model_dir}", f"--data_dir={tmp_path / 'data'}",
        f"--mnist_idx_dir={tiny_idx_dir}", "--buffer_size=256", "--batch_size=8",
        "--test_images=64", "--save_checkpoints_steps=1", "--keep_checkpoint_max=5", *extra,
    ]  # fmt: skip


def _export_ops(model_dir: str) -> set[str]:
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(model_dir, train_lib.EXPORT_DIR, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    return {node.op for node in saved.meta_graphs[0].graph_def.node}


def test_portable_run_is_audited_and_differs_from_fast(run_here, flags, identical_runs, tmp_path):
    portable, fast = str(tmp_path / "portable"), str(tmp_path / "fast")
    run_here(APP, ClassifierOptions, flags(portable, "--max_train_steps=2", PORTABLE))
    run_here(APP, ClassifierOptions, flags(fast, "--max_train_steps=2"))
    record = read_run_json(portable)
    assert record["identity"]["numerics"]["numerics"] == "portable"
    census = record["graph_ops"]["train"]
    assert census["MatMul"] > 0 and not set(census) & NOT_PORTABLE
    assert _export_ops(portable) & {"MatMul", "SelectV2"}
    assert not _export_ops(portable) & NOT_PORTABLE and "Conv2D" in _export_ops(fast)
    with pytest.raises(AssertionError) as differs:
        identical_runs(portable, fast)
    assert "the numerics mode" in str(differs.value)
    with open(os.path.join(portable, train_lib.METRICS_JSON), encoding="utf-8") as f:
        assert json.load(f)["test_count"] == 64  # measured through the portable SavedModel
