"""Two run directories of one app compared: run.json fields, losses.csv bits, every checkpoint
both kept (tensor by tensor), and the app's result files (byte for byte).

The verdict counts only numbers: two runs are identical when their losses, their weights and
their results are bitwise equal. run.json differences (paths, host, versions) are reported as
provenance.
"""

import dataclasses
import os
from typing import Any

from run_compare.checkpoints import CheckpointComparison, compare_checkpoints, kept_checkpoints
from run_compare.loss_diff import LossesComparison, compare_losses, load_losses
from run_compare.run_json_diff import FieldDiff, diff_records
from run_record import read_run_json

RESULTS_KEY = "results"  # run.json: the app's result files (repro_experiment writes it)


class BadRunError(ValueError):
    """A run directory cannot be compared (missing, no run.json/losses.csv/checkpoint, corrupt).

    The message is one line and names the directory or file.
    """


@dataclasses.dataclass(frozen=True)
class ResultDiff:
    """One result file (e.g. metrics.json) of the two runs.

    Attributes:
      name: its file name in the run directory.
      in_a, in_b: whether each run has it.
      equal: both have it, byte for byte the same.
    """

    name: str
    in_a: bool
    in_b: bool
    equal: bool


@dataclasses.dataclass(frozen=True)
class RunComparison:
    """Everything `compare` found.

    Attributes:
      dir_a, dir_b: the run directories.
      record_a, record_b: their run.json contents.
      fields: run.json leaf fields that differ.
      losses: the losses.csv comparison.
      checkpoints: every checkpoint step both kept, oldest first (the latest two when they
        share none); the last one is the latest of each.
      steps_a, steps_b: the checkpoint steps each kept.
      results: the result files either run lists in run.json.
    """

    dir_a: str
    dir_b: str
    record_a: dict[str, Any]
    record_b: dict[str, Any]
    fields: list[FieldDiff]
    losses: LossesComparison
    checkpoints: list[CheckpointComparison]
    steps_a: list[int]
    steps_b: list[int]
    results: list[ResultDiff]

    @property
    def latest(self) -> CheckpointComparison:
        return self.checkpoints[-1]

    @property
    def identical(self) -> bool:
        """Losses, every common checkpoint (the latest of the same step) and every result
        bitwise equal (run.json provenance may differ; checkpoints one run deleted and the
        other kept are not compared)."""
        return (
            self.losses.identical
            and all(c.identical for c in self.checkpoints)
            and self.latest.step_a == self.latest.step_b
            and all(r.equal for r in self.results)
        )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _read(model_dir: str) -> tuple[dict[str, Any], Any, dict[int, str]]:
    if not os.path.isdir(model_dir):
        raise BadRunError(f"{model_dir}: no such run directory")
    try:
        return read_run_json(model_dir), load_losses(model_dir), kept_checkpoints(model_dir)
    except (OSError, ValueError) as e:
        raise BadRunError(_one_line(e)) from None


def _results(
    dir_a: str, dir_b: str, record_a: dict[str, Any], record_b: dict[str, Any]
) -> list[ResultDiff]:
    names = sorted(set(record_a.get(RESULTS_KEY, [])) | set(record_b.get(RESULTS_KEY, [])))
    diffs = []
    for name in names:
        paths = [os.path.join(d, name) for d in (dir_a, dir_b)]
        present = [os.path.isfile(p) for p in paths]
        equal = all(present)
        if equal:
            with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
                equal = a.read() == b.read()
        diffs.append(ResultDiff(name, present[0], present[1], equal))
    return diffs


def compare_runs(dir_a: str, dir_b: str) -> RunComparison:
    """Compares two run directories that an app wrote through the skeleton.

    Both directories are checked for run.json, losses.csv and a checkpoint before any tensor is
    read, so bad input fails fast.

    Raises:
      BadRunError: a directory is missing or lacks run.json, losses.csv or a checkpoint, one
        of those files cannot be read, or the two are runs of two apps.
    """
    (record_a, table_a, kept_a), (record_b, table_b, kept_b) = _read(dir_a), _read(dir_b)
    apps = (record_a.get("app"), record_b.get("app"))
    if None not in apps and apps[0] != apps[1]:
        raise BadRunError(
            f"{dir_a} is a run of {apps[0]}, {dir_b} of {apps[1]}: compare runs of one app"
        )
    common = sorted(set(kept_a) & set(kept_b))
    pairs = [(kept_a[s], kept_b[s]) for s in common]
    if not common or common[-1] != max(kept_a) or common[-1] != max(kept_b):
        pairs.append((kept_a[max(kept_a)], kept_b[max(kept_b)]))
    try:
        checkpoints = [compare_checkpoints(a, b) for a, b in pairs]
    except ValueError as e:
        raise BadRunError(_one_line(e)) from None
    return RunComparison(
        dir_a=dir_a,
        dir_b=dir_b,
        record_a=record_a,
        record_b=record_b,
        fields=diff_records(record_a, record_b),
        losses=compare_losses(table_a, table_b),
        checkpoints=checkpoints,
        steps_a=sorted(kept_a),
        steps_b=sorted(kept_b),
        results=_results(dir_a, dir_b, record_a, record_b),
    )


def difference_report(dir_a: str, dir_b: str) -> str | None:
    """None when two run directories hold byte-identical losses.csv files, bitwise-equal
    checkpoints (every tensor's dtype, shape and bytes; the latest of the same step) and
    byte-identical result files; else what differs, as `repro compare` prints it (the first
    divergent step and column with both values, the differing tensors of each checkpoint, the
    result files, the likely causes).

    Raises:
      BadRunError: as compare_runs.
    """
    from run_compare.report import format_report

    result = compare_runs(dir_a, dir_b)
    with open(os.path.join(dir_a, "losses.csv"), "rb") as fa, open(
        os.path.join(dir_b, "losses.csv"), "rb"
    ) as fb:
        same_losses = fa.read() == fb.read()
    if same_losses and result.identical:
        return None
    report = format_report(result)
    if result.identical:  # the values are equal, the bytes are not (e.g. a header)
        report += f"losses.csv: the files differ byte for byte ({dir_a}, {dir_b})\n"
    return report


def identical_runs(dir_a: str, dir_b: str) -> bool:
    """True when `difference_report` finds nothing.

    Raises:
      BadRunError: as compare_runs.
    """
    return difference_report(dir_a, dir_b) is None
