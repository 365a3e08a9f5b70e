"""Byte-level Transformer LM on Debian's fortunes: ./pants run apps/text_lm -- --random_seed=123"""

import repro_experiment
from text_lm.options import TextLmOptions


def experiment():
    from text_lm import train_lib  # imports TensorFlow: only after the pins

    return train_lib.EXPERIMENT


APP = repro_experiment.App("text_lm", TextLmOptions, experiment)

if __name__ == "__main__":
    APP.main()
