"""The mnist_gan tests' shared fixtures: `train`, one app run in a fresh process, and
`train_here`, the same run in this process.

A fresh process is what "run it again" means, and the only way to test exit statuses, other
cores (`taskset`) or another environment; everything else a run proves (resume, refusals,
seeds that differ, TensorBoard files) it proves in this process too, without paying a
TensorFlow import per run (the root conftest pins this process's numerics first).
"""

from __future__ import annotations

import pytest

APP = "mnist_gan.train"
# Every test run: the example's graph at 1/16 of its widths (about 1/200 of the weights) and
# batch 8. No property tested here depends on the size; a run then takes seconds, a checkpoint
# is 0.7 MB instead of 160 MB. (The README's figures were measured at the full size.)
SMALL = ("--width_divisor=16", "--batch_size=8")


@pytest.fixture(scope="session")
def train(run_module, tiny_idx_dir, tmp_path_factory):
    """train(model_dir, *flags, check=True, tiny=True): one app run in a fresh process, with
    SMALL before `flags` (which win). train.flags(model_dir, *flags, tiny=True): that run's
    command-line flags, for a process the test starts itself."""
    data_dir = str(tmp_path_factory.mktemp("data"))

    def command_line(model_dir, *extra: str, tiny: bool = True) -> list[str]:
        idx = [f"--mnist_idx_dir={tiny_idx_dir}", "--buffer_size=256"] if tiny else []
        return [
            f"--model_dir={model_dir}",
            f"--data_dir={data_dir}",
            "--keep_checkpoint_max=1",
            "--log_step_count_steps=1",
            *SMALL,
            *idx,
            *extra,
        ]

    def run(model_dir, *extra: str, check: bool = True, tiny: bool = True, **kwargs):
        return run_module(APP, *command_line(model_dir, *extra, tiny=tiny), check=check, **kwargs)

    run.flags = command_line
    return run


@pytest.fixture(scope="session")
def train_here(train, run_here):
    """train_here(model_dir, *flags, tiny=True) -> the log lines of `train`'s run, made in
    this process (the root conftest's run_here; a RunError propagates)."""
    from mnist_gan.options import GanOptions

    def run(model_dir, *extra: str, tiny: bool = True) -> list[str]:
        return run_here("mnist_gan", GanOptions, train.flags(model_dir, *extra, tiny=tiny))

    return run
