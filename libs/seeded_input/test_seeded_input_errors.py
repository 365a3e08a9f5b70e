"""seeded_input: bad input gives one-line messages naming the culprit; write_records reuses,
refuses or replaces existing sets; parse and digest helpers are exact."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest  # pants: no-infer-dep (provided by the pytest tool)
import tensorflow as tf

import seeded_input as si

PATTERN = si.DEFAULT_RECORD_PATTERN


def features(n: int = 200, offset: int = 0) -> dict[str, np.ndarray]:
    ids = np.arange(offset, offset + n, dtype=np.int64)
    images = (ids[:, None, None] + np.arange(28)[:, None] * np.arange(28)) % 256
    return {"image": images.astype(np.uint8), "id": ids}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("records")
    out = {c: str(root / c) for c in ("NONE", "GZIP")}
    for compression, path in out.items():
        si.write_records(
            "train", record_dir=path, features=features(), num_shards=2, compression=compression
        )
    return out


def make_input(record_dir: str, **overrides):
    settings: dict[str, Any] = dict(
        split="train",
        batch_size=8,
        buffer_size=16,
        num_parallel=1,
        compression="NONE",
        random_seed=1,
        record_dir=record_dir,
    )
    settings.update(overrides)
    return si.input_fn(si.StreamOptions(**settings), parse_fn=None)


def records_of(split: str, record_dir: str, **overrides):
    kwargs: dict[str, Any] = dict(record_dir=record_dir, record_pattern=PATTERN, random_seed=1)
    kwargs.update(overrides)
    return si.dataset_from_records(split, **kwargs)


def check_error(call, error: type[Exception], *fragments: str) -> None:
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_bad_input_messages(dirs: dict[str, str], tmp_path: Path) -> None:
    none_dir, gzip_dir = dirs["NONE"], dirs["GZIP"]
    missing = str(tmp_path / "nowhere")
    check_error(lambda: make_input(missing), FileNotFoundError, missing)
    check_error(lambda: records_of("train", missing), FileNotFoundError, missing)
    check_error(
        lambda: make_input(none_dir, split="valid"),
        FileNotFoundError,
        none_dir,
        "valid-*-of-*.tfrecord",
    )
    # Compression mismatch, told by the file names ...
    check_error(lambda: make_input(gzip_dir), ValueError, "compression mismatch", gzip_dir, "GZIP")
    check_error(
        lambda: make_input(none_dir, compression="ZLIB"), ValueError, "compression mismatch", "NONE"
    )
    # ... and by the bytes (GZIP data under uncompressed names), before TF's opaque error.
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for name in sorted(os.listdir(gzip_dir)):
        shutil.copyfile(os.path.join(gzip_dir, name), renamed / name.removesuffix(".gz"))
    check_error(
        lambda: records_of("train", str(renamed)),
        ValueError,
        "compression mismatch",
        "train-00000-of-00002.tfrecord",
        "GZIP",
    )
    check_error(lambda: make_input(none_dir, compression="LZ4"), ValueError, "'LZ4'")

    # Truncated and corrupt shards are named.
    for damage, fragment in (("truncate", "truncated"), ("flip", "corrupt"), ("head", "corrupt")):
        bad = tmp_path / damage
        shutil.copytree(none_dir, bad)
        shard = bad / "train-00001-of-00002.tfrecord"
        data = bytearray(shard.read_bytes())
        if damage == "truncate":
            data = data[:-10]
        elif damage == "flip":
            data[len(data) // 2] ^= 0xFF
        else:
            data = data[:5]
            os.remove(bad / "train.manifest.json")  # the header check needs no manifest
        shard.write_bytes(bytes(data))
        if damage == "head":
            check_error(lambda b=bad: records_of("train", str(b)), ValueError, fragment, str(shard))
        else:
            check_error(lambda b=bad: make_input(str(b)), ValueError, fragment, str(shard))
    no_manifest = tmp_path / "truncate"
    os.remove(no_manifest / "train.manifest.json")
    check_error(lambda: make_input(str(no_manifest)), FileNotFoundError, "train.manifest.json")

    for name in ("batch_size", "buffer_size", "num_parallel", "num_parallel_reads"):
        check_error(lambda n=name: make_input(none_dir, **{n: 0}), ValueError, name, "0")
    check_error(lambda: make_input(none_dir, n_epochs=0), ValueError, "n_epochs", "0")
    check_error(lambda: make_input(none_dir, start_batch=-1), ValueError, "start_batch", "-1")
    check_error(lambda: make_input(none_dir, batch_size=2.5), ValueError, "batch_size", "2.5")
    # Seeds are non-negative ints everywhere (derive_seed's domain).
    check_error(lambda: make_input(none_dir, random_seed=-1), ValueError, "random_seed", "-1")
    check_error(lambda: make_input(none_dir, random_seed=1.0), ValueError, "random_seed", "1.0")
    check_error(
        lambda: records_of("train", none_dir, random_seed=-1), ValueError, "random_seed", "-1"
    )
    records = records_of("train", none_dir)
    shuffle = si.shuffle_repeat_prefetch
    check_error(
        lambda: shuffle(records, buffer_size=0, n_epochs=None, random_seed=1),
        ValueError,
        "buffer_size",
        "0",
    )
    check_error(
        lambda: shuffle(records, buffer_size=10, n_epochs=0, random_seed=1), ValueError, "n_epochs"
    )
    check_error(
        lambda: shuffle(records, buffer_size=10, n_epochs=None, random_seed=-2),
        ValueError,
        "random_seed",
        "-2",
    )
    check_error(
        lambda: records_of("train", none_dir, num_parallel=0), ValueError, "num_parallel", "0"
    )
    check_error(
        lambda: make_input(none_dir, record_pattern="{split}.tfrecord"),
        ValueError,
        "{split}.tfrecord",
    )


def test_write_records_reuses_refuses_and_overwrites(tmp_path: Path) -> None:
    out = str(tmp_path / "set")
    first = si.write_records("train", record_dir=out, features=features(), num_shards=2)
    shard = os.path.join(out, first["shards"][0]["file"])
    before = os.stat(shard)
    again = si.write_records("train", record_dir=out, features=features(), num_shards=2)
    assert again == first
    after = os.stat(shard)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert first == si.read_manifest(out, "train")
    assert first["total_count"] == 200 and [s["count"] for s in first["shards"]] == [100, 100]
    assert first["features"]["image"] == {"dtype": "uint8", "shape": [28, 28], "encoding": "bytes"}

    manifest_file = os.path.join(out, "train.manifest.json")
    check_error(
        lambda: si.write_records(
            "train", record_dir=out, features=features(offset=1), num_shards=2
        ),
        ValueError,
        manifest_file,
        "content_sha256",
        "overwrite=True",
    )
    check_error(
        lambda: si.write_records("train", record_dir=out, features=features(), num_shards=3),
        ValueError,
        manifest_file,
        "num_shards",
    )
    third = si.write_records(
        "train", record_dir=out, features=features(), num_shards=3, overwrite=True
    )
    assert sorted(n for n in os.listdir(out) if n.endswith(".tfrecord")) == [
        s["file"] for s in third["shards"]
    ]
    assert third["digest"] != first["digest"]
    assert third["content_sha256"] == first["content_sha256"]  # same examples, other sharding

    # A corrupted shard is not reused.
    shard = os.path.join(out, third["shards"][1]["file"])
    with open(shard, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01")
    check_error(
        lambda: si.write_records("train", record_dir=out, features=features(), num_shards=3),
        ValueError,
        shard,
    )
    # Shards without a manifest are a half-written set.
    os.remove(manifest_file)
    check_error(
        lambda: si.write_records("train", record_dir=out, features=features(), num_shards=3),
        ValueError,
        "half-written",
        out,
    )
    fixed = si.write_records(
        "train", record_dir=out, features=features(), num_shards=3, overwrite=True
    )
    assert fixed == third
    check_error(
        lambda: si.write_records("train", record_dir=out, features=features(), num_shards=0),
        ValueError,
        "num_shards",
    )
    check_error(
        lambda: si.write_records("train", record_dir=out, features=features(), num_shards=201),
        ValueError,
        "201",
    )
    check_error(
        lambda: si.write_records(
            "train", record_dir=out, features={"s": np.array(["a"])}, num_shards=1
        ),
        ValueError,
        "'s'",
    )
    uneven = {"a": np.zeros(3), "b": np.zeros(4)}
    check_error(
        lambda: si.write_records("train", record_dir=out, features=uneven, num_shards=1),
        ValueError,
        "'b'",
    )


def test_make_parse_fn_round_trips_every_dtype(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 12
    arrays: dict[str, np.ndarray] = {
        "u8": rng.integers(0, 256, (n, 3, 2), dtype=np.uint8),
        "i8": rng.integers(-128, 128, (n,), dtype=np.int8),
        "u16": rng.integers(0, 2**16, (n, 2), dtype=np.uint16),
        "i32": rng.integers(-(2**31), 2**31, (n,), dtype=np.int32),
        "i64": rng.integers(-(2**63), 2**63 - 1, (n, 4), dtype=np.int64),
        "u64": rng.integers(0, 2**64 - 1, (n,), dtype=np.uint64),
        "b": rng.integers(0, 2, (n, 5)).astype(bool),
        "f16": rng.standard_normal((n, 2)).astype(np.float16),
        "f32": rng.standard_normal((n, 2, 2)).astype(np.float32),
        "f64": rng.standard_normal((n,)) * 1e-300,
    }
    manifest = si.write_records("t", record_dir=str(tmp_path), features=arrays, num_shards=3)
    parse = si.make_parse_fn(manifest)
    serialized = list(
        tf.data.TFRecordDataset(
            [str(tmp_path / s["file"]) for s in manifest["shards"]]
        ).as_numpy_iterator()
    )
    batch = parse(tf.constant(serialized))
    single = parse(tf.constant(serialized[5]))
    for name, array in arrays.items():
        assert batch[name].dtype.as_numpy_dtype == array.dtype, name
        assert batch[name].shape == array.shape, name
        assert batch[name].numpy().tobytes() == array.tobytes(), name
        assert single[name].numpy().tobytes() == array[5].tobytes(), name
    assert si.make_parse_fn(manifest["features"])(tf.constant(serialized[:2]))["i8"].shape == [2]
    check_error(lambda: si.make_parse_fn({}), ValueError, "feature spec")


def test_digest_batches_sees_bytes_dtype_shape_order_and_structure() -> None:
    base: dict[str, Any] = {
        "x": np.arange(6, dtype=np.int32).reshape(2, 3),
        "y": (np.float32(1), b"ab"),
    }
    reference = si.digest_batches(tf.data.Dataset.from_tensors(base), 1)
    assert si.digest_batches(tf.data.Dataset.from_tensors(dict(base)), 1) == reference
    variants: list[dict[str, Any]] = [
        {**base, "x": base["x"] + np.eye(2, 3, dtype=np.int32)},  # one value
        {**base, "x": base["x"].reshape(3, 2)},  # shape, same bytes
        {**base, "x": base["x"].view(np.float32)},  # dtype, same bytes
        {"x2": base["x"], "y": base["y"]},  # structure
        {**base, "y": (np.float32(1), b"ac")},  # string bytes
    ]
    for variant in variants:
        assert si.digest_batches(tf.data.Dataset.from_tensors(variant), 1) != reference
    ones, twos = np.ones(2), np.full(2, 2.0)
    ordered = tf.data.Dataset.from_tensor_slices(np.stack([ones, twos]))
    flipped = tf.data.Dataset.from_tensor_slices(np.stack([twos, ones]))
    assert si.digest_batches(ordered, 2) != si.digest_batches(flipped, 2)
    assert si.digest_batches(ordered, 1) != si.digest_batches(ordered, 2)
    check_error(lambda: si.digest_batches(ordered, 3), ValueError, "only 2", "n=3")
    check_error(lambda: si.digest_batches(ordered, 0), ValueError, "n", "0")
