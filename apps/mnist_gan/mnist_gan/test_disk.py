"""The run directory's disk faults: a torn newest checkpoint (the run falls back to the newest
intact one, to the same bits), a full file system (one line, exit 6, no partial files, the
rerun identical), and a directory the trainer may not write (refused before training)."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import time

import pytest

import repro_app
from repro_app import run_dir
from tf_determinism import child_env

APP = "mnist_gan.train"


def _truncate_data_files(model_dir, step: str = "*") -> None:
    for data in glob.glob(os.path.join(model_dir, f"model.ckpt-{step}.data-*")):
        os.truncate(data, os.path.getsize(data) // 2)  # a copy interrupted


def test_a_torn_newest_checkpoint_falls_back_to_the_newest_intact_one(
    train_here, identical_runs, tmp_path, monkeypatch
):
    """With relative run directories, as the default runs/mnist_gan/... is (a resume once
    looked for runs/x/runs/x/model.ckpt-N)."""
    monkeypatch.chdir(tmp_path)
    every_10 = ("--save_checkpoints_steps=10", "--keep_checkpoint_max=2")
    reference = os.path.join("runs", "reference")
    train_here(reference, *every_10, "--max_train_steps=40")
    model_dir = os.path.join("runs", "torn")
    train_here(model_dir, *every_10, "--max_train_steps=20")
    _truncate_data_files(model_dir, "20")

    lines = train_here(model_dir, *every_10, "--max_train_steps=40")
    torn = os.path.join(model_dir, "model.ckpt-20")
    named = [ln for ln in lines if "unreadable checkpoint" in ln]
    assert len(named) == 1 and re.fullmatch(
        re.escape(f"{torn}: unreadable checkpoint, tensor ")
        + "'[^']+'"
        + re.escape(
            " (IndexError: Read less bytes than requested); removed, resuming from model.ckpt-10"
        ),
        named[0],
    ), named
    assert f"resuming at step 10 of 40 in {model_dir}" in lines
    assert identical_runs(str(model_dir), str(reference))

    _truncate_data_files(model_dir)  # both kept checkpoints (30, 40)
    before = sorted(os.listdir(model_dir))
    with pytest.raises(
        repro_app.RunError,
        match=f"^no intact checkpoint in {model_dir}: "
        f"{model_dir}/model.ckpt-40: unreadable checkpoint, tensor '[^']+' "
        rf"\(IndexError: .*; {model_dir}/model.ckpt-30: unreadable checkpoint",
    ):
        train_here(model_dir, *every_10, "--max_train_steps=50")
    assert sorted(os.listdir(model_dir)) == before  # nothing removed


@pytest.fixture
def mounted(tmp_path):
    """mounted(options) -> a fresh tmpfs mounted with `options` (unmounted after the test)."""
    points = []

    def mount(options: str):
        point = tmp_path / f"fs{len(points)}"
        point.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            pytest.skip(
                f"cannot mount a tmpfs here (needs root, CAP_SYS_ADMIN): {proc.stderr.strip()}"
            )
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _has_row(losses_csv, step: int) -> bool:
    try:
        with open(losses_csv, encoding="utf-8") as f:
            return any(line.startswith(f"{step},") for line in f)
    except FileNotFoundError:
        return False


def _fill(directory, leave: int) -> str:
    """Fills directory's file system but `leave` bytes; returns the filler's path."""
    stat = os.statvfs(directory)
    filler = os.path.join(directory, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * (stat.f_bavail * stat.f_frsize - leave))
    return filler


def test_a_full_disk_is_one_line_leaves_no_partial_files_and_the_rerun_is_identical(
    train, train_here, identical_runs, mounted, tmp_path
):
    flags = (
        "--max_train_steps=400",
        "--save_checkpoints_steps=200",
        "--save_summary_steps=1000",
        "--log_step_count_steps=50",
    )
    reference = tmp_path / "reference"
    train_here(reference, *flags)
    disk = mounted("size=32m")
    model_dir = disk / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", APP, *train.flags(model_dir, *flags)],
        env=child_env(),
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    # Step 1's row: checkpoint 0 (data, index, state file, then .meta) is complete.
    while not _has_row(model_dir / "losses.csv", 1) and proc.poll() is None:
        time.sleep(0.02)
    # Room for 200 rows of losses.csv, not for checkpoint 200 (1.4 MB at this size).
    filler = _fill(disk, leave=64 << 10)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == repro_app.EXIT_NO_SPACE, stderr[-3000:]
    assert "Traceback" not in stderr
    [line] = [ln for ln in stderr.splitlines() if ln.startswith("E")]
    assert line.endswith(
        f"] no space left in {model_dir} (ResourceExhaustedError) writing "
        "checkpoint 200, its partial files removed; free room there and rerun "
        "the same command to resume from the last checkpoint"
    ), line
    left = sorted(os.listdir(model_dir))
    assert not [n for n in left if "_temp" in n or n.startswith("model.ckpt-200")], left
    assert "model.ckpt-0.index" in left and "run.json" in left

    os.remove(filler)  # room again
    train_here(model_dir, *flags)  # the same flags
    assert identical_runs(str(model_dir), str(reference))


def test_a_read_only_model_dir_is_refused_before_training(train, mounted):
    read_only = mounted("ro,size=1m")
    proc = train(read_only / "run", "--max_train_steps=2", check=False)
    assert proc.returncode == repro_app.EXIT_REFUSED
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("E")]
    assert line.endswith(
        f"] --model_dir={read_only / 'run'} is not writable by this user "
        "(uid 0): Read-only file system"
    ), line
    assert "Traceback" not in proc.stderr


def test_a_model_dir_an_unprivileged_user_may_not_write_is_refused(tmp_path):
    """As `nobody` (a forked child that drops root): the check the app runs first."""
    if os.getuid() != 0:
        pytest.skip("needs root to become another user")
    target = tmp_path / "root-owned"
    target.mkdir(mode=0o755)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # only os calls and the check itself here
        status = 0
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            run_dir.check_writable(str(target / "run"), "--model_dir")
        except repro_app.RunError as e:
            os.write(write, str(e).encode())
            status = e.exit_status
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as f:
        message = f.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == repro_app.EXIT_REFUSED
    assert message == (
        f"--model_dir={target / 'run'} is not writable by this user (uid 65534): "
        "Permission denied"
    )
    assert os.listdir(target) == []
