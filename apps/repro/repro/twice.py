"""`repro twice`: the reference page's experiment, run twice in fresh processes, then compared.

mnist_gan is run as a subprocess (`python -m mnist_gan.train`), never imported: each run gets a
fresh interpreter, so nothing (TF's graph seed, op caches, thread pools) carries over from one
run to the other, which is what "run it again" means; `tf_determinism.child_env` makes it
import the same mnist_gan and libraries as this process.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from tf_determinism import child_env

TRAIN_MODULE = "mnist_gan.train"
LOG_NAME = "train.log"


class TwiceError(Exception):
    """Bad input for `twice` or a failed training run (one-line message; exit 2)."""


def check_flags(mnist_flags: Sequence[str]) -> None:
    """Refuses flags that `twice` sets itself.

    Raises:
      TwiceError: --model_dir is given (each run gets a new directory under the runs root).
    """
    for flag in mnist_flags:
        name = flag.lstrip("-").split("=", 1)[0]
        if flag.startswith("-") and name in ("model_dir", "nomodel_dir"):
            raise TwiceError(f"{flag}: twice picks the two run directories itself; "
                             "use --runs_root to choose where")


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


def train_command(mnist_flags: Sequence[str], model_dir: str, *, module: str = TRAIN_MODULE,
                  prefix: Sequence[str] = ()) -> list[str]:
    """The command line of one training run: `prefix` (e.g. an emulator), this interpreter,
    the app module, its flags, the run dir last."""
    return [*prefix, sys.executable, "-m", module, *mnist_flags, f"--model_dir={model_dir}"]


def run_training(mnist_flags: Sequence[str], model_dir: str, *, module: str = TRAIN_MODULE,
                 prefix: Sequence[str] = ()) -> float:
    """Trains `module` (mnist_gan's by default) in a fresh process into model_dir, under
    `prefix` if given; its output goes to model_dir/train.log.

    Returns:
      The run's wall time in seconds.

    Raises:
      TwiceError: the run exited non-zero (the message names the log and its last line).
    """
    log_path = os.path.join(model_dir, LOG_NAME)
    start = time.perf_counter()
    command = train_command(mnist_flags, model_dir, module=module, prefix=prefix)
    with open(log_path, "wb") as log:
        code = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, env=child_env()).returncode
    if code != 0:
        raise TwiceError(f"{module} exited with status {code} ({_last_line(log_path)}); "
                         f"see {log_path}")
    return time.perf_counter() - start


def _last_line(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1] if lines else "no output"


def run_twice(mnist_flags: Sequence[str], runs_root: str,
              echo: Callable[[str], None]) -> tuple[str, str]:
    """Runs mnist_gan twice with the same flags into two new run directories.

    Args:
      mnist_flags: mnist_gan's flags, passed unchanged (no --model_dir).
      runs_root: where the two run directories are created.
      echo: receives one progress line per start and finish.

    Returns:
      (run dir A, run dir B).

    Raises:
      TwiceError: bad flags, or a run failed.
    """
    check_flags(mnist_flags)
    dirs = new_run_dirs(runs_root)
    for label, model_dir in zip("ab", dirs, strict=True):
        echo(f"run {label}: python -m {TRAIN_MODULE} "
             f"{' '.join([*mnist_flags, f'--model_dir={model_dir}'])}")
        seconds = run_training(mnist_flags, model_dir)
        echo(f"run {label}: done in {seconds:.1f} s (log: {os.path.join(model_dir, LOG_NAME)})")
    return dirs
