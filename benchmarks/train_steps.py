"""Training speed of the MNIST GAN as shipped against its variants (not a test).

Each variant trains in its own process (TF_ENABLE_ONEDNN_OPTS is read at import) on the same
real MNIST records, and reports steps/s as 1 / median step time over the timed steps after a
warm-up. A step is one global step: one generator update and one critic update.

* shipped:   the app's training (repro_experiment.runner.train) with its defaults (one
             session.run a step);
* tf_batchnorm, tf_l2_normalize, tf_log_gradients: shipped with one exact replacement
             swapped back for TF's own approximate formulation (Rsqrt, Reciprocal; the bits then
             follow the CPU vendor): what each replacement costs (the Log gradients exist only in
             the minimax and modified losses: use --loss=minimax);
* micro2:    shipped with --micro_batches=2 (two passes of 16 rows instead of one of 32);
* plain_tf2: the same step as plain TF 2.15 (tf.function, GradientTape; plain_tf2.py) under
             the shipped numerics pins (threads, AVX2, oneDNN): what the Estimator, TF-GAN
             and the determinism measures cost;
* bare:      tfgan.estimator.GANEstimator with the same networks, TF-GAN's stock losses and
             sequential hooks (four session.runs a step), Estimator's default RunConfig: no
             seed, no op determinism, no pinned threads, no loss recording;
* det_off:   shipped with op determinism off;
* onednn_flipped: shipped with TF_ENABLE_ONEDNN_OPTS flipped from the app's default;
* native:    shipped with --cpu_isa=native (oneDNN uses the CPU's best ISA; bits follow the CPU);
* avx512:    shipped with --cpu_isa=avx512_core;
* portable:  shipped with --numerics=portable (tf_determinism.portable's exact-slice matmuls
             and convolutions, fixed-formula transcendentals: the same bits on x86-64 and
             aarch64);
* pure_eigen: oneDNN off and TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL=false (no oneDNN call at
             all; ISA-independent, but Eigen's blocking still follows the cache sizes).

With the shipped variant it also times one manifest entry (repro_app.manifest_writer: every
tensor of a full-size checkpoint read and hashed) and prints it as a share of the steps between
two checkpoints at the default interval: the manifest's cost.

Targets: shipped >= 0.9 x plain_tf2, shipped >= 1.0 x bare, shipped (determinism on) >= 0.97
x det_off, portable >= 0.3 x shipped. The ISA variants
are printed as ratios to native: the cost of each pin.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import tf_determinism
from repro_app import ScheduleOptions

VARIANTS = (
    "shipped",
    "tf_batchnorm",
    "tf_l2_normalize",
    "tf_log_gradients",
    "micro2",
    "plain_tf2",
    "bare",
    "det_off",
    "onednn_flipped",
    "native",
    "avx512",
    "pure_eigen",
    "portable",
)
ISA_VARIANTS = ("shipped", "avx512", "pure_eigen")


def _numerics(variant: str) -> tf_determinism.Numerics:
    default = tf_determinism.Numerics()
    per_variant: dict[str, dict[str, object]] = {
        "det_off": {"deterministic": False},
        "onednn_flipped": {"onednn": not default.onednn},
        "native": {"cpu_isa": "native"},
        "avx512": {"cpu_isa": "avx512_core"},
        "pure_eigen": {"onednn": False},
        "portable": {"numerics": "portable"},
    }
    changes = per_variant.get(variant, {})
    return dataclasses.replace(default, **changes)


# What each exact replacement costs: the shipped step with one of them swapped back for TF's
# own (approximate, CPU-dependent) formulation. Benchmark only: the graph audit, which would
# refuse these graphs, is bypassed here.
APPROXIMATE_VARIANTS = ("tf_batchnorm", "tf_l2_normalize", "tf_log_gradients")


def _use_tf_approximation(variant: str) -> None:
    import contextlib

    import tensorflow as tf

    from tf_determinism import exact, graph_audit

    graph_audit.audit = lambda graph, **_: graph_audit.op_census(graph)
    if variant == "tf_batchnorm":
        exact.batch_normalization = lambda x, *, mean, variance, offset, scale, epsilon: (
            tf.nn.batch_normalization(x, mean, variance, offset, scale, epsilon)
        )
    elif variant == "tf_l2_normalize":
        exact.l2_normalize = lambda x, *, axis=None, epsilon=1e-12: tf.nn.l2_normalize(
            x, axis=axis, epsilon=epsilon
        )
    else:
        exact.exact_gradients = contextlib.nullcontext  # type: ignore[assignment]


def _child(
    variant: str, steps: int, data_dir: str, model_dir: str, loss: str | None = None
) -> list[float]:
    """Trains `steps` steps; returns the wall time of every step (seconds)."""
    numerics = _numerics(variant)
    if variant != "bare":  # bare: TensorFlow's own defaults, nothing pinned
        tf_determinism.configure_environment(numerics)
    if variant == "pure_eigen":  # not a pin the apps offer: the benchmark sets it itself
        os.environ["TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL"] = "false"
    import tensorflow as tf

    if variant == "plain_tf2":
        import plain_tf2

        tf_determinism.configure_tensorflow(numerics)
        ends = plain_tf2.step_times(steps)
        return [b - a for a, b in zip(ends, ends[1:], strict=False)]

    import mnist_input.data
    import repro_app.data
    from mnist_gan import train_lib
    from repro_experiment import runner

    if variant in APPROXIMATE_VARIANTS:
        _use_tf_approximation(variant)
    from mnist_gan.options import GanOptions

    class Timer(tf.estimator.SessionRunHook):
        def __init__(self) -> None:
            self.times: list[float] = []

        def after_run(self, run_context, run_values) -> None:
            self.times.append(time.perf_counter())

    timer = Timer()
    opts = repro_app.from_values(
        GanOptions,
        {
            **repro_app.flat(GanOptions(numerics=numerics)),
            "model_dir": model_dir,
            "data_dir": data_dir,
            "max_train_steps": steps,
            "save_checkpoints_steps": 10 * steps,
            "keep_checkpoint_max": 1,
            "save_summary_steps": 10 * steps,
            "micro_batches": 2 if variant == "micro2" else 1,
            "loss": loss,
        },
    )
    if variant != "bare":
        runner.train(train_lib.EXPERIMENT, opts, lambda _: None, extra_hooks=[timer])
    else:
        # (train_lib imported gan_models, which installs TF-GAN's Python 3.11 shim.)
        import tensorflow_gan as tfgan

        from gan_models import networks

        opts = runner.resolved(train_lib.EXPERIMENT, opts)
        ctx = runner.context(train_lib.EXPERIMENT, opts)
        config = train_lib.gan_config(opts, ctx.seeds)
        tf.get_logger().setLevel("ERROR")
        prepared = mnist_input.data.prepare_mnist(opts.data)
        estimator = tfgan.estimator.GANEstimator(
            generator_fn=lambda z, mode: networks.generator(z, config, mode == "train"),
            discriminator_fn=lambda x, z: networks.critic(x, z, config),
            generator_loss_fn=tfgan.losses.wasserstein_generator_loss,
            discriminator_loss_fn=tfgan.losses.wasserstein_discriminator_loss,
            generator_optimizer=tf.compat.v1.train.AdamOptimizer(config.resolved_gen_lr, 0.5),
            discriminator_optimizer=tf.compat.v1.train.AdamOptimizer(config.resolved_crit_lr, 0.5),
            config=tf.estimator.RunConfig(
                model_dir=model_dir,
                save_checkpoints_steps=10 * steps,
                save_summary_steps=10 * steps,
            ),
        )
        shipped_input = repro_app.data.train_input_fn(
            prepared,
            data=opts.data,
            data_seed=ctx.seeds.data,
            start_batch=0,
            batch_map_fn=train_lib.batch_map(ctx),
        )

        def bare_input() -> tf.data.Dataset:  # GANEstimator takes the generator inputs alone.
            return shipped_input().map(lambda features, x: (features["generator_inputs"], x))

        estimator.train(bare_input, max_steps=steps, hooks=[timer])
    return [b - a for a, b in zip(timer.times, timer.times[1:], strict=False)]


def _manifest_cost(model_dir: str) -> dict[str, float]:
    """The time to make one manifest entry (read and hash every tensor) of the run's latest
    checkpoint, its size and tensor count."""
    import glob

    from repro_app.manifest_writer import checkpoint_entry
    from run_compare.checkpoints import latest_checkpoint

    prefix = latest_checkpoint(model_dir)
    started = time.perf_counter()
    entry = checkpoint_entry(prefix, 0, {}, (-1, ""))
    return {
        "seconds": time.perf_counter() - started,
        "tensors": len(entry.tensors),
        "bytes": sum(os.path.getsize(p) for p in glob.glob(prefix + ".data-*")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="steps per variant")
    parser.add_argument("--warmup", type=int, default=30, help="untimed first steps")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--data_dir", default="data")
    parser.add_argument(
        "--loss",
        default=None,
        help="the GAN loss of every variant (default: the gan_type's; the Log "
        "gradients of tf_log_gradients are in minimax and modified only)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model_dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        times = _child(args.child, args.steps, args.data_dir, args.model_dir, args.loss)
        print("TIMES " + json.dumps(times))
        if args.child == "shipped":
            print("MANIFEST " + json.dumps(_manifest_cost(args.model_dir)))
        return

    results = {}
    for variant in args.variants.split(","):
        with tempfile.TemporaryDirectory() as model_dir:
            # A fresh interpreter importing what this one does (from a pex and from source).
            proc = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import train_steps; train_steps.main()",
                    f"--child={variant}",
                    f"--steps={args.steps}",
                    f"--data_dir={args.data_dir}",
                    *([f"--loss={args.loss}"] if args.loss else []),
                    f"--model_dir={model_dir}",
                ],
                env=tf_determinism.child_env(),
                capture_output=True,
                text=True,
                check=False,
            )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("TIMES ")]
        if proc.returncode != 0 or not lines:
            sys.exit(f"variant {variant} failed:\n{proc.stderr[-3000:]}")
        timed = json.loads(lines[-1][6:])[args.warmup :]
        results[variant] = 1.0 / statistics.median(timed)
        print(
            f"{variant:>15}: {results[variant]:.2f} steps/s (median of {len(timed)} steps; "
            f"load avg {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        for line in (ln for ln in proc.stdout.splitlines() if ln.startswith("MANIFEST ")):
            cost = json.loads(line[9:])
            interval = ScheduleOptions().save_checkpoints_steps
            share = cost["seconds"] / (interval / results[variant])
            print(
                f"manifest entry of one checkpoint ({cost['bytes'] / 1e6:.1f} MB, "
                f"{cost['tensors']} tensors): {cost['seconds']:.3f} s, {share:.4f} of the "
                f"{interval} steps between two checkpoints at the default interval "
                f"(ratio with / without the manifest: {1 / (1 + share):.4f})",
                flush=True,
            )
    if {"shipped", "plain_tf2"} <= results.keys():
        ratio = results["shipped"] / results["plain_tf2"]
        print(
            f"shipped / plain_tf2 = {ratio:.3f} (target >= 0.9): "
            f"{'met' if ratio >= 0.9 else 'NOT met'}"
        )
    if {"shipped", "micro2"} <= results.keys():
        print(f"micro_batches 2 / 1 = {results['micro2'] / results['shipped']:.3f}")
    if {"shipped", "bare"} <= results.keys():
        ratio = results["shipped"] / results["bare"]
        print(f"shipped / bare = {ratio:.3f} (target >= 1.0): {'met' if ratio >= 1 else 'NOT met'}")
    if {"shipped", "portable"} <= results.keys():
        ratio = results["portable"] / results["shipped"]
        print(
            f"portable / shipped = {ratio:.3f} (target >= 0.3): "
            f"{'met' if ratio >= 0.3 else 'NOT met'}"
        )
    if {"shipped", "det_off"} <= results.keys():
        ratio = results["shipped"] / results["det_off"]
        print(
            f"determinism on / off = {ratio:.3f} (target >= 0.97): "
            f"{'met' if ratio >= 0.97 else 'NOT met'}"
        )
    if "native" in results:
        for variant in (v for v in ISA_VARIANTS if v in results):
            label = "avx2 (shipped)" if variant == "shipped" else variant
            print(f"{label} / native = {results[variant] / results['native']:.3f}")
    if {"shipped", "onednn_flipped"} <= results.keys():
        print(
            f"oneDNN {'on' if tf_determinism.Numerics().onednn else 'off'} (default) / flipped = "
            f"{results['shipped'] / results['onednn_flipped']:.3f}"
        )


if __name__ == "__main__":
    main()
