"""Option groups every training app shares: its data input, its schedule, and the run itself.

Nothing here knows a dataset: an app on a dataset extends `DataOptions` with that dataset's own
flags (`mnist_input.MnistDataOptions` adds `--mnist_idx_dir`) and declares it as its `data`
group. An app that wants other defaults passes them to `define_flags(..., overrides)` (the
classifier does).
"""

from __future__ import annotations

import dataclasses
import os

from repro_app.options import Checked, option
from tf_determinism import Numerics

COMPRESSIONS = ("NONE", "GZIP", "ZLIB")


@dataclasses.dataclass(frozen=True)
class DataOptions(Checked):
    """Where the training records are kept and how the seeded stream is cut."""

    data_dir: str = option("data", "Where the training TFRecords are kept (one directory per "
                           "data source and compression).", nonempty=True, resumable=True)
    batch_size: int = option(32, "Images per batch.", lower_bound=1)
    buffer_size: int = option(10000, "Shuffle window (records).", lower_bound=1)
    num_parallel: int = option(
        2, "Parallel record reads/parses (does not change the stream).", lower_bound=1,
        resumable=True)
    compression: str = option("NONE", "TFRecord compression (does not change the stream).",
                              choices=COMPRESSIONS, resumable=True)

    def record_dir(self, source: str) -> str:
        """`<data_dir>/<source>/<compression>`: where a data source's records are kept; another
        source or --compression gets its own directory, so it writes its own set instead of
        being refused by another's (seeded_input.write_records reuses only an identical set)."""
        return os.path.join(self.data_dir, source, self.compression.lower())


@dataclasses.dataclass(frozen=True)
class ScheduleOptions(Checked):
    """How long to train and how often to save and log (none of it changes a number)."""

    max_train_steps: int = option(1000, "Train until this global step.", lower_bound=1,
                                  resumable=True)
    save_checkpoints_steps: int = option(500, "Checkpoint interval.", lower_bound=1,
                                         resumable=True)
    keep_checkpoint_max: int = option(2, "Checkpoints kept (a GAN's is ~160 MB).",
                                      lower_bound=1, resumable=True)
    save_summary_steps: int = option(100, "TensorBoard summary interval.", lower_bound=1,
                                     resumable=True)
    log_step_count_steps: int = option(100, "Progress log interval.", lower_bound=1,
                                       resumable=True)


@dataclasses.dataclass(frozen=True)
class RunOptions(Checked):
    """What every training run has; an app's options subclass it and add a `model` group (an
    app on a dataset with flags of its own also redeclares `data` as its DataOptions subclass,
    which keeps the group's place and name). A `model.micro_batches` must divide the batch."""

    random_seed: int = option(
        123, "Root of the run's seed tree (data order, initial weights, noise, dropout, "
        "samples, eval; run.json lists the sub-seeds).", lower_bound=0)
    model_dir: str | None = option(
        None, "Run directory (checkpoints, events, run.json, ...). Default: runs/<app>/<the "
        "run's name>. An existing one is resumed (one made by another run is refused).",
        nonempty=True, resumable=True)
    data: DataOptions = DataOptions()
    schedule: ScheduleOptions = ScheduleOptions()
    numerics: Numerics = Numerics()

    def __post_init__(self) -> None:
        super().__post_init__()
        # An app whose model cuts batches into micro-batches declares `micro_batches` in its
        # model group (seeded_input's micro ranges need it to divide the batch).
        micro_batches = getattr(getattr(self, "model", None), "micro_batches", 1)
        if self.data.batch_size % micro_batches:
            raise ValueError(f"--micro_batches={micro_batches} must divide "
                             f"--batch_size={self.data.batch_size}")
