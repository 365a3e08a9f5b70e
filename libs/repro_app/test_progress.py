"""repro_app.progress: every step's scalars into losses.csv and the progress line; NaN or Inf
in any of them stops the run before its row is written (exit status 3)."""

from __future__ import annotations

import pytest
import tensorflow as tf

import repro_app
from repro_app.progress import StepScalarsHook, format_duration
from run_record import LossesWriter, read_losses

_v1 = tf.compat.v1


def _run(hook: StepScalarsHook, steps: int) -> None:
    with tf.Graph().as_default():
        step = _v1.train.get_or_create_global_step()
        x = _v1.get_variable("x", [], initializer=_v1.constant_initializer(1.0))
        new = x.assign(x * 1e30)  # 1e30, then Inf
        with tf.control_dependencies([new]):
            train_op = step.assign_add(1)
        tf.identity(new, name="scalar")
        with _v1.train.MonitoredSession(hooks=[hook]) as session:
            for _ in range(steps):
                session.run(train_op)


def test_rows_and_progress_then_inf_stops_before_its_row(tmp_path) -> None:
    writer = LossesWriter(str(tmp_path / "losses.csv"), ["x"])
    lines: list[str] = []
    hook = StepScalarsHook(
        {"x": "scalar:0"},
        model_dir=str(tmp_path),
        max_steps=4,
        log_every=1,
        log=lines.append,
        writer=writer,
    )
    with pytest.raises(repro_app.NonFiniteLossError) as stopped:
        _run(hook, 4)
    writer.close()
    assert str(stopped.value) == "step 2: x is Inf; last good checkpoint: none"
    assert stopped.value.exit_status == 3
    _, steps, values = read_losses(str(tmp_path / "losses.csv"))
    assert list(steps) == [1] and values["x"][0] == pytest.approx(1e30)
    assert lines[0].startswith("step 1/4  x=1000000015047466219876688855040.0000  ")
    assert format_duration(3723) == "1h02m03s" and format_duration(63) == "1m03s"
