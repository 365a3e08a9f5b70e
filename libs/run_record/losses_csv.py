"""`losses.csv`: one row per training step, every value exactly the float32 TF computed.

Format: a header `step,<loss name>,...`, then rows `<int step>,<value>,...`. Each value is
`repr(float(v))` of the float32 `v`: a float32 is exactly representable as a float64, and repr of a
float64 round-trips, so `np.float32(float(text)) == v` bit for bit (NaN and inf included) while
the file stays readable. Rows are appended across resumes; a resume first drops rows past the
restored checkpoint so that no step appears twice.
"""

import csv
import io
import os
from collections.abc import Sequence

import numpy as np

from tf_determinism import write_text_atomic

LOSSES_CSV = "losses.csv"


def _format(value: float) -> str:
    return repr(float(np.float32(value)))


def read_losses(path: str) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Reads a losses.csv.

    Args:
      path: the file, or a model_dir containing losses.csv.

    Returns:
      (loss names, steps int64 [N], {name: float32 [N]}) in file order.

    Raises:
      FileNotFoundError: no such file.
      ValueError: malformed header or row (the message names the file and line).
    """
    if os.path.isdir(path):
        path = os.path.join(path, LOSSES_CSV)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no losses.csv")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or not rows[0] or rows[0][0] != "step" or len(rows[0]) < 2:
        raise ValueError(f"{path}:1: expected a header 'step,<loss>,...'")
    names = rows[0][1:]
    steps = []
    values: list[list[np.float32]] = [[] for _ in names]
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(names) + 1:
            raise ValueError(f"{path}:{line_no}: expected {len(names) + 1} fields, got {len(row)}")
        try:
            steps.append(int(row[0]))
            for column, text in zip(values, row[1:], strict=True):
                column.append(np.float32(float(text)))
        except ValueError:
            raise ValueError(f"{path}:{line_no}: not a number in {row!r}") from None
    return (
        names,
        np.asarray(steps, np.int64),
        {n: np.asarray(v, np.float32) for n, v in zip(names, values, strict=True)},
    )


def truncate_losses(path: str, max_step: int) -> int:
    """Drops rows with step > max_step (atomically); returns the number of rows kept.

    Used on resume: rows written after the last checkpoint will be recomputed.
    A missing file counts as zero rows.
    """
    if not os.path.isfile(path):
        return 0
    names, steps, values = read_losses(path)
    keep = steps <= max_step
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", *names])
    for i in np.flatnonzero(keep):
        writer.writerow([int(steps[i]), *(_format(values[n][i]) for n in names)])
    write_text_atomic(path, out.getvalue())
    return int(keep.sum())


class LossesWriter:
    """Appends one row per step to losses.csv, writing the header if the file is new.

    Each row is flushed at once, so a crash loses at most the row being written; the resume logic
    (`truncate_losses`) removes rows past the restored checkpoint.
    """

    def __init__(self, path: str, names: Sequence[str]):
        self._path = path
        self._names = list(names)
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            existing, steps, _ = read_losses(path)
            if existing != self._names:
                raise ValueError(f"{path}: has losses {existing}, this run logs {self._names}")
            self._last_step = int(steps[-1]) if len(steps) else 0
            self._file = open(path, "a", encoding="utf-8", newline="")
        else:
            self._last_step = 0
            self._file = open(path, "w", encoding="utf-8", newline="")
            self._file.write(",".join(["step", *self._names]) + "\n")
            self._file.flush()

    @property
    def last_step(self) -> int:
        """The last step written (0 if none)."""
        return self._last_step

    def write(self, step: int, values: Sequence[float]) -> None:
        """Appends `step` (must exceed the last step written) with one value per loss name."""
        if step <= self._last_step:
            raise ValueError(f"{self._path}: step {step} after step {self._last_step}")
        if len(values) != len(self._names):
            raise ValueError(f"{self._path}: {len(values)} values for {len(self._names)} losses")
        self._file.write(",".join([str(int(step)), *(_format(v) for v in values)]) + "\n")
        self._file.flush()
        self._last_step = step

    def close(self) -> None:
        self._file.close()
