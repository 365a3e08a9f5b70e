"""The cluster a training process belongs to, from `TF_CONFIG`, checked before any training.

`TF_CONFIG` is the JSON that Kubernetes' TFJob and other launchers set, e.g.

    {"cluster": {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"]},
     "task": {"type": "worker", "index": 0}}

Collective training has a chief and zero or more workers (no parameter servers, no
evaluator). Ranks: the chief is 0, worker i is i + 1; collectives gather in rank order.
No TensorFlow here: this is read before the pins are set and TF is imported.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Mapping
from typing import Any

from repro_app.errors import RunError

ENV = "TF_CONFIG"
_JOBS = ("chief", "worker")


class ClusterError(RunError):
    """A TF_CONFIG or cluster shape that cannot train: one line, exit status 2."""


def task_of(rank: int) -> tuple[str, int]:
    """(TF job name, task index) of a rank: 0 is the chief, i + 1 is worker i."""
    return ("chief", 0) if rank == 0 else ("worker", rank - 1)


def label(rank: int) -> str:
    """ "chief" or "worker i": a rank as messages and log prefixes name it."""
    job, index = task_of(rank)
    return job if rank == 0 else f"{job} {index}"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """One process's view of the cluster.

    Attributes:
      addresses: host:port of every task in rank order (chief first).
      rank: This process's rank (0 = chief).
    """

    addresses: tuple[str, ...]
    rank: int

    @property
    def size(self) -> int:
        """W, the number of processes."""
        return len(self.addresses)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @property
    def job(self) -> tuple[str, int]:
        """(TF job name, task index) of this process."""
        return task_of(self.rank)

    def device(self, rank: int | None = None) -> str:
        """The CPU device of a rank (default: this process's) as TF names it."""
        job, index = task_of(self.rank if rank is None else rank)
        return f"/job:{job}/replica:0/task:{index}/device:CPU:0"

    def name(self, rank: int) -> str:
        """ "chief (host:port)" or "worker i (host:port)" for messages."""
        return f"{label(rank)} ({self.addresses[rank]})"

    def cluster_spec(self) -> dict[str, list[str]]:
        """{"chief": [...], "worker": [...]} as `tf.train.ClusterSpec` and TF_CONFIG take it."""
        spec = {"chief": [self.addresses[0]]}
        if self.size > 1:
            spec["worker"] = list(self.addresses[1:])
        return spec

    def run_json_entry(self) -> dict[str, object]:
        """The cluster's shape, as run.json records it (`cluster`)."""
        return {"workers": self.size, "addresses": list(self.addresses)}


def from_tf_config(text: str) -> Cluster:
    """Parses and checks a TF_CONFIG value.

    Raises:
      ClusterError: not JSON, no chief, an unsupported job, a bad task, or an address twice.
    """
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ClusterError(f"{ENV} is not valid JSON ({e})") from None
    if not isinstance(config, Mapping) or not isinstance(config.get("cluster"), Mapping):
        raise ClusterError(f'{ENV} has no "cluster" object: {text[:200]}')
    cluster = config["cluster"]
    other = sorted(set(cluster) - set(_JOBS))
    if other:
        raise ClusterError(
            f"{ENV} names job(s) {', '.join(other)}: collective training has "
            f"only a chief and workers"
        )
    chief = cluster.get("chief")
    if not isinstance(chief, list) or len(chief) != 1:
        raise ClusterError(
            f'{ENV} must name exactly one chief ("cluster": {{"chief": '
            f'["host:port"], ...}}), got {json.dumps(cluster)[:200]}'
        )
    workers = cluster.get("worker", [])
    addresses = [*chief, *workers] if isinstance(workers, list) else None
    if addresses is None or not all(isinstance(a, str) and ":" in a for a in addresses):
        raise ClusterError(
            f"{ENV}: every address must be a 'host:port' string, got "
            f"{json.dumps(cluster)[:200]}"
        )
    if len(set(addresses)) != len(addresses):
        raise ClusterError(f"{ENV}: an address appears twice: {', '.join(addresses)}")
    task = config.get("task")
    kind = task.get("type") if isinstance(task, Mapping) else None
    index = task.get("index") if isinstance(task, Mapping) else None
    if kind not in _JOBS or isinstance(index, bool) or not isinstance(index, int):
        raise ClusterError(
            f'{ENV} needs "task": {{"type": "chief" or "worker", "index": N}}, '
            f"got {json.dumps(task)}"
        )
    count = 1 if kind == "chief" else len(workers)
    if not 0 <= index < count:
        raise ClusterError(f"{ENV}: task {kind} {index} is not in the cluster ({count} {kind})")
    return Cluster(addresses=tuple(addresses), rank=0 if kind == "chief" else index + 1)


def from_environment(micro_batches: int, log: Any = None) -> Cluster | None:
    """The cluster of `TF_CONFIG` (None when unset), checked against --micro_batches; removes
    TF_CONFIG from the environment, so that tf.estimator does not read it and set up
    parameter-server training (collective training needs none).

    Raises:
      ClusterError: see `from_tf_config`, `check_micro_batches`.
    """
    text = os.environ.pop(ENV, None)
    if text is None:
        return None
    cluster = from_tf_config(text)
    check_micro_batches(cluster.size, micro_batches)
    if log is not None:
        log(f"{ENV}: {cluster.name(cluster.rank)} of {cluster.size} process(es)")
    return cluster


def check_micro_batches(processes: int, micro_batches: int) -> None:
    """Raises ClusterError unless `processes` (W) share the M micro-batches evenly."""
    if micro_batches % processes:
        raise ClusterError(
            f"--micro_batches={micro_batches} must be divisible by the number of "
            f"processes ({processes}: the chief and {processes - 1} worker(s))"
        )


def check_own_port_free(cluster: Cluster) -> None:
    """Raises ClusterError if this process's address cannot be bound (e.g. in use)."""
    host, port = cluster.addresses[cluster.rank].rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gRPC does: connections of a previous run in TIME_WAIT do not make it busy; a
        # listening socket does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("" if host not in ("localhost", "127.0.0.1") else host, int(port)))
        except (OSError, ValueError) as e:
            raise ClusterError(
                f"{ENV}: cannot listen on {cluster.name(cluster.rank)}: "
                f"{e.strerror if isinstance(e, OSError) else e}"
            ) from None


def free_local_addresses(count: int) -> list[str]:
    """`count` 127.0.0.1:port addresses that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(addresses: list[str], rank: int) -> str:
    """The TF_CONFIG JSON of rank `rank` in a cluster of `addresses` (chief first)."""
    job, index = task_of(rank)
    return json.dumps(
        {
            "cluster": Cluster(tuple(addresses), rank).cluster_spec(),
            "task": {"type": job, "index": index},
        }
    )
