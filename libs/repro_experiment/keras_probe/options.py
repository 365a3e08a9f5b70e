"""The probe's options: MNIST's data group and which Keras layers the model holds."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from mnist_input import MnistDataOptions
from repro_app import ModelOptions, RunOptions, option

LAYERS = (
    "Dense",
    "Conv2D",
    "Conv2DTranspose",
    "Embedding",
    "Dropout",
    "LayerNormalization",
    "BatchNormalization",
)


@dataclasses.dataclass(frozen=True)
class ProbeModelOptions(ModelOptions):
    layers: str = option(
        "Dense", f"Comma-separated Keras layers the model holds, of {', '.join(LAYERS)}."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = sorted(set(self.layers.split(",")) - set(LAYERS))
        if unknown:
            raise ValueError(f"--layers: unknown {', '.join(unknown)}; of {', '.join(LAYERS)}")


@dataclasses.dataclass(frozen=True)
class ProbeOptions(RunOptions):
    QUICK: ClassVar[dict[str, Any]] = {"batch_size": 8}

    data: MnistDataOptions = MnistDataOptions()
    model: ProbeModelOptions = ProbeModelOptions()
