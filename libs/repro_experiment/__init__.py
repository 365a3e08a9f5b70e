"""The skeleton's run: an app declares its experiment, the skeleton runs it, the same for
every app, with every guarantee of this project (the same bits twice, after a resume, on W
processes, after a signal; one line and an exit status for each fault).

  Experiment, Context   what an app declares in its train_lib, and what its parts are given
                        (experiment.py; no TensorFlow)
  App, main             an app's entry point (its train.py's APP, what the tools run) and its
                        `main`: flags, pins, cluster, run (cli.py; no TensorFlow)

TensorFlow-backed, imported after the pins: `repro_experiment.runner` (`train`, the chief's and
a worker's run; `run_config`, the seeded RunConfig an app's Estimator gets; its model_fn built
under seeded Keras initializers) and `repro_experiment.testing` (faults at a step, for tests).
`keras_probe/` is a test app: a model written the usual Keras way.

Layers: it sits above `repro_app` (options, run directory, faults) and `repro_cluster`
(several processes), and knows no dataset and no model.
"""

from repro_experiment.cli import App, main
from repro_experiment.experiment import Context, Experiment

__all__ = ["App", "Context", "Experiment", "main"]
