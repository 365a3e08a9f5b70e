"""Bitwise comparison of two runs' `losses.csv`, loss by loss and step by step.

Values are compared as float32 bit patterns, not with `==`: NaN equals a NaN with the same bits,
and 0.0 differs from -0.0, so "equal" here means "the same bits TF computed".
"""

import dataclasses

import numpy as np

from run_record import read_losses


@dataclasses.dataclass(frozen=True)
class LossTable:
    """One run's losses.csv.

    Attributes:
      path: the file read.
      names: loss names in file order.
      steps: int64 [N], strictly increasing global steps (1 = first step).
      values: {name: float32 [N]}.
    """

    path: str
    names: list[str]
    steps: np.ndarray
    values: dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class LossDiff:
    """One loss compared over the steps both runs recorded.

    Attributes:
      name: the loss (a losses.csv column).
      steps_compared: steps present in both runs.
      steps_equal: of those, steps whose float32 values are bitwise equal.
      first_divergent_step: the smallest common step whose values differ, or None.
      value_a: A's float32 value at first_divergent_step (None when there is none).
      value_b: B's float32 value at first_divergent_step (None when there is none).
    """

    name: str
    steps_compared: int
    steps_equal: int
    first_divergent_step: int | None
    value_a: np.float32 | None
    value_b: np.float32 | None

    @property
    def identical(self) -> bool:
        return self.steps_equal == self.steps_compared


@dataclasses.dataclass(frozen=True)
class LossesComparison:
    """Two losses.csv files compared.

    Attributes:
      a, b: the two tables.
      common_steps: int64 [M], steps present in both.
      losses: one LossDiff per loss name present in both, in A's column order.
      only_a, only_b: loss names present in one file only.
    """

    a: LossTable
    b: LossTable
    common_steps: np.ndarray
    losses: list[LossDiff]
    only_a: list[str]
    only_b: list[str]

    @property
    def same_steps(self) -> bool:
        return np.array_equal(self.a.steps, self.b.steps)

    @property
    def identical(self) -> bool:
        """Same loss names, same steps, every value bitwise equal."""
        return (
            self.same_steps
            and not self.only_a
            and not self.only_b
            and all(d.identical for d in self.losses)
        )


def load_losses(path: str) -> LossTable:
    """Reads a losses.csv (or the one in a run directory) for comparison.

    Raises:
      FileNotFoundError: no losses.csv.
      ValueError: malformed, empty, or steps not strictly increasing (message names the file).
    """
    names, steps, values = read_losses(path)
    if steps.size == 0:
        raise ValueError(f"{path}: losses.csv has no rows")
    if np.any(np.diff(steps) <= 0):
        raise ValueError(f"{path}: losses.csv steps are not strictly increasing")
    return LossTable(path, names, steps, values)


def bits(values: np.ndarray) -> np.ndarray:
    """The IEEE-754 bit patterns (uint32) of float32 values."""
    return np.ascontiguousarray(values, np.float32).view(np.uint32)


def compare_losses(a: LossTable, b: LossTable) -> LossesComparison:
    """Compares every loss both tables have, on the steps both tables have."""
    common, index_a, index_b = np.intersect1d(
        a.steps, b.steps, assume_unique=True, return_indices=True
    )
    diffs = []
    for name in (n for n in a.names if n in b.names):
        va, vb = a.values[name][index_a], b.values[name][index_b]
        equal = bits(va) == bits(vb)
        divergent = np.flatnonzero(~equal)
        first = int(divergent[0]) if divergent.size else None
        diffs.append(
            LossDiff(
                name=name,
                steps_compared=int(common.size),
                steps_equal=int(equal.sum()),
                first_divergent_step=None if first is None else int(common[first]),
                value_a=None if first is None else va[first],
                value_b=None if first is None else vb[first],
            )
        )
    return LossesComparison(
        a=a,
        b=b,
        common_steps=common,
        losses=diffs,
        only_a=[n for n in a.names if n not in b.names],
        only_b=[n for n in b.names if n not in a.names],
    )
