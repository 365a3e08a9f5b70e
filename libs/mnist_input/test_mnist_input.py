"""mnist_input: MNIST's data group keeps the flags and run.json layout the MNIST apps always
had; its records land per source and compression, and its pixels scale exactly."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

import repro_app
from mnist_input import MnistDataOptions
from repro_app import RunOptions


@dataclasses.dataclass(frozen=True)
class _Options(RunOptions):
    data: MnistDataOptions = MnistDataOptions()


def test_the_group_keeps_its_flags_defaults_and_run_json_layout() -> None:
    # What the apps' run.json files hold under options.data (and resume against) since
    # mnist_idx_dir was a flag of the skeleton's own group.
    assert repro_app.to_dict(_Options())["data"] == {
        "data_dir": "data",
        "mnist_idx_dir": None,
        "batch_size": 32,
        "buffer_size": 10000,
        "num_parallel": 2,
        "compression": "NONE",
    }
    identity = repro_app.identity(_Options())
    assert identity["data"] == {"mnist_idx_dir": None, "batch_size": 32, "buffer_size": 10000}
    opts = repro_app.from_values(_Options, {"mnist_idx_dir": "idx", "batch_size": 4})
    assert opts.data == MnistDataOptions(mnist_idx_dir="idx", batch_size=4)
    assert repro_app.from_dict(_Options, repro_app.to_dict(opts)) == opts
    with pytest.raises(ValueError, match="MnistDataOptions.data_dir must be non-empty"):
        MnistDataOptions(data_dir="")


def test_prepare_mnist_writes_reuses_and_refuses(tiny_idx_dir: str, tmp_path) -> None:
    from mnist_input import data

    options = MnistDataOptions(
        data_dir=str(tmp_path), mnist_idx_dir=tiny_idx_dir, compression="GZIP"
    )
    prepared = data.prepare_mnist(options)
    source = prepared.mnist.source
    assert prepared.record_dir == os.path.join(str(tmp_path), source, "gzip")
    assert prepared.identity == f"{source}:{prepared.mnist.digest}"
    assert prepared.record_pattern == data.RECORD_PATTERN
    assert prepared.manifest["total_count"] == len(prepared.mnist.splits["train"][1])
    assert prepared.manifest["num_shards"] == data.NUM_SHARDS
    again = data.prepare_mnist(options)  # the set on disk is reused
    assert (again.record_dir, again.manifest) == (prepared.record_dir, prepared.manifest)
    with pytest.raises(repro_app.RunError, match="--mnist_idx_dir is not a directory"):
        data.prepare_mnist(
            MnistDataOptions(data_dir=str(tmp_path), mnist_idx_dir=str(tmp_path / "nowhere"))
        )


def test_scale_images_is_exact() -> None:
    from mnist_input import data

    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    pixels = np.tile(pixels, (2, 2, 2))[:, :28, :28]
    scaled = data.scale_images(pixels, 2).numpy()
    assert scaled.shape == (2, 28, 28, 1) and scaled.dtype == np.float32
    assert np.array_equal(scaled[..., 0], (pixels.astype(np.float64) - 128) / 128)
