"""A reference record of one short, fixed run, and whether another run reproduces it.

The record is small enough to ship in the repo (apps/repro/repro/references/): the app, every
step's losses as float32 hex, a sha256 of every tensor of its latest checkpoint (dtype, shape,
bytes), the flags that made the run, and the fingerprint of the machine that made it (run.json's
host.cpu, host.machine, host.onednn_isa and _threads, versions, determinism.environment).
`check_against` compares a fresh run with it bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from run_compare.checkpoints import latest_checkpoint, tensor_digests
from run_compare.loss_diff import bits, load_losses
from run_record import flatten, read_run_json

FORMAT = "reproducible-reference/1"
# The run.json fields that describe the machine and stack (compared field by field).
_FINGERPRINT_KEYS = (
    "host.cpu",
    "host.onednn_isa",
    "host.onednn_threads",
    "host.machine",
    "versions",
    "determinism.environment",
)


def _fingerprint(record: dict[str, Any]) -> dict[str, Any]:
    flat = flatten(record)
    return {
        path: value
        for path, value in sorted(flat.items())
        if any(path == key or path.startswith(key + ".") for key in _FINGERPRINT_KEYS)
    }


def make_reference(model_dir: str, flags: Sequence[str], reason: str) -> dict[str, Any]:
    """The reference record of the run in model_dir (made by `flags`)."""
    table = load_losses(model_dir)
    record = read_run_json(model_dir)
    return {
        "format": FORMAT,
        "app": record.get("app"),
        "reason": reason,
        "flags": list(flags),
        "git_commit": record.get("git_commit"),
        "losses": {
            name: {
                str(int(step)): f"{int(b):08x}"
                for step, b in zip(table.steps, bits(table.values[name]), strict=True)
            }
            for name in table.names
        },
        "tensors": tensor_digests(latest_checkpoint(model_dir)),
        "fingerprint": _fingerprint(record),
    }


def write_reference(path: str, reference: dict[str, Any]) -> None:
    from tf_determinism import write_text_atomic

    write_text_atomic(path, json.dumps(reference, indent=1, sort_keys=True) + "\n")


def read_reference(path: str) -> dict[str, Any]:
    """Reads a reference record.

    Raises:
      ValueError: not a reference record (message names the file).
      OSError: unreadable.
    """
    with open(path, encoding="utf-8") as f:
        try:
            reference = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(reference, dict) or reference.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} record")
    return reference


@dataclasses.dataclass(frozen=True)
class ReferenceCheck:
    """A run against a reference.

    Attributes:
      first_divergent_step: the first step whose losses differ in any bit (None: none).
      divergent_loss: the first loss that differs there.
      steps_compared: steps present in both.
      missing_steps: reference steps the run lacks.
      tensors_compared, tensors_differing: checkpoint tensors (by digest).
      fingerprint_diffs: (field, reference value, this machine's value) that differ.
    """

    first_divergent_step: int | None
    divergent_loss: str | None
    steps_compared: int
    missing_steps: int
    tensors_compared: int
    tensors_differing: int
    fingerprint_diffs: list[tuple[str, Any, Any]]

    @property
    def reproduces(self) -> bool:
        return (
            self.first_divergent_step is None
            and not self.missing_steps
            and not self.tensors_differing
            and self.tensors_compared > 0
        )


def check_against(reference: dict[str, Any], model_dir: str) -> ReferenceCheck:
    """Compares the run in model_dir with `reference` bit for bit.

    Raises:
      ValueError: model_dir's latest checkpoint is torn or damaged (one line naming it).
    """
    ours = make_reference(model_dir, reference.get("flags", []), "")
    first, which, compared, missing = None, None, 0, 0
    for name, steps in sorted(reference["losses"].items()):
        mine = ours["losses"].get(name, {})
        for step, value in steps.items():
            if step not in mine:
                missing += 1
                continue
            compared += 1
            if mine[step] != value and (first is None or int(step) < first):
                first, which = int(step), name
    ref_tensors, our_tensors = reference["tensors"], ours["tensors"]
    names = set(ref_tensors) | set(our_tensors)
    differing = sum(ref_tensors.get(n) != our_tensors.get(n) for n in names)
    ref_fp, our_fp = reference.get("fingerprint", {}), ours["fingerprint"]
    fp_diffs = [
        (k, ref_fp.get(k), our_fp.get(k))
        for k in sorted(set(ref_fp) | set(our_fp))
        if ref_fp.get(k) != our_fp.get(k)
    ]
    return ReferenceCheck(
        first,
        which,
        compared // max(len(reference["losses"]), 1),
        missing,
        len(names),
        differing,
        fp_diffs,
    )
