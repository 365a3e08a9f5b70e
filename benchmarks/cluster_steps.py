"""Training speed of the MNIST GAN on 1 and 2 local processes at --micro_batches=2, and the
communication share of a step (not a test).

* steps/s: the app itself (`--local_workers=W`), real MNIST, batch 32; the chief's progress
  lines give the rate of each 10-step window; the median of the windows after the warm-up.
* communication: two processes on 127.0.0.1 all-gather, as one step does, one packed vector
  per pass (generator pass: its loss, gradients and batch statistics; discriminator pass: its
  loss and gradients; sizes counted from the real networks); the median time of those two
  gathers over the W=2 step time is the share.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from tf_determinism import child_env

_RATE = re.compile(r"\[chief\].* step (\d+)/\d+ .* ([0-9.]+) steps/s")


def steps_per_second(workers: int, steps: int, warmup: int, data_dir: str) -> float:
    with tempfile.TemporaryDirectory() as model_dir:
        proc = subprocess.run(
            [sys.executable, "-m", "mnist_gan.train", f"--local_workers={workers}",
             "--micro_batches=2", f"--max_train_steps={steps}", f"--model_dir={model_dir}",
             f"--data_dir={data_dir}", "--log_step_count_steps=10",
             f"--save_checkpoints_steps={10 * steps}", f"--save_summary_steps={10 * steps}",
             "--keep_checkpoint_max=1"],
            env=child_env(), capture_output=True, text=True, check=False)
    rates = [float(m.group(2)) for m in map(_RATE.search, proc.stderr.splitlines())
             if m and int(m.group(1)) > warmup]
    if proc.returncode != 0 or not rates:
        sys.exit(f"--local_workers={workers} failed:\n{proc.stderr[-3000:]}")
    return statistics.median(rates)


def _packed_sizes() -> tuple[int, int]:
    """Floats per micro-batch in the generator pass's and the discriminator pass's gather."""
    import tensorflow as tf

    import gan_models
    from gan_models import layers, step

    config = gan_models.GANConfig()
    with tf.Graph().as_default():
        features = gan_models.training_features(config, batch_size=16, batch_index=0)
        with layers.recording_batch_stats() as stats:
            model = step.gan_pass(config, features["generator_inputs"],
                                  tf.zeros([16, 28, 28, 1]))
        count = lambda vs: sum(v.shape.num_elements() for v in vs)  # noqa: E731
        stat_floats = sum(2 * r.mean.shape.num_elements() for r in stats)
        return (1 + count(model.generator_variables) + stat_floats,
                1 + count(model.discriminator_variables))


def _gather_child(rank: int, addresses: list[str], repeats: int) -> None:
    from repro_app import cluster as cluster_lib

    os.environ.pop(cluster_lib.ENV, None)
    import tensorflow as tf

    import tf_determinism
    from mnist_gan import distributed
    from tf_determinism.collective import rank_ordered_gather

    tf.compat.v1.disable_eager_execution()
    sizes = _packed_sizes()
    cluster = cluster_lib.Cluster(tuple(addresses), rank)
    numerics = tf_determinism.Numerics()
    server = distributed.start_server(numerics, cluster)
    gather = rank_ordered_gather(2, timeout_seconds=60)
    with tf.device(cluster.device()):
        vectors = [tf.random.stateless_uniform([n], [rank, i]) for i, n in enumerate(sizes)]
        ops = tf.group(*[tf.reduce_sum(tf.stack(gather([v]))) for v in vectors])
    config = distributed.session_config(numerics, cluster)
    with tf.compat.v1.Session(server.target, config=config) as session:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            session.run(ops)
            times.append(time.perf_counter() - start)
    if rank == 0:
        print(f"GATHER {statistics.median(times[3:])} {sizes[0]} {sizes[1]}", flush=True)


def gather_seconds(repeats: int) -> tuple[float, int, int]:
    from repro_app.cluster import free_local_addresses

    addresses = free_local_addresses(2)
    procs = [subprocess.Popen(
        [sys.executable, "-c", "import cluster_steps; cluster_steps.main()",
         f"--gather_child={rank}", f"--addresses={','.join(addresses)}",
         f"--repeats={repeats}"], env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for rank in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    line = [ln for ln in outs[0][0].splitlines() if ln.startswith("GATHER ")]
    if not line:
        sys.exit(f"gather benchmark failed:\n{outs[0][1][-3000:]}")
    seconds, gen_floats, dis_floats = line[-1].split()[1:]
    return float(seconds), int(gen_floats), int(dis_floats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--data_dir", default="data")
    parser.add_argument("--gather_child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--addresses", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gather_child is not None:
        _gather_child(args.gather_child, args.addresses.split(","), args.repeats)
        return
    rates = {}
    for workers in (1, 2):
        rates[workers] = steps_per_second(workers, args.steps, args.warmup, args.data_dir)
        print(f"--local_workers={workers} --micro_batches=2: {rates[workers]:.2f} steps/s "
              f"(median of 10-step windows after step {args.warmup}; load avg "
              f"{os.getloadavg()[0]:.1f})", flush=True)
    print(f"W=2 / W=1 = {rates[2] / rates[1]:.3f}")
    seconds, gen_floats, dis_floats = gather_seconds(args.repeats)
    step_seconds = 1.0 / rates[2]
    print(f"the two gathers of a step ({gen_floats} + {dis_floats} float32 per process): "
          f"{seconds * 1000:.0f} ms median; W=2 step {step_seconds * 1000:.0f} ms; "
          f"communication share {seconds / step_seconds:.2f}")


if __name__ == "__main__":
    main()
