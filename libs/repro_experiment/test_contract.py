"""The skeleton's contract, tested once for every app of the registry (apps/repro/repro/apps.py):
at its quick settings (its options' QUICK) on its data group's quick data, each app

  * run twice (here and in a fresh process) gives byte-identical losses.csv (every logged
    column), checkpoints and results, and another seed differs from step 1;
  * resumed after a crash (steps after its last checkpoint lost) equals the straight run, from
    a relative run directory as the default runs/<app>/... is;
  * on `--local_workers=2` equals one process at the same --micro_batches=2;
  * stopped by SIGTERM ends with exit status 5 after a checkpointed step, and the same command
    then ends identical to the straight run;
  * has only audited graphs (no CPU-dependent kernel, no stateful random op) in run.json;
  * with `--numerics=portable` trains graphs of portable ops only (graph_audit.PORTABLE_OPS),
    or is refused before a step in one line naming the op and its replacement; in the slow
    tier, portable runs twice and crash-resumed are identical too.

A new app passes it by its line in the registry; it needs no test of its own for any of this.
Every run uses M = 2 micro-batches, so that one straight run serves all. A difference fails
with `repro compare`'s report: the first divergent step and column, the differing tensors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

import repro_app
from repro.apps import REGISTERED
from repro_experiment import App
from repro_experiment.testing import Crash, CrashAfter, SignalAt, quick_command
from run_record import read_losses, read_run_json
from tf_determinism import child_env, graph_audit
from tf_determinism import ops as numerics_ops

STEPS = 40
# The apps whose every op has a portable form today (README "x86-64 and aarch64: the same bits
# with --numerics=portable"); the others are refused in portable mode.
PORTABLE_APPS = {"mnist_gan", "mnist_classifier", "text_lm"}
PORTABLE = "--numerics=portable"


def contract_runner(app: App, tmp_path_factory: Any, run_here: Any) -> dict[str, Any]:
    """One app at its quick settings: its name, `fresh(model_dir, *flags)`, its run in a fresh
    process, and `here(model_dir, *flags, hooks=())`, the same run in this process (no
    TensorFlow import)."""
    command = quick_command(
        app, STEPS, str(tmp_path_factory.mktemp("data")), str(tmp_path_factory.mktemp("quick"))
    )

    def flags_of(model_dir, *extra: str) -> list[str]:
        return [*command, f"--model_dir={model_dir}", *extra]

    def here(model_dir, *extra: str, hooks=()) -> list[str]:
        return run_here(app.name, app.options, flags_of(model_dir, *extra), hooks)

    def fresh(model_dir, *extra: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", app.module, *flags_of(model_dir, *extra)],
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )

    return {"name": app.name, "here": here, "fresh": fresh}


@pytest.fixture(scope="module", params=sorted(REGISTERED))
def app(request, tmp_path_factory, run_here):
    """One registered app (see `contract_runner`)."""
    return contract_runner(REGISTERED[request.param], tmp_path_factory, run_here)


@pytest.fixture(scope="module")
def straight(app, tmp_path_factory) -> str:
    """The run every other run must equal: STEPS steps at M=2, one process, no interruption."""
    model_dir = str(tmp_path_factory.mktemp("straight") / "run")
    app["here"](model_dir)
    return model_dir


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    """(exit status, stderr) of a fresh process, which printed no traceback."""
    _, stderr = proc.communicate(timeout=600)
    assert "Traceback" not in stderr, stderr[-3000:]
    return proc.returncode, stderr


def test_twice_in_a_fresh_process_identical_another_seed_differs(
    app, straight, identical_runs, tmp_path
):
    again = str(tmp_path / "again")
    code, stderr = _finish(app["fresh"](again))
    assert code == 0, stderr[-3000:]
    assert identical_runs(straight, again)
    assert read_run_json(again)["results"] == read_run_json(straight)["results"]
    other = str(tmp_path / "other")
    app["here"](other, "--random_seed=124", "--max_train_steps=1")
    names, _, ours = read_losses(straight)
    _, _, theirs = read_losses(other)
    assert all(ours[n][0].tobytes() != theirs[n][0].tobytes() for n in names)


def test_resume_after_a_crash_equals_the_straight_run(
    app, straight, identical_runs, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    model_dir = os.path.join("runs", "crashed")  # relative, as the default runs/<app>/...
    every_10 = "--save_checkpoints_steps=10"
    with pytest.raises(Crash):
        app["here"](model_dir, every_10, hooks=[CrashAfter(23)])
    assert list(read_losses(model_dir)[1]) == list(range(1, 24))  # 21-23 are not checkpointed
    assert f"resuming at step 20 of {STEPS} in {model_dir}" in app["here"](model_dir, every_10)
    assert identical_runs(straight, model_dir)


def test_two_local_workers_equal_one_process(app, straight, identical_runs, tmp_path):
    model_dir = str(tmp_path / "two")
    code, stderr = _finish(app["fresh"](model_dir, "--local_workers=2"))
    assert code == 0 and "[worker 0]" in stderr, stderr[-3000:]
    assert identical_runs(straight, model_dir)
    assert read_run_json(model_dir)["cluster"]["workers"] == 2


def test_sigterm_stops_after_a_checkpointed_step_and_the_same_command_resumes(
    app, straight, identical_runs, tmp_path
):
    """The signal arrives during step 3 (sent by this process to itself: the handler and the
    stop are the same as for a kill from outside, mnist_gan/test_signals.py)."""
    model_dir = str(tmp_path / "preempted")
    with pytest.raises(repro_app.PreemptedError) as stopped:
        app["here"](model_dir, hooks=[SignalAt(3)])
    assert stopped.value.exit_status == repro_app.EXIT_PREEMPTED == 5
    assert str(stopped.value) == (
        f"SIGTERM: stopped after step 3, checkpoint "
        f"{model_dir}/model.ckpt-3; the same command resumes from it"
    )
    assert list(read_losses(model_dir)[1]) == [1, 2, 3]
    assert f"resuming at step 3 of {STEPS} in {model_dir}" in app["here"](model_dir)
    assert identical_runs(straight, model_dir)


def test_every_graph_is_audited_and_clean(app, straight):
    census = read_run_json(straight)["graph_ops"]
    assert census["train"] and set(census) <= {"train", "predict"}
    for mode, ops in census.items():
        assert not set(ops) & set(graph_audit.DENIED_OPS), (mode, set(ops))
    assert not set(census["train"]) & set(graph_audit.RANDOM_OPS)


def test_portable_mode_is_audited_or_refused_in_one_line(app, tmp_path):
    model_dir = str(tmp_path / "portable")
    try:
        app["here"](model_dir, PORTABLE, "--max_train_steps=1")
    except repro_app.RefusedGraphError as refused:
        assert app["name"] not in PORTABLE_APPS, str(refused)
        message = str(refused)
        assert "\n" not in message and "no portable form of it is proven" in message
        assert refused.exit_status == 2 and not list(read_losses(model_dir)[1])
    else:
        assert app["name"] in PORTABLE_APPS
        census = read_run_json(model_dir)["graph_ops"]["train"]
        assert set(census) <= set(graph_audit.PORTABLE_OPS) | {
            op for op in census if op.endswith(("Dataset", "DatasetV2", "DatasetV3"))
        }
    finally:
        numerics_ops.set_mode("fast")


@pytest.mark.slow
def test_portable_mode_twice_and_crash_resumed_same_bits_another_seed_differs(
    app, identical_runs, tmp_path
):
    """--numerics=portable keeps the fast mode's guarantees: a fresh process, and a run
    crashed after step 2 and resumed, to the same bits; another seed differs. (x86-64 against
    an emulated aarch64: build-support/arm_emulated_check.sh.)"""
    if app["name"] not in PORTABLE_APPS:
        pytest.skip(f"{app['name']} is refused in portable mode")
    flags = (PORTABLE, "--max_train_steps=3", "--save_checkpoints_steps=1")
    fresh, resumed, other = (str(tmp_path / name) for name in ("fresh", "resumed", "other"))
    try:
        code, stderr = _finish(app["fresh"](fresh, *flags))
        assert code == 0, stderr[-3000:]
        with pytest.raises(Crash):
            app["here"](resumed, *flags, hooks=[CrashAfter(2)])
        assert f"resuming at step 2 of 3 in {resumed}" in app["here"](resumed, *flags)
        assert identical_runs(fresh, resumed)
        app["here"](other, *flags, "--random_seed=124")
        with pytest.raises(AssertionError):
            identical_runs(fresh, other)
    finally:
        numerics_ops.set_mode("fast")
