"""A short MNIST GAN run's TensorBoard events, read back by TensorBoard itself.

The run is real (the app's run_experiment, in this process through conftest's `train_here`:
2 steps, summaries every step) on conftest's `tiny_idx_dir`, so no test converts the 50k MNIST
images. Checked: every losses.csv column is a scalar tag "losses/<column>" holding, step for
step, the same float32 as losses.csv; the real and generated image grids are there; and a
TensorBoard server (127.0.0.1, a port the OS picks, stopped here) serves those tags.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from run_record import read_losses
from tf_determinism import child_env

_IMAGE_TAGS = ("real_data/image", "generated_data/image")
_BATCH = 16  # 4x4 image grids.


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, train_here) -> str:
    model_dir = str(tmp_path_factory.mktemp("tb") / "runs" / "gan")
    # With a gradient penalty, losses.csv has a third column.
    train_here(
        model_dir,
        "--max_train_steps=2",
        "--save_summary_steps=1",
        f"--batch_size={_BATCH}",
        "--gradient_penalty_weight=1",
    )
    return model_dir


def test_every_loss_and_the_image_grids_load_through_tensorboards_reader(run_dir):
    names, steps, losses = read_losses(run_dir)
    assert names == ["generator_loss", "discriminator_loss", "gradient_penalty"]
    np.testing.assert_array_equal(steps, [1, 2])
    acc = event_accumulator.EventAccumulator(
        run_dir, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0}
    )
    acc.Reload()
    tags = acc.Tags()
    for name in names:
        tag = f"losses/{name}"
        assert tag in tags["scalars"], (tag, sorted(tags["scalars"]))
        events = acc.Scalars(tag)
        assert [e.step for e in events] == steps.tolist(), tag
        # Bitwise the float32 losses.csv holds (a summary stores float32).
        got = np.array([e.value for e in events], np.float32)
        assert got.tobytes() == losses[name].tobytes(), (tag, got, losses[name])
    side = 28 * int(np.sqrt(_BATCH))
    for tag in _IMAGE_TAGS:
        assert tag in tags["images"], (tag, sorted(tags["images"]))
        images = acc.Images(tag)
        assert [e.step for e in images] == steps.tolist(), tag
        for image in images:
            assert image.encoded_image_string.startswith(b"\x89PNG\r\n\x1a\n"), tag
            assert (image.width, image.height) == (side, side), tag


def _get_json(opener: urllib.request.OpenerDirector, port: int, path: str) -> dict:
    with opener.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.load(response)


def test_tensorboard_serves_the_run_on_localhost(run_dir, tmp_path):
    env = child_env()
    logdir = os.path.dirname(run_dir)  # runs/: the run appears as "gan".
    log_path = tmp_path / "tensorboard.log"
    # Only ever 127.0.0.1, without any proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                f"--logdir={logdir}",
                "--host=127.0.0.1",
                "--port=0",
                "--reload_interval=1",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        port, scalars, images = None, {}, {}
        while time.monotonic() < deadline and server.poll() is None:
            time.sleep(1)
            if port is None:
                match = re.search(r"at http://127\.0\.0\.1:(\d+)/", log_path.read_text())
                port = int(match.group(1)) if match else None
                continue
            scalars = _get_json(opener, port, "/data/plugin/scalars/tags").get("gan", {})
            images = _get_json(opener, port, "/data/plugin/images/tags").get("gan", {})
            if "losses/gradient_penalty" in scalars and set(_IMAGE_TAGS) <= set(images):
                break
        assert server.poll() is None, log_path.read_text()[-3000:]
        assert port is not None, log_path.read_text()[-3000:]
        names, _, _ = read_losses(run_dir)
        assert {f"losses/{name}" for name in names} <= set(scalars), sorted(scalars)
        assert set(_IMAGE_TAGS) <= set(images), sorted(images)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
