"""Training speed of the MNIST GAN on 1, 2 and 4 local processes at --micro_batches=4, the
bytes each process moves per step, and the communication share of a step (not a test).

* steps/s: the app itself (`--local_workers=W`), real MNIST, batch 32; the chief's progress
  lines give the rate of each 10-step window; the median of the windows after the warm-up.
* bytes: what the app records in run.json (`cluster.per_step`: the collectives' tensor sizes,
  per process and step), and what gathering every micro-batch (the exchange the subtree one
  replaced) would move, counted the same way.
* communication: W processes on 127.0.0.1 run, as one step does, one exchange per pass
  (generator pass: its loss, gradients and batch statistics; discriminator pass: its loss and
  gradients; sizes counted from the real networks), both ways; the median time of a step's
  exchanges over the W-process step time is the share.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from tf_determinism import child_env

_RATE = re.compile(r"(?:\[chief\] )?.* step (\d+)/\d+ .* ([0-9.]+) steps/s")
_MICRO_BATCHES = 4
_WORKERS = (1, 2, 4)


def steps_per_second(
    workers: int, steps: int, warmup: int, data_dir: str
) -> tuple[float, dict | None]:
    """(median steps/s after the warm-up, run.json's cluster.per_step or None)."""
    with tempfile.TemporaryDirectory() as model_dir:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mnist_gan.train",
                f"--local_workers={workers}",
                f"--micro_batches={_MICRO_BATCHES}",
                f"--max_train_steps={steps}",
                f"--model_dir={model_dir}",
                f"--data_dir={data_dir}",
                "--log_step_count_steps=10",
                f"--save_checkpoints_steps={10 * steps}",
                f"--save_summary_steps={10 * steps}",
                "--keep_checkpoint_max=1",
            ],
            env=child_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        per_step = None
        if proc.returncode == 0:
            with open(os.path.join(model_dir, "run.json"), encoding="utf-8") as f:
                per_step = json.load(f)["cluster"].get("per_step")
    lines = [ln for ln in proc.stderr.splitlines() if workers == 1 or ln.startswith("[chief]")]
    rates = [float(m.group(2)) for m in map(_RATE.search, lines) if m and int(m.group(1)) > warmup]
    if proc.returncode != 0 or not rates:
        sys.exit(f"--local_workers={workers} failed:\n{proc.stderr[-3000:]}")
    return statistics.median(rates), per_step


def _packed_sizes() -> tuple[int, int]:
    """Floats per micro-batch in the generator pass's and the discriminator pass's vector."""
    import tensorflow as tf

    import gan_models
    from gan_models import layers, step

    config = gan_models.GANConfig()
    with tf.Graph().as_default():
        features = gan_models.training_features(config, batch_size=8, batch_index=0)
        with layers.recording_batch_stats() as stats:
            model = step.gan_pass(config, features["generator_inputs"], tf.zeros([8, 28, 28, 1]))
        count = lambda vs: sum(v.shape.num_elements() for v in vs)  # noqa: E731
        stat_floats = sum(2 * r.mean.shape.num_elements() for r in stats)
        return (
            1 + count(model.generator_variables) + stat_floats,
            1 + count(model.discriminator_variables),
        )


def _exchange_child(rank: int, addresses: list[str], repeats: int) -> None:
    from repro_cluster import config

    os.environ.pop(config.ENV, None)
    import tensorflow as tf

    import tf_determinism
    from repro_cluster import member
    from repro_cluster.collectives import MicroBatchMean

    tf.compat.v1.disable_eager_execution()
    sizes = _packed_sizes()
    cluster = config.Cluster(tuple(addresses), rank)
    joined = member.join(cluster, tf_determinism.Numerics())
    local = _MICRO_BATCHES // cluster.size
    results = {}
    for method in ("subtree", "gather"):
        with tf.Graph().as_default(), tf.device(cluster.device()):
            mean = MicroBatchMean(cluster.size, _MICRO_BATCHES, timeout_seconds=60, method=method)
            vectors = [
                [tf.random.stateless_uniform([n], [rank * local + j, i]) for j in range(local)]
                for i, n in enumerate(sizes)
            ]
            ops = tf.group(*[tf.reduce_sum(mean(v)) for v in vectors])
            with tf.compat.v1.Session(joined.server.target) as session:
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    session.run(ops)
                    times.append(time.perf_counter() - start)
        results[method] = {
            "seconds": statistics.median(times[3:]),
            "sent_bytes": mean.traffic.sent_bytes,
            "received_bytes": mean.traffic.received_bytes,
        }
    if rank == 0:
        print("EXCHANGE " + json.dumps(results), flush=True)


def exchange(workers: int, repeats: int) -> dict:
    """{method: {seconds, sent_bytes, received_bytes}} of one step's exchanges on W processes."""
    from repro_cluster import free_local_addresses

    addresses = free_local_addresses(workers)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import cluster_steps; cluster_steps.main()",
                f"--exchange_child={rank}",
                f"--addresses={','.join(addresses)}",
                f"--repeats={repeats}",
            ],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(workers)
    ]
    outs = [p.communicate(timeout=1200) for p in procs]
    line = [ln for ln in outs[0][0].splitlines() if ln.startswith("EXCHANGE ")]
    if not line:
        sys.exit(f"exchange benchmark failed:\n{outs[0][1][-3000:]}")
    return json.loads(line[-1][9:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--data_dir", default="data")
    parser.add_argument("--exchange_child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--addresses", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.exchange_child is not None:
        _exchange_child(args.exchange_child, args.addresses.split(","), args.repeats)
        return
    rates = {}
    for workers in _WORKERS:
        rates[workers], per_step = steps_per_second(workers, args.steps, args.warmup, args.data_dir)
        moved = (
            f"; per process and step: {per_step['sent_bytes'] / 1e6:.1f} MB sent, "
            f"{per_step['received_bytes'] / 1e6:.1f} MB received ({per_step['method']})"
            if per_step
            else ""
        )
        print(
            f"W={workers} M={_MICRO_BATCHES}: {rates[workers]:.2f} steps/s "
            f"({rates[workers] / rates[1]:.3f} x W=1; median of 10-step windows after step "
            f"{args.warmup}; load avg {os.getloadavg()[0]:.1f}){moved}",
            flush=True,
        )
    for workers in _WORKERS[1:]:
        step_seconds = 1.0 / rates[workers]
        for method, result in exchange(workers, args.repeats).items():
            print(
                f"W={workers} {method:>7} exchange: {result['seconds'] * 1000:.0f} ms a step "
                f"({result['received_bytes'] / 1e6:.1f} MB received per process; at 10 Gb/s "
                f"{result['received_bytes'] / 1.25e9 * 1000:.0f} ms), communication share "
                f"{result['seconds'] / step_seconds:.2f} of the W={workers} step",
                flush=True,
            )


if __name__ == "__main__":
    main()
