"""The skeleton's own messages for what an app's code does wrong outside the graph."""

from __future__ import annotations

import pytest
import tensorflow as tf

import repro_app
from repro_experiment import runner


def _results_with_an_unseeded_draw() -> None:
    tf.random.normal([2])  # eager, as an app's results() runs


def test_an_unseeded_eager_random_op_in_results_is_one_line() -> None:
    """Op determinism is on in every run (and test) process: TF raises for an unseeded random op
    run eagerly, with a traceback suggesting tf.random.set_seed; the skeleton names the call."""
    with pytest.raises(repro_app.RunError) as refused:
        with runner._unseeded_draws("results()"):
            _results_with_an_unseeded_draw()
    line = _results_with_an_unseeded_draw.__code__.co_firstlineno + 1
    assert str(refused.value) == (
        f"results(): an unseeded random op (repro_experiment/test_runner.py:{line}: "
        "tf.random.normal([2])) draws from this process's state, not the run's; draw with "
        "tf.random.stateless_* and seed=tf_determinism.stateless_key(ctx.seeds.<name>, i) (a "
        "sub-seed the app names)"
    )
    assert refused.value.exit_status == 2


def test_other_runtime_errors_pass_through() -> None:
    with pytest.raises(RuntimeError, match="^something else$"):
        with runner._unseeded_draws("results()"):
            raise RuntimeError("something else")
