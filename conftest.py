"""Fixtures every test directory shares (pytest finds this file from any test below the root).

Every test process gets the numerics pins before anything imports TensorFlow, as an app's main
does: runs made in a test process (`run_here`) then compute what the app's own process does.

* `tiny_idx_dir`: real MNIST digits, few of them (MNIST's quick data: 256 train, 64 test), as
  the four standard IDX files: apps run on it with `--mnist_idx_dir`, so no test converts all
  50k images.
* `run_module`: runs `python -m MODULE ARGS` in a fresh process, as a user runs an app.
* `one_core` / `bit_changing_env`: what a run on another machine may meet: one schedulable
  core (`taskset -c 0`, None where taskset is missing), and every environment variable known to
  change TF's CPU numerics set to a value that would (the apps must override them all).
* `lock_holder`: a context manager that keeps a model_dir locked from another live process
  (repro_app's lock), yielding that process, killed with SIGKILL on exit.
* `fake_run`: a run directory as the apps write it (run.json, losses.csv, a checkpoint at step
  2), without training, for the comparison tools.
* `identical_runs`: bitwise equality of two run directories (losses.csv bytes, every
  checkpoint tensor, the result files; through run_compare, the same code `repro compare`
  uses); when they differ, an AssertionError holding the compare report.
* the slow tier: tests marked `@pytest.mark.slow` (minutes of real clusters and signals) run
  only with REPRO_SLOW_TESTS=1, as `.ci/run` sets it (see the README's "Tests").
* `run_here`: an app's run as `python -m <app>.train` would make it, in this process (the test
  directory's conftest pins the numerics before TensorFlow is imported).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

import tf_determinism
from tf_determinism import PINNED_ENVIRONMENT, child_env

if "tensorflow" not in sys.modules:
    tf_determinism.configure_environment(tf_determinism.Numerics())

SLOW_TESTS = "REPRO_SLOW_TESTS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"slow: runs only with {SLOW_TESTS}=1 (the slow tier)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(SLOW_TESTS) == "1":
        return
    skip = pytest.mark.skip(reason=f"the slow tier: set {SLOW_TESTS}=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_idx_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    from mnist_input import MnistDataOptions

    return MnistDataOptions.quick_data(str(tmp_path_factory.mktemp("quick")))["mnist_idx_dir"]


@pytest.fixture(scope="session")
def run_module() -> Callable[..., subprocess.CompletedProcess]:
    env = child_env()

    def run(
        module: str,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        extra_env: dict[str, str] | None = None,
        prefix: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess:
        """prefix: a command the run goes under (e.g. ("taskset", "-c", "0"))."""
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", module, *map(str, args)],
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{module} {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
            )
        return proc

    return run


@pytest.fixture(scope="session")
def identical_runs() -> Callable[[str, str], bool]:
    """identical_runs(a, b) -> True, or an AssertionError whose message is `repro compare`'s
    report: the first divergent step and column, the differing tensors of each checkpoint, the
    result files, the likely causes (so `assert identical_runs(a, b)` says what differs)."""
    from run_compare import difference_report

    def identical(dir_a: str, dir_b: str) -> bool:
        report = difference_report(str(dir_a), str(dir_b))
        if report is not None:
            raise AssertionError(f"{dir_a} and {dir_b} are not bitwise identical:\n{report}")
        return True

    return identical


@pytest.fixture(scope="session")
def run_here() -> Callable[..., list[str]]:
    """run_here(app, options_class, argv, hooks=()) -> the log lines of the app's run with
    command-line flags `argv`, made in this process by repro_experiment.runner.train with the
    app's EXPERIMENT (a repro_app.RunError propagates). A fresh process is what "run it again"
    means, and the only way to test exit statuses, signals, other cores or another
    environment; everything else a run proves it proves here too, without a TensorFlow import
    (5 s) per run."""
    import importlib

    from absl import flags

    import repro_app
    from repro_experiment import runner

    def run(app: str, options: type[repro_app.RunOptions], argv: list[str], hooks=()) -> list[str]:
        values = flags.FlagValues()
        holders = repro_app.define_flags(options, options.FLAG_DEFAULTS, flag_values=values)
        values([app, *argv])
        opts = repro_app.from_values(options, {n: h.value for n, h in holders.items()})
        lines: list[str] = []
        experiment = importlib.import_module(f"{app}.train_lib").EXPERIMENT
        runner.train(experiment, opts, lines.append, extra_hooks=hooks)
        return lines

    return run


@pytest.fixture(scope="session")
def one_core() -> tuple[str, ...] | None:
    import shutil

    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return None
    return ("taskset", "-c", "0")


# A value for each pinned variable that would change the bits if the app did not override it.
_BIT_CHANGING_VALUES = {
    "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "false",
    "TF_DETERMINISTIC_OPS": "0",
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "ONEDNN_DEFAULT_FPMATH_MODE": "BF16",
    "TF_OVERRIDE_GLOBAL_THREADPOOL": "1",
}
# Every variable of the one list, tf_determinism's PINNED_ENVIRONMENT (a KeyError here: a
# newly pinned variable needs a bit-changing value above).
BIT_CHANGING_ENV = {name: _BIT_CHANGING_VALUES[name] for name in PINNED_ENVIRONMENT}


@pytest.fixture(scope="session")
def bit_changing_env() -> dict[str, str]:
    return dict(BIT_CHANGING_ENV)


_HOLD_LOCK = """
import sys, time
from repro_app import run_dir
with run_dir.locked(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(300)
"""


@pytest.fixture(scope="session")
def lock_holder() -> Callable[[str], contextlib.AbstractContextManager[subprocess.Popen]]:
    env = child_env()

    @contextlib.contextmanager
    def hold(model_dir: str) -> Iterator[subprocess.Popen]:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, model_dir],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            yield holder
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()

    return hold


def _fake_run(
    path, losses=((1, 0.5, 0.25), (2, 0.125, 1.5)), w=None, extra=None, with_checkpoint: bool = True
) -> str:
    import numpy as np
    import tensorflow as tf

    from run_record import LossesWriter, write_run_json

    os.makedirs(path)
    write_run_json(str(path), {"seed": 1, "identity": {"random_seed": 1}})
    writer = LossesWriter(os.path.join(path, "losses.csv"), ["g", "d"])
    for step, *values in losses:
        writer.write(step, values)
    writer.close()
    if with_checkpoint:
        tensors = {
            "global_step": tf.constant(2, tf.int64),
            "w": tf.constant(np.ones([2, 3], np.float32) if w is None else w),
            **(extra or {}),
        }
        tf.raw_ops.SaveV2(
            prefix=os.path.join(path, "model.ckpt-2"),
            tensor_names=list(tensors),
            shape_and_slices=[""] * len(tensors),
            tensors=list(tensors.values()),
        )
        with open(os.path.join(path, "checkpoint"), "w") as f:
            f.write('model_checkpoint_path: "model.ckpt-2"\n')
    return str(path)


@pytest.fixture(scope="session")
def fake_run() -> Callable[..., str]:
    """fake_run(path, losses=((step, g, d), ...), w=array, extra={name: tensor},
    with_checkpoint=True) -> path."""
    return _fake_run
