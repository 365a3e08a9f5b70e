"""A reproducible byte-level Transformer language model on real English text (Debian's
fortunes): `./pants run apps/text_lm -- --random_seed=123`. The experiment is
train_lib.EXPERIMENT; the skeleton (repro_experiment) runs it."""

import repro_experiment
from text_lm.options import TextLmOptions


def experiment():
    from text_lm import train_lib  # imports TensorFlow: only after the pins

    return train_lib.EXPERIMENT


if __name__ == "__main__":
    repro_experiment.main("text_lm", TextLmOptions, experiment)
