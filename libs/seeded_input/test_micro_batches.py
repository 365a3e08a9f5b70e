"""Micro-batch ranges of the seeded stream: the ranges of batch k, concatenated in order, are
bitwise batch k of the single stream (also across an epoch boundary and after a resume)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import seeded_input as si

N, BATCH, BUFFER, SEED, M = 500, 48, 128, 7, 4  # an epoch is 10.4 batches


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    ids = np.arange(N, dtype=np.int64)
    images = ((ids[:, None, None] * 7 + np.arange(28)[:, None] * 3) % 256).astype(np.uint8)
    images = np.broadcast_to(images, (N, 28, 28)).copy()
    path = str(tmp_path_factory.mktemp("micro"))
    si.write_records("train", record_dir=path, features={"image": images, "id": ids}, num_shards=3)
    return path


def _batches(record_dir: str, n: int, seed: int = SEED, batch_map_fn=None, **kwargs) -> list[dict]:
    options = si.StreamOptions(
        split="train",
        record_dir=record_dir,
        batch_size=BATCH,
        random_seed=seed,
        buffer_size=BUFFER,
        **kwargs,
    )
    dataset = si.input_fn(options, batch_map_fn=batch_map_fn)()
    return [{k: v.numpy() for k, v in b.items()} for b in dataset.take(n)]


def _concat(parts: list[list[dict]]) -> list[dict]:
    return [
        {key: np.concatenate([p[k][key] for p in parts]) for key in parts[0][k]}
        for k in range(len(parts[0]))
    ]


def _same(left: list[dict], right: list[dict]) -> bool:
    return len(left) == len(right) and all(
        a.keys() == b.keys()
        and all(a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]) for key in a)
        for a, b in zip(left, right, strict=True)
    )


@pytest.mark.parametrize("start_batch", [0, 9])
def test_ranges_concatenated_are_the_full_batches(record_dir: str, start_batch: int) -> None:
    # 14 batches from 0 cross the epoch boundary in batch 10; from 9 (a resume) they do too.
    full = _batches(record_dir, 14, start_batch=start_batch)
    ranges = [(0, 1), (1, 3), (3, 4)]
    parts = [
        _batches(record_dir, 14, start_batch=start_batch, micro_batches=M, micro_range=r)
        for r in ranges
    ]
    assert [p[0]["id"].shape[0] for p in parts] == [12, 24, 12]
    assert _same(_concat(parts), full)
    assert _same(
        _batches(record_dir, 14, start_batch=start_batch, micro_batches=M, micro_range=(0, M)), full
    )
    # The resumed stream is the uninterrupted one from its start batch on.
    if start_batch:
        assert _same(full, _batches(record_dir, 14 + start_batch)[start_batch:])
    # Another seed: other rows in the same range.
    other = _batches(
        record_dir, 14, seed=SEED + 1, start_batch=start_batch, micro_batches=M, micro_range=(1, 3)
    )
    assert not _same(other, parts[1])


def test_batch_map_fn_gets_the_global_index_of_a_range(record_dir: str) -> None:
    seen = _batches(
        record_dir,
        3,
        start_batch=5,
        micro_batches=2,
        micro_range=(1, 2),
        batch_map_fn=lambda batch, index: {**batch, "k": index},
    )
    assert [b["k"] for b in seen] == [5, 6, 7] and seen[0]["id"].shape == (BATCH // 2,)
    assert tf.executing_eagerly()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"micro_batches": 5}, r"micro_batches \(5\) must divide batch_size \(48\)"),
        ({"micro_batches": 0}, "micro_batches must be >= 1"),
        ({"micro_batches": 4, "micro_range": (2, 2)}, "micro_range must be"),
        ({"micro_batches": 4, "micro_range": (0, 5)}, "micro_range must be"),
        ({"micro_batches": 4, "micro_range": [0, 1]}, "micro_range must be"),
    ],
)
def test_bad_micro_batch_arguments(record_dir: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        si.StreamOptions(
            split="train", record_dir=record_dir, batch_size=BATCH, random_seed=SEED, **kwargs
        )
