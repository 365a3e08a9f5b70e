"""Training progress lines (loss, throughput, ETA), as a tf.estimator SessionRunHook."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from mnist_classifier import model


class ProgressHook(tf.estimator.SessionRunHook):
    """Logs the loss and throughput every ``every`` steps (and at the last step)."""

    def __init__(self, start_step: int, last_step: int, every: int, batch_size: int,
                 log: Callable[[str], None]) -> None:
        self._step, self._last, self._every = start_step, last_step, every
        self._batch_size, self._log = batch_size, log
        self._loss: tf.Tensor | None = None
        self._since = (start_step, time.monotonic())

    @property
    def step(self) -> int:
        """The last global step trained (the restored one before the first)."""
        return self._step

    def begin(self) -> None:
        self._loss = tf.compat.v1.get_default_graph().get_tensor_by_name(
            f"{model.LOSS_NAME}:0")

    def after_create_session(self, session: Any, coord: Any) -> None:
        # Time from here: graph building and checkpoint restore are not training throughput.
        self._since = (self._step, time.monotonic())

    def before_run(self, run_context: Any) -> tf.estimator.SessionRunArgs:
        step = self._step + 1
        wanted = step % self._every == 0 or step == self._last
        return tf.estimator.SessionRunArgs(self._loss if wanted else [])

    def after_run(self, run_context: Any, run_values: Any) -> None:
        self._step += 1
        if isinstance(run_values.results, list):
            return
        first, since = self._since
        elapsed = max(time.monotonic() - since, 1e-9)
        rate = (self._step - first) / elapsed
        eta = (self._last - self._step) / rate if rate else 0.0
        self._log(f"step {self._step}/{self._last} loss {float(run_values.results):.5f} "
                  f"({rate * self._batch_size:.0f} images/s, ETA {eta:.0f} s)")
        self._since = (self._step, time.monotonic())
