"""repro_app.graph_check: the audit hook refuses a CPU-dependent graph in one line (exit 2) and
records a clean graph's op census in run.json."""

from __future__ import annotations

import pytest
import tensorflow as tf

import repro_app
from repro_app.graph_check import GraphAuditHook
from run_record import read_run_json, write_run_json


def _begin(hook: GraphAuditHook, build) -> None:
    with tf.Graph().as_default():
        x = tf.compat.v1.get_variable("x", [8], initializer=tf.compat.v1.ones_initializer())
        build(x)
        hook.begin()


def test_a_graph_with_rsqrt_is_refused_with_exit_status_2(tmp_path) -> None:
    write_run_json(str(tmp_path), {"seed": 1})
    with pytest.raises(repro_app.RefusedGraphError) as info:
        _begin(GraphAuditHook("train", str(tmp_path)), lambda x: tf.math.rsqrt(x, name="r"))
    assert info.value.exit_status == repro_app.EXIT_REFUSED == 2
    assert str(info.value).startswith("train graph: Rsqrt op 'r' (name scope (top level)): ")
    assert read_run_json(str(tmp_path)) == {"seed": 1}  # nothing recorded for a refused graph


def test_the_census_goes_into_run_json_per_mode(tmp_path) -> None:
    write_run_json(str(tmp_path), {"seed": 1})
    _begin(GraphAuditHook("train", str(tmp_path)), lambda x: x / tf.sqrt(x))
    _begin(GraphAuditHook("predict", str(tmp_path)), lambda x: x * 2.0)
    _begin(GraphAuditHook("train", None), lambda x: x + 1.0)  # audits, records nothing
    census = read_run_json(str(tmp_path))["graph_ops"]
    assert census["train"]["RealDiv"] == 1 and census["train"]["Sqrt"] == 1
    assert census["predict"]["Mul"] == 1 and "RealDiv" not in census["predict"]
