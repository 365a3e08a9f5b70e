"""Every training step's scalars: one losses.csv row, a progress line, and the NaN/Inf stop.

`StepScalarsHook` fetches the scalars an app logs (its losses) in the same `session.run` as the
step itself, so a row holds exactly what TF computed at that step (no re-evaluation on another
batch). A NaN or Inf value ends training before its row is written or any checkpoint after it
is saved: `NonFiniteLossError`, one line, exit status 3 (a raise in a hook's `after_run` skips
the hooks' `end()`, where the Estimator's final checkpoint would be saved). Every process of a
cluster runs it (they all see the same combined values, so all stop at the same step); only the
chief writes rows and logs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import tensorflow as tf

from repro_app.errors import NonFiniteLossError
from run_record import LossesWriter


def format_duration(seconds: float) -> str:
    """ "1h02m03s" or "2m03s"."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class StepScalarsHook(tf.estimator.SessionRunHook):
    """Per step: checks every scalar, then appends a losses.csv row and, every `log_every`
    steps and at the last one, logs a progress line.

    Args:
      scalars: {name: graph tensor name} of float32 scalars (their order is the CSV's).
      model_dir: where the run's checkpoints are (named by a NaN/Inf error).
      max_steps: the run's target global step (for the ETA).
      log_every: progress line interval in steps.
      log: receives the progress lines.
      writer: the losses.csv writer, its `last_step` the restored global step; None (a
        cluster's non-chief): check only.

    Attributes:
      step: the last global step finished (the restored one before the first).
    """

    def __init__(
        self,
        scalars: Mapping[str, str],
        *,
        model_dir: str,
        max_steps: int,
        log_every: int,
        log: Callable[[str], None],
        writer: LossesWriter | None = None,
    ) -> None:
        self._names = dict(scalars)
        self._model_dir, self._max_steps = model_dir, max_steps
        self._log_every, self._log, self._writer = max(1, log_every), log, writer
        self.step = 0

    def begin(self) -> None:
        graph = tf.compat.v1.get_default_graph()
        self._tensors = {n: graph.get_tensor_by_name(t) for n, t in self._names.items()}
        self._global_step = tf.compat.v1.train.get_global_step()

    def after_create_session(self, session, coord) -> None:
        self.step = int(session.run(self._global_step))
        if self._writer is not None and self.step != self._writer.last_step:
            raise RuntimeError(
                f"losses.csv ends at step {self._writer.last_step} but the model "
                f"is at step {self.step}"
            )
        # Time from here: graph building and checkpoint restore are not training throughput.
        self._window = (self.step, time.perf_counter())

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs(self._tensors)

    def after_run(self, run_context, run_values) -> None:
        # One run = one global-step increment (every app's train op), so count instead of
        # fetching the global step in the same run, whose read may race the increment.
        self.step += 1
        values = {n: float(v) for n, v in run_values.results.items()}
        for name, value in values.items():
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    self.step,
                    name,
                    "NaN" if math.isnan(value) else "Inf",
                    tf.train.latest_checkpoint(self._model_dir),
                )
        if self._writer is None:
            return
        self._writer.write(self.step, list(values.values()))
        if self.step % self._log_every == 0 or self.step >= self._max_steps:
            self._log_progress(values)

    def _log_progress(self, values: Mapping[str, float]) -> None:
        now = time.perf_counter()
        first_step, first_time = self._window
        rate = (self.step - first_step) / max(now - first_time, 1e-9)
        eta = (self._max_steps - self.step) / rate if rate > 0 else float("inf")
        scalars = "  ".join(f"{n}={v:.4f}" for n, v in values.items())
        self._log(
            f"step {self.step}/{self._max_steps}  {scalars}  {rate:.2f} steps/s  "
            f"ETA {format_duration(eta) if math.isfinite(eta) else '?'}"
        )
        self._window = (self.step, now)

    def end(self, session) -> None:
        actual = int(session.run(self._global_step))
        if actual != self.step:
            raise RuntimeError(f"counted {self.step} steps but the global step is {actual}")
