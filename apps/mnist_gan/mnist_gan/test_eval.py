"""`--eval` end to end: MNIST score and Fréchet distance of a tiny GAN run, bit for bit.

A 1-step GAN and an 8-step classifier, both trained in this process by their apps on the
conftest's tiny IDX copy of real MNIST (the metrics' closed forms are mnist_eval's tests).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

import mnist_eval
import repro_app
from mnist_gan import eval_lib, train_lib
from run_record import read_run_json, write_run_json

NUM_IMAGES = 600  # two generator batches of 500, the second one truncated


@pytest.fixture(scope="module")
def trained(run_here, train_here, tiny_idx_dir, tmp_path_factory) -> dict[str, str]:
    from mnist_classifier.options import ClassifierOptions

    tmp = str(tmp_path_factory.mktemp("eval"))
    common = [
        f"--data_dir={tmp}/data",
        f"--mnist_idx_dir={tiny_idx_dir}",
        "--buffer_size=256",
        "--batch_size=32",
    ]
    classifier_dir = os.path.join(tmp, "classifier")
    run_here(
        "mnist_classifier",
        ClassifierOptions,
        [f"--model_dir={classifier_dir}", "--random_seed=3", "--max_train_steps=8", *common],
    )
    gan_dir = os.path.join(tmp, "gan")
    train_here(gan_dir, "--random_seed=4", "--max_train_steps=1", "--batch_size=32")
    return {"gan": gan_dir, "classifier": classifier_dir, "tmp": tmp}


def _reseeded_copy(gan_dir: str, dst: str, seed: int) -> str:
    """The same checkpoint, with another root seed in run.json (so another eval sub-seed)."""
    shutil.copytree(gan_dir, dst, copy_function=os.link)
    record = read_run_json(dst)
    record["options"]["random_seed"] = seed
    os.unlink(os.path.join(dst, "run.json"))
    write_run_json(dst, record)
    return dst


def test_eval_end_to_end_is_reproducible(trained, run_module, tmp_path) -> None:
    gan_dir, classifier_dir = trained["gan"], trained["classifier"]
    path = os.path.join(gan_dir, eval_lib.EVAL_JSON)
    flags = (
        "--eval",
        f"--model_dir={gan_dir}",
        f"--classifier_dir={classifier_dir}",
        f"--num_eval_images={NUM_IMAGES}",
    )
    proc = run_module("mnist_gan.train", *flags)
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    with open(path, "rb") as f:
        first_bytes = f.read()
    assert result["global_step"] == 1 and result["num_images"] == NUM_IMAGES
    assert result["gan_type"] == "unconditional" and result["loss"] == "wasserstein"
    assert result["random_seed"] == 4
    assert result["data"]["reference_split"] == "train"  # IDX data has no validation split
    assert result["data"]["reference_count"] == 256 and result["data"]["test_count"] == 64
    gen, real = result["generated"], result["real"]
    for value in (gen["mnist_score"], real["mnist_score"], real["test_mnist_score"]):
        assert 1.0 <= value <= 10.0
    assert gen["frechet_distance"] > real["frechet_distance"] >= 0.0
    assert real["mnist_score"] > gen["mnist_score"]  # 1 GAN step: blobs, not digits
    assert result["classifier"]["weights_sha256"] == mnist_eval.weights_sha256(classifier_dir)
    assert result["numerics"]["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert "MNIST score" in proc.stderr

    # Again, in another fresh process: the same bytes.
    run_module("mnist_gan.train", *flags)
    with open(path, "rb") as f:
        assert f.read() == first_bytes

    # The same checkpoint under another root seed: other eval inputs, the same ceiling.
    other_dir = _reseeded_copy(gan_dir, str(tmp_path / "reseeded"), 5)
    eval_lib.run_eval(other_dir, classifier_dir, NUM_IMAGES, print)  # in this (pinned) process
    with open(os.path.join(other_dir, eval_lib.EVAL_JSON), encoding="utf-8") as f:
        other = json.load(f)
    assert other["generated"]["mnist_score"] != gen["mnist_score"]
    assert other["generated"]["frechet_distance"] != gen["frechet_distance"]
    assert other["real"] == real  # the real-data ceiling does not depend on the seed


def test_eval_generator_inputs_are_keyed_by_the_run_seed(trained) -> None:
    import tensorflow as tf

    opts = eval_lib.options_from_run(trained["gan"])

    def draw(seed: int) -> np.ndarray:
        config = train_lib.gan_config(opts, train_lib.EXPERIMENT.seeds(seed))
        dataset = eval_lib.eval_input_fn(config, 700)()
        return np.concatenate([features.numpy() for features, _ in dataset])

    first = draw(5)
    assert first.shape == (1000, opts.model.noise_dims) and first.dtype == np.float32
    assert np.array_equal(first, draw(5))
    assert not np.array_equal(first, draw(6))
    assert tf.executing_eagerly()


def test_eval_refusals(trained, tmp_path) -> None:
    gan_dir = trained["gan"]
    with pytest.raises(repro_app.RunError, match="apps/mnist_classifier -- --random_seed=123"):
        eval_lib.run_eval(gan_dir, str(tmp_path / "no_classifier"), NUM_IMAGES, print)
    with pytest.raises(repro_app.RunError, match="run.json"):
        eval_lib.run_eval(str(tmp_path), trained["classifier"], NUM_IMAGES, print)
    with pytest.raises(repro_app.RunError, match="--num_eval_images must be an int >= 2"):
        eval_lib.run_eval(gan_dir, trained["classifier"], 1, print)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda o: o["model"].update(gan_typo="x"), "options.model.gan_typo: not an option"),
        (lambda o: o["data"].pop("batch_size"), "options.data.batch_size: missing"),
        (lambda o: o["data"].update(batch_size="32"), "options.data.batch_size: must be an int"),
        (lambda o: o.pop("numerics"), "options.numerics: missing"),
    ],
)
def test_eval_refuses_a_run_json_it_cannot_read_fully(trained, tmp_path, change, message):
    run = shutil.copytree(trained["gan"], tmp_path / "run", copy_function=os.link)
    record = read_run_json(str(run))
    change(record["options"])
    os.unlink(run / "run.json")
    write_run_json(str(run), record)
    with pytest.raises(repro_app.RunError, match=f"run.json: {message}"):
        eval_lib.options_from_run(str(run))
