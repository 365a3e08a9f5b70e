"""The MNIST GAN app's faults, tried as a new user would: bad flags, bad data, a NaN loss, a
busy model_dir. Each ends with one line and its own exit status, nothing lost."""

from __future__ import annotations

import json
import os

import pytest

import repro_app

APP = "mnist_gan.train"


def test_bad_flags_fail_at_parse_time(run_module, tmp_path):
    for bad, message in [
        ("--batch_size=0", "batch_size"),
        ("--gan_type=dcgan", "gan_type"),
        ("--compression=XZ", "compression"),
        ("--loss=hinge", "loss"),
        ("--gen_lr=-1", "gen_lr"),
        ("--random_seed=-3", "random_seed"),
        ("--model_dir=", "model_dir"),
        ("--micro_batches=0", "micro_batches"),
        ("--micro_batches=3", "--micro_batches=3 must divide --batch_size=32"),
    ]:
        proc = run_module(APP, bad, f"--data_dir={tmp_path / 'never'}", check=False)
        assert proc.returncode != 0, bad
        assert message in proc.stderr, (bad, proc.stderr[-500:])
        assert "Traceback" not in proc.stderr, bad
    # --help (absl exits 1 by design) lists the shared flags as the app's own.
    shown = run_module(APP, "--help", check=False).stdout
    for flag in (
        "--random_seed",
        "--cpu_isa",
        "--max_train_steps",
        "--batch_size",
        "--eval",
        "--micro_batches",
    ):
        assert flag in shown, flag
    proc = run_module(APP, "stray", f"--model_dir={tmp_path / 'never'}", check=False)
    assert proc.returncode != 0 and "Unexpected arguments: stray" in proc.stderr
    assert not (tmp_path / "never").exists()


def test_bad_idx_dir_is_a_one_line_error(run_module, tmp_path):
    proc = run_module(
        APP,
        f"--model_dir={tmp_path / 'run'}",
        f"--data_dir={tmp_path}",
        f"--mnist_idx_dir={tmp_path / 'nope'}",
        check=False,
    )
    assert proc.returncode == 2
    assert "--mnist_idx_dir is not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("E")]


def test_nan_loss_is_one_line_and_a_rerun_meets_it_again(train, train_here, tmp_path):
    model_dir = tmp_path / "nan"
    flags = ("--max_train_steps=5", "--gen_lr=1e30", "--crit_lr=1e30")
    first = train(model_dir, *flags, check=False)
    assert first.returncode == 3, first.stderr[-2000:]
    assert "Traceback" not in first.stderr
    [line] = _error_lines(first.stderr)
    message = f"step 1: discriminator_loss is NaN; last good checkpoint: {model_dir}/model.ckpt-0"
    assert line.endswith(message), line
    with open(model_dir / "losses.csv", "rb") as f:
        rows = f.read()
    # Reproducible: the rerun resumes from the checkpoint and meets the same NaN, same step.
    with pytest.raises(repro_app.NonFiniteLossError) as info:
        train_here(model_dir, *flags)
    assert str(info.value) == message and info.value.exit_status == 3
    with open(model_dir / "losses.csv", "rb") as f:
        assert f.read() == rows
    assert os.path.exists(model_dir / "model.ckpt-0.index")


def test_busy_model_dir_is_refused_and_a_killed_holder_does_not_block(
    train_here, tmp_path, lock_holder
):
    model_dir = str(tmp_path / "busy")
    with lock_holder(model_dir) as holder:
        with pytest.raises(repro_app.RunError) as info:
            train_here(model_dir, "--max_train_steps=1")
        assert info.value.exit_status == 2
        assert f"{model_dir} is in use by process {holder.pid} (" in str(info.value)
        assert not os.path.exists(os.path.join(model_dir, "run.json"))
    train_here(model_dir, "--max_train_steps=1")  # the dead holder's lock is gone with it
    assert json.loads(open(os.path.join(model_dir, "run.json")).read())["seed"] == 123


def test_gan_type_and_loss_choices_match_gan_models():
    import gan_models
    from mnist_gan import options

    assert options.GAN_TYPES == gan_models.GAN_TYPES
    assert options.LOSS_NAMES == gan_models.LOSS_NAMES
