"""What an app declares (`Experiment`), and what its parts are given (`Context`).

An app is a package `<name>` with three modules:

    options.py    its options: a `repro_app.RunOptions` subclass (no TensorFlow)
    train.py      `APP = repro_experiment.App("<name>", <Options>, <fn returning EXPERIMENT>)`
                  and `APP.main()` (no TensorFlow; see repro_experiment.cli)
    train_lib.py  `EXPERIMENT = repro_experiment.Experiment(...)`: its input, model, logged
                  scalars and results (imports TensorFlow; imported after the numerics pins)

The skeleton (`repro_experiment.runner`) does the rest, the same for every app: the run
directory (lock, identity, resume), losses.csv and the progress line, the graph audit, the
NaN/Inf stop, signals, a full disk, torn checkpoints, chief or worker of a cluster, and each
process's share of the micro-batches. No TensorFlow is imported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tf_determinism import SeedTree

if TYPE_CHECKING:  # imports TensorFlow
    from tf_determinism.reduce import MicroBatchShare

Log = Callable[[str], None]
# The sub-seeds of every run, besides the app's (its seed names may not reuse them).
SKELETON_SEEDS = ("data", "initializers")
# fn(batch {feature: [rows, ...] tensor}, global batch index int64) -> (features, labels).
BatchMap = Callable[[Any, Any], Any]


@dataclasses.dataclass(frozen=True)
class Context:
    """What an app's parts are given: one process's view of the run.

    Attributes:
      opts: the app's options (model_dir filled in).
      seeds: the run's seed tree: `data` and the sub-seeds the app named.
      prepared: what the app's `prepare` returned (its records, and e.g. held-out splits).
      share: this process's micro-batches of every global batch and the mean across the
        cluster's processes; None when it computes all of them (one process).
    """

    opts: Any
    seeds: SeedTree
    prepared: Any = None
    share: MicroBatchShare | None = None

    @property
    def micro_batches(self) -> int:
        """M, how many micro-batches a global batch is cut into (`--micro_batches`)."""
        return int(self.opts.model.micro_batches)

    @property
    def micro_range(self) -> tuple[int, int]:
        """[first, last) of the M micro-batches this process computes."""
        return (self.share.first, self.share.last) if self.share else (0, self.micro_batches)

    @property
    def rows(self) -> int:
        """The rows of each global batch this process gets (all of them, or its share's)."""
        first, last = self.micro_range
        return self.opts.data.batch_size // self.micro_batches * (last - first)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """An app's experiment: everything the skeleton cannot know (see the module docstring).

    Attributes:
      name: the app's package (`python -m <name>.train`; runs go to runs/<name>/<run_name>).
      seed_names: the sub-seeds the app draws from (`ctx.seeds.<name>`); the skeleton adds
        SKELETON_SEEDS ("data", "initializers"). run.json records all of them.
      prepare: fn(opts, log) -> repro_app.data.PreparedData: the training split written as
        seeded_input records (e.g. via mnist_input.data.prepare_mnist(opts.data, log)); every
        process calls it.
      batch_map: fn(ctx) -> BatchMap: the per-batch map of the seeded stream, giving the
        model's (features, labels) for `ctx.rows` rows.
      estimator: fn(ctx, run_config) -> tf.estimator.Estimator: the model, on the seeded
        RunConfig the skeleton made (it holds model_dir, the schedule, the pinned session and,
        in a cluster, this process's server and device). One `session.run` is one global
        step, which consumes one input batch.
      scalars: fn(ctx) -> {name: graph tensor name}: float32 scalars of the train graph logged
        each step (losses.csv columns, the progress line; NaN or Inf stops the run).
      results: fn(ctx, estimator, log) -> {file name: content}: end-of-run artifacts, written
        by the chief into model_dir atomically (bytes, str, or a JSON-able dict); the
        estimator is a local one on the latest checkpoint. Their names go into run.json
        (`results`), and `repro compare` compares them byte for byte.
      run_name: fn(opts) -> the default run directory's name, runs/<app>/<run_name>.
      resolve: fn(opts) -> opts with the app's defaults that depend on other options filled in
        (before run.json is written: the identity holds the resolved values).
    """

    name: str
    seed_names: tuple[str, ...]
    prepare: Callable[[Any, Log], Any]
    batch_map: Callable[[Context], BatchMap]
    estimator: Callable[[Context, Any], Any]
    scalars: Callable[[Context], Mapping[str, str]]
    results: Callable[[Context, Any, Log], Mapping[str, Any]] | None = None
    run_name: Callable[[Any], str] = lambda opts: f"seed{opts.random_seed}"
    resolve: Callable[[Any], Any] = lambda opts: opts

    def seeds(self, root: int) -> SeedTree:
        """The run's seed tree: the skeleton's "data" (the order of the input stream) and
        "initializers" (Keras initializers the model leaves unseeded, keyed by variable name),
        then the app's names."""
        return SeedTree.from_root(root, (*SKELETON_SEEDS, *self.seed_names))
