"""The skeleton's run of an app's `Experiment`, the same for every app (imports TensorFlow).

`train(experiment, opts, log, cluster)` trains (or resumes) to `--max_train_steps`:

  every process   TensorFlow pinned; in a cluster, its gRPC server (repro_cluster.member); the
                  app's records prepared; SIGTERM/SIGINT turned into a stop after the step
                  (repro_app.preemption); its share of each batch's micro-batches
  the chief       locks the run directory and refuses another run's (repro_app.run_dir), falls
                  back from a torn newest checkpoint, writes run.json, drops the losses.csv
                  rows after the restored checkpoint, trains with the scalars hook
                  (repro_app.progress: losses.csv, progress, NaN/Inf), the graph audit, the
                  disk-full watch and the manifest of every checkpoint
                  (repro_app.manifest_writer), then writes the app's results
  the others      train their share from the chief's latest checkpoint, writing nothing there

Every fault is a `repro_app.RunError` of its own exit status (see repro_app.errors).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import tensorflow as tf

import tf_determinism
from repro_app import NonFiniteLossError, RunError, data, run_dir
from repro_app.disk_full import CheckpointWatch, no_space_errors
from repro_app.graph_check import GraphAuditHook
from repro_app.manifest_writer import ManifestRecorder, record_missing
from repro_app.preemption import Preemption
from repro_app.progress import StepScalarsHook
from repro_cluster import Cluster
from repro_cluster import member as member_lib
from repro_cluster.collectives import MicroBatchMean
from repro_cluster.member import Member
from repro_experiment.experiment import Context, Experiment
from run_record import LossesWriter, truncate_losses, update_run_json
from run_record.losses_csv import LOSSES_CSV
from run_record.manifest import ManifestError
from tf_determinism import internals
from tf_determinism.initializers import with_seeded_keras_initializers

Log = Callable[[str], None]
Hooks = Sequence[tf.estimator.SessionRunHook]


def resolved(experiment: Experiment, opts: Any) -> Any:
    """opts with the app's resolved defaults and the default model_dir where none was given:
    runs/<app>/<run name>, or runs/<app>/<run name>-portable with --numerics=portable (the
    other mode's run is another run)."""
    opts = experiment.resolve(opts)
    if opts.model_dir:
        return opts
    name = experiment.run_name(opts)
    if opts.numerics.numerics != "fast":
        name = f"{name}-{opts.numerics.numerics}"
    return dataclasses.replace(opts, model_dir=os.path.join("runs", experiment.name, name))


def run_config(
    opts: Any, *, model_dir: str | None = None, writes: bool = True, member: Member | None = None
) -> tf.estimator.RunConfig:
    """The reference page's seeded RunConfig, plus the pinned session config.

    `tf_random_seed` is the page's; it reaches only unseeded stateful ops, and every draw here
    is stateless and keyed by the seed tree, so it changes nothing (kept as the page has it).
    writes=False (a cluster's non-chief): no checkpoints, no summaries. With `member`: on
    this process's server and CPU.
    """
    schedule = opts.schedule
    config = tf.estimator.RunConfig(
        model_dir=model_dir or opts.model_dir,
        tf_random_seed=opts.random_seed,
        save_summary_steps=schedule.save_summary_steps if writes else None,
        save_checkpoints_steps=schedule.save_checkpoints_steps if writes else None,
        save_checkpoints_secs=None,
        keep_checkpoint_max=schedule.keep_checkpoint_max,
        # The scalars hook logs progress (losses, steps/s, ETA); Estimator's would repeat it.
        log_step_count_steps=None,
        session_config=tf_determinism.session_config(opts.numerics),
    )
    return member.run_config(config) if member is not None else config


def context(
    experiment: Experiment, opts: Any, prepared: Any = None, member: Member | None = None
) -> Context:
    """This process's Context: the seed tree, the prepared data and its share of the
    micro-batches."""
    return Context(
        opts,
        experiment.seeds(opts.random_seed),
        prepared,
        member_lib.micro_batch_share(member, opts.model.micro_batches),
    )


class AuditedEstimator:
    """The app's Estimator whose `predict` graphs are audited (their census in run.json)."""

    def __init__(self, estimator: tf.estimator.Estimator, model_dir: str) -> None:
        self._estimator, self._model_dir = estimator, model_dir

    def predict(self, input_fn: Any, **kwargs: Any) -> Any:
        hooks = [*(kwargs.pop("hooks", None) or []), GraphAuditHook("predict", self._model_dir)]
        return self._estimator.predict(input_fn, hooks=hooks, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._estimator, name)


def train(
    experiment: Experiment,
    opts: Any,
    log: Log,
    cluster: Cluster | None = None,
    extra_hooks: Hooks = (),
) -> dict[str, Any]:
    """Trains (or resumes) the experiment to max_train_steps; writes the run directory.

    Args:
      experiment: the app's declaration.
      opts: its options (`resolved` is applied).
      log: progress lines.
      cluster: this process's TF_CONFIG cluster (None: one process).
      extra_hooks: run after the scalars hook (e.g. a benchmark's timer).

    Returns:
      model_dir, start_step (where this call began), end_step.

    Raises:
      repro_app.RunError: bad data, or model_dir not writable, busy, of another run or with no
        intact checkpoint (2); NonFiniteLossError (3), LostPeerError (4), PreemptedError (5),
        NoSpaceError (6).
    """
    opts = resolved(experiment, opts)
    return member_lib.run_process(
        cluster,
        opts.numerics,
        log,
        lambda: experiment.prepare(opts, log),
        chief=functools.partial(_run_chief, experiment, opts, cluster, log, extra_hooks),
        worker=functools.partial(_run_worker, experiment, opts, log),
    )


def _fit(
    experiment: Experiment,
    ctx: Context,
    step: int,
    *,
    model_dir: str,
    writes: bool,
    hooks: Hooks,
    member: Member | None,
    preemption: Preemption,
    listeners: Sequence[Any] = (),
) -> int | None:
    """estimator.train from global step `step` (the input skips the batches trained on) to
    the schedule's stop step. Returns the step after which a signal stopped it, else None."""
    opts = ctx.opts
    estimator = _estimator(
        experiment, ctx, run_config(opts, model_dir=model_dir, writes=writes, member=member)
    )
    input_fn = data.train_input_fn(
        ctx.prepared,
        data=opts.data,
        data_seed=ctx.seeds.data,
        start_batch=step,
        batch_map_fn=experiment.batch_map(ctx),
        micro_batches=ctx.micro_batches,
        micro_range=ctx.micro_range if ctx.share else None,
    )
    stop = member_lib.preemption_hook(member, preemption)
    watchdog = [member.watchdog()] if member is not None else []
    with member_lib.lost_peer_errors(member):
        estimator.train(
            input_fn,
            max_steps=opts.schedule.stop_step,
            hooks=[*hooks, *watchdog, stop],
            saving_listeners=list(listeners),
        )
    return stop.stopped_at


def _estimator(
    experiment: Experiment, ctx: Context, config: tf.estimator.RunConfig
) -> tf.estimator.Estimator:
    """The app's Estimator, whose graphs build under seeded Keras initializers: an initializer
    the model left unseeded (Keras' default) is keyed by (the run's `initializers` seed, the
    variable's name), as tf_determinism's own are, not by a seed Python draws per process."""
    return internals.wrap_model_fn(
        experiment.estimator(ctx, config),
        lambda model_fn: with_seeded_keras_initializers(model_fn, ctx.seeds.initializers),
    )


def _scalars_hook(
    scalars: Mapping[str, str], ctx: Context, log: Log, writer: LossesWriter | None = None
) -> StepScalarsHook:
    schedule = ctx.opts.schedule
    return StepScalarsHook(
        scalars,
        model_dir=str(ctx.opts.model_dir),
        max_steps=schedule.stop_step,
        log_every=schedule.log_step_count_steps,
        log=log,
        writer=writer,
    )


def _train_chief(
    experiment: Experiment,
    ctx: Context,
    step: int,
    log: Log,
    extra_hooks: Hooks,
    member: Member | None,
    preemption: Preemption,
) -> int | None:
    """_fit with losses.csv, progress, the NaN/Inf stop, the audit, the disk watch and the
    manifest."""
    model_dir = str(ctx.opts.model_dir)
    watch = CheckpointWatch()
    manifest = ManifestRecorder(model_dir, ctx.opts.schedule.keep_checkpoints_every)
    with no_space_errors(model_dir, watch, "losses.csv, events or graph.pbtxt"):
        names = experiment.scalars(ctx)
        writer = LossesWriter(os.path.join(model_dir, LOSSES_CSV), list(names))
        scalars = _scalars_hook(names, ctx, log, writer)
        try:
            return _fit(
                experiment,
                ctx,
                step,
                model_dir=model_dir,
                writes=True,
                hooks=[GraphAuditHook("train", model_dir), scalars, manifest, *extra_hooks],
                member=member,
                preemption=preemption,
                listeners=[watch, manifest.listener],
            )
        except tf.compat.v1.train.NanLossDuringTrainingError:
            # Estimator's own check of the spec's loss, when the app does not log it.
            raise NonFiniteLossError(
                scalars.step + 1, "loss", "NaN", tf.train.latest_checkpoint(model_dir)
            ) from None
        finally:
            writer.close()


def _run_chief(
    experiment: Experiment,
    opts: Any,
    cluster: Cluster | None,
    log: Log,
    extra_hooks: Hooks,
    prepared: data.PreparedData,
    member: Member | None,
    preemption: Preemption,
) -> dict[str, Any]:
    """The process that writes the run directory."""
    model_dir, max_steps = str(opts.model_dir), opts.schedule.stop_step
    ctx = context(experiment, opts, prepared, member)
    record = run_dir.run_json_content(
        opts,
        prepared,
        ctx.seeds,
        keep_identity=type(opts).IDENTITY_TOO,
        extra={
            "app": experiment.name,
            "cluster": cluster.run_json_entry() if cluster else {"workers": 1},
        },
    )
    with run_dir.open_run_dir(model_dir, record, log) as step:
        # Rows written after the last checkpoint (a crash) are recomputed now: drop them first.
        with no_space_errors(model_dir, what=LOSSES_CSV):
            truncate_losses(os.path.join(model_dir, LOSSES_CSV), step)
        with no_space_errors(model_dir, what="manifest.json"), _manifest_errors():
            record_missing(model_dir)  # a crash between a checkpoint and its entry
        if step < max_steps:
            log(
                f"{'resuming at' if step else 'starting'} step {step} of {max_steps} in "
                f"{model_dir}"
            )
            with _manifest_errors():
                stopped_at = _train_chief(
                    experiment, ctx, step, log, extra_hooks, member, preemption
                )
            _record_traffic(ctx, model_dir)
            if stopped_at is not None:
                raise preemption.error(stopped_at, tf.train.latest_checkpoint(model_dir))
        else:
            log(f"{model_dir} is already at step {step}; nothing to train")
        if max_steps == opts.schedule.max_train_steps:  # not a segment (--train_until)
            _write_results(experiment, dataclasses.replace(ctx, share=None), log)
        return {
            "model_dir": model_dir,
            "start_step": step,
            "end_step": run_dir.restored_step(model_dir),
        }


@contextlib.contextmanager
def _unseeded_draws(where: str) -> Iterator[None]:
    """TF's error for an unseeded random op run eagerly (op determinism is on) becomes one line
    naming the call and the stateless draw to use, exit 2 (the checkpoints stay: the same
    command, once fixed, writes the results without training)."""
    try:
        yield
    except RuntimeError as e:
        if "Random ops require a seed" not in str(e):
            raise
        raise RunError(f"{where}: {_unseeded_call(e)}") from None


def _unseeded_call(error: BaseException) -> str:
    """'an unseeded random op (text_lm/train_lib.py:93: tf.random.normal([2])) ...': the app's
    line that called into TensorFlow."""
    frames = traceback.extract_tb(error.__traceback__)
    library = ("/tensorflow/", "/keras/", "/tf_keras/")
    callers = [f for f in frames if not any(part in f.filename for part in library)]
    code = (callers[-1].line or "").split("  #")[0] if callers else ""
    at = f" ({_short(callers[-1].filename)}:{callers[-1].lineno}: {code})"
    return (
        f"an unseeded random op{at if callers else ''} draws from this process's state, not "
        "the run's; draw with tf.random.stateless_* and seed=tf_determinism.stateless_key("
        "ctx.seeds.<name>, i) (a sub-seed the app names)"
    )


def _short(path: str) -> str:
    """A source path from its package on (apps/x/x/train_lib.py -> x/train_lib.py)."""
    parts = path.split(os.sep)
    return os.sep.join(parts[-2:])


@contextlib.contextmanager
def _manifest_errors() -> Iterator[None]:
    try:
        yield
    except ManifestError as e:
        raise RunError(str(e)) from None


def _record_traffic(ctx: Context, model_dir: str) -> None:
    """What one step's collectives move, per process (their tensors' sizes), into run.json."""
    if ctx.share is None or not isinstance(ctx.share.mean, MicroBatchMean):
        return
    with no_space_errors(model_dir, what="run.json"):
        update_run_json(
            model_dir,
            ("cluster", "per_step"),
            {"method": ctx.share.mean.method, **dataclasses.asdict(ctx.share.mean.traffic)},
        )


def _write_results(experiment: Experiment, ctx: Context, log: Log) -> None:
    """The app's end-of-run results, from a local Estimator (the cluster may be gone), written
    atomically; their names go into run.json."""
    if experiment.results is None:
        return
    model_dir = str(ctx.opts.model_dir)
    estimator = AuditedEstimator(_estimator(experiment, ctx, run_config(ctx.opts)), model_dir)
    with no_space_errors(model_dir, what="the results"), _unseeded_draws("results()"):
        results = experiment.results(ctx, estimator, log)
        for name, content in results.items():
            path = os.path.join(model_dir, name)
            if isinstance(content, bytes):
                tf_determinism.write_bytes_atomic(path, content)
            elif isinstance(content, str):
                tf_determinism.write_text_atomic(path, content)
            else:
                tf_determinism.write_json_atomic(path, content)
            log(f"wrote {path}")
        update_run_json(model_dir, ("results",), sorted(results))


def _run_worker(
    experiment: Experiment,
    opts: Any,
    log: Log,
    prepared: data.PreparedData,
    member: Member,
    preemption: Preemption,
) -> dict[str, Any]:
    """A non-chief member: trains its micro-batches, writing nothing to the run directory."""
    ctx = context(experiment, opts, prepared, member)
    stopped: list[int | None] = []

    def fit(scratch: str, step: int) -> None:
        hooks = [GraphAuditHook("train", None), _scalars_hook(experiment.scalars(ctx), ctx, log)]
        stopped.append(
            _fit(
                experiment,
                ctx,
                step,
                model_dir=scratch,
                writes=False,
                hooks=hooks,
                member=member,
                preemption=preemption,
            )
        )

    model_dir = str(opts.model_dir)
    step = member_lib.run_worker(member, model_dir, fit, log)
    if stopped and stopped[0] is not None:  # with the chief, which checkpointed that step
        raise preemption.error(stopped[0], os.path.join(model_dir, f"model.ckpt-{stopped[0]}"))
    # fit() returns only at the stop step (its scratch dir holds no newer checkpoint).
    return {"model_dir": model_dir, "start_step": step, "end_step": opts.schedule.stop_step}
