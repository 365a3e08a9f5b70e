"""`--local_workers=N`: one machine as a cluster of N processes on 127.0.0.1.

Starts the app N times (rank 0 the chief, ranks 1..N-1 workers) with the same flags and each
its own `TF_CONFIG` over free 127.0.0.1 ports, forwards every line they print with a prefix
("[chief] ", "[worker 0] ", ...), and ends with the chief's exit status. A process that exits
non-zero while the others run is named in one line and the others are stopped, so nothing
hangs waiting for a lost peer; one that was preempted (exit 5) is not lost: all stop at the
same step. SIGTERM/SIGINT to the launcher is passed on once to every process. No TensorFlow
here (the launcher only launches).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from absl import logging

from repro_app.errors import EXIT_LOST_PEER, EXIT_PREEMPTED
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


class _Signals:
    """SIGTERM/SIGINT to the launcher: one SIGTERM to every process (each finishes the step
    they all agree on, the chief checkpoints it, all exit 5); a second: SIGKILL to all."""

    def __init__(self, procs: Sequence[subprocess.Popen], log: Callable[[str], None]) -> None:
        self._procs, self._log = procs, log
        self.count, self.last, self._announced = 0, 0, False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.count, self.last = self.count + 1, signum
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if self.count == 1 else signal.SIGKILL)

    def announce(self) -> None:
        """Says once that a signal was passed on (not in the handler: no I/O there)."""
        if self.count and not self._announced:
            self._announced = True
            self._log(
                f"{signal.Signals(self.last).name}: every process stops after the same "
                "step (a second signal kills them)"
            )


def _wait(procs: Sequence[subprocess.Popen], addresses: Sequence[str], signals: _Signals) -> int:
    """Waits for the chief; the exit status of the whole run."""
    while True:
        signals.announce()
        if signals.count > 1:
            for proc in procs:
                proc.wait()
            return 128 + signals.last
        for rank, proc in enumerate(procs):
            code = proc.poll()
            if code is None or (code in (0, EXIT_PREEMPTED) and rank != 0):
                continue  # a preempted worker: the chief checkpoints and exits 5 too
            if rank == 0 and code >= 0:  # The chief ended on its own (and said why).
                if code not in (0, EXIT_PREEMPTED):
                    _stop(procs)
                return code
            logging.error(
                "%s (%s) exited with status %d%s; stopping the others",
                _label(rank),
                addresses[rank],
                code,
                " (killed)" if code < 0 else "",
            )
            _stop(procs)
            return EXIT_LOST_WORKER
        time.sleep(0.2)


def run_local_workers(
    count: int, module: str, args: Sequence[str], log: Callable[[str], None]
) -> int:
    """Runs `python -m module *args --local_workers=0` as `count` cluster processes.

    Args:
      count: N >= 1 processes.
      module: The app's main module (e.g. "mnist_gan.train").
      args: The app's flags as given (without the program name).
      log: Receives the launcher's own lines.

    Returns:
      The chief's exit status (5 when a signal to any process stopped them all at one step);
      `EXIT_LOST_WORKER` (4) if a worker failed first (the chief is then stopped) or the
      chief was killed; 128 + the signal after a second signal to the launcher (all killed).

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
        # Its own session: a terminal's Ctrl-C reaches the launcher only, which passes on one
        # SIGTERM (a second one to a process would end it at once, mid-step).
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args, "--local_workers=0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        procs.append(proc)
        log(f"{_label(rank)}: pid {proc.pid}, {addresses[rank]}")
        thread = threading.Thread(
            target=_forward, args=(proc.stdout, f"[{_label(rank)}] ", sys.stderr), daemon=True
        )
        thread.start()
        threads.append(thread)
    with _Signals(procs, log) as signals:
        status = _wait(procs, addresses, signals)
        signals.announce()
    for proc in procs:  # The chief ended well: the workers end with it.
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _stop([proc])
    for thread in threads:
        thread.join(timeout=5)
    return status
