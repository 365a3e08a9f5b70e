"""Per-step loss recording (losses.csv) and progress logs, as a tf.estimator SessionRunHook."""

import time
from collections.abc import Callable, Mapping

import tensorflow as tf

from run_record import LossesWriter


def _format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class LossRecorderHook(tf.estimator.SessionRunHook):
    """Fetches every loss in the main training run and appends it to losses.csv.

    The losses are evaluated in the same `session.run` as the global-step increment, so a row's
    values are exactly what TF computed at that step (no re-evaluation on another batch).
    The row's step is the global step after the run (1 for the first step). A NaN or Inf loss
    never reaches it: the step's own checks stop that run (gan_models.non_finite_loss).

    Args:
      writer: where rows go; its `last_step` must equal the restored global step.
      loss_tensors: loss name -> graph tensor name (scalar float32).
      max_steps: the run's target global step, for the ETA.
      log_every: log a progress line every this many steps (and at the last step).
      log_fn: receives each progress line (e.g. absl's logging.info).
    """

    def __init__(
        self,
        writer: LossesWriter,
        loss_tensors: Mapping[str, str],
        max_steps: int,
        log_every: int,
        log_fn: Callable[[str], None],
    ):
        self._writer = writer
        self._loss_tensor_names = dict(loss_tensors)
        self._max_steps = max_steps
        self._log_every = max(1, log_every)
        self._log_fn = log_fn
        self._step = writer.last_step

    def begin(self) -> None:
        graph = tf.compat.v1.get_default_graph()
        self._losses = {n: graph.get_tensor_by_name(t) for n, t in self._loss_tensor_names.items()}
        self._global_step = tf.compat.v1.train.get_global_step()

    def after_create_session(self, session, coord) -> None:
        self._step = int(session.run(self._global_step))
        if self._step != self._writer.last_step:
            raise RuntimeError(
                f"losses.csv ends at step {self._writer.last_step} but the model is at step "
                f"{self._step}"
            )
        self._window_start = (self._step, time.perf_counter())
        self._start = self._window_start

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs(self._losses)

    def after_run(self, run_context, run_values) -> None:
        # One run = one global-step increment (gan_models' step), so count instead of
        # fetching the global step in the same run, whose read may race the increment.
        self._step += 1
        values = run_values.results
        self._writer.write(self._step, [values[n] for n in self._loss_tensor_names])
        if self._step % self._log_every == 0 or self._step >= self._max_steps:
            self._log_progress(values)

    @property
    def step(self) -> int:
        """The last global step recorded (the restored one before the first)."""
        return self._step

    def _log_progress(self, values) -> None:
        now = time.perf_counter()
        first_step, first_time = self._window_start
        rate = (self._step - first_step) / max(now - first_time, 1e-9)
        eta = (self._max_steps - self._step) / rate if rate > 0 else float("inf")
        losses = "  ".join(f"{n}={float(v):.4f}" for n, v in values.items())
        self._log_fn(
            f"step {self._step}/{self._max_steps}  {losses}  {rate:.2f} steps/s  "
            f"ETA {_format_duration(eta)}"
        )
        self._window_start = (self._step, now)

    def end(self, session) -> None:
        actual = int(session.run(self._global_step))
        if actual != self._step:
            raise RuntimeError(f"counted {self._step} steps but the global step is {actual}")
        self._writer.close()
