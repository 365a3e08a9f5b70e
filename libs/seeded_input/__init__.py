"""Seeded, resumable tf.data pipelines over sharded TFRecords.

``write_records`` writes a split as sharded tf.train.Example TFRecords plus a manifest;
``input_fn(StreamOptions(...), parse_fn=..., batch_map_fn=...)`` (pipeline.py) reads them back
as a stream of batches for tf.estimator or eager code; ``digest_batches`` fingerprints a stream.
``StreamOptions`` is a frozen dataclass holding every setting of a stream, checked when it is
made (a bad value raises ValueError naming the field).

Determinism guarantee. With ``deterministic=True`` (the default) the stream of batches from
``input_fn`` is, bit for bit, a pure function of: the examples and how they are sharded
(``manifest["content_sha256"]``, shard names and counts), and of these ``StreamOptions``
fields: ``random_seed``, ``batch_size``, ``buffer_size``, ``n_epochs``, ``cycle_length``
(default min(number of shards, 16)), ``start_batch`` (which only drops the first
``start_batch`` batches) and ``micro_batches`` / ``micro_range`` (which only select rows of each
batch); and of the code of ``parse_fn`` / ``batch_map_fn``. It does NOT depend on:
``num_parallel``, ``num_parallel_reads``, ``compression``, ``verify``, the order in which the
file system lists or the writer wrote the shards, graph vs eager execution, the process or
host, or TF's global/graph seed (``tf.random.set_seed``, ``RunConfig(tf_random_seed=...)``):
every shuffle is a stateless permutation with seeds derived from ``random_seed``, so the graph
seed cannot leak in. Epoch ``e``'s order is a function of ``(random_seed, e)`` alone, so a
resume jumps straight to its epoch. ``batch_map_fn`` gets each batch's global index;
randomness drawn with ``tf.random.stateless_*`` from a key made of the caller's own sub-seed and
that index (``tf_determinism.stateless_key``) is covered too. Sub-seeds come from
``tf_determinism.derive_seed`` (shard order: ``derive_seed(random_seed, "files")``, windows:
``derive_seed(random_seed, "shuffle")``).

NOT covered: ``deterministic=False`` (order may vary); a ``parse_fn`` that mixes records (it
sees chunks of up to 1024 records; per-batch work belongs in ``batch_map_fn``); stateful random
ops (``tf.random.normal``, ``tf.random.uniform``, unseeded initializers) inside ``parse_fn`` /
``batch_map_fn`` or anywhere in the model; another TF version (the stateless shuffle or the
Philox streams could change); changing any input listed above (e.g. re-sharding the records
changes the interleave and hence the order); the numerics of the model itself.
"""

from seeded_input.dataset import dataset_from_records, shuffle_repeat_prefetch
from seeded_input.digest import digest_batches
from seeded_input.features import make_parse_fn
from seeded_input.pipeline import StreamOptions, input_fn
from seeded_input.records import write_records
from seeded_input.shards import DEFAULT_RECORD_PATTERN, read_manifest

__all__ = [
    "DEFAULT_RECORD_PATTERN",
    "StreamOptions",
    "dataset_from_records",
    "digest_batches",
    "input_fn",
    "make_parse_fn",
    "read_manifest",
    "shuffle_repeat_prefetch",
    "write_records",
]
