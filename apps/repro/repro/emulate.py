"""`repro emulate`: one short app run (2 steps at the app's quick settings) natively and on an
emulated CPU, compared bit for bit.

QEMU's user-mode emulator (Debian package `qemu-user`) runs the training process on another
CPU:
* x86-64 models (`qemu-x86_64 -cpu Haswell`, `EPYC-Rome`): its CPUID (vendor, family/model,
  ISA, cache sizes) is the model's, and its `rcpps`/`rsqrtps` are computed exactly, unlike any
  vendor's tables. So a graph that holds a CPU-dependent kernel trains other bits there, and one
  that does not trains the same bits as natively.
* aarch64 models (`qemu-aarch64 -cpu neoverse-n1`, `cortex-a72`, `max`): the process runs
  TensorFlow's aarch64 wheels (tensorflow-cpu-aws: Eigen's NEON/SVE kernels and the Arm Compute
  Library) in Debian's arm64 Python (`arm_env`, built once and cached): what a Graviton machine
  or Docker on an Apple Silicon Mac runs. Their matmuls, conv gradients, inner-axis sums and
  transcendentals round otherwise than x86's (README, "Where the same bits hold").
The training process itself runs under the emulator (a child of an emulated process would run
natively again), with the same flags, code and data as the native run.

Compared (run_compare, as `repro compare`): every value of losses.csv, every tensor of every
checkpoint both runs kept, and the app's result files (run.json `results`) byte for byte.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from repro import arm_env
from repro.apps import UnknownAppError
from repro.apps import app as registered_app
from repro.twice import Launcher, TwiceError, check_flags, quick_run, run_training

QEMUS = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64"}
INSTALL_HINT = "install it with `apt-get install qemu-user` (Debian, Ubuntu)"


class EmulateError(Exception):
    """Bad input for `emulate`, no emulator, or a failed run (one-line message; exit 2)."""


@dataclasses.dataclass(frozen=True)
class EmulatedCpu:
    """A CPU model of one of QEMU's user-mode emulators."""

    arch: str  # a key of QEMUS
    model: str  # as `-cpu` takes it, options included (max,sve-default-vector-length=32)
    qemu: str  # the emulator's path

    @property
    def label(self) -> str:
        """The model, usable in a directory name."""
        return re.sub(r"[^A-Za-z0-9.-]+", "_", self.model)


def qemu_cpu_models(qemu: str) -> list[str]:
    """The CPU model names `qemu -cpu help` lists (qemu-x86_64: "x86 Haswell  ..." lines;
    qemu-aarch64: one indented name per line)."""
    try:
        out = subprocess.run(
            [qemu, "-cpu", "help"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise EmulateError(f"{qemu}: cannot run it ({e})") from None
    models = []
    for line in out.splitlines():
        if m := re.match(r"x86\s+(\S+)", line.strip()):
            models.append(m.group(1))
        elif line.startswith(" ") and len(line.split()) == 1:
            models.append(line.strip())
    return models


def resolve_cpu(spec: str) -> EmulatedCpu:
    """The emulator and model of `--cpu`: a model name (Haswell, EPYC-Rome, neoverse-n1,
    cortex-a72, max: aarch64's; options after a comma), or ARCH:MODEL (x86_64:max).

    Raises:
      EmulateError: the emulator it needs is not installed (how to install it), or an unknown
        model (a few valid ones).
    """
    arch, sep, model = spec.rpartition(":")
    base = model.split(",", 1)[0]
    if sep and arch not in QEMUS:
        raise EmulateError(
            f"--cpu {spec}: unknown architecture {arch!r}; one of {', '.join(QEMUS)}"
        )
    known: dict[str, list[str]] = {}
    for name in [arch] if sep else ["aarch64", "x86_64"]:  # aarch64 first: `max` is its
        qemu = shutil.which(QEMUS[name])
        if qemu is None:
            continue
        known[name] = qemu_cpu_models(qemu)
        if base in known[name]:
            return EmulatedCpu(name, model, qemu)
    needed = (
        arch
        if sep
        else (
            "aarch64"
            if base == "max" or base.startswith(("cortex-", "neoverse-", "a64fx"))
            else "x86_64"
        )
    )
    if needed not in known:
        raise EmulateError(f"{QEMUS[needed]} not found on PATH; {INSTALL_HINT}")
    examples = {
        "x86_64": ("Haswell", "Skylake-Server", "EPYC-Rome", "EPYC-Milan"),
        "aarch64": ("neoverse-n1", "cortex-a72", "max"),
    }
    valid = [m for name, models in known.items() for m in examples[name] if m in models]
    raise EmulateError(
        f"unknown CPU model {base!r}; valid ones include {', '.join(valid)} "
        f"(`{' / '.join(QEMUS[n] for n in known)} -cpu help` list them all)"
    )


def launcher(cpu: EmulatedCpu, scratch: str, echo: Callable[[str], None]) -> Launcher:
    """How to start a training process on `cpu`. For aarch64: builds the environment the
    first time (arm_env), and links this tool's own packages under `scratch`.

    Raises:
      EmulateError: the aarch64 environment cannot be built (one line).
    """
    if cpu.arch == "x86_64":
        return Launcher((cpu.qemu, "-cpu", cpu.model, sys.executable))
    try:
        env = arm_env.ensure(echo)
    except arm_env.ArmEnvError as e:
        raise EmulateError(f"aarch64 environment: {e}") from None
    project = arm_env.project_path(os.path.join(scratch, "aarch64-project"))
    # Nothing of this x86 interpreter's path or pex: the aarch64 wheels, this tool's sources.
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PEX"))}
    environment.update(PYTHONPATH=os.pathsep.join([project, env.site]), PYTHONNOUSERSITE="1")
    return Launcher((cpu.qemu, "-cpu", cpu.model, "-L", env.sysroot, env.python), environment)


def compare_emulated(native: str, emulated: str, echo: Callable[[str], None]) -> bool:
    """Prints the comparison of two run directories (losses, every checkpoint both kept, the
    result files; on a difference the first divergent step, how many tensors differ and the
    likeliest recorded cause); True when bitwise identical."""
    import run_compare

    try:
        result = run_compare.compare_runs(native, emulated)
    except run_compare.BadRunError as e:
        raise EmulateError(str(e)) from None
    for line in run_compare.format_report(result, bits_only=True).splitlines():
        echo(f"  {line}")
    if not result.identical:
        for line in run_compare.cause_lines(result.fields)[:2]:
            echo(f"  {line.strip()}")
    return result.identical


def emulate(
    spec: str, app: str, app_flags: Sequence[str], runs_root: str, echo: Callable[[str], None]
) -> bool:
    """Runs `app` natively, then on the emulated CPU `spec` (resolve_cpu); prints the verdict.

    Returns:
      True when the two runs are bitwise identical.

    Raises:
      EmulateError: bad input (app, model, --model_dir in the flags), no emulator, no aarch64
        environment, a failed run.
    """
    try:
        declared = registered_app(app)
        check_flags(app_flags, "emulate")
    except (UnknownAppError, TwiceError) as e:
        raise EmulateError(str(e)) from None
    module = declared.module
    cpu = resolve_cpu(spec)
    base = os.path.join(runs_root, f"emulate-{cpu.label}-{time.strftime('%Y%m%d-%H%M%S')}")
    flags = quick_run(declared, app_flags)
    with tempfile.TemporaryDirectory(prefix="repro-emulate-") as scratch:
        runs = {"native": Launcher(), spec: launcher(cpu, scratch, echo)}
        dirs = {"native": base + "-native", spec: base + "-" + cpu.label}
        for label, how in runs.items():
            os.makedirs(dirs[label], exist_ok=True)
            echo(f"{label}: {' '.join([*how.python, '-m', module, *flags])}")
            try:
                seconds = run_training(flags, dirs[label], app=app, launcher=how)
            except TwiceError as e:
                raise EmulateError(str(e)) from None
            echo(f"{label}: done in {seconds:.0f} s ({dirs[label]})")
    same = compare_emulated(dirs["native"], dirs[spec], echo)
    where = f"an emulated {cpu.arch} {cpu.model}"
    echo(
        f"{'IDENTICAL' if same else 'DIFFERENT'}: {app} natively and on {where} "
        f"{'train the same bits' if same else 'do not train the same bits'}"
    )
    return same
