"""Reproducible MNIST GAN: `./pants run apps/mnist_gan -- --random_seed=123`.

Flags are the leaves of options.GanOptions (repro_app defines them), plus --eval's three and
--local_workers. TensorFlow is imported only after the numerics pins are in the environment.
With TF_CONFIG set, this process is one member of a cluster (repro_cluster).
"""

from absl import app, flags

import repro_app
import repro_cluster
from mnist_gan.options import GanOptions

_FLAGS = repro_app.define_flags(GanOptions)
_EVAL = flags.DEFINE_boolean(
    "eval", False,
    "Instead of training, evaluate the latest checkpoint in --model_dir: MNIST score and Frechet "
    "distance of --num_eval_images generated images (keyed by the run's seed tree) vs the test "
    "split, plus the real-data ceiling -> <model_dir>/eval.json.")
_CLASSIFIER_DIR = flags.DEFINE_string(
    "classifier_dir", "runs/mnist_classifier/seed123/export",
    "Classifier SavedModel for --eval (made by "
    "`./pants run apps/mnist_classifier -- --random_seed=123`).")
_NUM_EVAL_IMAGES = flags.DEFINE_integer(
    "num_eval_images", 10000, "Generated images scored by --eval.", lower_bound=2)
_LOCAL_WORKERS = repro_cluster.define_local_workers_flag()


def main(argv: list[str]) -> None:
    opts = repro_app.parse_options(argv, GanOptions, {n: f.value for n, f in _FLAGS.items()})
    cluster = repro_cluster.cluster_or_launch(_LOCAL_WORKERS.value, "mnist_gan.train",
                                              opts.model.micro_batches)
    from mnist_gan import train_lib  # imports TensorFlow: only now

    opts = train_lib.resolved(opts)
    if _EVAL.value:
        from mnist_gan import eval_lib

        repro_app.run(eval_lib.run_eval, opts.model_dir, _CLASSIFIER_DIR.value,
                      _NUM_EVAL_IMAGES.value)
    else:
        repro_app.run(lambda log: train_lib.run_experiment(opts, log, cluster=cluster))


if __name__ == "__main__":
    app.run(main)
