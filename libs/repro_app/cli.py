"""Parts of an app's `main` (repro_experiment.main uses them): stray arguments, numerics pins,
one-line failures.

    _FLAGS = repro_app.define_flags(MyOptions)

    def main(argv):
        opts = repro_app.parse_options(argv, MyOptions, {n: f.value for n, f in _FLAGS.items()})
        from repro_experiment import runner   # imports TensorFlow: only now
        repro_app.run(lambda log: runner.train(experiment, opts, log))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from absl import app, logging

import tf_determinism
from repro_app import options as options_lib
from repro_app.errors import EXIT_REFUSED, RunError


def parse_options(argv: list[str], cls: type, values: Mapping[str, Any]) -> Any:
    """Builds the options from parsed flag values and pins numerics before TF is imported.

    Raises:
      app.UsageError: stray positional arguments, or flags that do not fit together.
      SystemExit(2): a numerics pin this machine cannot honour (one line logged).
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        opts = options_lib.from_values(cls, values)
    except ValueError as e:  # A check across flags (one flag's own checks ran in absl).
        raise app.UsageError(str(e)) from None
    try:
        tf_determinism.configure_environment(opts.numerics)
    except tf_determinism.PinError as e:
        logging.error("%s", e)
        raise SystemExit(EXIT_REFUSED) from None
    return opts


def run(fn: Callable[..., Any], *args: Any) -> Any:
    """Calls fn(*args, log); a RunError ends the process with one line and its exit status."""
    try:
        return fn(*args, logging.info)
    except RunError as e:
        logging.error("%s", e)
        raise SystemExit(e.exit_status) from None
