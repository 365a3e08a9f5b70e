"""The MNIST GAN app end to end: flags, run directory, bitwise reproducibility, resume.

Runs are real (real MNIST, real TF-GAN, real checkpoints) but a few steps long, each in a fresh
process, as a user would run them twice.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from run_record import read_losses, read_run_json

_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "mnist_gan.train", *args], env=_ENV,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"mnist_gan {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _weights(model_dir: str) -> dict[str, np.ndarray]:
    import tensorflow as tf

    checkpoint = tf.train.latest_checkpoint(model_dir)
    reader = tf.train.load_checkpoint(checkpoint)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(checkpoint)}


def _same_weights(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("data"))


def _train(model_dir, data_dir, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run(f"--model_dir={model_dir}", f"--data_dir={data_dir}", "--keep_checkpoint_max=1",
                "--log_step_count_steps=1", *extra, check=check)


def test_bad_flags_fail_at_parse_time(tmp_path):
    for bad, message in [
        ("--batch_size=0", "batch_size"),
        ("--gan_type=dcgan", "gan_type"),
        ("--compression=XZ", "compression"),
        ("--loss=hinge", "loss"),
        ("--gen_lr=-1", "gen_lr"),
        ("--random_seed=-3", "random_seed"),
    ]:
        proc = _run(bad, f"--model_dir={tmp_path / 'never'}", check=False)
        assert proc.returncode != 0, bad
        assert message in proc.stderr, (bad, proc.stderr[-500:])
    proc = _run("stray", f"--model_dir={tmp_path / 'never'}", check=False)
    assert proc.returncode != 0 and "Unexpected arguments: stray" in proc.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("gan_type", ["unconditional", "conditional", "infogan"])
def test_same_flags_same_bits_other_seed_differs(gan_type, tmp_path, data_dir):
    steps = "--max_train_steps=3"
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    _train(a, data_dir, steps, f"--gan_type={gan_type}")
    _train(b, data_dir, steps, f"--gan_type={gan_type}")
    _train(c, data_dir, steps, f"--gan_type={gan_type}", "--random_seed=124")
    with open(os.path.join(a, "losses.csv"), "rb") as fa, open(os.path.join(b, "losses.csv"),
                                                                 "rb") as fb:
        assert fa.read() == fb.read()
    names, steps_a, losses_a = read_losses(a)
    np.testing.assert_array_equal(steps_a, [1, 2, 3])
    _, _, losses_c = read_losses(c)
    # A different seed differs from the very first step.
    assert all(losses_a[n][0].tobytes() != losses_c[n][0].tobytes() for n in names)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert _same_weights(wa, wb)
    assert not _same_weights(wa, wc)
    record = read_run_json(a)
    assert record["flags"]["gan_type"] == gan_type and record["seed"] == 123
    assert record["determinism"]["op_determinism_enabled"] is True
    assert os.path.getsize(os.path.join(a, "samples.png")) > 1000
    for d in (a, b, c):
        shutil.rmtree(d)


def test_resume_equals_straight_run_and_mismatch_is_refused(tmp_path, data_dir):
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    _train(straight, data_dir, "--max_train_steps=20")
    _train(resumed, data_dir, "--max_train_steps=10")
    proc = _train(resumed, data_dir, "--max_train_steps=20")
    assert "resuming at step 10 of 20" in proc.stderr
    with open(os.path.join(straight, "losses.csv"), "rb") as f1, open(
            os.path.join(resumed, "losses.csv"), "rb") as f2:
        assert f1.read() == f2.read()
    assert _same_weights(_weights(straight), _weights(resumed))

    # Another seed (or gan_type) in the same model_dir is refused, and nothing is touched.
    before = open(os.path.join(resumed, "losses.csv"), "rb").read()
    proc = _train(resumed, data_dir, "--max_train_steps=30", "--random_seed=5", check=False)
    assert proc.returncode == 2
    assert "was made by a different run (random_seed: 123 there, 5 now)" in proc.stderr
    assert open(os.path.join(resumed, "losses.csv"), "rb").read() == before


def test_bad_idx_dir_is_a_one_line_error(tmp_path, data_dir):
    proc = _train(tmp_path / "run", data_dir, f"--mnist_idx_dir={tmp_path / 'nope'}",
                  check=False)
    assert proc.returncode == 2
    assert "--mnist_idx_dir is not a directory" in proc.stderr
