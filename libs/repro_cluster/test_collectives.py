"""MicroBatchMean across 4 real processes on 127.0.0.1 equals, bit for bit, the one-process
tree mean of all M micro-batches: the subtree exchange (M = 4, 8) and the gather (M = 12, and
forced at M = 8); and its traffic is what the module docstring says."""

from __future__ import annotations

import json
import subprocess
import sys

from repro_cluster import free_local_addresses, tf_config
from tf_determinism import child_env

_W = 4
# Each process: M micro-batch vectors that are pure functions of (M, index), so every process
# knows them all; values 1e8 and 1 make the pairing visible (float32 1e8 + 1 == 1e8).
_CHILD = """
import json, os, sys
import tf_determinism
tf_determinism.configure_environment(tf_determinism.Numerics())
import numpy as np, tensorflow as tf
from repro_cluster import config, member, collectives
from tf_determinism.reduce import tree_mean
tf.compat.v1.disable_eager_execution()
cluster = config.from_environment(micro_batches=4)
me = member.join(cluster, tf_determinism.Numerics())
def vectors(m):
    rng = np.random.default_rng(m)
    base = rng.choice(np.float32([1e8, -1e8, 1.0, 3.0, 0.5]), size=(m, 37))
    return [tf.constant(v) for v in base.astype(np.float32)]
results, traffic = {}, {}
with tf.device(cluster.device()):
    for m, method in ((4, None), (8, None), (12, None), (8, "gather")):
        mean = collectives.MicroBatchMean(cluster.size, m, timeout_seconds=60, method=method)
        first, last = me.micro_range(m)
        every = vectors(m)
        key = f"{m}-{mean.method}"
        results[key] = (mean(every[first:last]), tree_mean(every))
        traffic[key] = [mean.traffic.sent_bytes, mean.traffic.received_bytes]
with tf.compat.v1.Session(me.server.target) as session:
    values = session.run(results)
print("RESULT " + json.dumps({
    "rank": cluster.rank, "traffic": traffic,
    "equal": {k: bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))
              for k, (a, b) in values.items()},
    "bytes": {k: a.tobytes().hex() for k, (a, _) in values.items()}}), flush=True)
"""


def test_four_processes_compute_the_one_process_tree_mean() -> None:
    addresses = free_local_addresses(_W)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            text=True,
            env=child_env({"TF_CONFIG": tf_config(addresses, rank)}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for rank in range(_W)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    results = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        results.append(
            json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
        )
    keys = {"4-subtree", "8-subtree", "12-gather", "8-gather"}
    for result in results:
        assert set(result["equal"]) == keys and all(result["equal"].values()), result["equal"]
        assert result["bytes"] == results[0]["bytes"]  # every process, the same bytes
    assert results[0]["bytes"]["8-subtree"] == results[0]["bytes"]["8-gather"]
    # Per process and step, float32 vectors of 37: chunks of 10 (37 padded to 40) go out to
    # and come in from 3 peers twice (all-to-all, all-gather); the gather moves all L vectors.
    traffic = results[0]["traffic"]
    assert traffic["4-subtree"] == traffic["8-subtree"] == [2 * 3 * 10 * 4] * 2
    assert traffic["8-gather"] == [3 * 2 * 37 * 4] * 2
    assert traffic["12-gather"] == [3 * 3 * 37 * 4] * 2
