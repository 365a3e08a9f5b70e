"""--local_workers' launcher with stand-in apps (no TensorFlow): TF_CONFIG per process,
prefixed logs, the chief's status, a lost worker stopping the rest, a preempted one not, and
a signal to the launcher passed on once to every process."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from typing import Any

import pytest

from repro_cluster import launcher

_APP = textwrap.dedent(
    """
    import json, os, signal, sys, time
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    print("args", " ".join(sys.argv[1:]), "task", task["type"], task["index"], flush=True)
    if "--worker_dies" in sys.argv and task["type"] == "worker":
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    if "--worker_dies" in sys.argv:
        time.sleep(60)  # the chief would wait on its lost peer
    if "--preempted" in sys.argv:  # as an app does: stop on SIGTERM, exit 5 (workers first)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(5 if task["type"] == "worker" else 0))
        print("ready", flush=True)
        time.sleep(60)
    if "--worker_preempted" in sys.argv:
        if task["type"] == "worker":
            sys.exit(5)
        time.sleep(1.0)  # then the chief, at the same step
        sys.exit(5)
    sys.exit(3 if "--chief_fails" in sys.argv and task["type"] == "chief" else 0)
"""
)


def _run(
    tmp_path: Any, monkeypatch: Any, capsys: Any, *args: str
) -> tuple[int, float, str, list[str]]:
    (tmp_path / "fake_app.py").write_text(_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    lines: list[str] = []
    start = time.monotonic()
    status = launcher.run_local_workers(3, "fake_app", list(args), lines.append)
    return status, time.monotonic() - start, capsys.readouterr().err, lines


def test_each_process_gets_its_task_and_a_prefix(tmp_path, monkeypatch, capsys):
    status, _, err, lines = _run(tmp_path, monkeypatch, capsys, "--x=1")
    assert status == 0
    assert "[chief] args --x=1 --local_workers=0 task chief 0" in err
    assert "[worker 0] args --x=1 --local_workers=0 task worker 0" in err
    assert "[worker 1] args --x=1 --local_workers=0 task worker 1" in err
    assert lines[0] == "starting 3 local process(es)" and "worker 1: pid" in lines[3]


def test_the_chief_status_is_returned(tmp_path, monkeypatch, capsys):
    status, _, _, _ = _run(tmp_path, monkeypatch, capsys, "--chief_fails")
    assert status == 3


def test_a_killed_worker_stops_the_others(tmp_path, monkeypatch, capsys, caplog):
    status, seconds, err, _ = _run(tmp_path, monkeypatch, capsys, "--worker_dies")
    assert status == launcher.EXIT_LOST_WORKER
    assert seconds < 30  # not the 60 s the chief would wait
    assert "[worker 0] args --worker_dies" in err
    assert "exited with status -9 (killed); stopping the others" in caplog.text


def test_no_process_is_refused():
    with pytest.raises(ValueError, match="run_local_workers: count must be an int >= 1, got 0"):
        launcher.run_local_workers(0, "fake_app", [], print)


def test_a_preempted_worker_is_not_lost(tmp_path, monkeypatch, capsys, caplog):
    status, _, _, _ = _run(tmp_path, monkeypatch, capsys, "--worker_preempted")
    assert status == 5  # the chief's, which stopped at the same step
    assert "stopping the others" not in caplog.text


def test_a_signal_to_the_launcher_reaches_every_process_once(tmp_path, monkeypatch, capsys):
    def signal_when_ready():
        time.sleep(3.0)  # the three stand-ins import nothing: ready well before
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=signal_when_ready, daemon=True).start()
    status, seconds, err, lines = _run(tmp_path, monkeypatch, capsys, "--preempted")
    assert err.count("ready") == 3
    assert status == 0 and seconds < 30  # the chief's own exit (0 here), not 60 s of sleep
    assert lines[-1] == (
        "SIGTERM: every process stops after the same step (a second signal kills them)"
    )
