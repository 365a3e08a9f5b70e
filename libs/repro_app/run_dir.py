"""A run directory's lifecycle: lock it, refuse another run's, write run.json, find the step.

    record = run_json_content(opts, prepared, seeds, extra={...})   # what run.json holds
    with open_run_dir(opts.model_dir, record, log) as step:   # step: restored global step
        ... train from `step`, write checkpoints and losses.csv ...

One trainer per model_dir: a second one started on it is refused (`RunError` naming the live
process) instead of racing on its checkpoints and losses.csv. The lock is an `flock` on
`<model_dir>/.lock`, which the kernel drops when its process dies, so a trainer killed with
`kill -9` leaves nothing that blocks the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import tf_determinism
from repro_app import options as options_lib
from repro_app.checkpoint_check import UnreadableCheckpoint, fall_back_to_intact
from repro_app.data import PreparedData
from repro_app.disk_full import no_space_errors
from repro_app.errors import RunError
from run_record import RunMismatchError, check_resumable, provenance, write_run_json
from tf_determinism import machine

LOCK_FILE = ".lock"


def _holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            pid = f.readline().strip()
    except OSError:
        return "another process"
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as f:
            command = " ".join(f.read().replace(b"\0", b" ").decode(errors="replace").split())
    except (OSError, ValueError):
        command = ""
    return f"process {pid}" + (f" ({command[:200]})" if command else "")


def check_writable(directory: str, flag: str) -> None:
    """Makes `directory` (and its parents) and proves this user may create files in it, by
    creating one: permission bits, ACLs, a read-only mount and root's exemptions all decide.

    Raises:
      RunError: one line naming the flag, the directory and the reason (nothing is left);
        NoSpaceError (a RunError) when it is full.
    """
    try:
        with no_space_errors(directory, what="a first file"):  # a full disk: NoSpaceError
            os.makedirs(directory, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=directory)
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise RunError(
            f"{flag}={directory} is not writable by this user (uid {os.getuid()}): "
            f"{e.strerror or type(e).__name__}"
        ) from None


@contextlib.contextmanager
def locked(model_dir: str) -> Iterator[None]:
    """Holds model_dir's exclusive lock for the with-block (creates model_dir).

    Raises:
      RunError: another live process holds it (named, with its command line).
    """
    check_writable(model_dir, "--model_dir")
    path = os.path.join(model_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(
                f"{model_dir} is in use by {_holder(path)}; wait for it to end or "
                "use another --model_dir"
            ) from None
        os.ftruncate(fd, 0)
        with no_space_errors(model_dir, what=LOCK_FILE):
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the flock


def restored_step(model_dir: str) -> int:
    """The global step of model_dir's latest checkpoint, 0 when there is none."""
    import tensorflow as tf

    checkpoint = tf.train.latest_checkpoint(model_dir)
    return int(tf.train.load_variable(checkpoint, "global_step")) if checkpoint else 0


def run_json_content(
    opts: Any,
    data: PreparedData,
    seeds: tf_determinism.SeedTree,
    *,
    keep_identity: frozenset[str] = frozenset(),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run.json content (a "record", as run_record and run_compare call it): options,
    identity (what a resume must match), seed tree, provenance (with the CPU fingerprint and
    the ISA oneDNN dispatches to) and what TF ran with.

    Args:
      opts: the app's options (with `random_seed`, `numerics`).
      data: the prepared TFRecords (their content identity joins the run identity).
      seeds: the run's seed tree (the skeleton's `data` and `initializers`, then the app's).
      keep_identity: see `options.identity`.
      extra: app-specific top-level entries (e.g. the cluster's shape).
    """
    import tensorflow as tf

    identity = options_lib.identity(opts, keep_identity)
    identity["data"] = data.identity
    origin: dict[str, Any] = provenance()
    onednn = machine.onednn_probe()
    origin["host"] = {
        **origin["host"],
        "cpu": machine.fingerprint(),
        "onednn_isa": onednn["isa"],
        "onednn_threads": onednn["threads"],
        "tf_build_info": dict(tf.sysconfig.get_build_info()),
    }
    return {
        "seed": opts.random_seed,
        "seeds": seeds.as_dict(),
        "options": options_lib.to_dict(opts),
        "identity": identity,
        "flags": options_lib.flat(opts),
        "argv": sys.argv,
        "data": {
            "identity": data.identity,
            "manifest_digest": data.manifest.get("digest"),
            "count": data.manifest.get("total_count"),
        },
        **origin,
        "determinism": tf_determinism.numerics_record(opts.numerics),
        **(extra or {}),
    }


@contextlib.contextmanager
def open_run_dir(
    model_dir: str, record: dict[str, Any], log: Callable[[str], None]
) -> Iterator[int]:
    """Locks model_dir, refuses it if it holds another run, falls back from a torn newest
    checkpoint to the newest intact one (checkpoint_check), writes `record` (see
    `run_json_content`) as its run.json; yields the restored global step.

    Raises:
      RunError: model_dir is not writable, busy, was made by a run of another identity
        (nothing in it is touched but its lock file), or holds checkpoints none of which is
        intact.
      NoSpaceError: no room for run.json (the old one is kept).
    """
    with locked(model_dir):
        try:
            check_resumable(model_dir, record["identity"])
        except RunMismatchError as e:
            raise RunError(str(e)) from None
        try:
            fall_back_to_intact(model_dir, log)
        except UnreadableCheckpoint as e:
            raise RunError(str(e)) from None
        with no_space_errors(model_dir, what="run.json"):
            write_run_json(model_dir, record)
        yield restored_step(model_dir)
