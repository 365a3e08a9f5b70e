"""The text LM's options: its text and window, its Transformer, its quick settings (no
TensorFlow here)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar

from repro_app import DataOptions, ModelOptions, RunOptions, option


@dataclasses.dataclass(frozen=True)
class TextDataOptions(DataOptions):
    text_dir: str | None = option(
        None,
        "Directory of text files, read in name order. Default: "
        "Debian's fortunes (`apt-get install fortunes`).",
    )
    seq_len: int = option(64, "Bytes the model reads to predict the next one.", lower_bound=2)
    validation_windows: int = option(
        0,
        "Held-out windows scored into metrics.json at the end of the run (the first ones of "
        "the fixed split); 0: all of them.",
        lower_bound=0,
        resumable=True,
    )

    @classmethod
    def quick_data(cls, directory: str) -> dict[str, Any]:
        """About 12 KB of generated English-like words in two files (no Debian package)."""
        import numpy as np

        text_dir = os.path.join(directory, "text")
        os.makedirs(text_dir, exist_ok=True)
        words = np.random.default_rng(0).choice(_QUICK_WORDS, size=3000)
        for i, part in enumerate(np.array_split(words, 2)):
            with open(os.path.join(text_dir, f"part{i}"), "w", encoding="utf-8") as f:
                f.write(" ".join(part))
        return {"text_dir": text_dir}


_QUICK_WORDS = (
    "the", "a", "cat", "sat", "on", "mat", "and", "dog", "ran", "far", "away", "home", "why",
    "not", "today", "is", "was", "fine", "\n",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class LmModelOptions(ModelOptions):
    layers: int = option(2, "Transformer blocks.", lower_bound=1)
    width: int = option(128, "Embedding width (a multiple of --heads).", lower_bound=2)
    heads: int = option(4, "Attention heads.", lower_bound=1)
    dropout_rate: float = option(
        0.1, "Dropout after attention and MLP.", lower_bound=0.0, upper_bound=0.9
    )
    learning_rate: float = option(1e-3, "Adam learning rate.", positive=True)
    sample_bytes: int = option(
        300,
        "Bytes the model writes after each of 4 validation windows into samples.txt at the end "
        "of the run.",
        lower_bound=1,
        resumable=True,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.width % self.heads:
            raise ValueError(f"--heads={self.heads} must divide --width={self.width}")


@dataclasses.dataclass(frozen=True)
class TextLmOptions(RunOptions):
    FLAG_DEFAULTS: ClassVar[dict[str, Any]] = {
        "max_train_steps": 3000,
        "save_checkpoints_steps": 1000,
        "log_step_count_steps": 100,
    }
    QUICK: ClassVar[dict[str, Any]] = {
        "batch_size": 8, "seq_len": 16, "width": 16, "heads": 2, "layers": 1,
        "validation_windows": 16, "sample_bytes": 8,
    }  # fmt: skip

    data: TextDataOptions = TextDataOptions()
    model: LmModelOptions = LmModelOptions()
