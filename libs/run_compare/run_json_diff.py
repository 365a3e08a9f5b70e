"""Field-by-field differences between two `run.json` records (provenance, not a verdict).

Nested objects are flattened to dotted paths (`flags.random_seed`, `host.hostname`); lists and
scalars are compared as whole values. Each difference is tagged as part of the run's *identity*
(what the run computes: seed, model, data, numerics; a difference there explains why numbers
differ) or as *provenance* (where and how it ran: paths, argv, host, versions, git commit).
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from run_record import flatten

# Top-level run.json keys whose values define what a run computes (see
# repro_app.run_dir.run_json_content).
IDENTITY_KEYS = frozenset({"seed", "identity"})


class _Missing:
    """Marks a field present in one record only."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclasses.dataclass(frozen=True)
class FieldDiff:
    """One leaf field whose value differs between run A and run B.

    Attributes:
      path: dotted path, e.g. "flags.model_dir".
      value_a: the value in A (MISSING if absent).
      value_b: the value in B (MISSING if absent).
      identity: True when the field is part of the run's identity (IDENTITY_KEYS).
    """

    path: str
    value_a: Any
    value_b: Any
    identity: bool


def _same(a: Any, b: Any) -> bool:
    # JSON gives True == 1 and 1 == 1.0 in Python; a changed type is a difference too.
    return type(a) is type(b) and a == b


def diff_records(record_a: Mapping[str, Any], record_b: Mapping[str, Any]) -> list[FieldDiff]:
    """Every leaf field that differs (or exists in one record only), sorted by path."""
    flat_a, flat_b = flatten(record_a), flatten(record_b)
    diffs = []
    for path in sorted(set(flat_a) | set(flat_b)):
        a, b = flat_a.get(path, MISSING), flat_b.get(path, MISSING)
        if not _same(a, b):
            diffs.append(FieldDiff(path, a, b, path.split(".", 1)[0] in IDENTITY_KEYS))
    return diffs
