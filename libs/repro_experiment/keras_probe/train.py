"""The Keras probe: python -m repro_experiment.keras_probe.train --layers=Dense,Conv2D"""

import repro_experiment
from repro_experiment.keras_probe.options import ProbeOptions


def experiment():
    from repro_experiment.keras_probe import train_lib  # imports TensorFlow: after the pins

    return train_lib.EXPERIMENT


APP = repro_experiment.App("repro_experiment.keras_probe", ProbeOptions, experiment)

if __name__ == "__main__":
    APP.main()
