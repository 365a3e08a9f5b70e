"""For tests of the skeleton's guarantees (imports TensorFlow): an app's quick command line, and
faults at a chosen step, hooks passed to `runner.train(..., extra_hooks=[...])` (the root
conftest's `run_here`)."""

from __future__ import annotations

import os
import signal

import tensorflow as tf

from repro_experiment.cli import App


def quick_command(app: App, steps: int, data_dir: str, quick_data_dir: str) -> list[str]:
    """The flags of `steps` steps of `app` at M = 2 micro-batches, at its quick settings, on its
    quick data (written under quick_data_dir), no checkpoint but the last, a row per step."""
    return [
        "--micro_batches=2",
        f"--max_train_steps={steps}",
        "--save_checkpoints_steps=1000",
        "--keep_checkpoint_max=1",
        "--log_step_count_steps=1",
        "--save_summary_steps=1000",
        "--buffer_size=256",
        *app.quick_flags(),
        *app.quick_data_flags(quick_data_dir),
        f"--data_dir={data_dir}",
    ]


class Crash(Exception):
    """A crash after some steps (as kill -9: what was not checkpointed is lost)."""


class AtStep(tf.estimator.SessionRunHook):
    """A hook calling `self.act()` once global step `step` has been computed."""

    def __init__(self, step: int) -> None:
        self.step = step

    def begin(self) -> None:
        self._global_step = tf.compat.v1.train.get_global_step()

    def after_create_session(self, session, coord) -> None:
        self._at = int(session.run(self._global_step))

    def after_run(self, run_context, run_values) -> None:
        self._at += 1
        if self._at == self.step:
            self.act()

    def act(self) -> None:
        raise NotImplementedError


class CrashAfter(AtStep):
    """Raises Crash after step `step`."""

    def act(self) -> None:
        raise Crash()


class SignalAt(AtStep):
    """Sends this process SIGTERM during step `step` (the handler and the stop are those of a
    kill from outside)."""

    def act(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
