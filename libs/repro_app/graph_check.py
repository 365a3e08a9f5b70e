"""Every graph a training app's Estimator builds is audited before its session starts.

`GraphAuditHook(mode, model_dir)` runs `tf_determinism.graph_audit.audit` on the finished graph
in `begin()` (after the model_fn, before any variable is read or any step runs) and records the
op census in `<model_dir>/run.json` under "graph_ops" -> mode. A graph holding an op whose bits
follow the CPU vendor, or a train graph holding a stateful random op, is refused:
`RefusedGraphError`, one line, exit status 2.
"""

from __future__ import annotations

import tensorflow as tf

from repro_app.errors import RefusedGraphError
from run_record import update_run_json
from tf_determinism import graph_audit, ops

CENSUS_KEY = "graph_ops"


class GraphAuditHook(tf.estimator.SessionRunHook):
    """Audits the graph of one Estimator call (train, evaluate or predict).

    Args:
      mode: The census' name in run.json ("train", "eval", "predict", ...).
      model_dir: Where run.json is; None to audit without recording (a cluster's non-chief).
    """

    def __init__(self, mode: str, model_dir: str | None) -> None:
        self._mode, self._model_dir = mode, model_dir

    def begin(self) -> None:
        try:
            census = graph_audit.audit(
                tf.compat.v1.get_default_graph(),
                training=self._mode == "train",
                portable=ops.portable(),
            )
        except graph_audit.RefusedOpError as e:
            raise RefusedGraphError(f"{self._mode} graph: {e}") from None
        if self._model_dir is not None:
            update_run_json(self._model_dir, (CENSUS_KEY, self._mode), census)
