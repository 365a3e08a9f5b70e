"""`repro emulate`: one short app run natively and on an emulated CPU, compared bit for bit.

QEMU's user-mode emulator (`qemu-x86_64 -cpu MODEL`, Debian package `qemu-user`) runs the
training process on another CPU model: its CPUID (vendor, family/model, ISA, cache sizes) is the
model's, and its `rcpps`/`rsqrtps` are computed exactly, unlike any vendor's tables. So a graph
that holds a CPU-dependent kernel trains other bits there, and one that does not trains the same
bits as natively. The training process itself runs under the emulator (a child of an emulated
process would run natively again), with the same flags and data as the native run.

Compared (run_compare, as `repro compare`): every value of losses.csv, every tensor of every
checkpoint both runs kept, and the app's result files (run.json `results`) byte for byte.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence

from repro.apps import UnknownAppError, train_module
from repro.twice import TwiceError, check_flags, run_training

QEMU = "qemu-x86_64"
INSTALL_HINT = "install it with `apt-get install qemu-user` (Debian, Ubuntu)"
# About 100x slower emulated: 2 rows, 2 steps (the user's flags come after and win).
SHORT_RUN = ("--batch_size=2", "--max_train_steps=2", "--save_checkpoints_steps=1",
             "--keep_checkpoint_max=3", "--save_summary_steps=1000", "--log_step_count_steps=1")


class EmulateError(Exception):
    """Bad input for `emulate`, no emulator, or a failed run (one-line message; exit 2)."""


def qemu_cpu_models(qemu: str) -> list[str]:
    """The CPU model names `qemu -cpu help` lists (e.g. Haswell, EPYC-Rome, Skylake-Server)."""
    try:
        out = subprocess.run([qemu, "-cpu", "help"], capture_output=True, text=True,
                             timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise EmulateError(f"{qemu}: cannot run it ({e})") from None
    return [m.group(1) for line in out.splitlines()
            if (m := re.match(r"x86\s+(\S+)", line.strip()))]


def check_cpu(model: str) -> str:
    """The emulator's path, once `model` is known to it.

    Raises:
      EmulateError: no qemu-x86_64 on PATH (how to install it), or an unknown model (a few
        valid ones).
    """
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise EmulateError(f"{QEMU} not found on PATH; {INSTALL_HINT}")
    models = qemu_cpu_models(qemu)
    if model not in models:
        known = [m for m in ("Haswell", "Skylake-Server", "Icelake-Server", "EPYC-Rome",
                             "EPYC-Milan") if m in models] or models[:6]
        raise EmulateError(f"unknown CPU model {model!r} for {QEMU}; valid ones include "
                           f"{', '.join(known)} (`{QEMU} -cpu help` lists all {len(models)})")
    return qemu


def compare_emulated(native: str, emulated: str, echo: Callable[[str], None]) -> bool:
    """Prints the comparison of two run directories (losses, every checkpoint both kept, the
    result files); True when bitwise identical."""
    import run_compare

    try:
        result = run_compare.compare_runs(native, emulated)
    except run_compare.BadRunError as e:
        raise EmulateError(str(e)) from None
    report = run_compare.format_report(result).splitlines()
    # The losses, checkpoints and results (the run.json provenance differs by design).
    start = next(i for i, line in enumerate(report) if line.startswith("losses.csv:"))
    for line in report[start:-1]:
        if not line.startswith("likely cause"):
            echo(f"  {line}")
    return result.identical


def emulate(model: str, app: str, app_flags: Sequence[str], runs_root: str,
            echo: Callable[[str], None]) -> bool:
    """Runs `app` natively, then under `qemu-x86_64 -cpu model`; prints the verdict.

    Returns:
      True when the two runs are bitwise identical.

    Raises:
      EmulateError: bad input (app, model, --model_dir in the flags), no emulator, a failed run.
    """
    try:
        module = train_module(app)
        check_flags(app_flags, "emulate")
    except (UnknownAppError, TwiceError) as e:
        raise EmulateError(str(e)) from None
    qemu = check_cpu(model)
    base = os.path.join(runs_root, f"emulate-{model}-{time.strftime('%Y%m%d-%H%M%S')}")
    flags = [*SHORT_RUN, *app_flags]
    dirs = {"native": base + "-native", model: base + "-" + model}
    for label, prefix in (("native", ()), (model, (qemu, "-cpu", model))):
        os.makedirs(dirs[label], exist_ok=True)
        echo(f"{label}: {' '.join([*prefix, module, *flags])}")
        try:
            seconds = run_training(flags, dirs[label], app=app, prefix=prefix)
        except TwiceError as e:
            raise EmulateError(str(e)) from None
        echo(f"{label}: done in {seconds:.0f} s ({dirs[label]})")
    same = compare_emulated(dirs["native"], dirs[model], echo)
    verdict = "IDENTICAL" if same else "DIFFERENT"
    echo(f"{verdict}: {app} natively and on an emulated {model} "
         f"{'train the same bits' if same else 'do not train the same bits'}")
    return same
