"""The MNIST GAN as one process of a cluster (TF_CONFIG): TF's gRPC server, collectives, and
failing fast when a peer is lost.

Each of the W processes runs the same graph on its own CPU (between-graph replication, no
parameter server): it holds a full copy of the variables, computes micro-batches
[rank * M/W, (rank + 1) * M/W) of every global batch, and all-gathers the packed losses,
gradients and batch statistics of each pass in rank order (`tf_determinism.collective`), so
every process applies the same update: a function of (seed, M), not of W. The chief writes the
run directory; the others write nothing there and start from the chief's latest checkpoint,
so a resume needs a model_dir every process can read.

TF's own recovery is turned off: after a collective error the collective executor stays
aborted, and `MonitoredTrainingSession` treats the UnavailableError of a dead peer as a
preemption and re-creates the session, forever or until it hangs (measured here: the
chief hung until the watchdog). `cluster_run_config` therefore makes that error final in a
cluster process (no session is re-created), and `Watchdog` ends a process whose step waits
longer than the timeout on a peer that never answers (a frozen chief blocks the others before
any collective can time out).
"""

from __future__ import annotations

import contextlib
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
from tensorflow.python.training import monitored_session

import tf_determinism
from repro_app import cluster as cluster_lib
from repro_app.errors import LostPeerError
from tf_determinism.collective import rank_ordered_gather

# A step (and the first one: the rendezvous) may wait this long for a peer.
TIMEOUT_SECONDS = 45.0


def session_config(numerics: tf_determinism.Numerics,
                   cluster: cluster_lib.Cluster) -> tf.compat.v1.ConfigProto:
    """The pinned session config plus what collectives need; also the server's config (the
    group leader must be in the server's config, or every collective hangs)."""
    config = tf_determinism.session_config(numerics)
    config.experimental.collective_group_leader = "/job:chief/replica:0/task:0"
    job, index = cluster.job
    config.device_filters.append(f"/job:{job}/task:{index}")
    return config


def start_server(numerics: tf_determinism.Numerics,
                 cluster: cluster_lib.Cluster) -> tf.distribute.Server:
    """This process's gRPC server (a busy port: ClusterError, one line)."""
    cluster_lib.check_own_port_free(cluster)
    job, index = cluster.job
    return tf.distribute.Server(tf.train.ClusterSpec(cluster.cluster_spec()), job_name=job,
                                task_index=index, protocol="grpc",
                                config=session_config(numerics, cluster))


def cluster_run_config(run_config: tf.estimator.RunConfig, server: tf.distribute.Server,
                       cluster: cluster_lib.Cluster) -> tf.estimator.RunConfig:
    """`run_config` for a process of the cluster: the Estimator stays "local" (no TF_CONFIG,
    no parameter servers) but runs its session on this process's server, every op on this
    process's CPU."""
    # A cluster process never "recovers" from a lost peer (see the module docstring).
    monitored_session._PREEMPTION_ERRORS = ()
    device = cluster.device()
    config = run_config.replace(device_fn=lambda op: device)
    config._master = server.target  # RunConfig has no setter; Estimator reads .master.
    return config


def gather(cluster: cluster_lib.Cluster) -> Callable[[list[tf.Tensor]], list[tf.Tensor]]:
    return rank_ordered_gather(cluster.size, timeout_seconds=TIMEOUT_SECONDS)


class Watchdog(tf.estimator.SessionRunHook):
    """Ends the process (one line, exit 4) when a step waits more than `TIMEOUT_SECONDS`."""

    def __init__(self, cluster: cluster_lib.Cluster, timeout: float = TIMEOUT_SECONDS) -> None:
        self._cluster, self._timeout = cluster, timeout
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
                logging.error("%s", lost_peer_message(
                    self._cluster, f"no step finished for {self._timeout:.0f} s"))
                sys.stderr.flush()
                os._exit(LostPeerError.exit_status)


def lost_peer_message(cluster: cluster_lib.Cluster, what: str) -> str:
    peers = [cluster.name(r) for r in range(cluster.size) if r != cluster.rank]
    lost = peers[0] if len(peers) == 1 else "one of " + ", ".join(peers)
    return (f"{cluster.name(cluster.rank)}: lost {lost} ({what}); rerun the same command on "
            f"every task to resume from the chief's last checkpoint")


@contextlib.contextmanager
def lost_peer_errors(member: Any) -> Iterator[None]:
    """Within a cluster, TF's errors of a lost peer become one-line `LostPeerError`s."""
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
            tf.errors.AbortedError, tf.errors.CancelledError) as e:
        if member is None:
            raise
        what = (f"no answer in a collective for {TIMEOUT_SECONDS:.0f} s"
                if isinstance(e, tf.errors.DeadlineExceededError)
                else f"{type(e).__name__} in a collective: the process died or is unreachable")
        raise LostPeerError(lost_peer_message(member[0], what)) from None


def worker_model_dir(chief_model_dir: str) -> str:
    """A scratch model_dir holding the chief's latest checkpoint (if any), for a non-chief."""
    scratch = tempfile.mkdtemp(prefix="mnist_gan-worker-")
    latest = tf.train.latest_checkpoint(chief_model_dir)
    if latest:
        prefix = os.path.basename(latest)
        for name in os.listdir(chief_model_dir):
            if name.startswith(prefix + ".") and not name.endswith(".meta"):
                shutil.copyfile(os.path.join(chief_model_dir, name), os.path.join(scratch, name))
        tf.compat.v1.train.update_checkpoint_state(scratch, os.path.join(scratch, prefix))
    return scratch


def wait_for_chief_exit(cluster: cluster_lib.Cluster, timeout: float = 120.0) -> None:
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
