"""The MNIST GAN's options: the shared groups, MNIST's data group, and its model (TF-GAN example
defaults).

No TensorFlow here: the skeleton (repro_experiment.main) defines the flags from these
classes before TF is imported.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from mnist_input import MnistDataOptions
from repro_app import ModelOptions, RunOptions, option

# gan_models.GAN_TYPES / LOSS_NAMES (importing gan_models imports TF; a test checks they match).
GAN_TYPES = ("unconditional", "conditional", "infogan")
LOSS_NAMES = ("wasserstein", "minimax", "modified", "least_squares")


@dataclasses.dataclass(frozen=True)
class GanModelOptions(ModelOptions):
    """Which GAN, and how it learns (gan_models.GANConfig, minus the seeds; each micro-batch
    is its own pass with its own batch-norm statistics)."""

    gan_type: str = option("unconditional", "GAN variant.", choices=GAN_TYPES)
    loss: str | None = option(
        None,
        "GAN loss. Default: wasserstein (unconditional, conditional), modified (infogan).",
        choices=LOSS_NAMES,
    )
    noise_dims: int = option(64, "Generator noise size.", lower_bound=1)
    gen_lr: float | None = option(
        None,
        "Generator Adam learning rate. Default: TF-GAN's MNIST example's for the gan_type "
        "(unconditional 1e-3, conditional 1e-5, infogan 1e-4).",
        positive=True,
    )
    crit_lr: float | None = option(
        None, "Critic Adam learning rate. Default: the example's (1e-4).", positive=True
    )
    gradient_penalty_weight: float | None = option(
        None, "WGAN-GP weight (off by default, as in TF-GAN's example).", lower_bound=0
    )
    width_divisor: int = option(
        1,
        "Divide every layer's width of TF-GAN's example networks by this (1, 2, 4, 8, 16 or "
        "32): the same ops and graph at a fraction of the weights, for quick looks and tests. "
        "Part of the model.",
        choices=(1, 2, 4, 8, 16, 32),
    )


@dataclasses.dataclass(frozen=True)
class GanOptions(RunOptions):
    """Everything one GAN run depends on (default model_dir:
    runs/mnist_gan/<gan_type>-<loss>-seed<seed>)."""

    # Every op of the example's graphs at 1/16 of its widths (about 1/200 of the weights).
    QUICK: ClassVar[dict[str, Any]] = {"width_divisor": 16, "batch_size": 8}

    data: MnistDataOptions = MnistDataOptions()
    model: GanModelOptions = GanModelOptions()
