"""`repro check`: does this machine reproduce an app's shipped reference run bit for bit?

A reference (references/<app>.json beside this file) is one short fixed run of the app: seed
123, 20 steps, its default flags and pins, its real data (the GAN's: unconditional Wasserstein
on MNIST). references/<app>-portable.json is the same run with `--numerics=portable`, whose
bits do not depend on the CPU's architecture (`check --numerics=portable`). `check --app APP`
reruns it in a fresh process and compares every step's losses (float32 bits) and every
checkpoint tensor (sha256) with the reference; when they differ it names the first divergent
step and the recorded machine properties (CPU, caches, dispatched ISA, versions, environment)
that differ from the reference machine's. Machines of one kind
can differ (cache sizes steer oneDNN's and Eigen's blocking), so CI never asserts a shipped
reference: run `check` by hand on each machine.

Regenerating a reference is deliberate, never a way to make a machine pass:
    ./pants run apps/repro -- check --app APP \\
        --write_reference apps/repro/repro/references/APP.json --reason "why the bits changed"
(with `--numerics=portable`: references/APP-portable.json) and commit it with that reason.
"""

from __future__ import annotations

import importlib.resources
import os
import time
from collections.abc import Callable

from repro.apps import DEFAULT_APP, UnknownAppError, train_module
from repro.twice import TwiceError, run_training

# The same short run for every app (its own defaults otherwise).
REFERENCE_FLAGS = (
    "--random_seed=123",
    "--max_train_steps=20",
    "--keep_checkpoint_max=1",
    "--save_summary_steps=1000",
    "--log_step_count_steps=10",
)


def reference_flags(numerics: str = "fast") -> tuple[str, ...]:
    """The reference run's flags in a numerics mode."""
    return REFERENCE_FLAGS + (("--numerics=portable",) if numerics == "portable" else ())


def _numerics_of(flags: list[str]) -> str:
    return "portable" if "--numerics=portable" in flags else "fast"


class CheckError(Exception):
    """Bad input for `check` or a failed run (one-line message; exit 2)."""


def shipped_reference_path(app: str = DEFAULT_APP, numerics: str = "fast") -> str:
    """references/<app>.json in this package (references/<app>-portable.json for the portable
    numerics mode).

    Raises:
      CheckError: an unknown app, or one without a shipped reference.
    """
    try:
        train_module(app)
    except UnknownAppError as e:
        raise CheckError(str(e)) from None
    name = f"{app}-portable.json" if numerics == "portable" else f"{app}.json"
    path = importlib.resources.files("repro") / "references" / name
    if not path.is_file():
        raise CheckError(
            f"no shipped {numerics} reference for {app}; make one with --write_reference"
        )
    return str(path)


def _run_dir(runs_root: str, label: str) -> str:
    path = os.path.join(runs_root, f"{label}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")
    try:
        os.makedirs(path)
    except OSError as e:
        raise CheckError(f"{path}: cannot create the run directory ({e.strerror})") from None
    return path


def _train(
    app: str, flags: list[str], runs_root: str, label: str, echo: Callable[[str], None]
) -> str:
    try:
        module = train_module(app)
    except UnknownAppError as e:
        raise CheckError(str(e)) from None
    model_dir = _run_dir(runs_root, label)
    echo(f"training the reference run: {module} {' '.join(flags)} --model_dir={model_dir}")
    try:
        seconds = run_training(flags, model_dir, app=app)
    except TwiceError as e:
        raise CheckError(str(e)) from None
    echo(f"done in {seconds:.1f} s")
    return model_dir


def check(
    reference_path: str,
    runs_root: str,
    echo: Callable[[str], None],
    app: str | None = None,
    numerics: str | None = None,
) -> bool:
    """Reruns the reference's app and flags here; prints the verdict; True when bitwise
    identical.

    Raises:
      CheckError: unreadable reference, a reference of another app than `app` or of another
        numerics mode than `numerics`, failed run, unreadable checkpoint.
    """
    import run_compare

    try:
        reference = run_compare.read_reference(reference_path)
    except (OSError, ValueError) as e:
        raise CheckError(str(e)) from None
    made_by = reference.get("app") or DEFAULT_APP  # the first references named no app
    if app is not None and app != made_by:
        raise CheckError(f"{reference_path} is a reference of {made_by}, not of {app}")
    made_in = _numerics_of(list(reference["flags"]))
    if numerics is not None and numerics != made_in:
        raise CheckError(
            f"{reference_path} is a reference of the {made_in} numerics mode, not of {numerics}"
        )
    model_dir = _train(made_by, list(reference["flags"]), runs_root, "check", echo)
    try:
        result = run_compare.check_against(reference, model_dir)
    except ValueError as e:  # its checkpoint torn or damaged since the run wrote it
        raise CheckError(str(e)) from None
    if result.reproduces:
        echo(
            f"this machine reproduces the reference bit for bit ({result.steps_compared} "
            f"steps, {result.tensors_compared} tensors; {reference_path})"
        )
        return True
    if result.first_divergent_step is not None:
        echo(f"first divergent step: {result.first_divergent_step} ({result.divergent_loss})")
    if result.missing_steps:
        echo(f"{result.missing_steps} reference loss values missing from this run")
    echo(f"checkpoint tensors: {result.tensors_differing} of {result.tensors_compared} differ")
    if result.fingerprint_diffs:
        echo("this machine differs from the reference machine in:")
        for field, theirs, ours in result.fingerprint_diffs:
            echo(f"  {field}: reference {theirs!r}, here {ours!r}")
    else:
        echo("no recorded machine property differs from the reference machine's")
    echo(f"this machine does NOT reproduce the reference ({reference_path}); run: {model_dir}")
    return False


def write_reference(
    path: str,
    reason: str,
    runs_root: str,
    echo: Callable[[str], None],
    app: str = DEFAULT_APP,
    numerics: str = "fast",
) -> None:
    """Trains `app`'s reference run here in the `numerics` mode and writes its record to
    `path` (with `reason`)."""
    import run_compare

    if not reason.strip():
        raise CheckError("--write_reference needs --reason: say why the reference changes")
    flags = reference_flags(numerics)
    model_dir = _train(app, list(flags), runs_root, "reference", echo)
    run_compare.write_reference(path, run_compare.make_reference(model_dir, flags, reason))
    echo(f"wrote {path} from {model_dir}")
