"""The MNIST GAN experiment as importable functions: input, estimator, training, samples.

`train.py` only turns flags into `GanOptions` and calls `run_experiment`; tests call these
functions with explicit options (flags are never parsed under pytest).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

import gan_models
import mnist_input.data
import tf_determinism
from mnist_gan.hooks import LossRecorderHook
from mnist_gan.options import GanOptions
from mnist_gan.samples import write_samples_png
from repro_app import NonFiniteLossError, data, run_dir
from repro_app.disk_full import CheckpointWatch, no_space_errors
from repro_app.graph_check import GraphAuditHook
from repro_app.preemption import Preemption
from repro_cluster import Cluster
from repro_cluster import member as member_lib
from repro_cluster.collectives import MicroBatchMean
from repro_cluster.member import Member
from run_record import LossesWriter, truncate_losses, update_run_json

SAMPLE_ROWS, SAMPLE_COLS = 10, 10


def resolved(opts: GanOptions) -> GanOptions:
    """opts with the gan_type's default loss and the default model_dir,
    runs/mnist_gan/<gan_type>-<loss>-seed<seed>, filled in where not given."""
    model = opts.model
    loss = gan_models.GANConfig(gan_type=model.gan_type, loss=model.loss).resolved_loss
    model_dir = opts.model_dir or os.path.join(
        "runs", "mnist_gan", f"{model.gan_type}-{loss}-seed{opts.random_seed}")
    return dataclasses.replace(opts, model=dataclasses.replace(model, loss=loss),
                               model_dir=model_dir)


def gan_config(opts: GanOptions) -> gan_models.GANConfig:
    """The gan_models configuration: the model options plus the run's seed tree."""
    return gan_models.GANConfig(**dataclasses.asdict(opts.model),
                                seeds=tf_determinism.SeedTree.from_root(opts.random_seed))


def make_train_input_fn(opts: GanOptions, config: gan_models.GANConfig,
                        prepared: data.PreparedData, start_batch: int,
                        micro_range: tuple[int, int] | None = None):
    """The reference page's `extended_input_fn`, on seeded_input.

    Batch k becomes (features, real images): X = (pixels - 128) / 128 as float32
    [B, 28, 28, 1] in [-1, 1), plus `gan_models.training_features`: the generator noise (and
    InfoGAN codes, or one-hot labels for the conditional GAN) of each micro-batch, drawn
    statelessly from (seeds.noise, k, micro-batch), and k: parallel maps, resumes and the
    process computing a micro-batch cannot change them. With `micro_range` (i, j): only the
    rows of micro-batches i..j-1 (one process of a cluster).
    """
    batch_size = opts.data.batch_size
    first, last = micro_range or (0, config.micro_batches)
    rows = batch_size // config.micro_batches * (last - first)

    def add_noise_and_swap(batch: dict[str, tf.Tensor], index: tf.Tensor) -> Any:
        one_hot = None
        if config.gan_type == "conditional":
            one_hot = tf.one_hot(batch["label"], config.num_classes, dtype=tf.float32)
        features = gan_models.training_features(config, batch_size=batch_size,
                                                batch_index=index, one_hot_labels=one_hot,
                                                micro_range=micro_range)
        return features, mnist_input.data.scale_images(batch["image"], rows)

    return data.train_input_fn(prepared, data=opts.data, data_seed=config.seeds.data,
                               start_batch=start_batch, batch_map_fn=add_noise_and_swap,
                               micro_batches=config.micro_batches, micro_range=micro_range)


def make_run_config(opts: GanOptions, *, model_dir: str | None = None,
                    writes: bool = True) -> tf.estimator.RunConfig:
    """The page's seeded RunConfig, plus the pinned session config.

    `tf_random_seed` is the page's; it reaches only unseeded stateful ops, and every draw here
    is stateless and keyed by the seed tree, so it changes nothing (kept as the page has it).
    writes=False (a cluster's non-chief): no checkpoints, no summaries.
    """
    schedule = opts.schedule
    return tf.estimator.RunConfig(
        model_dir=model_dir or opts.model_dir,
        tf_random_seed=opts.random_seed,
        save_summary_steps=schedule.save_summary_steps if writes else None,
        save_checkpoints_steps=schedule.save_checkpoints_steps if writes else None,
        save_checkpoints_secs=None,
        keep_checkpoint_max=schedule.keep_checkpoint_max,
        # The app logs its own progress (losses, steps/s, ETA); Estimator's would duplicate it.
        log_step_count_steps=None,
        session_config=tf_determinism.session_config(opts.numerics),
    )


def _estimator(opts: GanOptions, config: gan_models.GANConfig, member: Member | None,
               share: gan_models.MicroBatchShare | None = None, *, model_dir: str | None = None,
               writes: bool = True) -> tf.estimator.Estimator:
    """gan_models' Estimator; for a member of a cluster, its run config, its share of the
    micro-batches (of several processes) and the watchdog."""
    run_config = make_run_config(opts, model_dir=model_dir, writes=writes)
    if member is None:
        return gan_models.make_estimator(config, run_config)
    return gan_models.make_estimator(config, member.run_config(run_config), share=share,
                                     training_hooks=[member.watchdog()])


def generate_samples(estimator: tf.estimator.Estimator, config: gan_models.GANConfig,
                     model_dir: str) -> np.ndarray:
    """Generated images float32 [rows*cols, 28, 28, 1] in [-1, 1] for the fixed sample grid
    (the predict graph audited, its census in model_dir's run.json)."""
    inputs = gan_models.sample_generator_inputs(config, SAMPLE_ROWS, SAMPLE_COLS)
    images = estimator.predict(gan_models.predict_input_fn(inputs), yield_single_examples=False,
                               hooks=[GraphAuditHook("predict", model_dir)])
    return np.concatenate(list(images), axis=0)


def _train(estimator: tf.estimator.Estimator, opts: GanOptions, config: gan_models.GANConfig,
           prepared: data.PreparedData, step: int, hooks: Sequence[tf.estimator.SessionRunHook],
           member: Member | None, preemption: Preemption,
           watch: CheckpointWatch | None = None) -> int | None:
    """estimator.train from global step `step` to max_train_steps (each global step consumes
    BATCHES_PER_STEP batches: the ones trained on are skipped).

    Returns:
      The step after which a signal stopped it (checkpointed by the chief), else None.
    """
    input_fn = make_train_input_fn(opts, config, prepared, step * gan_models.BATCHES_PER_STEP,
                                   member_lib.local_micro_range(member, config.micro_batches))
    stop = member_lib.preemption_hook(member, preemption)
    with member_lib.lost_peer_errors(member):
        estimator.train(input_fn, max_steps=opts.schedule.max_train_steps,
                        hooks=[*hooks, stop], saving_listeners=[watch] if watch else None)
    return stop.stopped_at


def _train_chief(estimator: tf.estimator.Estimator, opts: GanOptions,
                 config: gan_models.GANConfig, prepared: data.PreparedData, step: int,
                 log: Callable[[str], None], extra_hooks: Sequence[tf.estimator.SessionRunHook],
                 member: Member | None, preemption: Preemption) -> int | None:
    """`_train` that records losses.csv and the train graph's census; a NaN/Inf loss ends it
    with NonFiniteLossError (found by the step's check op, gan_models.non_finite_loss), a full
    disk with NoSpaceError."""
    model_dir = str(opts.model_dir)
    loss_names = gan_models.loss_tensor_names(config)
    watch = CheckpointWatch()
    with no_space_errors(model_dir, watch, "losses.csv, events or graph.pbtxt"):
        writer = LossesWriter(os.path.join(model_dir, "losses.csv"), list(loss_names))
        hook = LossRecorderHook(writer, loss_names, opts.schedule.max_train_steps,
                                opts.schedule.log_step_count_steps, log)
        try:
            return _train(estimator, opts, config, prepared, step,
                          [GraphAuditHook("train", model_dir), hook, *extra_hooks], member,
                          preemption, watch)
        except tf.errors.InvalidArgumentError as e:
            found = gan_models.non_finite_loss(e.op)
            if found is None:
                raise
            raise NonFiniteLossError(hook.step + 1, *found,
                                     tf.train.latest_checkpoint(model_dir)) from None
        finally:
            writer.close()


def _run_worker(opts: GanOptions, config: gan_models.GANConfig, log: Callable[[str], None],
                prepared: data.PreparedData, member: Member,
                preemption: Preemption) -> dict[str, Any]:
    """A non-chief member: trains its micro-batches, writing nothing to the run directory."""
    stopped: list[int | None] = []

    def train(scratch: str, step: int) -> None:
        share = member_lib.micro_batch_share(member, config.micro_batches)
        estimator = _estimator(opts, config, member, share,
                               model_dir=scratch, writes=False)
        stopped.append(_train(estimator, opts, config, prepared, step,
                              [GraphAuditHook("train", None)], member, preemption))

    step = member_lib.run_worker(member, str(opts.model_dir), train, log)
    if stopped and stopped[0] is not None:  # with the chief, which checkpointed that step
        raise preemption.error(stopped[0], os.path.join(str(opts.model_dir),
                                                        f"model.ckpt-{stopped[0]}"))
    # train() returns only at max_train_steps (this scratch dir holds no newer checkpoint).
    return {"model_dir": str(opts.model_dir), "start_step": step,
            "end_step": opts.schedule.max_train_steps}


def run_experiment(opts: GanOptions, log: Callable[[str], None],
                   extra_hooks: Sequence[tf.estimator.SessionRunHook] = (),
                   cluster: Cluster | None = None) -> dict[str, Any]:
    """Trains (or resumes) the GAN to max_train_steps; writes the run directory.

    extra_hooks (e.g. a benchmark's timer) run after the loss recorder. With `cluster`, this
    process is one member of it (repro_cluster.member): the chief does all of the below, the
    others only train their share.

    Returns:
      A summary: model_dir, start_step (where this call began), end_step.

    Raises:
      repro_app.RunError: bad data input, or model_dir is not writable, busy, belongs to
        another run or holds no intact checkpoint.
      repro_app.NonFiniteLossError: a loss became NaN or Inf (everything before it is kept).
      repro_app.LostPeerError: a process of the cluster was lost.
      repro_app.PreemptedError: SIGTERM/SIGINT (to any process of the cluster) stopped it
        after a step, which the chief checkpointed.
      repro_app.NoSpaceError: model_dir's file system is full (the partial write removed).
    """
    opts = resolved(opts)  # fills in model_dir
    config = gan_config(opts)

    return member_lib.run_process(
        cluster, opts.numerics, log, lambda: mnist_input.data.prepare_mnist(opts.data, log),
        chief=functools.partial(_run_chief, opts, config, cluster, log, extra_hooks),
        worker=functools.partial(_run_worker, opts, config, log))


def _run_chief(opts: GanOptions, config: gan_models.GANConfig, cluster: Cluster | None,
               log: Callable[[str], None], extra_hooks: Sequence[tf.estimator.SessionRunHook],
               prepared: data.PreparedData, member: Member | None,
               preemption: Preemption) -> dict[str, Any]:
    """run_experiment in the process that writes the run directory."""
    model_dir = str(opts.model_dir)
    record = run_dir.run_json_content(opts, prepared, extra={
        "batches_per_step": gan_models.BATCHES_PER_STEP,
        "cluster": cluster.run_json_entry() if cluster else {"workers": 1}})
    max_steps = opts.schedule.max_train_steps
    with run_dir.open_run_dir(model_dir, record, log) as step:
        # Rows written after the last checkpoint (a crash) are recomputed now: drop them first.
        with no_space_errors(model_dir, what="losses.csv"):
            truncate_losses(os.path.join(model_dir, "losses.csv"), step)
        if step < max_steps:
            log(f"{'resuming at' if step else 'starting'} step {step} of {max_steps} in "
                f"{model_dir}")
            share = member_lib.micro_batch_share(member, config.micro_batches)
            stopped_at = _train_chief(_estimator(opts, config, member, share), opts, config,
                                      prepared, step, log, extra_hooks, member, preemption)
            if share is not None and isinstance(share.mean, MicroBatchMean):
                # What one step's collectives move, per process (their tensors' sizes).
                with no_space_errors(model_dir, what="run.json"):
                    update_run_json(model_dir, ("cluster", "per_step"), {
                        "method": share.mean.method, **dataclasses.asdict(share.mean.traffic)})
            if stopped_at is not None:
                raise preemption.error(stopped_at, tf.train.latest_checkpoint(model_dir))
        else:
            log(f"{model_dir} is already at step {step}; nothing to train")
        end_step = run_dir.restored_step(model_dir)
        samples_path = os.path.join(model_dir, "samples.png")
        # A local Estimator: the samples need no cluster (the others may have exited).
        local = _estimator(opts, config, None)
        with no_space_errors(model_dir, what="samples.png"):
            write_samples_png(samples_path, images=generate_samples(local, config, model_dir),
                              n_rows=SAMPLE_ROWS, n_cols=SAMPLE_COLS,
                              title=f"{config.gan_type} / {config.resolved_loss} / seed "
                              f"{opts.random_seed} / step {end_step}")
        log(f"wrote {samples_path}")
    return {"model_dir": model_dir, "start_step": step, "end_step": end_step}
