"""The parts of a run every reproducible training app shares; `repro_experiment` puts them
together, so that an app only declares its options and its experiment (and copies nothing):

  option, Checked, define_flags,       nested frozen options, checked leaves, one flag per leaf,
  from_values,                         run.json
  to_dict, from_dict, identity, flat,  round trip, run identity (options.py)
  OptionsError
  RunOptions, DataOptions,             the option groups every training app has, no dataset's
  ScheduleOptions, ModelOptions        flags among them; a model group's micro_batches
                                       (groups.py)
  parse_options, run                   the shared `main`: stray args, numerics pinned before
                                       TF is imported, one-line errors (cli.py)
  RunError, NonFiniteLossError,        refusals (exit 2; a graph with a CPU-dependent op, or a
  LostPeerError,                       stateful random op in training, is one), a NaN/Inf loss
  RefusedGraphError,                   (exit 3), a lost cluster process (exit 4), SIGTERM/SIGINT
                                       after a checkpointed step
  PreemptedError, NoSpaceError         (exit 5), a full disk (exit 6)

TensorFlow-backed parts, imported after the pins (by repro_experiment.runner):
`repro_app.run_dir` (lock, refuse, run.json, restored step), `repro_app.data` (prepared records
and the seeded stream over them, for any dataset; MNIST's are in `mnist_input`),
`repro_app.graph_check` (the graph audit hook every Estimator call gets), `repro_app.progress`
(each step's scalars: losses.csv, the progress line, the NaN/Inf stop), `repro_app.preemption`
(signals: finish the step, checkpoint, exit 5), `repro_app.disk_full` (a full disk in one line,
partial checkpoints removed), `repro_app.checkpoint_check` (a torn newest checkpoint: fall back
to the newest intact one), `repro_app.manifest_writer` (each checkpoint's manifest.json entry,
the archive).
Importing this package does not import TensorFlow.
"""

from repro_app.cli import parse_options, run
from repro_app.errors import (
    EXIT_LOST_PEER,
    EXIT_NO_SPACE,
    EXIT_NON_FINITE,
    EXIT_PREEMPTED,
    EXIT_REFUSED,
    LostPeerError,
    NonFiniteLossError,
    NoSpaceError,
    PreemptedError,
    RefusedGraphError,
    RunError,
)
from repro_app.groups import DataOptions, ModelOptions, RunOptions, ScheduleOptions
from repro_app.options import (
    Checked,
    OptionsError,
    define_flags,
    flat,
    from_dict,
    from_values,
    identity,
    option,
    to_dict,
)

__all__ = [
    "Checked",
    "RefusedGraphError",
    "EXIT_LOST_PEER",
    "EXIT_NO_SPACE",
    "EXIT_NON_FINITE",
    "EXIT_PREEMPTED",
    "EXIT_REFUSED",
    "DataOptions",
    "LostPeerError",
    "ModelOptions",
    "NoSpaceError",
    "NonFiniteLossError",
    "PreemptedError",
    "OptionsError",
    "RunError",
    "RunOptions",
    "ScheduleOptions",
    "define_flags",
    "flat",
    "from_dict",
    "from_values",
    "identity",
    "option",
    "parse_options",
    "run",
    "to_dict",
]
