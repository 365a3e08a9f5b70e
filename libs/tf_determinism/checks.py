"""The one check of an int argument (sizes, counts, seeds), with one message format.

A size or count that is a bool, a float or too small would otherwise reach TensorFlow or numpy
and fail far from its cause, or silently build another graph (True is an int 1 to Python);
refusing it where it enters names the argument: "<name> must be an int >= <minimum>, got
<value>", the format repro_app's option checks use too.
"""

from __future__ import annotations


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Returns `value` if it is an int (not a bool) >= minimum.

    Args:
      name: how the message names the argument, e.g. "GANConfig.noise_dims" or
        "generator_inputs: batch_size".
      value: the argument.
      minimum: the smallest allowed value (1: a positive int; 0: a non-negative one).

    Raises:
      ValueError: "<name> must be an int >= <minimum>, got <value!r>".
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value
