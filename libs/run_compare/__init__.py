"""Bit-for-bit comparison of two run directories (run.json, losses.csv, checkpoints, results).

Used by `apps/repro`. Reads the run directories apps write through `run_record`; imports
TensorFlow only to read checkpoints. One module per part of a run:

  run_json_diff   run.json field by field (`FieldDiff`: identity or provenance)
  loss_diff       losses.csv loss by loss, step by step, as float32 bits
  checkpoints     a checkpoint, tensor by tensor, as bits
  compare         all of them and the result files (`compare_runs`, `difference_report`,
                  `identical_runs`)
  causes, report  the likely causes of a difference, the printed report
  plot            comparison.png
  reference       a shipped reference run and whether this machine reproduces it
"""

from run_compare.causes import likely_causes
from run_compare.checkpoints import (
    CheckpointComparison,
    TensorDiff,
    compare_checkpoints,
    compare_tensors,
    latest_checkpoint,
    same_tensors,
)
from run_compare.compare import (
    BadRunError,
    RunComparison,
    compare_runs,
    difference_report,
    identical_runs,
)
from run_compare.loss_diff import LossDiff, LossesComparison, LossTable, compare_losses, load_losses
from run_compare.plot import render_comparison_png, write_comparison_png
from run_compare.reference import (
    ReferenceCheck,
    check_against,
    make_reference,
    read_reference,
    write_reference,
)
from run_compare.report import cause_lines, format_report, format_value, verdict_line
from run_compare.run_json_diff import MISSING, FieldDiff, diff_records

__all__ = [
    "MISSING",
    "BadRunError",
    "CheckpointComparison",
    "FieldDiff",
    "LossDiff",
    "LossTable",
    "LossesComparison",
    "ReferenceCheck",
    "RunComparison",
    "TensorDiff",
    "cause_lines",
    "check_against",
    "compare_checkpoints",
    "compare_losses",
    "compare_runs",
    "compare_tensors",
    "diff_records",
    "difference_report",
    "format_report",
    "format_value",
    "identical_runs",
    "latest_checkpoint",
    "likely_causes",
    "load_losses",
    "make_reference",
    "read_reference",
    "render_comparison_png",
    "same_tensors",
    "verdict_line",
    "write_reference",
    "write_comparison_png",
]
