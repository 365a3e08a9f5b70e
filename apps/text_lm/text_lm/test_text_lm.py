"""The text LM beyond every app's contract (libs/repro_experiment/test_contract.py): its text
and split, its results, its refusals. On tiny generated text, in this process: no Debian
package is needed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import repro_app
from text_lm import train_lib
from text_lm.options import TextLmOptions

TINY = (
    "--batch_size=4",
    "--seq_len=16",
    "--width=16",
    "--heads=2",
    "--layers=1",
    "--max_train_steps=3",
    "--buffer_size=64",
    "--log_step_count_steps=1",
)


@pytest.fixture
def text_dir(tmp_path) -> str:
    directory = tmp_path / "text"
    directory.mkdir()
    (directory / "b").write_text("to be or not to be\n%\nthat is the question\n" * 20)
    (directory / "a").write_text("all the world's a stage " * 30)
    (directory / "a.dat").write_bytes(b"\0\1 an index file, skipped")
    os.symlink(directory / "a", directory / "a.u8")  # fortune's alias links, skipped
    return str(directory)


def test_the_text_its_windows_and_the_fixed_split(text_dir, tmp_path) -> None:
    text = train_lib.read_text(text_dir)
    assert text.startswith(b"all the world's a stage") and b"%" not in text
    assert b"to be or not to be\n\nthat is" in text and b"index" not in text
    opts = TextLmOptions.with_defaults(
        text_dir=text_dir, seq_len=16, data_dir=str(tmp_path / "data")
    )
    first, again = (train_lib.prepare(opts, print) for _ in range(2))
    windows = np.frombuffer(text, np.uint8)[: len(text) // 17 * 17].reshape(-1, 17)
    np.testing.assert_array_equal(first.validation, windows[9::10])
    assert first.identity == again.identity and first.identity.startswith("text-")
    assert first.manifest["total_count"] == len(windows) - len(windows[9::10])
    assert first.unigram_code.shape == (256,)
    assert 0 < first.unigram_code[first.validation[:, 1:]].mean() < 8


def test_results_metrics_and_samples(text_dir, tmp_path, run_here) -> None:
    model_dir = tmp_path / "run"
    run_here(
        "text_lm",
        TextLmOptions,
        [
            *TINY,
            f"--text_dir={text_dir}",
            f"--data_dir={tmp_path / 'data'}",
            f"--model_dir={model_dir}",
        ],
    )
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["global_step"] == 3 and metrics["validation_windows"] > 0
    assert metrics["validation_bits_per_character"] == pytest.approx(
        metrics["validation_loss"] / np.log(2)
    )
    assert 0 < metrics["unigram_bits_per_character"] < 8
    samples = (model_dir / "samples.txt").read_text()
    assert samples.count("=== ") == 4 and samples.count(">>>") == 8
    record = json.loads((model_dir / "run.json").read_text())
    assert set(record["seeds"]) == {"root", "data", "initializers", "init", "dropout", "samples"}
    assert record["results"] == ["metrics.json", "samples.txt"]
    assert "Softmax" not in record["graph_ops"]["train"]  # tf_determinism.exact.softmax


def test_refusals_name_the_text_and_how_to_get_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(train_lib, "FORTUNES", str(tmp_path / "nowhere"))
    with pytest.raises(
        repro_app.RunError,
        match=r"nowhere is missing: install Debian's fortunes"
        r" with `apt-get install fortunes`, or pass --text_dir",
    ):
        train_lib.read_text(None)
    with pytest.raises(repro_app.RunError, match="--text_dir=/no/such is not a directory"):
        train_lib.read_text("/no/such")
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "t").write_text("too short")
    opts = TextLmOptions.with_defaults(text_dir=str(tmp_path / "short"))
    with pytest.raises(repro_app.RunError, match="fewer than 10 windows of 65 bytes"):
        train_lib.prepare(opts, print)
    with pytest.raises(ValueError, match="--heads=3 must divide --width=16"):
        TextLmOptions.with_defaults(width=16, heads=3)
