"""Multi-worker training for any app of this repo: the same command with a `TF_CONFIG`, the same
bits, and one line when a process is lost.

  Cluster, ClusterError, from_environment,  this process's TF_CONFIG cluster, checked before any
  check_micro_batches, tf_config,           training; addresses for local clusters (config.py;
  free_local_addresses                      no TensorFlow)
  run_local_workers                         --local_workers=N: N processes on 127.0.0.1
                                            (launcher.py; no TensorFlow)
  define_local_workers_flag,                an app's main: the flag, then launch N local
  cluster_or_launch                         processes or return this one's cluster (cli.py)

TensorFlow-backed, imported after the numerics pins: `repro_cluster.member` (join: the gRPC
server, the Estimator wiring, the watchdog, lost-peer errors, a non-chief's run) and
`repro_cluster.collectives` (MicroBatchMean: the W-invariant mean over micro-batches, at a
ring all-reduce's traffic). Private TF names they need are `tf_determinism.internals`'.
"""

from repro_cluster.cli import cluster_or_launch, define_local_workers_flag
from repro_cluster.config import (
    ENV,
    Cluster,
    ClusterError,
    check_micro_batches,
    free_local_addresses,
    from_environment,
    tf_config,
)
from repro_cluster.launcher import run_local_workers

__all__ = [
    "ENV",
    "Cluster",
    "ClusterError",
    "check_micro_batches",
    "cluster_or_launch",
    "define_local_workers_flag",
    "free_local_addresses",
    "from_environment",
    "run_local_workers",
    "tf_config",
]
