"""The Keras layers a user brings, each through the skeleton as written the usual way (default,
unseeded initializers; `training=True`): the probe app (keras_probe/) on MNIST's quick data.

* Dense, Conv2D, Conv2DTranspose and Embedding keep every guarantee: the same bits twice, after
  a crash and resume, after SIGTERM and the same command (each layer on its own, in this
  process); and all four together twice in fresh processes (another seed differing) and on two
  processes, every logged column (the loss and the accuracy) equal.
* Dropout, LayerNormalization and BatchNormalization are refused before a step is trained, in
  one line naming the layer and its replacement.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import tensorflow as tf

import repro_app
from repro_experiment.keras_probe.options import LAYERS, ProbeOptions
from repro_experiment.keras_probe.train import APP
from repro_experiment.testing import Crash, CrashAfter, SignalAt, quick_command
from run_record import read_losses
from tf_determinism import child_env

KEPT = ("Dense", "Conv2D", "Conv2DTranspose", "Embedding")
REFUSED = {
    "Dropout": "train graph: RandomUniform op 'dropout/dropout/random_uniform/RandomUniform' "
    "(name scope dropout/dropout/random_uniform: Keras' Dropout or tf.nn.dropout): a stateful random op "
    "draws from a counter this process keeps, so a resumed run or another process draws other "
    "numbers (and an op seed gives every micro-batch the same ones); use "
    "tf_determinism.layers.dropout(x, rate, key, tag), key = tf_determinism.stateless_key("
    "ctx.seeds.dropout, features['batch_index'], micro)",
    "LayerNormalization": "train graph: FusedBatchNormV3 op 'layer_normalization/"
    "FusedBatchNormV3' (name scope layer_normalization: a Keras LayerNormalization): the "
    "CPU kernel uses rsqrt (rsqrtps), so its bits follow the CPU vendor; use "
    "tf_determinism.layers.layer_norm (exact.layer_normalization: divides by tf.sqrt)",
    "BatchNormalization": "train graph: FusedBatchNormV3 op 'batch_normalization/"
    "FusedBatchNormV3' (name scope batch_normalization: a Keras BatchNormalization): the "
    "CPU kernel uses rsqrt (rsqrtps), so its bits follow the CPU vendor; use "
    "tf_determinism.exact.batch_normalization over tf.nn.moments (gan_models.layers.batch_norm "
    "is one)",
}
STEPS = 12


@pytest.fixture(scope="module")
def flags_of(tmp_path_factory):
    command = quick_command(
        APP, STEPS, str(tmp_path_factory.mktemp("data")), str(tmp_path_factory.mktemp("quick"))
    )
    return lambda model_dir, *extra: [*command, f"--model_dir={model_dir}", *extra]


@pytest.fixture(scope="module")
def here(flags_of, run_here):
    def run(model_dir, *extra: str, hooks=()) -> list[str]:
        return run_here(APP.name, ProbeOptions, flags_of(model_dir, *extra), hooks)

    return run


def test_every_layer_is_kept_or_refused() -> None:
    assert sorted(KEPT + tuple(REFUSED)) == sorted(LAYERS)


@pytest.mark.parametrize("layer", KEPT)
def test_a_kept_layer_repeats_resumes_and_survives_sigterm(layer, here, identical_runs, tmp_path):
    flag = f"--layers={layer}"
    straight, again = str(tmp_path / "straight"), str(tmp_path / "again")
    here(straight, flag)
    here(again, flag)
    assert identical_runs(straight, again)
    crashed, every_4 = str(tmp_path / "crashed"), "--save_checkpoints_steps=4"
    with pytest.raises(Crash):
        here(crashed, flag, every_4, hooks=[CrashAfter(6)])
    assert f"resuming at step 4 of {STEPS} in {crashed}" in here(crashed, flag, every_4)
    assert identical_runs(straight, crashed)
    stopped = str(tmp_path / "stopped")
    with pytest.raises(repro_app.PreemptedError):
        here(stopped, flag, hooks=[SignalAt(3)])
    assert f"resuming at step 3 of {STEPS} in {stopped}" in here(stopped, flag)
    assert identical_runs(straight, stopped)


@pytest.mark.parametrize("layer", sorted(REFUSED))
def test_a_refused_layer_is_one_line_before_a_step(layer, here, tmp_path) -> None:
    model_dir = str(tmp_path / "run")
    with pytest.raises(repro_app.RefusedGraphError) as refused:
        here(model_dir, f"--layers=Dense,{layer}")
    assert str(refused.value) == REFUSED[layer]
    assert refused.value.exit_status == 2
    assert list(read_losses(model_dir)[1]) == [] and tf.train.latest_checkpoint(model_dir) is None


def _fresh(flags_of, model_dir, *extra: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", APP.module, *flags_of(model_dir, *extra)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_the_kept_layers_together_in_fresh_processes_and_on_two(
    flags_of, here, identical_runs, tmp_path
):
    """Keras draws an unseeded initializer's seed from Python's `random` in each process: the
    skeleton keys it by the variable's name instead, so a fresh process starts from the same
    weights; the loss and the accuracy are averaged over micro-batches and processes alike."""
    flag = f"--layers={','.join(KEPT)}"
    straight = str(tmp_path / "straight")
    here(straight, flag)
    for name, extra in (("fresh", ()), ("two", ("--local_workers=2",))):
        _fresh(flags_of, str(tmp_path / name), flag, *extra)
        assert identical_runs(straight, str(tmp_path / name))
    assert read_losses(straight)[0] == ["loss", "accuracy"]
    other = str(tmp_path / "other")
    here(other, flag, "--random_seed=124", "--max_train_steps=1")
    assert read_losses(other)[2]["loss"][0] != read_losses(straight)[2]["loss"][0]
    assert os.path.isfile(os.path.join(straight, "run.json"))
