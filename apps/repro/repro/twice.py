"""`repro twice`: the reference page's experiment, run twice in fresh processes, then compared.

The app (mnist_gan by default) is run as a subprocess (`python -m <app>.train`), never imported:
each run gets a fresh interpreter, so nothing (TF's graph seed, op caches, thread pools)
carries over from one run to the other, which is what "run it again" means;
`tf_determinism.child_env` makes it import the same app and libraries as this process.
"""

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from repro.apps import DEFAULT_APP, UnknownAppError, train_module
from repro_experiment import App
from tf_determinism import child_env

LOG_NAME = "train.log"
# The short run of `emulate` and `twice --quick`, about 100x slower emulated (x86; aarch64's
# matmuls 250-400x): 2 steps, a checkpoint each, at the app's quick settings.
SHORT_RUN = (
    "--max_train_steps=2",
    "--save_checkpoints_steps=1",
    "--keep_checkpoint_max=3",
    "--save_summary_steps=1000",
    "--log_step_count_steps=1",
)


class TwiceError(Exception):
    """Bad input for `twice` or a failed training run (one-line message; exit 2)."""


def quick_run(app: App, app_flags: Sequence[str]) -> list[str]:
    """The short run's flags: SHORT_RUN, the app's quick settings (App.quick_flags: its
    smallest model and batch, results of seconds), then `app_flags`, which win."""
    return [*SHORT_RUN, *app.quick_flags(), *app_flags]


def check_flags(app_flags: Sequence[str], command: str = "twice") -> None:
    """Refuses flags that `twice` (or another command) sets itself.

    Raises:
      TwiceError: --model_dir is given (each run gets a new directory under the runs root).
    """
    for flag in app_flags:
        name = flag.lstrip("-").split("=", 1)[0]
        if flag.startswith("-") and name in ("model_dir", "nomodel_dir"):
            raise TwiceError(
                f"{flag}: {command} picks the run directories itself; "
                "use --runs_root to choose where"
            )


def new_run_dirs(runs_root: str, now: float | None = None) -> tuple[str, str]:
    """Creates two new, empty run directories `<runs_root>/<UTC timestamp>-a` and `-b`.

    A timestamp already taken gets a `.2`, `.3`, ... suffix, so earlier runs are never reused.

    Raises:
      TwiceError: runs_root cannot be created.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    try:
        os.makedirs(runs_root, exist_ok=True)
    except OSError as e:
        raise TwiceError(f"{runs_root}: cannot create the runs root ({e.strerror})") from None
    for attempt in range(1, 1000):
        base = os.path.join(runs_root, stamp if attempt == 1 else f"{stamp}.{attempt}")
        try:
            os.mkdir(base + "-a")
        except FileExistsError:
            continue
        try:
            os.mkdir(base + "-b")
        except FileExistsError:
            os.rmdir(base + "-a")
            continue
        return base + "-a", base + "-b"
    raise TwiceError(f"{runs_root}: no free run directory name for {stamp}")


@dataclasses.dataclass(frozen=True)
class Launcher:
    """How a training process starts: the interpreter's command line (this interpreter, or an
    emulator running one) and its environment (None: this process's, its import path handed
    on by child_env)."""

    python: tuple[str, ...] = (sys.executable,)
    env: Mapping[str, str] | None = None


NATIVE = Launcher()


def train_command(
    app_flags: Sequence[str], model_dir: str, *, app: str = DEFAULT_APP, launcher: Launcher = NATIVE
) -> list[str]:
    """The command line of one training run: the launcher's interpreter, the app's module, its
    flags, the run dir last."""
    return [*launcher.python, "-m", train_module(app), *app_flags, f"--model_dir={model_dir}"]


def run_training(
    app_flags: Sequence[str], model_dir: str, *, app: str = DEFAULT_APP, launcher: Launcher = NATIVE
) -> float:
    """Trains `app` in a fresh process into model_dir, started by `launcher`; its output goes
    to model_dir/train.log.

    Returns:
      The run's wall time in seconds.

    Raises:
      TwiceError: the run exited non-zero (the message names the log and its last line).
    """
    log_path = os.path.join(model_dir, LOG_NAME)
    start = time.perf_counter()
    try:
        command = train_command(app_flags, model_dir, app=app, launcher=launcher)
    except UnknownAppError as e:
        raise TwiceError(str(e)) from None
    with open(log_path, "wb") as log:
        code = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(launcher.env) if launcher.env else child_env(),
        ).returncode
    if code != 0:
        raise TwiceError(
            f"{train_module(app)} exited with status {code} "
            f"({_last_line(log_path)}); see {log_path}"
        )
    return time.perf_counter() - start


def _last_line(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1] if lines else "no output"


def run_twice(
    app: str,
    app_flags: Sequence[str],
    runs_root: str,
    echo: Callable[[str], None],
    launcher: Launcher = NATIVE,
) -> tuple[str, str]:
    """Runs `app` twice with the same flags into two new run directories.

    Args:
      app: one of repro.apps.APPS.
      app_flags: its flags, passed unchanged (no --model_dir).
      runs_root: where the two run directories are created.
      echo: receives one progress line per start and finish.
      launcher: how both start (natively, or on an emulated CPU).

    Returns:
      (run dir A, run dir B).

    Raises:
      TwiceError: bad flags, or a run failed.
    """
    try:
        module = train_module(app)
    except UnknownAppError as e:
        raise TwiceError(str(e)) from None
    check_flags(app_flags)
    dirs = new_run_dirs(runs_root)
    for label, model_dir in zip("ab", dirs, strict=True):
        echo(
            f"run {label}: {' '.join(launcher.python[:-1] + ('python',))} -m {module} "
            f"{' '.join([*app_flags, f'--model_dir={model_dir}'])}"
        )
        seconds = run_training(app_flags, model_dir, app=app, launcher=launcher)
        echo(f"run {label}: done in {seconds:.1f} s (log: {os.path.join(model_dir, LOG_NAME)})")
    return dirs
