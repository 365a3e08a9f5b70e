"""Reproducible MNIST GAN: `./pants run apps/mnist_gan -- --random_seed=123`.

Flags are the leaves of options.GanOptions, --local_workers, and --eval's three. The experiment
itself (input, model, logged losses, samples.png) is train_lib.EXPERIMENT, run by the skeleton
(repro_experiment), which imports TensorFlow only after the numerics pins are set.
"""

from absl import flags

import repro_experiment
from mnist_gan.options import GanOptions

_EVAL = flags.DEFINE_boolean(
    "eval",
    False,
    "Instead of training, evaluate the latest checkpoint in --model_dir: MNIST score and Frechet "
    "distance of --num_eval_images generated images (keyed by the run's seed tree) vs the test "
    "split, plus the real-data ceiling -> <model_dir>/eval.json.",
)
_CLASSIFIER_DIR = flags.DEFINE_string(
    "classifier_dir",
    "runs/mnist_classifier/seed123/export",
    "Classifier SavedModel for --eval (made by "
    "`./pants run apps/mnist_classifier -- --random_seed=123`).",
)
_NUM_EVAL_IMAGES = flags.DEFINE_integer(
    "num_eval_images", 10000, "Generated images scored by --eval.", lower_bound=2
)


def _evaluate(opts: GanOptions, log) -> dict:
    from mnist_gan import eval_lib

    return eval_lib.run_eval(
        str(opts.model_dir), _CLASSIFIER_DIR.value, _NUM_EVAL_IMAGES.value, log
    )


def experiment():
    from mnist_gan import train_lib  # imports TensorFlow: only after the pins

    return train_lib.EXPERIMENT


APP = repro_experiment.App(
    "mnist_gan", GanOptions, experiment, instead=lambda: _evaluate if _EVAL.value else None
)

if __name__ == "__main__":
    APP.main()
