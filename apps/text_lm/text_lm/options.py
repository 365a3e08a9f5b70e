"""The text LM's options: its text and window, and its Transformer (no TensorFlow here)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from repro_app import DataOptions, ModelOptions, RunOptions, option


@dataclasses.dataclass(frozen=True)
class TextDataOptions(DataOptions):
    """Which text, cut into windows of seq_len + 1 bytes (every 10th one held out)."""

    text_dir: str | None = option(
        None, "Directory of UTF-8 text files, read in name order. Default: Debian's fortunes "
        "(/usr/share/games/fortunes; `apt-get install fortunes`).")
    seq_len: int = option(64, "Bytes the model reads to predict each next byte.", lower_bound=2)


@dataclasses.dataclass(frozen=True)
class LmModelOptions(ModelOptions):
    """A byte-level Transformer decoder (model.py)."""

    layers: int = option(2, "Transformer blocks.", lower_bound=1)
    width: int = option(128, "Embedding width.", lower_bound=2)
    heads: int = option(4, "Attention heads (must divide --width).", lower_bound=1)
    dropout_rate: float = option(0.1, "Dropout after attention and MLP.", lower_bound=0.0,
                                 upper_bound=0.9)
    learning_rate: float = option(1e-3, "Adam learning rate.", positive=True)


@dataclasses.dataclass(frozen=True)
class TextLmOptions(RunOptions):
    """Everything one text LM run depends on (default model_dir runs/text_lm/seed<seed>)."""

    FLAG_DEFAULTS: ClassVar[dict[str, Any]] = {
        "max_train_steps": 3000, "save_checkpoints_steps": 1000, "log_step_count_steps": 100}

    data: TextDataOptions = TextDataOptions()
    model: LmModelOptions = LmModelOptions()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model.width % self.model.heads:
            raise ValueError(f"--heads={self.model.heads} must divide --width={self.model.width}")
