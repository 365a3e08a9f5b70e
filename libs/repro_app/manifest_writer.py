"""Every checkpoint a run writes gets its entry in `manifest.json` (run_record.manifest) once it
is complete: the sha256 of each tensor and of each losses.csv row up to its step (imports TF).

    recorder = ManifestRecorder(model_dir, keep_every=opts.schedule.keep_checkpoints_every)
    estimator.train(..., hooks=[scalars_hook, recorder], saving_listeners=[recorder.listener])

The Estimator's saver calls the listener when a checkpoint's files and the `checkpoint` state
file are written; its hook runs before the app's hooks, so that step's losses.csv row is not
written yet. The recorder therefore adds the entry in its own `after_run` (after the scalars
hook's, which writes the row), at the session's start (the restored checkpoint, saved again)
and end (the final one). A crash in between leaves a checkpoint without its entry:
`record_missing`, called before training resumes, adds it. `keep_every` N > 0 also keeps
every checkpoint whose step is a multiple of N (hard links in <model_dir>/archive/, which
--keep_checkpoint_max does not delete): a run meant to be published keeps the starting points
of every segment `repro verify` may re-execute.
"""

from __future__ import annotations

import glob
import os

import tensorflow as tf

from run_compare.checkpoints import kept_checkpoints, tensor_digests
from run_record import copy_checkpoint, manifest, read_run_json
from run_record.losses_csv import LOSSES_CSV

ARCHIVE = "archive"


def csv_lines(model_dir: str) -> tuple[str, dict[int, str]]:
    """(header line, {step: row line}) of model_dir's losses.csv, lines without newline."""
    path = os.path.join(model_dir, LOSSES_CSV)
    if not os.path.isfile(path):
        return "", {}
    with open(path, encoding="utf-8", newline="") as f:
        header, *rows = f.read().splitlines()
    return header, {int(row.split(",", 1)[0]): row for row in rows}


def checkpoint_entry(
    prefix: str, step: int, rows: dict[int, str], previous: tuple[int, str]
) -> manifest.Entry:
    """The entry of the checkpoint at `prefix`: its tensors, and the rows after the previous
    entry's step (`previous`: its step and chain) up to `step`."""
    digests = [manifest.sha256(rows[s]) for s in sorted(rows) if previous[0] < s <= step]
    return manifest.Entry(
        step, tensor_digests(prefix), digests, manifest.chain(previous[1], digests)
    )


def record_checkpoint(model_dir: str, step: int, keep_every: int = 0) -> None:
    """Adds checkpoint `step`'s entry to model_dir's manifest (archiving it when `keep_every`
    divides its step).

    Raises:
      run_record.manifest.ManifestError: the manifest holds another entry for the step.
    """
    record = read_run_json(model_dir)
    header, rows = csv_lines(model_dir)
    current = manifest.read_manifest(model_dir)
    previous = current.last_chain(step) if current else (-1, manifest.sha256(header))
    prefix = os.path.join(model_dir, f"model.ckpt-{step}")
    entry = checkpoint_entry(prefix, step, rows, previous)
    manifest.add_entry(model_dir, record, manifest.sha256(header), entry)
    if keep_every and step % keep_every == 0:
        archive(prefix)


def archive(prefix: str) -> None:
    """Hard links (copies, across file systems) of a checkpoint's files into archive/."""
    copy_checkpoint(prefix, os.path.join(os.path.dirname(prefix), ARCHIVE), link=True)


def archived_checkpoints(model_dir: str) -> dict[int, str]:
    """{step: prefix} of the checkpoints in archive/."""
    found = glob.glob(os.path.join(model_dir, ARCHIVE, "model.ckpt-*.index"))
    return {int(path[:-6].rsplit("-", 1)[1]): path[:-6] for path in found}


def record_missing(model_dir: str) -> None:
    """Adds the entries of the listed checkpoints that have none (a crash between a save and
    its entry), oldest first."""
    if not os.path.exists(os.path.join(model_dir, "checkpoint")):
        return
    current = manifest.read_manifest(model_dir)
    for step in sorted(kept_checkpoints(model_dir)):
        if current is None or current.entry(step) is None:
            record_checkpoint(model_dir, step)
            current = manifest.read_manifest(model_dir)


class _Saved(tf.estimator.CheckpointSaverListener):
    """Notes the step of each checkpoint saved."""

    def __init__(self, pending: list[int]) -> None:
        self._pending = pending

    def after_save(self, session, global_step_value) -> None:
        self._pending.append(int(global_step_value))


class ManifestRecorder(tf.estimator.SessionRunHook):
    """Records each checkpoint the Estimator saves (see the module docstring); pass `listener`
    as a saving listener and this hook after the one that writes losses.csv."""

    def __init__(self, model_dir: str, keep_every: int = 0) -> None:
        self._model_dir, self._keep_every = model_dir, keep_every
        self._pending: list[int] = []
        self.listener = _Saved(self._pending)

    def _record(self) -> None:
        for step in self._pending:
            record_checkpoint(self._model_dir, step, self._keep_every)
        self._pending.clear()

    def after_create_session(self, session, coord) -> None:
        self._record()

    def after_run(self, run_context, run_values) -> None:
        self._record()

    def end(self, session) -> None:
        self._record()
