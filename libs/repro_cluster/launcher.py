"""`--local_workers=N`: one machine as a cluster of N processes on 127.0.0.1.

Starts the app N times (rank 0 the chief, ranks 1..N-1 workers) with the same flags and each
its own `TF_CONFIG` over free 127.0.0.1 ports, forwards every line they print with a prefix
("[chief] ", "[worker 0] ", ...), and ends with the chief's exit status. A process that exits
non-zero while the others run is named in one line and the others are stopped, so nothing
hangs waiting for a lost peer. No TensorFlow here (the launcher only launches).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from absl import logging

from repro_app.errors import EXIT_LOST_PEER
from repro_cluster import config as cluster_lib
from repro_cluster.config import label as _label
from tf_determinism import check_int, child_env

EXIT_LOST_WORKER = EXIT_LOST_PEER
_GRACE_SECONDS = 10.0


def _forward(stream, prefix: str, out) -> None:
    for line in iter(stream.readline, ""):
        out.write(prefix + line)
        out.flush()
    stream.close()


def _stop(procs: Sequence[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_SECONDS
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_local_workers(count: int, module: str, args: Sequence[str],
                      log: Callable[[str], None]) -> int:
    """Runs `python -m module *args --local_workers=0` as `count` cluster processes.

    Args:
      count: N >= 1 processes.
      module: The app's main module (e.g. "mnist_gan.train").
      args: The app's flags as given (without the program name).
      log: Receives the launcher's own lines.

    Returns:
      The chief's exit status; `EXIT_LOST_WORKER` (4) if a worker failed first (the chief is
      then stopped) or the chief was killed.

    Raises:
      ValueError: count is not an int >= 1 (no process would ever end the wait).
    """
    addresses = cluster_lib.free_local_addresses(check_int("run_local_workers: count", count))
    procs: list[subprocess.Popen] = []
    threads = []
    log(f"starting {count} local process(es)")
    for rank in range(count):
        env = child_env({cluster_lib.ENV: cluster_lib.tf_config(addresses, rank)})
        # The last --local_workers wins in absl: the children train instead of launching.
        proc = subprocess.Popen([sys.executable, "-m", module, *args, "--local_workers=0"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        procs.append(proc)
        log(f"{_label(rank)}: pid {proc.pid}, {addresses[rank]}")
        thread = threading.Thread(target=_forward, args=(proc.stdout, f"[{_label(rank)}] ",
                                                          sys.stderr), daemon=True)
        thread.start()
        threads.append(thread)
    status = None
    try:
        while status is None:
            for rank, proc in enumerate(procs):
                code = proc.poll()
                if code is None or (code == 0 and rank != 0):
                    continue
                if rank == 0 and code >= 0:  # The chief ended on its own (and said why).
                    status = code
                    if code != 0:
                        _stop(procs)
                    break
                logging.error("%s (%s) exited with status %d%s; stopping the others",
                              _label(rank), addresses[rank], code,
                              " (killed)" if code < 0 else "")
                _stop(procs)
                status = EXIT_LOST_WORKER
                break
            else:
                time.sleep(0.2)
    except KeyboardInterrupt:
        _stop(procs)
        status = 130
    for proc in procs:  # The chief ended well: the workers end with it.
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _stop([proc])
    for thread in threads:
        thread.join(timeout=5)
    return status
