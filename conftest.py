"""Fixtures every test directory shares (pytest finds this file from any test below the root).

* `tiny_idx_dir`: real MNIST digits, few of them (256 train, 64 test), as the four standard IDX
  files: apps run on it with `--mnist_idx_dir`, so no test converts all 50k images.
* `run_module`: runs `python -m MODULE ARGS` in a fresh process, as a user runs an app.
* `identical_runs`: bitwise equality of two run directories (losses.csv bytes and every
  checkpoint tensor, through run_compare, the same code `repro compare` uses).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

TINY_TRAIN, TINY_TEST = 256, 64


@pytest.fixture(scope="session")
def tiny_idx_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    import mnist_data

    return mnist_data.write_idx_subset(str(tmp_path_factory.mktemp("tiny_idx")), TINY_TRAIN,
                                       TINY_TEST)


@pytest.fixture(scope="session")
def run_module() -> Callable[..., subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}

    def run(module: str, *args: str, check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"{module} {args} failed ({proc.returncode}):\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    return run


@pytest.fixture(scope="session")
def identical_runs() -> Callable[[str, str], bool]:
    from run_compare import identical_runs as compare

    return compare
