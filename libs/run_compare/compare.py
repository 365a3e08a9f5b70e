"""Two run directories compared: run.json fields, losses.csv bits, latest checkpoints' tensors.

The verdict counts only numbers: two runs are identical when their losses and their weights are
bitwise equal. run.json differences (paths, host, versions) are reported as provenance.
"""

import dataclasses
import os
from typing import Any

from run_compare.checkpoints import CheckpointComparison, compare_checkpoints, latest_checkpoint
from run_compare.loss_diff import LossesComparison, compare_losses, load_losses
from run_compare.run_json_diff import FieldDiff, diff_records
from run_record import read_run_json


class BadRunError(ValueError):
    """A run directory cannot be compared (missing, no run.json/losses.csv/checkpoint, corrupt).

    The message is one line and names the directory or file.
    """


@dataclasses.dataclass(frozen=True)
class RunComparison:
    """Everything `compare` found.

    Attributes:
      dir_a, dir_b: the run directories.
      record_a, record_b: their run.json contents.
      fields: run.json leaf fields that differ.
      losses: the losses.csv comparison.
      checkpoints: the latest checkpoints' comparison.
    """

    dir_a: str
    dir_b: str
    record_a: dict[str, Any]
    record_b: dict[str, Any]
    fields: list[FieldDiff]
    losses: LossesComparison
    checkpoints: CheckpointComparison

    @property
    def identical(self) -> bool:
        """Losses and weights bitwise equal (run.json provenance may differ)."""
        return self.losses.identical and self.checkpoints.identical


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def compare_runs(dir_a: str, dir_b: str) -> RunComparison:
    """Compares two run directories that an app (e.g. mnist_gan) wrote through run_record.

    Both directories are checked for run.json, losses.csv and a checkpoint before any tensor is
    read, so bad input fails fast.

    Raises:
      BadRunError: a directory is missing or lacks run.json, losses.csv or a checkpoint, or one
        of those files cannot be read.
    """
    records, tables, prefixes = [], [], []
    for model_dir in (dir_a, dir_b):
        if not os.path.isdir(model_dir):
            raise BadRunError(f"{model_dir}: no such run directory")
        try:
            records.append(read_run_json(model_dir))
            tables.append(load_losses(model_dir))
        except (OSError, ValueError) as e:
            raise BadRunError(_one_line(e)) from None
    for model_dir in (dir_a, dir_b):
        try:
            prefixes.append(latest_checkpoint(model_dir))
        except OSError as e:
            raise BadRunError(_one_line(e)) from None
    try:
        checkpoints = compare_checkpoints(prefixes[0], prefixes[1])
    except ValueError as e:
        raise BadRunError(_one_line(e)) from None
    return RunComparison(
        dir_a=dir_a, dir_b=dir_b, record_a=records[0], record_b=records[1],
        fields=diff_records(records[0], records[1]),
        losses=compare_losses(tables[0], tables[1]), checkpoints=checkpoints)


def identical_runs(dir_a: str, dir_b: str) -> bool:
    """True when two run directories hold byte-identical losses.csv files and bitwise-equal
    latest checkpoints (every tensor's dtype, shape and bytes; the same step).

    Raises:
      BadRunError: as compare_runs.
    """
    result = compare_runs(dir_a, dir_b)
    with open(os.path.join(dir_a, "losses.csv"), "rb") as fa, open(
            os.path.join(dir_b, "losses.csv"), "rb") as fb:
        same_losses = fa.read() == fb.read()
    return same_losses and result.identical and (
        result.checkpoints.step_a == result.checkpoints.step_b)
