"""The run record that apps write and compare: `run.json`, `losses.csv` and `manifest.json` in
a model_dir.

  run_json     run.json (a "record": the dict it holds): write, read, update one entry, and
               the identity check a resume must pass
  losses_csv   losses.csv: one row per step, every value exactly the float32 TF computed
  provenance   where and with what a run ran (host, versions, git commit)
  manifest     manifest.json: every checkpoint's tensors and losses.csv row's sha256, chained
  checkpoint_files  a checkpoint's files copied or linked into another directory

Written for every app by the skeleton (repro_app.run_dir, repro_experiment.runner,
repro_app.manifest_writer) and read by `run_compare` and `apps/repro`, so it lives in a library
of its own.
"""

from run_record.checkpoint_files import copy_checkpoint
from run_record.losses_csv import LossesWriter, read_losses, truncate_losses
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
    "copy_checkpoint",
    "flatten",
    "provenance",
    "read_losses",
    "read_run_json",
    "truncate_losses",
    "update_run_json",
    "write_run_json",
]
