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
from repro.apps import APPS, REGISTERED
from tf_determinism import child_env

_FAKE_QEMU = """#!/bin/sh
if [ "$2" = help ]; then
  printf '%b' "$MODELS"
  exit 0
fi
shift 2  # -cpu MODEL: the rest is the command, run natively
exec "$@"
"""
_MODELS = {
    "qemu-x86_64": "Available CPUs:\\nx86 Haswell              Intel Core Processor (Haswell)\\n"
    "x86 EPYC-Rome            AMD EPYC-Rome Processor\\nx86 qemu64\\n",
    "qemu-aarch64": "Available CPUs:\\n  cortex-a72\\n  max\\n  neoverse-n1\\n",
}


@pytest.fixture
def fake_qemu(tmp_path, monkeypatch) -> str:
    """Stand-ins for qemu-x86_64 and qemu-aarch64 on PATH, each listing a few CPU models (the
    machine's own emulators, if any, are not seen); the x86 one's path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, models in _MODELS.items():
        path = bin_dir / name
        path.write_text(_FAKE_QEMU.replace('"$MODELS"', f"'{models}'"))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return str(bin_dir / "qemu-x86_64")


def test_no_emulator_is_one_line_with_the_install_command(repro_cli, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    for model, qemu in (("Haswell", "qemu-x86_64"), ("neoverse-n1", "qemu-aarch64")):
        assert repro_cli("emulate", "--cpu", model, "--runs_root", str(tmp_path)) == (2, "")
        assert capsys.readouterr().err == (
            f"repro emulate: error: {qemu} not found on PATH; install it with "
            "`apt-get install qemu-user` (Debian, Ubuntu)\n"
        )
    assert os.listdir(tmp_path) == []


def test_cpu_models_of_both_emulators(fake_qemu) -> None:
    assert emulate.qemu_cpu_models(fake_qemu) == ["Haswell", "EPYC-Rome", "qemu64"]
    resolved = {
        spec: emulate.resolve_cpu(spec)
        for spec in (
            "Haswell",
            "neoverse-n1",
            "max",
            "max,sve-default-vector-length=32",
            "x86_64:qemu64",
        )
    }
    assert {
        spec: (cpu.arch, cpu.model, os.path.basename(cpu.qemu)) for spec, cpu in resolved.items()
    } == {
        "Haswell": ("x86_64", "Haswell", "qemu-x86_64"),
        "neoverse-n1": ("aarch64", "neoverse-n1", "qemu-aarch64"),
        "max": ("aarch64", "max", "qemu-aarch64"),  # aarch64's, as the README says
        "max,sve-default-vector-length=32": (
            "aarch64",
            "max,sve-default-vector-length=32",
            "qemu-aarch64",
        ),
        "x86_64:qemu64": ("x86_64", "qemu64", "qemu-x86_64"),
    }
    assert resolved["max,sve-default-vector-length=32"].label == (
        "max_sve-default-vector-length_32"
    )


def test_unknown_model_and_bad_flags_are_refused_before_any_run(
    repro_cli, tmp_path, fake_qemu, capsys
):
    cases = {
        ("--cpu", "Zen9"): "unknown CPU model 'Zen9'; valid ones include neoverse-n1, "
        "cortex-a72, max, Haswell, EPYC-Rome (`qemu-aarch64 / qemu-x86_64 "
        "-cpu help` list them all)",
        ("--cpu", "arm:max"): "--cpu arm:max: unknown architecture 'arm'; one of x86_64, "
        "aarch64",
        ("--cpu", "Haswell", "--app", "mnist_svm"): "unknown app 'mnist_svm'; one of "
        "mnist_classifier, mnist_gan, text_lm",
        ("--cpu", "Haswell", "--", "--model_dir=x"): "--model_dir=x: emulate picks the run "
        "directories itself; use --runs_root to "
        "choose where",
    }
    for args, message in cases.items():
        assert repro_cli("emulate", "--runs_root", str(tmp_path / "runs"), *args) == (2, "")
        assert capsys.readouterr().err == f"repro emulate: error: {message}\n"
    assert not os.path.exists(tmp_path / "runs")


def test_aarch64_environment_without_a_registry_is_one_line(
    repro_cli, tmp_path, fake_qemu, monkeypatch, capsys
):
    """The first aarch64 build cannot reach the Debian registry: one line naming the step, its
    error and the build log; exit 2; no run started, nothing half built left as done."""
    bin_dir = os.path.dirname(fake_qemu)
    for name, script in {
        "dpkg": '#!/bin/sh\n[ "$1" = --print-foreign-architectures ] && echo arm64\n',
        "apt-get": '#!/bin/sh\necho "E: Failed to fetch http://deb.debian.org/debian/dists/'
        "bookworm/InRelease  Could not resolve 'deb.debian.org'\" >&2\nexit 100\n",
    }.items():
        path = os.path.join(bin_dir, name)
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, 0o755)
    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path / "cache"))
    runs = tmp_path / "runs"
    code, out = repro_cli("emulate", "--cpu", "neoverse-n1", "--runs_root", str(runs))
    log = tmp_path / "cache" / "aarch64" / "build.log"
    assert code == 2 and out.startswith("building the emulated aarch64 environment in ")
    assert capsys.readouterr().err == (
        "repro emulate: error: aarch64 environment: apt-get update failed: is the Debian "
        "package registry reachable? (E: Failed to fetch http://deb.debian.org/debian/dists/"
        f"bookworm/InRelease  Could not resolve 'deb.debian.org'); see {log}\n"
    )
    assert "Could not resolve" in log.read_text()
    assert not os.path.exists(runs)
    assert sorted(os.listdir(log.parent)) == ["build.log"]


def test_the_aarch64_wheels_are_the_lockfiles() -> None:
    """The emulated environment installs the lockfile's versions, by hash, read for Linux
    aarch64: tensorflow brings tensorflow-cpu-aws there, never the x86 tensorflow-cpu."""
    from repro import arm_env

    lock = arm_env.read_lock(arm_env.find_lock())
    wheels = {name: (version, hashes) for name, version, hashes in arm_env.locked_wheels(lock)}
    assert wheels["tensorflow"][0] == wheels["tensorflow-cpu-aws"][0] == "2.15.1"
    assert "tensorflow-cpu" not in wheels
    locked = {
        p["project_name"]: p for r in lock["locked_resolves"] for p in r["locked_requirements"]
    }
    for name, (version, hashes) in wheels.items():
        assert locked[name]["version"] == version and hashes
        assert set(hashes) <= {a["hash"] for a in locked[name]["artifacts"]}
    aws = [
        a["url"]
        for a in locked["tensorflow-cpu-aws"]["artifacts"]
        if a["hash"] in wheels["tensorflow-cpu-aws"][1]
    ]
    assert aws and all(url.endswith("aarch64.whl") for url in aws)


def test_the_emulated_path_holds_this_tools_own_packages(tmp_path) -> None:
    from repro import arm_env

    linked = os.listdir(arm_env.project_path(str(tmp_path / "p")))
    assert {"repro", *APPS, "tf_determinism", "repro_experiment", "seeded_input"} <= set(linked)
    assert not {"numpy", "tensorflow", "absl", "packaging"} & set(linked)  # installed ones


def test_comparison_of_losses_checkpoints_and_results(tmp_path, fake_run):
    from run_record import update_run_json

    lines: list[str] = []
    a, b = fake_run(tmp_path / "a"), fake_run(tmp_path / "b")
    for run in (a, b):
        with open(os.path.join(run, "metrics.json"), "w") as f:
            f.write('{"test_accuracy": 0.5}\n')
        update_run_json(run, ("results",), ["metrics.json"])
    assert emulate.compare_emulated(a, b, lines.append)
    assert lines == [
        "  losses.csv: A 2 rows, steps 1..2; B 2 rows, steps 1..2; 2 steps compared",
        "    g  2 of 2 steps bitwise equal",
        "    d  2 of 2 steps bitwise equal",
        "  checkpoint model.ckpt-2: 2 tensors compared, 2 bitwise equal, 0 differ",
        "  metrics.json: byte-identical",
        "  IDENTICAL: losses, weights and results are bitwise equal",
    ]
    one_ulp = np.nextafter(np.ones([2, 3], np.float32), 2, dtype=np.float32)
    c = fake_run(tmp_path / "c", w=one_ulp)
    with open(os.path.join(c, "metrics.json"), "w") as f:
        f.write('{"test_accuracy": 0.25}\n')
    update_run_json(c, ("results",), ["metrics.json"])
    lines.clear()
    assert not emulate.compare_emulated(a, c, lines.append)
    assert lines[3:7] == [
        "  checkpoint model.ckpt-2: 2 tensors compared, 1 bitwise equal, 1 differ",
        "    w  float32 [2, 3]: 6 of 6 elements differ, max |A-B| = 1.19209e-07",
        "  metrics.json: differs",
        "  DIFFERENT: 1 of 2 tensors of model.ckpt-2 differ (w); metrics.json: differs",
    ]
    assert lines[7].startswith("  likely cause")  # the recorded one, most likely first


def test_every_app_is_in_the_tool() -> None:
    """Every app's `python -m <app>.train` is importable from this tool's sources, in a fresh
    process (its flags defined, no TensorFlow): what `./pants run apps/repro` ships."""
    for app in APPS:
        proc = subprocess.run(
            [sys.executable, "-m", f"{app}.train", "--helpfull"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "--random_seed" in proc.stdout and "--local_workers" in proc.stdout, (
            app,
            proc.stderr[-2000:],
        )


# The classifier (its module was missing from the tool) in the quick tier; every app in the slow.
@pytest.mark.parametrize(
    "app",
    [pytest.param(a, marks=() if a == "mnist_classifier" else pytest.mark.slow) for a in APPS],
)
def test_emulate_runs_every_app_from_the_tool_in_fresh_processes(app, fake_qemu, tmp_path):
    """`python -m repro.main emulate --app APP`, in a fresh process with this tool's sources
    only (as `./pants run apps/repro` runs it), at the app's quick settings (emulate's own) on
    its quick data: both runs train, compare IDENTICAL, exit 0."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "repro.main",
            "emulate",
            "--cpu",
            "Haswell",
            "--app",
            app,
            "--runs_root",
            str(tmp_path / "runs"),
            "--",
            *REGISTERED[app].quick_data_flags(str(tmp_path)),
            "--buffer_size=64",
            f"--data_dir={tmp_path / 'data'}",
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.rstrip().splitlines()[-1] == (
        f"IDENTICAL: {app} natively and on an emulated x86_64 Haswell train the same bits"
    )
    assert "checkpoint model.ckpt-2: " in proc.stdout
    assert " ".join(REGISTERED[app].quick_flags()) in proc.stdout  # the short run's settings


def test_a_pip_is_found_beside_a_pex_venv_without_one() -> None:
    # Pants runs this tool from a pex venv holding no pip (CI failed on that once).
    from repro import arm_env

    pip = arm_env._pip()
    assert subprocess.run([*pip, "--version"], capture_output=True).returncode == 0
