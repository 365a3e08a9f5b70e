"""`repro verify RUN_DIR`: a finished run checked against its manifest without redoing it, and
sampled segments of it re-executed and compared bit for bit.

1. Cheap, no training: every kept checkpoint (the `checkpoint` file's and archive/'s) has
   its manifest entry and every tensor matches it; every losses.csv row matches its digest.
2. Each chosen segment, from a kept checkpoint i to the next manifest entry j (a checkpoint
   that may since have been deleted), is re-executed in a fresh process with the run's
   recorded flags (`--train_until=j`; optionally on an emulated CPU, `--cpu MODEL`, or on W
   local processes), and its rows and checkpoint j are compared with the manifest; when they differ,
   the first divergent step (every row has its digest, so no bisection is needed) and the
   tensors of checkpoint j that differ are named.

Exit status: 0 verified, 1 not reproduced or tampered, 2 bad input. The report goes to
`verify.json` (beside the run, or --report).
"""

from __future__ import annotations

import dataclasses
import os
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from repro.apps import UnknownAppError, train_module
from repro.twice import NATIVE, Launcher, TwiceError, run_training

Echo = Callable[[str], None]
REPORT = "verify.json"


class VerifyError(Exception):
    """Bad input for `verify` (one line; exit 2)."""


@dataclasses.dataclass(frozen=True)
class Run:
    """The run being verified: its directory, run.json, manifest and losses.csv lines."""

    model_dir: str
    record: dict[str, Any]
    manifest: Any
    header: str
    rows: dict[int, str]
    kept: dict[int, str]


def load_run(model_dir: str) -> Run:
    """Reads the run, refusing one whose run.json is not its manifest's run.

    Raises:
      VerifyError: no run directory, run.json or manifest; an unknown app; run.json and
        manifest.json of two runs (named by the first identity field that differs).
    """
    from repro_app.manifest_writer import archived_checkpoints, csv_lines
    from run_compare.checkpoints import kept_checkpoints
    from run_record import flatten, manifest, read_run_json

    try:
        record = read_run_json(model_dir)
        found = manifest.read_manifest(model_dir)
    except (OSError, ValueError) as e:
        raise VerifyError(str(e)) from None
    if found is None:
        raise VerifyError(
            f"{model_dir}: no {manifest.MANIFEST_JSON} (a run made before "
            "manifests, or not a run directory)"
        )
    try:
        train_module(record.get("app", ""))
    except UnknownAppError as e:
        raise VerifyError(f"{model_dir}/run.json: {e}") from None
    if manifest.identity_digest(record) != found.identity:
        ours, theirs = flatten(manifest.run_identity(record)), flatten(found.run)
        field = next(
            (k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)), "identity"
        )
        raise VerifyError(
            f"{model_dir}: run.json is another run's than manifest.json "
            f"({field}: {theirs.get(field)!r} in the manifest, {ours.get(field)!r} "
            "in run.json)"
        )
    try:
        kept = {**archived_checkpoints(model_dir), **kept_checkpoints(model_dir)}
    except OSError:
        kept = archived_checkpoints(model_dir)
    header, rows = csv_lines(model_dir)
    return Run(model_dir, record, found, header, rows, kept)


def check_stored(run: Run) -> list[str]:
    """What does not match the manifest among the kept checkpoints and the losses.csv rows
    (empty: everything matches). No training."""
    from run_compare.checkpoints import tensor_digests
    from run_record.manifest import sha256

    problems = []
    for step, prefix in sorted(run.kept.items()):
        entry = run.manifest.entry(step)
        if entry is None:
            problems.append(f"{prefix}: no manifest entry for this checkpoint")
            continue
        try:
            digests = tensor_digests(prefix)
        except ValueError as e:
            problems.append(str(e))
            continue
        for name in sorted(set(digests) | set(entry.tensors)):
            if digests.get(name) != entry.tensors.get(name):
                problems.append(f"{prefix}: tensor {name!r} does not match the manifest")
    if run.header and sha256(run.header) != run.manifest.header:
        problems.append(f"{run.model_dir}/losses.csv: the header does not match the manifest")
    for step, digest in sorted(run.manifest.row_digests().items()):
        if step not in run.rows:
            problems.append(f"{run.model_dir}/losses.csv: step {step} is missing")
        elif sha256(run.rows[step]) != digest:
            problems.append(f"{run.model_dir}/losses.csv: step {step} does not match the manifest")
    return problems


def segments(run: Run) -> list[tuple[int, int]]:
    """(i, j): every kept checkpoint i with a manifest entry after it, j the next entry."""
    steps = [e.step for e in run.manifest.entries]
    return [
        (i, min(s for s in steps if s > i))
        for i in sorted(run.kept)
        if run.manifest.entry(i) is not None and any(s > i for s in steps)
    ]


def _segment_dir(run: Run, start: int, end: int, runs_root: str) -> str:
    """A fresh run directory holding the run at checkpoint `start`: run.json, that
    checkpoint's files and the losses.csv rows up to it."""
    from run_record import copy_checkpoint
    from tf_determinism import write_text_atomic

    target = os.path.join(runs_root, f"verify-{time.strftime('%Y%m%d-%H%M%S')}-{start}-{end}")
    os.makedirs(target)
    shutil.copyfile(os.path.join(run.model_dir, "run.json"), os.path.join(target, "run.json"))
    copy_checkpoint(run.kept[start], target)
    write_text_atomic(
        os.path.join(target, "checkpoint"), f'model_checkpoint_path: "model.ckpt-{start}"\n'
    )
    lines = [run.header, *(run.rows[s] for s in sorted(run.rows) if s <= start)]
    write_text_atomic(os.path.join(target, "losses.csv"), "\n".join(lines) + "\n")
    return target


def _flags(run: Run, end: int, local_workers: int) -> list[str]:
    """The run's recorded flags, to stop at `end` with no archive (and on W processes)."""
    override = {"model_dir": None, "train_until": end, "keep_checkpoints_every": 0}
    flags = {**run.record.get("flags", {}), **override}
    return [f"--{name}={value}" for name, value in flags.items() if value is not None] + (
        [f"--local_workers={local_workers}"] if local_workers else []
    )


def reexecute(
    run: Run,
    start: int,
    end: int,
    *,
    runs_root: str,
    launcher: Launcher = NATIVE,
    local_workers: int,
) -> dict[str, Any]:
    """Re-executes one segment and compares it with the manifest; a dict for verify.json."""
    from repro_app.manifest_writer import csv_lines
    from run_compare.checkpoints import tensor_digests
    from run_record.manifest import sha256

    target = _segment_dir(run, start, end, runs_root)
    result: dict[str, Any] = {"start": start, "end": end, "run_dir": target}
    try:
        result["seconds"] = round(
            run_training(
                _flags(run, end, local_workers), target, app=run.record["app"], launcher=launcher
            ),
            1,
        )
    except TwiceError as e:
        return {**result, "reproduced": False, "error": str(e)}
    expected = run.manifest.row_digests()
    _, rows = csv_lines(target)
    first = next(
        (s for s in range(start + 1, end + 1) if sha256(rows.get(s, "")) != expected.get(s)), None
    )
    ours = tensor_digests(os.path.join(target, f"model.ckpt-{end}"))
    theirs = run.manifest.entry(end).tensors
    differing = sorted(n for n in set(ours) | set(theirs) if ours.get(n) != theirs.get(n))
    return {
        **result,
        "reproduced": first is None and not differing,
        "rows": end - start,
        "first_divergent_step": first,
        "row_recorded": run.rows.get(first or -1),
        "row_reexecuted": rows.get(first or -1),
        "tensors": len(theirs),
        "tensors_differing": differing,
    }


def segment_line(result: dict[str, Any]) -> str:
    """One verdict line of a re-executed segment."""
    where = f"segment {result['start']} -> {result['end']}"
    if "error" in result:
        return f"{where}: NOT reproduced: the re-execution failed ({result['error']})"
    if result["reproduced"]:
        return (
            f"{where}: reproduced ({result['rows']} rows, {result['tensors']} tensors "
            f"bitwise equal; {result['seconds']} s)"
        )
    parts = []
    if result["first_divergent_step"] is not None:
        parts.append(
            f"first divergent step {result['first_divergent_step']} (recorded "
            f"{result['row_recorded']!r}, re-executed {result['row_reexecuted']!r})"
        )
    differing = result["tensors_differing"]
    if differing:
        names = ", ".join(differing[:3]) + (", ..." if len(differing) > 3 else "")
        parts.append(
            f"{len(differing)} of {result['tensors']} tensors of checkpoint "
            f"{result['end']} differ ({names})"
        )
    return f"{where}: NOT reproduced: " + "; ".join(parts)


def choose(
    all_segments: list[tuple[int, int]], count: int | None, seed: int
) -> list[tuple[int, int]]:
    """All segments (count None), or a sample of `count` drawn with `seed`, in step order."""
    if count is None or count >= len(all_segments):
        return list(all_segments)
    return sorted(random.Random(seed).sample(all_segments, count))


@dataclasses.dataclass(frozen=True)
class VerifyOptions:
    """How `verify` samples and re-executes (see main.py's flags)."""

    count: int | None = 1  # None: every segment
    seed: int | None = None  # None: a random one, recorded
    cpu: str | None = None
    local_workers: int = 0
    runs_root: str = os.path.join("runs", "repro")
    report: str | None = None


def _launcher(cpu: Any, scratch: str, echo: Echo) -> Launcher:
    """Native, or on the emulated `cpu` (an emulate.EmulatedCpu)."""
    from repro.emulate import EmulateError, launcher

    if cpu is None:
        return NATIVE
    try:
        return launcher(cpu, scratch, echo)
    except EmulateError as e:
        raise VerifyError(str(e)) from None


def verify(model_dir: str, options: VerifyOptions, echo: Echo) -> bool:
    """Verifies the run in model_dir (see the module docstring); prints the verdicts and
    writes the report. True when everything matches and every segment reproduced.

    Raises:
      VerifyError: bad input (no manifest, another run's run.json, an unknown CPU model).
    """
    from repro.emulate import EmulateError, resolve_cpu
    from tf_determinism import write_json_atomic

    run = load_run(model_dir)
    try:
        cpu = resolve_cpu(options.cpu) if options.cpu else None
    except EmulateError as e:
        raise VerifyError(str(e)) from None
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    echo(
        f"{model_dir}: {run.record['app']}, seed {run.record.get('seed')}, "
        f"{len(run.manifest.entries)} manifest entries, {len(run.kept)} checkpoints kept"
    )
    problems = check_stored(run)
    for problem in problems:
        echo(f"TAMPERED: {problem}")
    if not problems:
        echo(
            f"stored: the {len(run.kept)} kept checkpoints and {len(run.rows)} losses.csv rows "
            "match the manifest"
        )
    every = segments(run)
    chosen = choose(every, options.count, seed)
    echo(
        f"re-executing {len(chosen)} of {len(every)} segments (sample seed {seed})"
        + (f" under {os.path.basename(cpu.qemu)} -cpu {cpu.model}" if cpu else "")
        + (f" on {options.local_workers} processes" if options.local_workers else "")
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="repro-verify-") as scratch:
        how = _launcher(cpu, scratch, echo)
        for start, end in chosen:
            results.append(
                reexecute(
                    run,
                    start,
                    end,
                    runs_root=options.runs_root,
                    launcher=how,
                    local_workers=options.local_workers,
                )
            )
            echo(segment_line(results[-1]))
    verified = not problems and all(r["reproduced"] for r in results)
    root = run.manifest.root
    report = {
        "run_dir": model_dir,
        "app": run.record["app"],
        "root": root,
        "verified": verified,
        "stored_problems": problems,
        "sample_seed": seed,
        "segments_total": len(every),
        "segments": results,
        "cpu": options.cpu,
        "local_workers": options.local_workers,
    }
    path = options.report or os.path.join(model_dir, REPORT)
    write_json_atomic(path, report)
    echo(
        f"{'VERIFIED' if verified else 'NOT VERIFIED'}: {len(chosen)} of {len(every)} segments "
        f"re-executed, {sum(r['reproduced'] for r in results)} reproduced; "
        f"{len(problems)} stored mismatches; root {root}; report {path}"
    )
    return verified
