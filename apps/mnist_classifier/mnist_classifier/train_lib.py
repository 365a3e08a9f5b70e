"""The MNIST classifier experiment as importable functions: input, training, export.

``train.py`` only turns flags into ``ClassifierOptions`` and calls ``run_training``. A run dir
(default ``runs/mnist_classifier/seed<seed>``) ends up holding the Estimator checkpoints,
``run.json`` (what the numbers depend on), ``export/`` (the SavedModel that ``mnist_eval``
loads; seed 123's is where the GAN's ``--eval`` looks by default) and ``metrics.json`` (test
accuracy and the exported weights' sha256). An interrupted run resumes from its last
checkpoint: the input skips the batches already trained on (one per step) and dropout masks
are keyed by (dropout sub-seed, batch index), so it continues on the same stream.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf

import mnist_eval
import mnist_input.data
import tf_determinism
from mnist_classifier import model
from mnist_classifier.options import IDENTITY_TOO, ClassifierOptions
from mnist_classifier.progress import ProgressHook
from repro_app import NonFiniteLossError, data, run_dir
from repro_app.disk_full import CheckpointWatch, no_space_errors
from repro_app.graph_check import GraphAuditHook
from repro_app.preemption import Preemption
from repro_cluster import Cluster
from repro_cluster import member as member_lib
from repro_cluster.member import Member

METRICS_JSON = "metrics.json"
EXPORT_DIR = "export"


def make_train_input_fn(opts: ClassifierOptions, prepared: data.PreparedData,
                        start_batch: int, micro_range: tuple[int, int] | None = None):
    """Seeded batches: ({"images": float32 [rows, 28, 28, 1] in [-1, 1), "seed": int64},
    labels int64 [rows]) from batch ``start_batch`` of the run's stream on (one batch per step).

    "seed" keys the dropout masks: [seeds.dropout, batch index] (int64 [2]) for the whole
    batch at one micro-batch; with M > 1, one key per micro-batch i this process computes,
    [seeds.dropout, batch index, i] (int64 [local, 2]), so a mask does not depend on which
    process draws it. With `micro_range` (i, j): rows of micro-batches i..j-1 only.
    """
    seeds = tf_determinism.SeedTree.from_root(opts.random_seed)
    micro_batches = opts.model.micro_batches
    first, last = micro_range or (0, micro_batches)
    rows = opts.data.batch_size // micro_batches * (last - first)

    def to_features(batch: dict[str, tf.Tensor], index: tf.Tensor) -> Any:
        images = mnist_input.data.scale_images(batch["image"], rows)
        if micro_batches == 1:
            seed = tf_determinism.stateless_key(seeds.dropout, index)
        else:
            seed = tf.stack([tf_determinism.stateless_key(seeds.dropout, index, micro)
                             for micro in range(first, last)])
        return {mnist_eval.INPUT_KEY: images, "seed": seed}, batch["label"]

    return data.train_input_fn(prepared, data=opts.data, data_seed=seeds.data,
                               start_batch=start_batch, batch_map_fn=to_features,
                               micro_batches=micro_batches, micro_range=micro_range)


def _run_config(opts: ClassifierOptions, *, model_dir: str | None = None,
                writes: bool = True) -> tf.estimator.RunConfig:
    """The page's seeded RunConfig with the pinned session config (`tf_random_seed` reaches
    no op here: every draw is stateless, keyed by the seed tree). writes=False (a cluster's
    non-chief): no checkpoints, no summaries."""
    schedule = opts.schedule
    return tf.estimator.RunConfig(
        model_dir=model_dir or opts.model_dir, tf_random_seed=opts.random_seed,
        save_checkpoints_steps=schedule.save_checkpoints_steps if writes else None,
        keep_checkpoint_max=schedule.keep_checkpoint_max,
        save_summary_steps=schedule.save_summary_steps if writes else None,
        log_step_count_steps=None, session_config=tf_determinism.session_config(opts.numerics))


def make_estimator(opts: ClassifierOptions, member: Member | None = None, *,
                   model_dir: str | None = None, writes: bool = True) -> tf.estimator.Estimator:
    """The Estimator (of one member of a cluster: its run config, share and watchdog)."""
    run_config = _run_config(opts, model_dir=model_dir, writes=writes)
    model_fn = model.make_model_fn(
        tf_determinism.SeedTree.from_root(opts.random_seed).init, opts.schedule.max_train_steps,
        opts.model.learning_rate, opts.model.dropout_rate,
        micro_batches=opts.model.micro_batches,
        share=member_lib.micro_batch_share(member, opts.model.micro_batches))
    if member is None:
        return tf.estimator.Estimator(model_fn=model_fn, config=run_config)
    return tf.estimator.Estimator(model_fn=model_fn, config=member.run_config(run_config))


def export_classifier(estimator: tf.estimator.Estimator, export_dir: str) -> str:
    """Exports the latest checkpoint as the SavedModel ``mnist_eval`` loads, at export_dir.

    Exported to a temporary sibling and renamed into place, so export_dir is either the old or
    the new complete SavedModel, never a partial one.

    Returns:
      export_dir.
    """
    def serving_input_receiver_fn() -> tf.estimator.export.ServingInputReceiver:
        images = tf.compat.v1.placeholder(tf.float32, [None, 28, 28, 1],
                                          name=mnist_eval.INPUT_KEY)
        return tf.estimator.export.ServingInputReceiver(
            {mnist_eval.INPUT_KEY: images}, {mnist_eval.INPUT_KEY: images})

    parent = os.path.dirname(os.path.abspath(export_dir))
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        exported = os.fsdecode(estimator.export_saved_model(staging, serving_input_receiver_fn))
        if os.path.isdir(export_dir):
            old = os.path.join(staging, "old")
            os.replace(export_dir, old)
        os.replace(exported, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def _member_hooks(member: Member | None) -> list[tf.estimator.SessionRunHook]:
    return [member.watchdog()] if member is not None else []


def _train(estimator: tf.estimator.Estimator, opts: ClassifierOptions,
           prepared: data.PreparedData, step: int, log: Callable[[str], None],
           member: Member | None, preemption: Preemption) -> int | None:
    """Trains from `step` to max_train_steps; returns the step after which a signal stopped
    it (checkpointed), else None."""
    max_steps = opts.schedule.max_train_steps
    model_dir = str(opts.model_dir)
    log(f"{'resuming at' if step else 'starting'} step {step} of {max_steps} in {model_dir}")
    started = time.monotonic()
    hook = ProgressHook(step, max_steps, opts.schedule.log_step_count_steps,
                        opts.data.batch_size, log)
    stop = member_lib.preemption_hook(member, preemption)
    watch = CheckpointWatch()
    input_fn = make_train_input_fn(opts, prepared, step, member_lib.local_micro_range(
        member, opts.model.micro_batches))
    try:
        with no_space_errors(model_dir, watch, "events or graph.pbtxt"), \
                member_lib.lost_peer_errors(member):
            estimator.train(input_fn, max_steps=max_steps, saving_listeners=[watch], hooks=[
                GraphAuditHook("train", model_dir), hook, *_member_hooks(member), stop])
    except tf.compat.v1.train.NanLossDuringTrainingError:
        # Estimator's NanTensorHook checks the loss of every step for NaN.
        raise NonFiniteLossError(hook.step + 1, model.LOSS_NAME, "NaN",
                                 tf.train.latest_checkpoint(model_dir)) from None
    log(f"trained {hook.step - step} steps in {time.monotonic() - started:.0f} s")
    return stop.stopped_at


def _run_worker(opts: ClassifierOptions, log: Callable[[str], None],
                prepared: data.PreparedData, member: Member,
                preemption: Preemption) -> dict[str, Any]:
    """A non-chief member: trains its micro-batches, writing nothing to the run directory."""
    stop = member_lib.preemption_hook(member, preemption)

    def train(scratch: str, step: int) -> None:
        estimator = make_estimator(opts, member, model_dir=scratch, writes=False)
        input_fn = make_train_input_fn(opts, prepared, step, member_lib.local_micro_range(
        member, opts.model.micro_batches))
        estimator.train(input_fn, max_steps=opts.schedule.max_train_steps,
                        hooks=[GraphAuditHook("train", None), *_member_hooks(member), stop])

    step = member_lib.run_worker(member, str(opts.model_dir), train, log)
    if stop.stopped_at is not None:  # with the chief, which checkpointed that step
        raise preemption.error(stop.stopped_at, os.path.join(
            str(opts.model_dir), f"model.ckpt-{stop.stopped_at}"))
    return {"model_dir": str(opts.model_dir), "start_step": step,
            "end_step": opts.schedule.max_train_steps}


def run_training(opts: ClassifierOptions, log: Callable[[str], None],
                 cluster: Cluster | None = None) -> dict[str, Any]:
    """Trains (or resumes) to max_train_steps, exports, measures test accuracy. With
    `cluster`, this process is one member of it (repro_cluster.member): the chief does all of
    this, the others only train their share of the micro-batches.

    Returns:
      The metrics.json content: test_accuracy, test_correct, test_count, global_step,
      export_weights_sha256, export_dir (a non-chief: model_dir, start_step, end_step).

    Raises:
      repro_app.RunError: bad data input, or model_dir is not writable, busy, belongs to
        another run or holds no intact checkpoint.
      repro_app.NonFiniteLossError: the loss became NaN (everything before it is kept).
      repro_app.LostPeerError: a process of the cluster was lost.
      repro_app.PreemptedError: SIGTERM/SIGINT (to any process) stopped it after a step,
        which the chief checkpointed.
      repro_app.NoSpaceError: model_dir's file system is full (the partial write removed).
    """
    opts = opts.with_model_dir()  # fills in model_dir

    return member_lib.run_process(
        cluster, opts.numerics, log, lambda: mnist_input.data.prepare_mnist(opts.data, log),
        chief=functools.partial(_run_chief, opts, cluster, log),
        worker=functools.partial(_run_worker, opts, log))


def _run_chief(opts: ClassifierOptions, cluster: Cluster | None, log: Callable[[str], None],
               prepared: mnist_input.data.PreparedMnist, member: Member | None,
               preemption: Preemption) -> dict[str, Any]:
    """run_training in the process that writes the run directory."""
    model_dir = str(opts.model_dir)
    record = run_dir.run_json_content(opts, prepared, keep_identity=IDENTITY_TOO, extra={
        "cluster": cluster.run_json_entry() if cluster else {"workers": 1}})
    with run_dir.open_run_dir(model_dir, record, log) as step:
        if step < opts.schedule.max_train_steps:
            stopped_at = _train(make_estimator(opts, member), opts, prepared, step, log,
                                member, preemption)
            if stopped_at is not None:
                raise preemption.error(stopped_at, tf.train.latest_checkpoint(model_dir))
        else:
            log(f"{model_dir} is already at step {step}; nothing to train")
        estimator = make_estimator(opts)  # a local one: export and test need no cluster
        with no_space_errors(model_dir, what="the SavedModel"):
            export_dir = export_classifier(estimator, os.path.join(model_dir, EXPORT_DIR))
        images, labels = prepared.mnist.splits["test"]
        with mnist_eval.load_classifier(export_dir, opts.numerics) as classifier:
            logits = classifier.logits(mnist_eval.to_classifier_input(images))
        test_accuracy, correct = mnist_eval.accuracy(logits, labels)
        metrics = {
            "test_accuracy": test_accuracy, "test_correct": correct, "test_count": len(labels),
            "global_step": run_dir.restored_step(model_dir), "export_dir": EXPORT_DIR,
            "export_weights_sha256": mnist_eval.weights_sha256(export_dir),
        }
        with no_space_errors(model_dir, what=METRICS_JSON):
            tf_determinism.write_json_atomic(os.path.join(model_dir, METRICS_JSON), metrics)
    log(f"test accuracy {test_accuracy:.4f} ({correct}/{len(labels)}); SavedModel in "
        f"{export_dir}")
    return metrics
