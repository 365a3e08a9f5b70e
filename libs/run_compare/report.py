"""The human-readable `compare` report: provenance, per-loss bits, per-tensor bits of every
common checkpoint, result files, verdict."""

import os
from typing import Any

import numpy as np

from run_compare.causes import likely_causes
from run_compare.checkpoints import CheckpointComparison, TensorDiff
from run_compare.compare import ResultDiff, RunComparison
from run_compare.loss_diff import LossDiff, LossesComparison, LossTable
from run_compare.run_json_diff import FieldDiff


def format_value(value: Any) -> str:
    """A float32 loss value as exact decimal plus its IEEE-754 bits, e.g. '-0.5 (0xbf000000)'."""
    v = np.float32(value)
    return f"{float(v)!r} (0x{int(np.array(v).view(np.uint32)):08x})"


def _run_line(label: str, model_dir: str, record: dict[str, Any], step: int | None) -> str:
    commit = record.get("git_commit")
    details = [
        f"seed {record.get('seed', '?')}",
        f"checkpoint step {step}",
        f"git {commit[:10] if isinstance(commit, str) else commit}",
    ]
    return f"{label}: {model_dir}  ({', '.join(details)})"


def _steps(table: LossTable) -> str:
    return f"{table.steps.size} rows, steps {int(table.steps[0])}..{int(table.steps[-1])}"


def _loss_lines(losses: LossesComparison) -> list[str]:
    lines = [
        f"losses.csv: A {_steps(losses.a)}; B {_steps(losses.b)}; "
        f"{losses.common_steps.size} steps compared"
    ]
    if not losses.same_steps:
        lines.append("  the step sets differ: only steps present in both are compared")
    width = max((len(d.name) for d in losses.losses), default=0)
    for diff in losses.losses:
        lines.extend(_loss_diff_lines(diff, width))
    lines += [f"  {name}: only in A" for name in losses.only_a]
    lines += [f"  {name}: only in B" for name in losses.only_b]
    return lines


def _loss_diff_lines(diff: LossDiff, width: int) -> list[str]:
    head = (
        f"  {diff.name:<{width}}  {diff.steps_equal} of {diff.steps_compared} steps "
        "bitwise equal"
    )
    if diff.first_divergent_step is None:
        return [head]
    return [
        f"{head}; first divergent step {diff.first_divergent_step}:",
        f"  {'':<{width}}  A {format_value(diff.value_a)}  B {format_value(diff.value_b)}",
    ]


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _tensor_line(diff: TensorDiff) -> str:
    if diff.elements_differing is None:
        return (
            f"  {diff.name}: A {diff.dtype_a} {_shape(diff.shape_a)}, "
            f"B {diff.dtype_b} {_shape(diff.shape_b)}"
        )
    largest = "n/a" if diff.max_abs_diff is None else f"{diff.max_abs_diff:.6g}"
    return (
        f"  {diff.name}  {diff.dtype_a} {_shape(diff.shape_a)}: {diff.elements_differing} "
        f"of {diff.elements} elements differ, max |A-B| = {largest}"
    )


def _checkpoint_lines(ckpt: CheckpointComparison) -> list[str]:
    name_a, name_b = os.path.basename(ckpt.path_a), os.path.basename(ckpt.path_b)
    where = (
        f"{name_a}"
        if name_a == name_b and ckpt.step_a == ckpt.step_b
        else f"A {name_a} (global_step {ckpt.step_a}), B {name_b} (global_step {ckpt.step_b})"
    )
    lines = [
        f"checkpoint {where}: {ckpt.tensors_compared} tensors compared, "
        f"{ckpt.tensors_equal} bitwise equal, {len(ckpt.differing)} differ"
    ]
    lines += [_tensor_line(d) for d in ckpt.differing]
    lines += [f"  {name}: only in A" for name in ckpt.only_a]
    lines += [f"  {name}: only in B" for name in ckpt.only_b]
    return lines


def _result_line(result: ResultDiff) -> str:
    if result.equal:
        return f"{result.name}: byte-identical"
    if result.in_a and result.in_b:
        return f"{result.name}: differs"
    return f"{result.name}: only in {'A' if result.in_a else 'B'}"


def verdict_line(result: RunComparison) -> str:
    """One line: IDENTICAL or DIFFERENT, and what differs."""
    if result.identical:
        what = "losses, weights and results" if result.results else "losses and weights"
        return f"IDENTICAL: {what} are bitwise equal"
    parts = []
    losses = result.losses
    if not losses.identical:
        bad = [d for d in losses.losses if not d.identical]
        if bad:
            first = min(d.first_divergent_step for d in bad if d.first_divergent_step is not None)
            parts.append(
                f"{len(bad)} of {len(losses.losses)} losses differ "
                f"({', '.join(d.name for d in bad)}; first at step {first})"
            )
        if not losses.same_steps or losses.only_a or losses.only_b:
            parts.append("losses.csv steps or columns differ")
    for ckpt in result.checkpoints:
        if ckpt.identical:
            continue
        part = (
            f"{len(ckpt.differing)} of {ckpt.tensors_compared} tensors of "
            f"{os.path.basename(ckpt.path_b)} differ"
        )
        if len(ckpt.differing) == 1:
            part += f" ({ckpt.differing[0].name})"
        if ckpt.only_a or ckpt.only_b:
            part += f", {len(ckpt.only_a) + len(ckpt.only_b)} in one checkpoint only"
        parts.append(part)
    if result.latest.step_a != result.latest.step_b:
        parts.append(
            f"latest checkpoints at steps {result.latest.step_a} and {result.latest.step_b}"
        )
    parts += [_result_line(r) for r in result.results if not r.equal]
    return "DIFFERENT: " + "; ".join(parts)


def cause_lines(fields: list[FieldDiff]) -> list[str]:
    """The "likely causes" block of a report on runs that differ."""
    causes = likely_causes(fields)
    if not causes:
        return [
            "likely cause: nothing recorded differs that is known to change bits "
            "(same recorded machine, pins and versions)"
        ]
    lines = ["likely causes, most likely first:"]
    for number, (meaning, field) in enumerate(causes, 1):
        lines.append(
            f"  {number}. {meaning}: {field.path}: A {field.value_a!r}  B {field.value_b!r}"
        )
    return lines


def _provenance_lines(result: RunComparison) -> list[str]:
    lines = [
        _run_line("A", result.dir_a, result.record_a, result.latest.step_a),
        _run_line("B", result.dir_b, result.record_b, result.latest.step_b),
    ]
    if os.path.realpath(result.dir_a) == os.path.realpath(result.dir_b):
        lines.append("note: A and B are the same directory")
    identity = sum(f.identity for f in result.fields)
    lines.append(f"run.json: {len(result.fields)} fields differ ({identity} in the run identity)")
    for field in result.fields:
        mark = "  [identity]" if field.identity else ""
        a, b = repr(field.value_a), repr(field.value_b)
        if len(a) + len(b) > 80:  # long values (argv): one per line, so they line up
            lines += [f"  {field.path}:{mark}", f"    A {a}", f"    B {b}"]
        else:
            lines.append(f"  {field.path}: A {a}  B {b}{mark}")
    return lines


def format_report(
    result: RunComparison, png_path: str | None = None, *, bits_only: bool = False
) -> str:
    """The full report (ends with the verdict line), as printed by `repro compare`; with
    `bits_only`, only the losses, checkpoints, result files and verdict (no run.json diff, no
    causes: for runs whose provenance differs by design, as `repro emulate`'s)."""
    lines = [] if bits_only else _provenance_lines(result)
    lines += _loss_lines(result.losses)
    if result.steps_a != result.steps_b:
        lines.append(
            f"checkpoints kept: A steps {result.steps_a}, B steps {result.steps_b}; "
            "the common ones and the latest are compared"
        )
    for ckpt in result.checkpoints:
        lines += _checkpoint_lines(ckpt)
    lines += [_result_line(r) for r in result.results]
    if not result.identical and not bits_only:
        lines += cause_lines(result.fields)
    if png_path:
        lines.append(f"plot: {png_path}")
    lines.append(verdict_line(result))
    return "\n".join(lines) + "\n"
