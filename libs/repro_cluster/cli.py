"""The cluster part of an app's `main`: `--local_workers=N`, or this process's TF_CONFIG.

    local_workers = repro_cluster.define_local_workers_flag()

    def main(argv):
        opts = repro_app.parse_options(...)
        cluster = repro_cluster.cluster_or_launch(local_workers.value, "my_app.train",
                                                  opts.model.micro_batches)
        ... train, with `cluster` (None: a single process)

(repro_experiment.main does this for every app.)

No TensorFlow here (a launcher only launches; TF_CONFIG is read before the pins are set).
"""

from __future__ import annotations

import sys

from absl import flags, logging

import repro_app
from repro_cluster import config, launcher
from repro_cluster.config import Cluster


def define_local_workers_flag(module_name: str | None = None) -> flags.FlagHolder:
    """Defines --local_workers in `module_name` (default: the caller's module), so that the
    app's --help lists it."""
    if module_name is None:
        module = sys._getframe(1).f_globals.get("__name__", "")
        module_name = sys.argv[0] if module == "__main__" else module
    return flags.DEFINE_integer(
        "local_workers",
        0,
        "Train as this many processes on this machine (a chief and N-1 workers on free "
        "127.0.0.1 ports, each with its TF_CONFIG; logs prefixed by process). Each computes "
        "--micro_batches / N micro-batches of every batch; the bits depend on "
        "--micro_batches, not on N. 0: one process (a cluster member if TF_CONFIG is set).",
        lower_bound=0,
        module_name=module_name,
    )


def cluster_or_launch(local_workers: int, module: str, micro_batches: int) -> Cluster | None:
    """With local_workers N > 0: runs `python -m module` as N local processes with this
    process's arguments and exits with the chief's status. Else: this process's cluster from
    TF_CONFIG, None without one. A cluster that cannot share the micro-batches evenly, or a
    bad TF_CONFIG, ends the process with one line and exit status 2."""
    if local_workers:
        repro_app.run(lambda _: config.check_micro_batches(local_workers, micro_batches))
        sys.exit(launcher.run_local_workers(local_workers, module, sys.argv[1:], logging.info))
    return repro_app.run(config.from_environment, micro_batches)
