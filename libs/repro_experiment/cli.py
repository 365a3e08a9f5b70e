"""An app's entry point, `App`, and its `main`: its flags, the numerics pins, a cluster or
`--local_workers`, then the run.

    # apps/<name>/<name>/train.py
    import repro_experiment
    from <name>.options import MyOptions

    def experiment():
        from <name> import train_lib  # imports TensorFlow: only after the pins

        return train_lib.EXPERIMENT

    APP = repro_experiment.App("<name>", MyOptions, experiment)

    if __name__ == "__main__":
        APP.main()

The tools know an app by its `APP` (apps/repro/repro/apps.py imports every app's train.py).
No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from absl import app

import repro_app
import repro_cluster

if TYPE_CHECKING:
    from repro_experiment.experiment import Experiment

# fn(opts, log): a command the app runs instead of training (e.g. the GAN's --eval).
Command = Callable[[Any, Callable[[str], None]], Any]


def main(
    name: str,
    options: type[repro_app.RunOptions],
    experiment: Callable[[], Any],
    instead: Callable[[], Command | None] | None = None,
) -> None:
    """Defines the flags of `options` (one per leaf, with its FLAG_DEFAULTS) and
    --local_workers in the app's main module, then runs absl's app: parses them, pins the
    numerics, launches N local processes or joins TF_CONFIG's cluster, and trains.

    Args:
      name: the app's package (`python -m <name>.train` starts each local worker).
      options: its RunOptions subclass.
      experiment: fn() -> its Experiment (imports TensorFlow: called after the pins).
      instead: fn() -> a Command to run instead of training (with the resolved options), or
        None to train; called after the flags are parsed.
    """
    module = sys.argv[0]  # absl lists the main module's flags under its file name
    holders = repro_app.define_flags(options, options.FLAG_DEFAULTS, module_name=module)
    local_workers = repro_cluster.define_local_workers_flag(module_name=module)

    def run(argv: list[str]) -> None:
        opts = repro_app.parse_options(argv, options, {n: h.value for n, h in holders.items()})
        cluster = repro_cluster.cluster_or_launch(
            local_workers.value, f"{name}.train", opts.model.micro_batches
        )
        declared = experiment()  # imports TensorFlow: only now
        from repro_experiment import runner

        opts = runner.resolved(declared, opts)
        command = instead() if instead is not None else None
        if command is not None:
            repro_app.run(command, opts)
        else:
            repro_app.run(lambda log: runner.train(declared, opts, log, cluster))

    app.run(run)


@dataclasses.dataclass(frozen=True)
class App:
    """An app, as its train.py declares it (`APP`) and every tool runs it.

    Attributes:
      name: its package; `python -m <name>.train` runs it.
      options: its RunOptions subclass (its `QUICK` settings: `quick_flags`).
      experiment: fn() -> its Experiment (imports TensorFlow: called after the pins).
      instead: fn() -> a Command to run instead of training, or None (see `main`).
    """

    name: str
    options: type[repro_app.RunOptions]
    experiment: Callable[[], Experiment]
    instead: Callable[[], Command | None] | None = None

    @property
    def module(self) -> str:
        """The module a run starts: `python -m <name>.train`."""
        return f"{self.name}.train"

    def quick_flags(self) -> list[str]:
        """Its options' QUICK settings as flags (the smallest run that builds every op, with
        results of seconds)."""
        return [f"--{name}={value}" for name, value in self.options.QUICK.items()]

    def quick_data_flags(self, directory: str) -> list[str]:
        """Flags of its data group's quick data (DataOptions.quick_data), written under
        `directory` (which exists): a small sample of its dataset, what the tests run on."""
        data_group = type(self.options().data)
        return [f"--{name}={value}" for name, value in data_group.quick_data(directory).items()]

    def main(self) -> None:
        """The app's `main` (see `main`)."""
        main(self.name, self.options, self.experiment, self.instead)
