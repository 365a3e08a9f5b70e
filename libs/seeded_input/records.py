"""Writing a split as sharded TFRecords with a manifest, safely and idempotently.

``write_records`` assigns examples to shards contiguously (shard i holds rows
[i*N//S, (i+1)*N//S)), writes each shard to a temporary name and renames it, and writes the
manifest last (also temp + rename): a set without a manifest is half-written by definition.
The whole write runs under an exclusive ``fcntl.flock`` on ``{record_dir}/.{split}.lock``, so
two processes preparing the same directory serialise: the second finds the first's finished
set and reuses it. Local file systems only (flock and os.replace).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from seeded_input import features as features_lib
from seeded_input import shards as shards_lib
from tf_determinism import write_text_atomic

# Manifest fields that must agree for an existing set to be reused (shard hashes are then
# checked against the files themselves).
_IDENTITY_FIELDS = (
    "format",
    "split",
    "record_pattern",
    "compression",
    "num_shards",
    "total_count",
    "features",
    "content_sha256",
)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """Holds an exclusive flock on ``path`` (created if needed) for the with-block."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _content_sha256(spec: features_lib.FeatureSpec, serialized: list[bytes]) -> str:
    """Digest of the examples in row order: independent of sharding and compression."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for record in serialized:
        digest.update(len(record).to_bytes(8, "little"))
        digest.update(record)
    return digest.hexdigest()


def _existing_files(record_dir: str, record_pattern: str, split: str) -> list[str]:
    """Shards of ``split`` in any compression, plus leftover temporary files."""
    found = set()
    for compression in shards_lib.SUFFIXES:
        name_glob = shards_lib.shard_glob(record_pattern, split, compression)
        found.update(glob.glob(os.path.join(record_dir, name_glob)))
        found.update(glob.glob(os.path.join(record_dir, name_glob + ".tmp-*")))
    return sorted(found)


def _reuse_problem(
    record_dir: str, existing: dict[str, Any], expected: dict[str, Any], on_disk: list[str]
) -> str | None:
    """Why an existing manifest + shards cannot be reused for ``expected``, or None."""
    for field in _IDENTITY_FIELDS:
        if existing.get(field) != expected[field]:
            return f"{field} differs"
    if [s["count"] for s in existing["shards"]] != [s["count"] for s in expected["shards"]]:
        return "shard counts differ"
    listed = {os.path.join(record_dir, entry["file"]) for entry in existing["shards"]}
    stray = sorted(set(on_disk) - listed)
    if stray:
        return f"unlisted file {stray[0]!r}"
    for entry in existing["shards"]:
        problem = shards_lib.check_shard(os.path.join(record_dir, entry["file"]), entry, "sha256")
        if problem:
            return problem
    return None


def write_records(
    split: str,
    *,
    record_dir: str,
    features: Mapping[str, np.ndarray],
    num_shards: int,
    record_pattern: str = shards_lib.DEFAULT_RECORD_PATTERN,
    compression: str = "NONE",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Writes one split as ``num_shards`` TFRecord files of tf.train.Example plus a manifest.

    Args:
        split: split name used in file names, e.g. "train".
        record_dir: output directory (created if missing; local file system).
        features: name -> array [num_examples, ...]; the dtype picks the proto encoding
            (see features.encoding_for), e.g. uint8 [N, 28, 28] images -> raw bytes,
            int64 [N] labels -> int64_list.
        num_shards: number of shard files, 1 <= num_shards <= num_examples.
        record_pattern: file name pattern with {split}, {idx} and optionally {num_shards};
            ".gz" / ".zz" is appended for GZIP / ZLIB.
        compression: "NONE", "GZIP" or "ZLIB".
        overwrite: replace an existing set that does not match instead of raising.

    Returns:
        The manifest dict (also saved as ``{record_dir}/{split}.manifest.json``): format, split,
        record_pattern, compression, num_shards, total_count, features (name -> dtype, shape,
        encoding), content_sha256 (examples in row order; same for every sharding-independent
        re-encoding), shards (file, count, size, sha256 each) and digest (sha256 of the rest).

    Raises:
        ValueError: bad arguments, or (without overwrite) an existing set that differs, is
            half-written (shards without manifest) or has a missing/corrupt shard.
    """
    spec = _checked_spec(
        features,
        num_shards=num_shards,
        record_pattern=record_pattern,
        split=split,
        compression=compression,
    )
    serialized = features_lib.serialize_examples(features, spec)
    expected = _planned_manifest(
        split,
        spec=spec,
        serialized=serialized,
        num_shards=num_shards,
        record_pattern=record_pattern,
        compression=compression,
    )
    os.makedirs(record_dir, exist_ok=True)
    with _locked(os.path.join(record_dir, f".{split}.lock")):
        on_disk = _existing_files(record_dir, record_pattern, split)
        existing = _reusable_set(record_dir, split, expected, on_disk, overwrite=overwrite)
        if existing is not None:
            return existing
        _remove_stale(record_dir, split, on_disk)
        _write_shards(record_dir, expected, serialized, compression)
        expected["digest"] = shards_lib.manifest_digest(expected)
        write_text_atomic(
            shards_lib.manifest_path(record_dir, split),
            json.dumps(expected, sort_keys=True, indent=2) + "\n",
        )
    return expected


def _checked_spec(
    features: Mapping[str, np.ndarray],
    *,
    num_shards: int,
    record_pattern: str,
    split: str,
    compression: str,
) -> features_lib.FeatureSpec:
    """The features' spec, once every argument is checked (before any file is touched).

    Raises:
        ValueError: bad compression, num_shards, features or record_pattern.
    """
    shards_lib.check_compression(compression)
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be an int >= 1, got {num_shards!r}")
    spec, total = features_lib.spec_from_arrays(features)
    if num_shards > total:
        raise ValueError(f"num_shards={num_shards} exceeds the {total} examples (empty shards)")
    shards_lib.shard_glob(record_pattern, split, compression)  # validates the pattern early
    return spec


def _shard_bounds(total: int, num_shards: int) -> list[int]:
    """Row bounds of the contiguous shards: shard i holds rows [bounds[i], bounds[i + 1])."""
    return [i * total // num_shards for i in range(num_shards + 1)]


def _planned_manifest(
    split: str,
    *,
    spec: features_lib.FeatureSpec,
    serialized: list[bytes],
    num_shards: int,
    record_pattern: str,
    compression: str,
) -> dict[str, Any]:
    """The manifest of the set to write, without what only the written files tell (each
    shard's size and sha256, the digest)."""
    bounds = _shard_bounds(len(serialized), num_shards)
    return {
        "format": shards_lib.MANIFEST_FORMAT,
        "split": split,
        "record_pattern": record_pattern,
        "compression": compression,
        "num_shards": num_shards,
        "total_count": len(serialized),
        "features": spec,
        "content_sha256": _content_sha256(spec, serialized),
        "shards": [
            {
                "file": shards_lib.shard_name(
                    record_pattern,
                    split=split,
                    idx=i,
                    num_shards=num_shards,
                    compression=compression,
                ),
                "count": bounds[i + 1] - bounds[i],
            }
            for i in range(num_shards)
        ],
    }


def _reusable_set(
    record_dir: str, split: str, expected: dict[str, Any], on_disk: list[str], *, overwrite: bool
) -> dict[str, Any] | None:
    """The existing manifest when the set on disk is ``expected`` and intact; None when it may
    be (re)written: nothing is there, or overwrite allows replacing what is.

    Raises:
        ValueError: without overwrite, a set that differs or shards without a manifest.
    """
    path = shards_lib.manifest_path(record_dir, split)
    if os.path.exists(path):
        try:
            existing = shards_lib.read_manifest(record_dir, split)
            problem = _reuse_problem(record_dir, existing, expected, on_disk)
        except (ValueError, KeyError, TypeError) as exc:
            problem = str(exc)
        if problem is None:
            return existing
        if not overwrite:
            raise ValueError(
                f"{path!r}: existing {split!r} set does not match ({problem}); "
                "pass overwrite=True to replace it"
            )
    elif on_disk and not overwrite:
        raise ValueError(
            f"{record_dir!r} holds {len(on_disk)} {split!r} shard file(s) but no manifest "
            f"(half-written set?), e.g. {on_disk[0]!r}; pass overwrite=True to replace them"
        )
    return None


def _remove_stale(record_dir: str, split: str, on_disk: list[str]) -> None:
    """Removes the split's manifest, then its shard and temporary files."""
    # Manifest first: if this rewrite dies midway the set reads as half-written.
    path = shards_lib.manifest_path(record_dir, split)
    for stale in ([path] if os.path.exists(path) else []) + on_disk:
        os.remove(stale)


def _write_shards(
    record_dir: str, expected: dict[str, Any], serialized: list[bytes], compression: str
) -> None:
    """Writes each shard of ``expected`` and records its size and sha256 in its entry."""
    options = tf.io.TFRecordOptions(compression_type=shards_lib.tf_compression_type(compression))
    bounds = _shard_bounds(len(serialized), expected["num_shards"])
    for entry, start, stop in zip(expected["shards"], bounds[:-1], bounds[1:], strict=True):
        final = os.path.join(record_dir, entry["file"])
        entry["size"], entry["sha256"] = _write_shard(final, serialized[start:stop], options)


def _write_shard(
    final: str, records: list[bytes], options: tf.io.TFRecordOptions
) -> tuple[int, str]:
    """Writes one shard to a temporary name, syncs it and renames it to ``final``, so a shard
    under its final name is always complete.

    Returns:
        (size in bytes, hex sha256) of the file.
    """
    tmp = f"{final}.tmp-{os.getpid()}"
    with tf.io.TFRecordWriter(tmp, options) as writer:
        for record in records:
            writer.write(record)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    size, sha256 = os.path.getsize(tmp), shards_lib.file_sha256(tmp)
    os.replace(tmp, final)
    return size, sha256
