"""A torn or unreadable newest checkpoint (a copy interrupted, a disk that lost its tail) is found
before training resumes from it, named in one line, and the run falls back to the newest
intact one: training is a function of the checkpoint it starts from, so the steps after it are
recomputed to the same bits.

A checkpoint is intact when every tensor of it can be read (its index parses and every
tensor's bytes are in its data file, at their recorded checksum): the one test that catches a
short data file, whatever the file system did, and it costs one read of the checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import tensorflow as tf

from repro_app.disk_full import remove_partial_checkpoint
from run_compare.checkpoints import open_checkpoint, read_tensor, step_of


class UnreadableCheckpoint(Exception):
    """A checkpoint some tensor of which cannot be read."""


def read_every_tensor(prefix: str) -> None:
    """Reads every tensor of the checkpoint at `prefix` (run_compare's reader: one place knows
    what a torn or damaged checkpoint raises).

    Raises:
      UnreadableCheckpoint: one line naming the checkpoint, the tensor and the first error.
    """
    try:
        reader = open_checkpoint(prefix)
        for name in sorted(reader.get_variable_to_shape_map()):
            read_tensor(reader, prefix, name)
    except ValueError as e:
        raise UnreadableCheckpoint(str(e)) from None


@dataclasses.dataclass(frozen=True)
class Checkpoints:
    """A run directory's checkpoints, newest first, as the `checkpoint` state file lists them.

    Attributes:
      intact: prefixes of the intact ones.
      torn: (prefix, reason) of those newer than the newest intact one.
    """

    intact: list[str]
    torn: list[tuple[str, str]]

    @property
    def newest_intact(self) -> str | None:
        return self.intact[0] if self.intact else None


def check_checkpoints(model_dir: str) -> Checkpoints:
    """Reads the checkpoints of model_dir newest first until one is intact (older ones are
    not read: they are only kept, as `keep_checkpoint_max` says)."""
    # TF joins a relative path of the state file to model_dir itself (relative to the working
    # directory when model_dir is: runs/<app>/... by default); joining again named
    # runs/x/runs/x/model.ckpt-N, and a resume found no intact checkpoint.
    state = tf.train.get_checkpoint_state(model_dir)
    prefixes = list(state.all_model_checkpoint_paths) if state else []
    if state and state.model_checkpoint_path and state.model_checkpoint_path not in prefixes:
        prefixes.append(state.model_checkpoint_path)
    prefixes.sort(key=step_of, reverse=True)
    torn: list[tuple[str, str]] = []
    for i, prefix in enumerate(prefixes):
        try:
            read_every_tensor(prefix)
        except UnreadableCheckpoint as e:
            torn.append((prefix, str(e)))
            continue
        return Checkpoints(intact=prefixes[i:], torn=torn)
    return Checkpoints(intact=[], torn=torn)


def fall_back_to_intact(model_dir: str, log: Callable[[str], None]) -> str | None:
    """Makes model_dir resume from its newest intact checkpoint: the torn newer ones are
    removed (their steps are recomputed) and the `checkpoint` state file names the intact one.

    Returns:
      The checkpoint training resumes from, None when model_dir has none at all.

    Raises:
      UnreadableCheckpoint: it has checkpoints but none is intact (nothing is removed).
    """
    found = check_checkpoints(model_dir)
    if not found.torn:
        return found.newest_intact
    if found.newest_intact is None:
        raise UnreadableCheckpoint(
            f"no intact checkpoint in {model_dir}: " + "; ".join(r for _, r in found.torn)
        )
    for _, reason in found.torn:
        log(f"{reason}; removed, resuming from {os.path.basename(found.newest_intact)}")
    # The state file first: a crash in between leaves a state that names intact files only.
    # (The paths as check_checkpoints has them: relative to the working directory when
    # model_dir is; TF writes those relative to model_dir.)
    tf.compat.v1.train.update_checkpoint_state(
        model_dir, found.newest_intact, all_model_checkpoint_paths=list(reversed(found.intact))
    )
    for prefix, _ in found.torn:
        remove_partial_checkpoint(model_dir, step_of(prefix))
    return found.newest_intact
