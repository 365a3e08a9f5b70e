"""Option groups every training app shares: its data input, its schedule, its model's
micro-batches, and the run itself.

Nothing here knows a dataset or a model: an app on a dataset extends `DataOptions` with that
dataset's own flags (`mnist_input.MnistDataOptions` adds `--mnist_idx_dir`) and declares it as
its `data` group; its `model` group extends `ModelOptions`. An app that wants other defaults
says so in its options class (`FLAG_DEFAULTS`; the classifier does).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from repro_app.options import Checked, from_values, option
from tf_determinism import Numerics

COMPRESSIONS = ("NONE", "GZIP", "ZLIB")


@dataclasses.dataclass(frozen=True)
class DataOptions(Checked):
    """Where the training records are kept and how the seeded stream is cut."""

    data_dir: str = option(
        "data",
        "Where the training TFRecords are kept (one directory per data source and compression).",
        nonempty=True,
        resumable=True,
    )
    batch_size: int = option(
        32,
        "Examples per batch (a global batch: all micro-batches and processes together).",
        lower_bound=1,
    )
    buffer_size: int = option(10000, "Shuffle window (records).", lower_bound=1)
    num_parallel: int = option(
        2,
        "Parallel record reads/parses (does not change the stream).",
        lower_bound=1,
        resumable=True,
    )
    compression: str = option(
        "NONE",
        "TFRecord compression (does not change the stream).",
        choices=COMPRESSIONS,
        resumable=True,
    )

    @classmethod
    def quick_data(cls, directory: str) -> dict[str, Any]:
        """A small sample of this group's dataset, written under `directory` (which exists), as
        {leaf name: value} for the group's flags: what the tests run every app on. A dataset's
        group (MnistDataOptions, the text LM's) implements it; the shared one has no dataset."""
        raise NotImplementedError(f"{cls.__name__} has no dataset: it cannot write quick data")

    def record_dir(self, source: str) -> str:
        """`<data_dir>/<source>/<compression>`: where a data source's records are kept; another
        source or --compression gets its own directory, so it writes its own set instead of
        being refused by another's (seeded_input.write_records reuses only an identical set)."""
        return os.path.join(self.data_dir, source, self.compression.lower())


@dataclasses.dataclass(frozen=True)
class ScheduleOptions(Checked):
    """How long to train and how often to save and log (none of it changes a number)."""

    max_train_steps: int = option(
        1000, "Train until this global step.", lower_bound=1, resumable=True
    )
    save_checkpoints_steps: int = option(500, "Checkpoint interval.", lower_bound=1, resumable=True)
    keep_checkpoint_max: int = option(
        2, "Checkpoints kept (older ones are deleted).", lower_bound=1, resumable=True
    )
    keep_checkpoints_every: int = option(
        0,
        "Also keep every checkpoint whose step is a multiple of this (hard links in "
        "<model_dir>/archive/, which --keep_checkpoint_max does not delete): the starting points "
        "of every segment `repro verify` may re-execute, for runs meant to be published. 0: "
        "none.",
        lower_bound=0,
        resumable=True,
    )
    train_until: int | None = option(
        None,
        "Stop at this global step, checkpointed, without the end-of-run results "
        "(--max_train_steps stays the schedule's length, e.g. a learning-rate decay's): how "
        "`repro verify` re-executes one segment of a run.",
        lower_bound=1,
        resumable=True,
    )
    save_summary_steps: int = option(
        100, "TensorBoard summary interval.", lower_bound=1, resumable=True
    )
    log_step_count_steps: int = option(100, "Progress log interval.", lower_bound=1, resumable=True)

    @property
    def stop_step(self) -> int:
        """The global step this session trains to: train_until, at most max_train_steps."""
        return min(self.train_until or self.max_train_steps, self.max_train_steps)


@dataclasses.dataclass(frozen=True)
class ModelOptions(Checked):
    """The part of a model group the skeleton reads: how a global batch is cut. An app's model
    group subclasses it and adds its own hyperparameters."""

    micro_batches: int = option(
        1,
        "Cut each global batch (--batch_size) into this many fixed micro-batches, each its "
        "own forward pass; their gradients are averaged in a fixed order (a pairwise tree). "
        "Must divide --batch_size; --local_workers must divide it. Part of the model: it "
        "changes the numbers.",
        lower_bound=1,
    )


@dataclasses.dataclass(frozen=True)
class RunOptions(Checked):
    """What every training run has; an app's options subclass it and add a `model` group (a
    `ModelOptions`; an app on a dataset with flags of its own also redeclares `data` as its
    DataOptions subclass, which keeps the group's place and name).

    Class attributes an app may set (not options):
      FLAG_DEFAULTS: {leaf name: default} over the shared groups' defaults.
      IDENTITY_TOO: leaf names marked resumable that are identity for this app (e.g. the
        classifier's max_train_steps, its learning-rate decay length).
      QUICK: {leaf name: value}, the app's quick settings, declared once: the smallest model and
        batch that still build every op of its graphs, and results that take seconds (what
        shrinks the results phase). The contract tests, `repro emulate`'s short run, the slow
        tier and CI run every app with them (repro_experiment.App.quick_flags).
    """

    FLAG_DEFAULTS: ClassVar[Mapping[str, Any]] = {}
    IDENTITY_TOO: ClassVar[frozenset[str]] = frozenset()
    QUICK: ClassVar[Mapping[str, Any]] = {}

    random_seed: int = option(
        123,
        "Root of the run's seed tree (data order and the sub-seeds the app names: "
        "initial weights, noise, dropout, ...; run.json lists them).",
        lower_bound=0,
    )
    model_dir: str | None = option(
        None,
        "Run directory (checkpoints, events, run.json, losses.csv, results). Default: "
        "runs/<app>/<the run's name>. An existing one is resumed (one made by another run is "
        "refused).",
        nonempty=True,
        resumable=True,
    )
    data: DataOptions = DataOptions()
    model: ModelOptions = ModelOptions()
    schedule: ScheduleOptions = ScheduleOptions()
    numerics: Numerics = Numerics()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.data.batch_size % self.model.micro_batches:
            raise ValueError(
                f"--micro_batches={self.model.micro_batches} must divide "
                f"--batch_size={self.data.batch_size}"
            )

    @classmethod
    def with_defaults(cls, **values: Any) -> Any:
        """The app's options from its FLAG_DEFAULTS and `values` ({leaf name: value})."""
        return from_values(cls, {**cls.FLAG_DEFAULTS, **values})
