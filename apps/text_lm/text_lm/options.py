"""The text LM's options: its text and window, its Transformer (no TensorFlow here)."""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class LmModelOptions(ModelOptions):
    layers: int = option(2, "Transformer blocks.", lower_bound=1)
    width: int = option(128, "Embedding width (a multiple of --heads).", lower_bound=2)
    heads: int = option(4, "Attention heads.", lower_bound=1)
    dropout_rate: float = option(
        0.1, "Dropout after attention and MLP.", lower_bound=0.0, upper_bound=0.9
    )
    learning_rate: float = option(1e-3, "Adam learning rate.", positive=True)

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

    data: TextDataOptions = TextDataOptions()
    model: LmModelOptions = LmModelOptions()
