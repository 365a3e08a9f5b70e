"""Graceful preemption: SIGTERM or SIGINT (what Kubernetes, Slurm and spot machines send before a
kill, and Ctrl-C) finishes the step being computed, checkpoints it and ends the run with exit
status 5 (`PreemptedError`); a second signal ends the process at once.

    with Preemption(log) as preemption:
        hook = PreemptionHook(preemption.requested)
        estimator.train(input_fn, max_steps=n, hooks=[..., hook])
        if hook.stopped_at is not None:
            raise preemption.error(hook.stopped_at, tf.train.latest_checkpoint(model_dir))

The handler only records the signal: Python runs it in the main thread between two
`session.run` calls, and the hook asks the MonitoredSession to stop after that step, whose
CheckpointSaverHook then saves in its `end()`. Once the first signal is recorded both signals
get their default action back, so the second one is the kernel's: no Python code has to run
for it (the main thread may be inside a long step). A cluster must stop every process at the
same step: there the hook's `agree` gathers every process's flag in every step
(repro_cluster.member.preemption_hook).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import tensorflow as tf

from repro_app.errors import PreemptedError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preemption:
    """Records the first SIGTERM/SIGINT while the with-block runs (in the main thread only:
    Python cannot install handlers elsewhere, and there it records nothing).

    Attributes:
      signal_name: "SIGTERM" or "SIGINT" once one arrived, else None.
    """

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self.signal_name: str | None = None
        self._announced = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def requested(self) -> bool:
        """Whether a signal arrived (a hook calls it once a step); says so in a line the first
        time (here, not in the handler: the signal may have interrupted a log call)."""
        if self.signal_name is not None and not self._announced:
            self._announced = True
            self._log(
                f"{self.signal_name} (pid {os.getpid()}): finishing this step, then a "
                "checkpoint; a second signal ends the process at once"
            )
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Only records: no I/O in a handler (it runs between any two bytecodes).
        for other in SIGNALS:  # a second signal: the default action, at once
            signal.signal(other, signal.SIG_DFL)
        self.signal_name = signal.Signals(signum).name

    def error(self, step: int, checkpoint: str | None) -> PreemptedError:
        """The PreemptedError of training stopped after `step` (by this process's signal or,
        in a cluster, another's)."""
        return PreemptedError(self.signal_name or "another process's signal", step, checkpoint)


class PreemptionHook(tf.estimator.SessionRunHook):
    """Stops training after the step in which `requested()` was true: in this process, or with
    `agree`, in any process of a cluster, so that all stop after the same step.

    Args:
      requested: whether this process was asked to stop (Preemption.requested).
      agree: fn(flag: float32 scalar) -> float32 scalar, 1 if any process's flag is 1 (a
        collective every process runs in every step, e.g. repro_cluster's); None: one process.

    Attributes:
      stopped_at: the global step after which it stopped training, None while it has not.
    """

    def __init__(
        self, requested: Callable[[], bool], agree: Callable[[tf.Tensor], tf.Tensor] | None = None
    ) -> None:
        self._requested, self._agree = requested, agree
        self.stopped_at: int | None = None

    def begin(self) -> None:
        self._global_step = tf.compat.v1.train.get_global_step()
        self._flag = self._any = None
        if self._agree is not None:
            self._flag = tf.compat.v1.placeholder_with_default(0.0, [], name="stop_requested")
            self._any = self._agree(self._flag)

    def after_create_session(self, session, coord) -> None:
        self._step = int(session.run(self._global_step))

    def before_run(self, run_context):
        if self._any is None:
            return None
        return tf.estimator.SessionRunArgs(
            self._any, feed_dict={self._flag: 1.0 if self._requested() else 0.0}
        )

    def after_run(self, run_context, run_values) -> None:
        # One run = one global-step increment (the apps' train ops), so count it.
        self._step += 1
        stop = run_values.results > 0 if self._any is not None else self._requested()
        if stop:
            self.stopped_at = self._step
            run_context.request_stop()
