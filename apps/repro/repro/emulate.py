"""`repro emulate`: one short app run natively and on an emulated CPU, compared bit for bit.

QEMU's user-mode emulator (`qemu-x86_64 -cpu MODEL`, Debian package `qemu-user`) runs the
training process on another CPU model: its CPUID (vendor, family/model, ISA, cache sizes) is the
model's, and its `rcpps`/`rsqrtps` are computed exactly, unlike any vendor's tables. So a graph
that holds a CPU-dependent kernel trains other bits there, and one that does not trains the same
bits as natively. The training process itself runs under the emulator (a child of an emulated
process would run natively again), with the same flags and data as the native run.

Compared: every loss of losses.csv (when the app writes one), every tensor of every checkpoint
both runs kept, and the app's result file (metrics.json) byte for byte.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence

from repro.twice import TwiceError, run_training

QEMU = "qemu-x86_64"
INSTALL_HINT = "install it with `apt-get install qemu-user` (Debian, Ubuntu)"
APPS = {"mnist_gan": "mnist_gan.train", "mnist_classifier": "mnist_classifier.train"}
# About 100x slower emulated: 2 rows, 2 steps (the user's flags come after and win).
SHORT_RUN = ("--batch_size=2", "--max_train_steps=2", "--save_checkpoints_steps=1",
             "--keep_checkpoint_max=3", "--save_summary_steps=1000", "--log_step_count_steps=1")
RESULT_FILES = ("metrics.json",)


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


def _checkpoint_steps(model_dir: str) -> dict[int, str]:
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(model_dir)
    paths = (list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
             if state else [])
    return {int(path.rsplit("-", 1)[1]): path for path in paths}


def compare_emulated(native: str, emulated: str, echo: Callable[[str], None]) -> bool:
    """Prints the comparison of two run directories; True when bitwise identical."""
    import run_compare

    same = True
    if os.path.isfile(os.path.join(native, "losses.csv")):
        losses = run_compare.compare_losses(run_compare.load_losses(native),
                                            run_compare.load_losses(emulated))
        for diff in losses.losses:
            echo(f"  {diff.name:<28} {diff.steps_equal} of {diff.steps_compared} steps "
                 "bitwise equal")
        same &= losses.identical
    steps_a, steps_b = _checkpoint_steps(native), _checkpoint_steps(emulated)
    if not steps_a or steps_a.keys() != steps_b.keys():
        echo(f"  checkpoints: native steps {sorted(steps_a)}, emulated {sorted(steps_b)}")
        return False
    for step in sorted(steps_a):
        result = run_compare.compare_checkpoints(steps_a[step], steps_b[step])
        echo(f"  checkpoint {step}: {result.tensors_equal} of {result.tensors_compared} "
             "tensors bitwise equal")
        same &= result.identical
    for name in RESULT_FILES:
        paths = [os.path.join(d, name) for d in (native, emulated)]
        if os.path.isfile(paths[0]):
            with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
                equal = a.read() == b.read()
            echo(f"  {name}: {'byte-identical' if equal else 'differs'}")
            same &= equal
    return same


def emulate(model: str, app: str, app_flags: Sequence[str], runs_root: str,
            echo: Callable[[str], None]) -> bool:
    """Runs `app` natively, then under `qemu-x86_64 -cpu model`; prints the verdict.

    Returns:
      True when the two runs are bitwise identical.

    Raises:
      EmulateError: bad input (app, model, --model_dir in the flags), no emulator, a failed run.
    """
    if app not in APPS:
        raise EmulateError(f"unknown app {app!r}; one of {', '.join(APPS)}")
    if any(f.lstrip("-").split("=", 1)[0] == "model_dir" for f in app_flags):
        raise EmulateError("--model_dir: emulate picks the two run directories itself; use "
                           "--runs_root to choose where")
    qemu = check_cpu(model)
    base = os.path.join(runs_root, f"emulate-{model}-{time.strftime('%Y%m%d-%H%M%S')}")
    flags = [*SHORT_RUN, *app_flags]
    dirs = {"native": base + "-native", model: base + "-" + model}
    for label, prefix in (("native", ()), (model, (qemu, "-cpu", model))):
        os.makedirs(dirs[label], exist_ok=True)
        echo(f"{label}: {' '.join([*prefix, APPS[app], *flags])}")
        try:
            seconds = run_training(flags, dirs[label], module=APPS[app], prefix=prefix)
        except TwiceError as e:
            raise EmulateError(str(e)) from None
        echo(f"{label}: done in {seconds:.0f} s ({dirs[label]})")
    same = compare_emulated(dirs["native"], dirs[model], echo)
    verdict = "IDENTICAL" if same else "DIFFERENT"
    echo(f"{verdict}: {app} natively and on an emulated {model} "
         f"{'train the same bits' if same else 'do not train the same bits'}")
    return same
