"""repro_app.run_dir: one trainer per model_dir, refusal of another run's, the restored step."""

from __future__ import annotations

import os

import pytest

import repro_app
from repro_app import run_dir


def test_a_live_holder_is_named_and_a_killed_one_does_not_block(tmp_path, lock_holder) -> None:
    model_dir = str(tmp_path / "run")
    with lock_holder(model_dir) as holder:
        with pytest.raises(repro_app.RunError) as info:
            with run_dir.locked(model_dir):
                pass
        message = str(info.value)
        assert f"{model_dir} is in use by process {holder.pid} (" in message
        assert "-c" in message and "\n" not in message
    with run_dir.locked(model_dir):  # kill -9 released it
        with open(os.path.join(model_dir, run_dir.LOCK_FILE)) as f:
            assert f.read() == f"{os.getpid()}\n"


def test_open_run_dir_refuses_another_identity_and_keeps_the_record(tmp_path) -> None:
    model_dir = str(tmp_path / "run")
    record = {"identity": {"random_seed": 1, "model": {"kind": "a"}}, "seed": 1}
    with run_dir.open_run_dir(model_dir, record, print) as step:
        assert step == 0
    with open(os.path.join(model_dir, "run.json"), "rb") as f:
        before = f.read()
    other = {"identity": {"random_seed": 1, "model": {"kind": "b"}}, "seed": 1}
    with pytest.raises(repro_app.RunError, match="model.kind: 'a' there, 'b' now"):
        with run_dir.open_run_dir(model_dir, other, print):
            pass
    with open(os.path.join(model_dir, "run.json"), "rb") as f:
        assert f.read() == before
    with run_dir.open_run_dir(model_dir, record, print) as step:  # the same run resumes
        assert step == 0
