"""`repro emulate`'s refusals (no emulator, unknown model, flags it sets itself) and its
comparison of two run directories; the emulated runs themselves are .ci/run's
build-support/emulated_check.sh (minutes each under qemu)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from repro import emulate

_FAKE_QEMU = """#!/bin/sh
printf 'Available CPUs:\\nx86 Haswell              Intel Core Processor (Haswell)\\n'
printf 'x86 EPYC-Rome            AMD EPYC-Rome Processor\\nx86 qemu64\\n'
"""


@pytest.fixture
def fake_qemu(tmp_path, monkeypatch) -> str:
    """A stand-in qemu-x86_64 on PATH that lists three CPU models."""
    path = tmp_path / "bin" / emulate.QEMU
    path.parent.mkdir()
    path.write_text(_FAKE_QEMU)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(path.parent))
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
                                                    "mnist_gan, mnist_classifier",
        ("--cpu", "Haswell", "--", "--model_dir=x"): "--model_dir: emulate picks the two run "
                                                     "directories itself; use --runs_root to "
                                                     "choose where",
    }
    for args, message in cases.items():
        assert repro_cli("emulate", "--runs_root", str(tmp_path / "runs"), *args) == (2, "")
        assert capsys.readouterr().err == f"repro emulate: error: {message}\n"
    assert not os.path.exists(tmp_path / "runs")


def test_comparison_of_losses_checkpoints_and_results(tmp_path, fake_run):
    lines: list[str] = []
    a, b = fake_run(tmp_path / "a"), fake_run(tmp_path / "b")
    for run in (a, b):
        with open(os.path.join(run, "metrics.json"), "w") as f:
            f.write('{"test_accuracy": 0.5}\n')
    assert emulate.compare_emulated(a, b, lines.append)
    assert lines == ["  g                            2 of 2 steps bitwise equal",
                     "  d                            2 of 2 steps bitwise equal",
                     "  checkpoint 2: 2 of 2 tensors bitwise equal",
                     "  metrics.json: byte-identical"]
    one_ulp = np.nextafter(np.ones([2, 3], np.float32), 2, dtype=np.float32)
    c = fake_run(tmp_path / "c", w=one_ulp)
    with open(os.path.join(c, "metrics.json"), "w") as f:
        f.write('{"test_accuracy": 0.25}\n')
    lines.clear()
    assert not emulate.compare_emulated(a, c, lines.append)
    assert lines[2:] == ["  checkpoint 2: 1 of 2 tensors bitwise equal",
                         "  metrics.json: differs"]
