"""Reproducible MNIST classifier: `./pants run apps/mnist_classifier -- --random_seed=123`.

Trains the CNN of model.py on the seeded MNIST TFRecords, exports a SavedModel to
<model_dir>/export and writes metrics.json (test accuracy). Flags are the leaves of
options.ClassifierOptions and --local_workers; the experiment is train_lib.EXPERIMENT, run by
the skeleton (repro_experiment), which imports TensorFlow only after the numerics pins.
"""

import repro_experiment
from mnist_classifier.options import ClassifierOptions


def experiment():
    from mnist_classifier import train_lib  # imports TensorFlow: only after the pins

    return train_lib.EXPERIMENT


APP = repro_experiment.App("mnist_classifier", ClassifierOptions, experiment)

if __name__ == "__main__":
    APP.main()
