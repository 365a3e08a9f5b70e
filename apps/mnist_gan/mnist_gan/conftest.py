"""The mnist_gan tests' shared fixture: `train`, one app run in a fresh process."""

from __future__ import annotations

import pytest

APP = "mnist_gan.train"


@pytest.fixture(scope="session")
def train(run_module, tiny_idx_dir, tmp_path_factory):
    """train(model_dir, *flags, check=True, tiny=True): one app run in a fresh process."""
    data_dir = str(tmp_path_factory.mktemp("data"))

    def run(model_dir, *extra: str, check: bool = True, tiny: bool = True, **kwargs):
        idx = [f"--mnist_idx_dir={tiny_idx_dir}", "--buffer_size=256"] if tiny else []
        return run_module(APP, f"--model_dir={model_dir}", f"--data_dir={data_dir}",
                          "--keep_checkpoint_max=1", "--log_step_count_steps=1", *idx, *extra,
                          check=check, **kwargs)

    return run
