"""The ways a training app refuses or stops, each one line and its own exit status:
2 refused, 3 a NaN/Inf loss, 4 a lost cluster process, 5 preempted (a signal), 6 no space."""

from __future__ import annotations

EXIT_REFUSED = 2
EXIT_NON_FINITE = 3


class RunError(Exception):
    """A refusal the user can fix (bad data, a model_dir of another run, a busy model_dir):
    one line, exit status 2, nothing already written lost."""

    exit_status = EXIT_REFUSED


class RefusedGraphError(RunError):
    """A graph holds an op the audit refuses (tf_determinism.graph_audit): one whose bits follow
    the CPU model (an approximate instruction), or in a train graph a stateful random op. Refused
    before its session starts, exit status 2."""


class NonFiniteLossError(RunError):
    """Training produced a NaN or Inf loss: exit status 3. Everything up to the last checkpoint
    is kept; a rerun resumes from there and, being reproducible, meets the same value at the
    same step."""

    exit_status = EXIT_NON_FINITE

    def __init__(self, step: int, loss: str, kind: str, checkpoint: str | None) -> None:
        super().__init__(
            f"step {step}: {loss} is {kind}; last good checkpoint: {checkpoint or 'none'}"
        )
        self.step, self.loss, self.kind, self.checkpoint = step, loss, kind, checkpoint


EXIT_LOST_PEER = 4


class LostPeerError(RunError):
    """A process of the cluster was lost mid-run: exit status 4. The chief's checkpoints and
    losses.csv rows up to the last checkpoint are kept; rerunning resumes from there."""

    exit_status = EXIT_LOST_PEER


EXIT_PREEMPTED = 5


class PreemptedError(RunError):
    """SIGTERM or SIGINT stopped training after a finished step, which was checkpointed: exit
    status 5. The same command resumes from that checkpoint, to the same bits."""

    exit_status = EXIT_PREEMPTED

    def __init__(self, signal_name: str, step: int, checkpoint: str | None) -> None:
        super().__init__(
            f"{signal_name}: stopped after step {step}, checkpoint "
            f"{checkpoint or 'none'}; the same command resumes from it"
        )
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint


EXIT_NO_SPACE = 6


class NoSpaceError(RunError):
    """The run directory's file system is full (or its quota): exit status 6. What was being
    written is removed (a partial checkpoint, a temporary file); everything before is kept,
    and after room is freed the same command resumes from the last checkpoint."""

    exit_status = EXIT_NO_SPACE

    def __init__(self, directory: str, what: str, detail: str) -> None:
        super().__init__(
            f"no space left in {directory} ({detail}) writing {what}; free room "
            "there and rerun the same command to resume from the last checkpoint"
        )
        self.directory, self.what = directory, what
