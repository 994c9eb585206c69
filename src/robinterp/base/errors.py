"""Exceptions that end a run with one message naming the file or key and the fix."""


class RobinterpError(Exception):
    """Base class: the CLI prints the message alone (no traceback) and exits 1."""


class ConfigError(RobinterpError):
    """A configuration key is missing, unknown or has a wrong value."""


class DataError(RobinterpError):
    """A dataset is missing, incomplete or corrupt."""


class CheckpointError(RobinterpError):
    """A checkpoint cannot be used with the requested model."""


class TrainingDivergedError(RobinterpError):
    """The training loss became NaN or infinite."""


class Preempted(Exception):
    """Training stopped on a signal (SLURM preemption, time-limit warning) after writing its checkpoint.

    Not a :class:`RobinterpError`: the run did nothing wrong. The CLI exits with
    128 + the signal number, so Snakemake counts the job as failed and retries
    it, and the retry resumes from the checkpoint.
    """

    def __init__(self, signal_name: str, signum: int, message: str):
        super().__init__(message)
        self.signal_name = signal_name
        self.exit_code = 128 + signum
