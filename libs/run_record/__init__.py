"""The run record that apps write and compare: `run.json` and `losses.csv` in a model_dir.

Shared by `apps/mnist_gan` (writes) and `apps/repro` (reads), so it lives in a library of its own.
"""

from run_record.losses import LossesWriter, read_losses, truncate_losses
from run_record.provenance import provenance
from run_record.run_json import (
    RunMismatchError,
    check_resumable,
    flatten,
    read_run_json,
    update_run_json,
    write_run_json,
)

__all__ = [
    "LossesWriter",
    "RunMismatchError",
    "check_resumable",
    "flatten",
    "provenance",
    "read_losses",
    "read_run_json",
    "truncate_losses",
    "update_run_json",
    "write_run_json",
]
