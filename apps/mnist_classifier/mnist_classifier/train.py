"""Reproducible MNIST classifier: `./pants run apps/mnist_classifier -- --random_seed=123`.

Trains the CNN of model.py on the seeded MNIST TFRecords, exports a SavedModel to
<model_dir>/export and writes run.json and metrics.json (test accuracy). Flags are the leaves of
options.ClassifierOptions; TensorFlow is imported only after the numerics pins are set.
"""

from absl import app

import repro_app
from mnist_classifier.options import DEFAULTS, ClassifierOptions

_FLAGS = repro_app.define_flags(ClassifierOptions, DEFAULTS)


def main(argv: list[str]) -> None:
    opts = repro_app.parse_options(argv, ClassifierOptions,
                                   {n: f.value for n, f in _FLAGS.items()})
    from mnist_classifier import train_lib  # imports TensorFlow: only now

    repro_app.run(train_lib.run_training, opts.with_model_dir())


if __name__ == "__main__":
    app.run(main)
