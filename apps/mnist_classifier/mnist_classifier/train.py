"""Reproducible MNIST classifier: `./pants run apps/mnist_classifier -- --random_seed=123`.

Trains the CNN of model.py on the seeded MNIST TFRecords, exports a SavedModel to
<model_dir>/export and writes run.json and metrics.json (test accuracy). Flags are the leaves of
options.ClassifierOptions, plus --local_workers; TensorFlow is imported only after the
numerics pins are set. With TF_CONFIG set, this process is one member of a cluster
(repro_cluster).
"""

from absl import app

import repro_app
import repro_cluster
from mnist_classifier.options import DEFAULTS, ClassifierOptions

_FLAGS = repro_app.define_flags(ClassifierOptions, DEFAULTS)
_LOCAL_WORKERS = repro_cluster.define_local_workers_flag()


def main(argv: list[str]) -> None:
    opts = repro_app.parse_options(argv, ClassifierOptions,
                                   {n: f.value for n, f in _FLAGS.items()})
    cluster = repro_cluster.cluster_or_launch(_LOCAL_WORKERS.value, "mnist_classifier.train",
                                              opts.model.micro_batches)
    from mnist_classifier import train_lib  # imports TensorFlow: only now

    repro_app.run(lambda log: train_lib.run_training(opts.with_model_dir(), log,
                                                     cluster=cluster))


if __name__ == "__main__":
    app.run(main)
