"""A training process as one member of a cluster (TF_CONFIG): TF's gRPC server, the Estimator
wiring, failing fast when a peer is lost, and the run of a non-chief (imports TF).

Each of the W processes runs the same graph on its own CPU (between-graph replication, no
parameter server): it holds a full copy of the variables, computes micro-batches
[rank * M/W, (rank + 1) * M/W) of every global batch, and combines its packed per-pass values
with the others' through `collectives.MicroBatchMean`, so every process applies the same
update: a function of (seed, M), not of W. The chief writes the run directory; the others
write nothing there and start from the chief's latest checkpoint, so a resume needs a
model_dir every process can read.

TF's own recovery is turned off: after a collective error the collective executor stays
aborted, and `MonitoredTrainingSession` treats the UnavailableError of a dead peer as a
preemption and re-creates the session, forever or until it hangs (measured: the chief hung
until the watchdog). A member's run config therefore makes that error final
(`internals.make_lost_peer_final`), and `Watchdog` ends a process whose step waits longer than
the timeout on a peer that never answers (a frozen chief blocks the others before any
collective can time out).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf
from absl import logging

import tf_determinism
from repro_app.checkpoint_check import check_checkpoints
from repro_app.errors import LostPeerError
from repro_app.preemption import Preemption, PreemptionHook
from repro_cluster.collectives import MicroBatchMean, any_process
from repro_cluster.config import Cluster, check_own_port_free
from run_record import copy_checkpoint
from tf_determinism import internals
from tf_determinism.reduce import MicroBatchShare

# A step (and the first one: the rendezvous) may wait this long for a peer.
TIMEOUT_SECONDS = 45.0


def _session_config(
    numerics: tf_determinism.Numerics, cluster: Cluster
) -> tf.compat.v1.ConfigProto:
    """The pinned session config plus what collectives need; also the server's config (the
    group leader must be in the server's config, or every collective hangs)."""
    config = tf_determinism.session_config(numerics)
    config.experimental.collective_group_leader = "/job:chief/replica:0/task:0"
    job, index = cluster.job
    config.device_filters.append(f"/job:{job}/task:{index}")
    return config


@dataclasses.dataclass(frozen=True)
class Member:
    """This process in its cluster, with its running gRPC server.

    Attributes:
      cluster: where it is (rank, addresses).
      server: its `tf.distribute.Server` (started with the collectives' group leader).
    """

    cluster: Cluster
    server: Any

    @property
    def is_chief(self) -> bool:
        return self.cluster.is_chief

    @property
    def name(self) -> str:
        """ "chief (host:port)" or "worker i (host:port)"."""
        return self.cluster.name(self.cluster.rank)

    def micro_range(self, micro_batches: int) -> tuple[int, int]:
        """[first, last): this process's micro-batches of the M of every global step."""
        share = micro_batches // self.cluster.size
        return self.cluster.rank * share, (self.cluster.rank + 1) * share

    def micro_batch_mean(self, micro_batches: int) -> MicroBatchMean:
        """The mean across the cluster of M micro-batches (collectives.MicroBatchMean)."""
        return MicroBatchMean(self.cluster.size, micro_batches, timeout_seconds=TIMEOUT_SECONDS)

    def run_config(self, run_config: tf.estimator.RunConfig) -> tf.estimator.RunConfig:
        """`run_config` for this member: the Estimator stays "local" (no TF_CONFIG, no
        parameter servers) but runs its sessions on this process's server, every op on this
        process's CPU (its device_fn), and a lost peer is final (see the module docstring)."""
        internals.make_lost_peer_final()
        device = self.cluster.device()
        config = run_config.replace(device_fn=lambda op: device)
        return internals.with_master(config, self.server.target)

    def any_process(self, flag: tf.Tensor) -> tf.Tensor:
        """1 if `flag` (float32 scalar) is 1 in any process this step (collectives.any_process,
        on this process's CPU)."""
        with tf.device(self.cluster.device()):
            return any_process(flag, self.cluster.size, timeout_seconds=TIMEOUT_SECONDS)

    def watchdog(self) -> Watchdog:
        """A training hook ending the process when a step waits too long on a peer."""
        return Watchdog(self)


def join(cluster: Cluster, numerics: tf_determinism.Numerics) -> Member:
    """Starts this process's gRPC server.

    Raises:
      ClusterError: this process's port is busy (one line).
    """
    check_own_port_free(cluster)
    job, index = cluster.job
    config = _session_config(numerics, cluster)
    server = tf.distribute.Server(
        tf.train.ClusterSpec(cluster.cluster_spec()),
        job_name=job,
        task_index=index,
        protocol="grpc",
        config=config,
    )
    return Member(cluster, server)


class Watchdog(tf.estimator.SessionRunHook):
    """Ends the process (one line, exit 4) when a step waits more than `TIMEOUT_SECONDS`."""

    def __init__(self, member: Member, timeout: float = TIMEOUT_SECONDS) -> None:
        self._member, self._timeout = member, timeout
        self._last: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def after_create_session(self, session, coord) -> None:
        self._last = time.monotonic()
        if not self._thread.is_alive():
            self._thread.start()

    def after_run(self, run_context, run_values) -> None:
        self._last = time.monotonic()

    def end(self, session) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(1.0):
            if self._last is not None and time.monotonic() - self._last > self._timeout:
                logging.error(
                    "%s",
                    lost_peer_message(self._member, f"no step finished for {self._timeout:.0f} s"),
                )
                sys.stderr.flush()
                os._exit(LostPeerError.exit_status)


def run_process(
    cluster: Cluster | None,
    numerics: tf_determinism.Numerics,
    log: Callable[[str], None],
    prepare: Callable[[], Any],
    chief: Callable[[Any, Member | None, Preemption], Any],
    worker: Callable[[Any, Member, Preemption], Any],
) -> Any:
    """A training app's process: TensorFlow pinned, this member's server (with a cluster), the
    app's data prepared (`prepare()`; every process needs its records), then, with signals
    turned into a graceful stop (repro_app.preemption), `chief(prepared, member or None,
    preemption)` in the process that writes the run directory, else
    `worker(prepared, member, preemption)`; returns what it returns."""
    tf_determinism.configure_tensorflow(numerics)
    member = join(cluster, numerics) if cluster else None
    prepared = prepare()
    with Preemption(log) as preemption:
        if member is not None and not member.is_chief:
            return worker(prepared, member, preemption)
        return chief(prepared, member, preemption)


def local_micro_range(member: Member | None, micro_batches: int) -> tuple[int, int] | None:
    """[first, last) of the M micro-batches this process computes; None when it computes all
    (one process, or a cluster of one)."""
    if member is None or member.cluster.size == 1:
        return None
    return member.micro_range(micro_batches)


def micro_batch_share(member: Member | None, micro_batches: int) -> MicroBatchShare | None:
    """This process's micro-batches and the mean across its cluster (None: all are local)."""
    local = local_micro_range(member, micro_batches)
    if member is None or local is None:
        return None
    return MicroBatchShare(*local, member.micro_batch_mean(micro_batches))


def preemption_hook(member: Member | None, preemption: Preemption) -> PreemptionHook:
    """The hook that stops training after a signal: in a cluster every process runs it and
    they all stop after the same step (each step gathers one flag per process), so the chief's
    final checkpoint is the step every process finished."""
    if member is None or member.cluster.size == 1:
        return PreemptionHook(preemption.requested)
    return PreemptionHook(preemption.requested, member.any_process)


def lost_peer_message(member: Member, what: str) -> str:
    cluster = member.cluster
    peers = [cluster.name(r) for r in range(cluster.size) if r != cluster.rank]
    lost = peers[0] if len(peers) == 1 else "one of " + ", ".join(peers)
    return (
        f"{member.name}: lost {lost} ({what}); rerun the same command on every task to "
        f"resume from the chief's last checkpoint"
    )


@contextlib.contextmanager
def lost_peer_errors(member: Member | None) -> Iterator[None]:
    """Within a cluster, TF's errors of a lost peer become one-line `LostPeerError`s."""
    try:
        yield
    except (
        tf.errors.UnavailableError,
        tf.errors.DeadlineExceededError,
        tf.errors.AbortedError,
        tf.errors.CancelledError,
    ) as e:
        if member is None:
            raise
        what = (
            f"no answer in a collective for {TIMEOUT_SECONDS:.0f} s"
            if isinstance(e, tf.errors.DeadlineExceededError)
            else f"{type(e).__name__} in a collective: the process died or is unreachable"
        )
        raise LostPeerError(lost_peer_message(member, what)) from None


def _scratch_copy_of_latest(chief_model_dir: str) -> str:
    """A scratch model_dir holding the chief's newest intact checkpoint (if any), for a
    non-chief."""
    scratch = tempfile.mkdtemp(prefix="repro_cluster-worker-")
    # The chief resumes from its newest intact checkpoint (it removes a torn newer one), so
    # this process must start from the same one.
    latest = check_checkpoints(chief_model_dir).newest_intact
    if latest:
        name = os.path.basename(latest)
        copy_checkpoint(os.path.join(chief_model_dir, name), scratch)
        tf.compat.v1.train.update_checkpoint_state(scratch, os.path.join(scratch, name))
    return scratch


def _wait_for_chief_exit(cluster: Cluster, timeout: float = 120.0) -> None:
    """Keeps a finished worker's server up until the chief's is gone (at most `timeout` s):
    the chief closes its session on every task, and a worker already gone makes that a gRPC
    warning."""
    host, port = cluster.addresses[0].rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                pass
        except OSError:
            return
        time.sleep(0.5)


def run_worker(
    member: Member,
    chief_model_dir: str,
    train: Callable[[str, int], None],
    log: Callable[[str], None],
) -> int:
    """A non-chief member's run: trains from the chief's latest checkpoint in a scratch
    model_dir (nothing is written to the run directory), then waits for the chief to end.

    Args:
      member: this process (not the chief).
      chief_model_dir: the run directory the chief writes.
      train: fn(scratch model_dir, start global step): the app's training, its Estimator built
        on that model_dir with no checkpoints or summaries.
      log: progress lines.

    Returns:
      The global step it started from.

    Raises:
      LostPeerError: a peer was lost.
    """
    scratch = _scratch_copy_of_latest(chief_model_dir)
    try:
        checkpoint = tf.train.latest_checkpoint(scratch)
        step = int(tf.train.load_variable(checkpoint, "global_step")) if checkpoint else 0
        log(f"{member.name}: {'resuming at' if step else 'starting'} step {step}")
        with lost_peer_errors(member):
            train(scratch, step)
        _wait_for_chief_exit(member.cluster)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"{member.name}: done")
    return step
