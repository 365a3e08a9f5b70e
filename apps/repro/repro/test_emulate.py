"""`repro emulate`'s refusals (no emulator, unknown model, flags it sets itself), its
comparison of two run directories, and the whole command run as a user runs it, for every app,
with a stand-in emulator that runs the process natively (so no app module can be missing from
the tool). The emulated runs themselves are .ci/run's build-support/emulated_check.sh (minutes
each under qemu)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from repro import emulate
from tf_determinism import child_env

_FAKE_QEMU = """#!/bin/sh
if [ "$2" = help ]; then
  printf 'Available CPUs:\\nx86 Haswell              Intel Core Processor (Haswell)\\n'
  printf 'x86 EPYC-Rome            AMD EPYC-Rome Processor\\nx86 qemu64\\n'
  exit 0
fi
shift 2  # -cpu MODEL: the rest is the command, run natively
exec "$@"
"""


@pytest.fixture
def fake_qemu(tmp_path, monkeypatch) -> str:
    """A stand-in qemu-x86_64 on PATH that lists three CPU models."""
    path = tmp_path / "bin" / emulate.QEMU
    path.parent.mkdir()
    path.write_text(_FAKE_QEMU)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{path.parent}:{os.environ['PATH']}")
    return str(path)


def test_no_emulator_is_one_line_with_the_install_command(repro_cli, tmp_path, monkeypatch,
                                                           capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert repro_cli("emulate", "--cpu", "Haswell", "--runs_root", str(tmp_path)) == (2, "")
    assert capsys.readouterr().err == (
        "repro emulate: error: qemu-x86_64 not found on PATH; install it with "
        "`apt-get install qemu-user` (Debian, Ubuntu)\n")
    assert os.listdir(tmp_path) == []


def test_unknown_model_and_bad_flags_are_refused_before_any_run(repro_cli, tmp_path, fake_qemu,
                                                                capsys):
    assert emulate.qemu_cpu_models(fake_qemu) == ["Haswell", "EPYC-Rome", "qemu64"]
    cases = {
        ("--cpu", "Zen9"): "unknown CPU model 'Zen9' for qemu-x86_64; valid ones include "
                           "Haswell, EPYC-Rome (`qemu-x86_64 -cpu help` lists all 3)",
        ("--cpu", "Haswell", "--app", "mnist_svm"): "unknown app 'mnist_svm'; one of "
                                                    "mnist_gan, mnist_classifier, text_lm",
        ("--cpu", "Haswell", "--", "--model_dir=x"): "--model_dir=x: emulate picks the run "
                                                     "directories itself; use --runs_root to "
                                                     "choose where",
    }
    for args, message in cases.items():
        assert repro_cli("emulate", "--runs_root", str(tmp_path / "runs"), *args) == (2, "")
        assert capsys.readouterr().err == f"repro emulate: error: {message}\n"
    assert not os.path.exists(tmp_path / "runs")


def test_comparison_of_losses_checkpoints_and_results(tmp_path, fake_run):
    from run_record import update_run_json

    lines: list[str] = []
    a, b = fake_run(tmp_path / "a"), fake_run(tmp_path / "b")
    for run in (a, b):
        with open(os.path.join(run, "metrics.json"), "w") as f:
            f.write('{"test_accuracy": 0.5}\n')
        update_run_json(run, ("results",), ["metrics.json"])
    assert emulate.compare_emulated(a, b, lines.append)
    assert lines == ["  losses.csv: A 2 rows, steps 1..2; B 2 rows, steps 1..2; 2 steps compared",
                     "    g  2 of 2 steps bitwise equal",
                     "    d  2 of 2 steps bitwise equal",
                     "  checkpoint model.ckpt-2: 2 tensors compared, 2 bitwise equal, 0 differ",
                     "  metrics.json: byte-identical"]
    one_ulp = np.nextafter(np.ones([2, 3], np.float32), 2, dtype=np.float32)
    c = fake_run(tmp_path / "c", w=one_ulp)
    with open(os.path.join(c, "metrics.json"), "w") as f:
        f.write('{"test_accuracy": 0.25}\n')
    update_run_json(c, ("results",), ["metrics.json"])
    lines.clear()
    assert not emulate.compare_emulated(a, c, lines.append)
    assert lines[3:] == ["  checkpoint model.ckpt-2: 2 tensors compared, 1 bitwise equal, "
                         "1 differ", "    w  float32 [2, 3]: 6 of 6 elements differ, "
                         "max |A-B| = 1.19209e-07", "  metrics.json: differs"]


# Each app's smallest settings (as libs/repro_experiment/test_contract.py's).
_TINY = {"mnist_gan": ("--width_divisor=16",), "mnist_classifier": (),
         "text_lm": ("--seq_len=8", "--width=8", "--heads=2", "--layers=1")}


def test_every_app_is_in_the_tool() -> None:
    """Every app's `python -m <app>.train` is importable from this tool's sources, in a fresh
    process (its flags defined, no TensorFlow): what `./pants run apps/repro` ships."""
    from repro.apps import APPS

    for app in APPS:
        proc = subprocess.run([sys.executable, "-m", f"{app}.train", "--helpfull"],
                              env=child_env(), capture_output=True, text=True, timeout=120)
        assert "--random_seed" in proc.stdout and "--local_workers" in proc.stdout, (
            app, proc.stderr[-2000:])


# The classifier (its module was missing from the tool) in the quick tier; every app in the slow.
@pytest.mark.parametrize("app", [pytest.param(a, marks=() if a == "mnist_classifier" else
                                              pytest.mark.slow) for a in sorted(_TINY)])
def test_emulate_runs_every_app_from_the_tool_in_fresh_processes(
        app, fake_qemu, tmp_path, tiny_idx_dir):
    """`python -m repro.main emulate --app APP`, in a fresh process with this tool's sources
    only (as `./pants run apps/repro` runs it): both runs train, compare IDENTICAL, exit 0."""
    data = (f"--text_dir={tmp_path / 'text'}" if app == "text_lm"
            else f"--mnist_idx_dir={tiny_idx_dir}")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "t").write_text("the cat sat on the mat and the dog ran far. " * 40)
    proc = subprocess.run(
        [sys.executable, "-m", "repro.main", "emulate", "--cpu", "Haswell", "--app", app,
         "--runs_root", str(tmp_path / "runs"), "--", data, "--buffer_size=64",
         f"--data_dir={tmp_path / 'data'}", *_TINY[app]],
        env=child_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.rstrip().splitlines()[-1] == (
        f"IDENTICAL: {app} natively and on an emulated Haswell train the same bits")
    assert "checkpoint model.ckpt-2: " in proc.stdout
