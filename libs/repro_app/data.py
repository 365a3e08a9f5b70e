"""A run's training records and the seeded stream over them, for any dataset.

An app's data library writes its training split with seeded_input into
`DataOptions.record_dir` and returns a `PreparedData` (or a subclass carrying the dataset's own
arrays, e.g. `mnist_input.data.PreparedMnist`); `run_dir` writes its identity into run.json and
`train_input_fn` reads it as the run's stream of batches.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import seeded_input
from repro_app.groups import DataOptions


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """A train split written as seeded_input records, ready to be read.

    Attributes:
      record_dir: the directory holding the records (`DataOptions.record_dir(source)`).
      record_pattern: their file names; part of the stream (shards are sorted by name before
        the seeded shard permutation).
      manifest: seeded_input's manifest of them.
      identity: "<source>:<content digest>", the data's part of the run identity (not the
        manifest digest: compression changes the shard bytes only).
      split: the name of the split the records hold (seeded_input's `split`).
    """

    record_dir: str
    record_pattern: str
    manifest: dict[str, Any]
    identity: str
    split: str = "train"


def train_input_fn(
    prepared: PreparedData,
    *,
    data: DataOptions,
    data_seed: int,
    start_batch: int,
    batch_map_fn: Any,
    micro_batches: int = 1,
    micro_range: tuple[int, int] | None = None,
) -> Any:
    """seeded_input's input_fn over the prepared train records (see its docs for the stream).

    Args:
      prepared: from the app's data library.
      data: batch size, shuffle window, parallelism and compression.
      data_seed: the run's `SeedTree.data`.
      start_batch: global index of the first batch (a resume skips the trained ones).
      batch_map_fn: fn(batch {feature name: [rows, *shape] tensor of the stored dtype}, index
        int64) -> the model's (features, labels); rows = B, or the micro_range's rows.
      micro_batches, micro_range: yield only rows [i*B/M, j*B/M) of each batch (a process
        computing micro-batches i..j-1 of every global batch).
    """
    options = seeded_input.StreamOptions(
        split=prepared.split,
        record_dir=prepared.record_dir,
        record_pattern=prepared.record_pattern,
        batch_size=data.batch_size,
        random_seed=data_seed,
        buffer_size=data.buffer_size,
        num_parallel=data.num_parallel,
        compression=data.compression,
        start_batch=start_batch,
        micro_batches=micro_batches,
        micro_range=micro_range,
    )
    return seeded_input.input_fn(options, batch_map_fn=batch_map_fn)
