"""repro_app.run_dir: one trainer per model_dir, refusal of another run's, the restored step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

import repro_app
from repro_app import run_dir

_HOLD = """
import sys, time
from repro_app import run_dir
with run_dir.locked(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_live_holder_is_named_and_a_killed_one_does_not_block(tmp_path) -> None:
    model_dir = str(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, model_dir], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(repro_app.RunError) as info:
            with run_dir.locked(model_dir):
                pass
        message = str(info.value)
        assert f"{model_dir} is in use by process {holder.pid} (" in message
        assert "-c" in message and "\n" not in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_dir.locked(model_dir):  # kill -9 released it
        with open(os.path.join(model_dir, run_dir.LOCK_FILE)) as f:
            assert f.read() == f"{os.getpid()}\n"


def test_open_run_dir_refuses_another_identity_and_keeps_the_record(tmp_path) -> None:
    model_dir = str(tmp_path / "run")
    record = {"identity": {"random_seed": 1, "model": {"kind": "a"}}, "seed": 1}
    with run_dir.open_run_dir(model_dir, record) as step:
        assert step == 0
    with open(os.path.join(model_dir, "run.json"), "rb") as f:
        before = f.read()
    other = {"identity": {"random_seed": 1, "model": {"kind": "b"}}, "seed": 1}
    with pytest.raises(repro_app.RunError, match="model.kind: 'a' there, 'b' now"):
        with run_dir.open_run_dir(model_dir, other):
            pass
    with open(os.path.join(model_dir, "run.json"), "rb") as f:
        assert f.read() == before
    with run_dir.open_run_dir(model_dir, record) as step:  # the same run resumes
        assert step == 0
