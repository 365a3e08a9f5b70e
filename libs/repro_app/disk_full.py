"""A full file system under the run directory: one line naming the directory and what was being
written, exit status 6 (`NoSpaceError`), the partial files of that write removed.

    watch = CheckpointWatch()
    with no_space_errors(model_dir, watch, "losses.csv or events"):
        estimator.train(..., saving_listeners=[watch])

ENOSPC (and EDQUOT, a quota) reach Python in two types: an OSError from Python's own writes
(losses.csv, run.json, samples.png) and TensorFlow's ResourceExhaustedError from its C++
writers (checkpoints, graph.pbtxt, events). `CheckpointWatch` (a saving listener) knows which
checkpoint is being written, so its partial files (`model.ckpt-N_temp/`, a data file without
its index) can be removed: TensorFlow leaves them behind, and they are not in the `checkpoint`
state file, so the rerun would otherwise keep them until it writes step N again.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
from collections.abc import Iterator

import tensorflow as tf

from repro_app.errors import NoSpaceError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# A write that failed for room leaves less than this free (its partial file filled the rest).
_NEARLY_FULL_BYTES = 16 << 20


class CheckpointWatch(tf.estimator.CheckpointSaverListener):
    """Knows the global step of the checkpoint being written (None between saves)."""

    def __init__(self) -> None:
        self.writing: int | None = None

    def before_save(self, session, global_step_value) -> None:
        self.writing = int(global_step_value)

    def after_save(self, session, global_step_value) -> None:
        self.writing = None


def remove_partial_checkpoint(model_dir: str, step: int) -> None:
    """Removes step's checkpoint files unless the `checkpoint` state file lists them (a save
    that did not finish)."""
    prefix = os.path.join(model_dir, f"model.ckpt-{step}")
    state = tf.train.get_checkpoint_state(model_dir)
    listed = set(state.all_model_checkpoint_paths) if state else set()
    if prefix in listed or os.path.basename(prefix) in listed:
        return
    for path in glob.glob(glob.escape(prefix) + "_temp*") + glob.glob(glob.escape(prefix) + ".*"):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def is_no_space(error: BaseException, directory: str) -> bool:
    """An OSError of ENOSPC/EDQUOT, or TF's ResourceExhaustedError (its file writers' ENOSPC)
    while directory's file system is nearly full (TF also raises that type for an allocation
    that fails: that is no full disk)."""
    if isinstance(error, OSError):
        return error.errno in _NO_SPACE
    if not isinstance(error, tf.errors.ResourceExhaustedError):
        return False
    try:
        return shutil.disk_usage(directory).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def no_space_errors(
    directory: str, watch: CheckpointWatch | None = None, what: str = "a file"
) -> Iterator[None]:
    """Turns a full file system inside the block into NoSpaceError naming `directory` and
    `what` (or "checkpoint N" when `watch` says one was being written, whose partial files are
    removed)."""
    try:
        yield
    except (OSError, tf.errors.ResourceExhaustedError) as e:
        if not is_no_space(e, directory):
            raise
        if watch is not None and watch.writing is not None:
            step = watch.writing
            remove_partial_checkpoint(directory, step)
            what = f"checkpoint {step}, its partial files removed"
        detail = os.strerror(e.errno) if isinstance(e, OSError) and e.errno else type(e).__name__
        raise NoSpaceError(directory, what, detail) from None
