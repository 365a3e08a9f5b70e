"""Shard files: naming, listing, compression sniffing and checks against the manifest.

A split's shards are ``record_pattern.format(split=, idx=, num_shards=)`` plus a compression
suffix ("" / ".gz" / ".zz" for NONE / GZIP / ZLIB), beside a manifest ``{split}.manifest.json``.
Every check here runs in Python before TF touches a file, so bad input fails with a one-line
message naming the directory, pattern or shard instead of TF's opaque DataLossError.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import string
from typing import Any

import tensorflow as tf

DEFAULT_RECORD_PATTERN = "{split}-{idx:05d}-of-{num_shards:05d}.tfrecord"
SUFFIXES = {"NONE": "", "GZIP": ".gz", "ZLIB": ".zz"}
VERIFY_LEVELS = ("sha256", "size", "none")
MANIFEST_FORMAT = "seeded_input.manifest/1"


def check_compression(compression: str) -> None:
    """Raises ValueError unless compression is "NONE", "GZIP" or "ZLIB"."""
    if compression not in SUFFIXES:
        raise ValueError(f"compression {compression!r} is not one of {sorted(SUFFIXES)}")


def check_verify(verify: str) -> None:
    """Raises ValueError unless verify is "sha256", "size" or "none"."""
    if verify not in VERIFY_LEVELS:
        raise ValueError(f"verify {verify!r} is not one of {VERIFY_LEVELS}")


def tf_compression_type(compression: str) -> str:
    """TF's spelling of a compression ("" for NONE), for TFRecordWriter / TFRecordDataset."""
    check_compression(compression)
    return "" if compression == "NONE" else compression


def _pattern_fields(record_pattern: str) -> list[tuple[str, str | None, str]]:
    """Parses the pattern into (literal, field, format_spec) triples, validating the fields."""
    if os.sep in record_pattern or not record_pattern:
        raise ValueError(f"record_pattern {record_pattern!r} must be a non-empty file name")
    try:
        parsed = [
            (lit, field, spec or "")
            for lit, field, spec, _ in string.Formatter().parse(record_pattern)
        ]
    except ValueError as exc:
        raise ValueError(f"record_pattern {record_pattern!r} is malformed: {exc}") from exc
    fields = {field for _, field, _ in parsed if field is not None}
    if not {"split", "idx"} <= fields or not fields <= {"split", "idx", "num_shards"}:
        raise ValueError(
            f"record_pattern {record_pattern!r} must use {{split}} and {{idx}} "
            f"(and optionally {{num_shards}}), no other fields"
        )
    return parsed


def shard_name(
    record_pattern: str, *, split: str, idx: int, num_shards: int, compression: str
) -> str:
    """File name of shard ``idx`` of ``num_shards``, compression suffix included."""
    _pattern_fields(record_pattern)
    check_compression(compression)
    return (
        record_pattern.format(split=split, idx=idx, num_shards=num_shards) + SUFFIXES[compression]
    )


def shard_glob(record_pattern: str, split: str, compression: str) -> str:
    """Glob (file name only) matching every shard of ``split`` written with ``compression``."""
    check_compression(compression)
    parts = []
    for literal, field, spec in _pattern_fields(record_pattern):
        parts.append(glob.escape(literal))
        if field == "split":
            parts.append(glob.escape(format(split, spec)))
        elif field is not None:
            parts.append("*")
    return "".join(parts) + SUFFIXES[compression]


def list_shards(record_dir: str, record_pattern: str, split: str, compression: str) -> list[str]:
    """Sorted full paths of the shards matching the pattern (order on disk cannot matter)."""
    return sorted(
        tf.io.gfile.glob(os.path.join(record_dir, shard_glob(record_pattern, split, compression)))
    )


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def sniff_compression(path: str) -> str | None:
    """Guesses a shard's compression from its first 12 bytes.

    An uncompressed TFRecord starts with an 8-byte length and its masked CRC32C, which is
    checked exactly; GZIP starts with magic 1f 8b; ZLIB with a deflate header whose 16-bit
    value is a multiple of 31.

    Returns:
        "NONE", "GZIP", "ZLIB", or None for an empty or unrecognisable file.
    """
    with tf.io.gfile.GFile(path, "rb") as handle:
        head = handle.read(12)
    if len(head) == 12 and _masked_crc32c(head[:8]) == int.from_bytes(head[8:], "little"):
        return "NONE"
    if head[:2] == b"\x1f\x8b":
        return "GZIP"
    if len(head) >= 2 and head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0:
        return "ZLIB"
    return None


def file_sha256(path: str) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_path(record_dir: str, split: str) -> str:
    """Path of the manifest of ``split`` in ``record_dir``."""
    return os.path.join(record_dir, f"{split}.manifest.json")


def manifest_digest(manifest: dict[str, Any]) -> str:
    """Hex sha256 of the manifest's canonical JSON, its own "digest" entry excluded."""
    body = {key: value for key, value in manifest.items() if key != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_manifest(record_dir: str, split: str) -> dict[str, Any]:
    """Loads and checks the manifest of ``split`` in ``record_dir``.

    Raises:
        FileNotFoundError: if there is no manifest.
        ValueError: if it is not valid JSON, not a manifest, or its digest does not match.
    """
    path = manifest_path(record_dir, split)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"no manifest {path!r}: write the split with write_records first")
    try:
        with tf.io.gfile.GFile(path, "r") as handle:
            manifest = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"manifest {path!r} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"manifest {path!r} is not a {MANIFEST_FORMAT} manifest")
    if manifest.get("digest") != manifest_digest(manifest):
        raise ValueError(f"manifest {path!r} was edited or corrupted: its digest does not match")
    return manifest


def check_shard(path: str, entry: dict[str, Any], verify: str) -> str | None:
    """Compares one shard with its manifest entry; returns a problem description or None."""
    if not tf.io.gfile.exists(path):
        return f"shard {path!r} is missing"
    if verify == "none":
        return None
    size = tf.io.gfile.stat(path).length
    if size != entry["size"]:
        expected = entry["size"]
        return f"shard {path!r} is truncated or altered: {size} bytes, manifest says {expected}"
    if verify == "sha256" and file_sha256(path) != entry["sha256"]:
        return f"shard {path!r} is corrupt: its sha256 does not match the manifest"
    return None


def resolve_shards(
    split: str, *, record_dir: str, record_pattern: str, compression: str, verify: str = "sha256"
) -> tuple[list[str], dict[str, Any] | None]:
    """Lists a split's shards and checks them before any TF reader opens them.

    Args:
        split: split name, e.g. "train".
        record_dir: directory holding the shards.
        record_pattern: shard file pattern (see DEFAULT_RECORD_PATTERN).
        compression: "NONE", "GZIP" or "ZLIB".
        verify: with a manifest present, "sha256" (hash every shard), "size" (only sizes) or
            "none". Without a manifest only each shard's header is checked, so a shard
            truncated further in surfaces as TF's DataLossError at read time.

    Returns:
        (sorted shard paths, the manifest or None if the split has none).

    Raises:
        FileNotFoundError: record_dir missing, or no shard matches the pattern.
        ValueError: compression mismatch, truncated/corrupt shard, shards differing from the
            manifest, bad arguments.
    """
    check_compression(compression)
    check_verify(verify)
    if not tf.io.gfile.isdir(record_dir):
        raise FileNotFoundError(f"record_dir {record_dir!r} does not exist")
    pattern = shard_glob(record_pattern, split, compression)
    paths = list_shards(record_dir, record_pattern, split, compression)
    if not paths:
        for other in SUFFIXES:
            if other != compression and list_shards(record_dir, record_pattern, split, other):
                raise ValueError(
                    f"compression mismatch in {record_dir!r}: compression={compression!r} but "
                    f"the {split!r} shards match {shard_glob(record_pattern, split, other)!r} "
                    f"({other})"
                )
        raise FileNotFoundError(f"no file in {record_dir!r} matches pattern {pattern!r}")
    for path in paths:
        found = sniff_compression(path)
        if found is not None and found != compression:
            raise ValueError(
                f"compression mismatch: shard {path!r} is {found} but compression={compression!r}"
            )
        if found is None and tf.io.gfile.stat(path).length > 0:
            raise ValueError(f"shard {path!r} is corrupt: not a {compression} TFRecord file")
    manifest = None
    if tf.io.gfile.exists(manifest_path(record_dir, split)):
        manifest = read_manifest(record_dir, split)
        names = [os.path.basename(path) for path in paths]
        listed = [entry["file"] for entry in manifest["shards"]]
        if sorted(names) != sorted(listed):
            extra = sorted(set(names) - set(listed))
            missing = sorted(set(listed) - set(names))
            raise ValueError(
                f"shards matching {pattern!r} in {record_dir!r} differ from manifest "
                f"{manifest_path(record_dir, split)!r}: unexpected {extra}, missing {missing}"
            )
        for entry in manifest["shards"]:
            problem = check_shard(os.path.join(record_dir, entry["file"]), entry, verify)
            if problem:
                raise ValueError(problem)
    return paths, manifest
