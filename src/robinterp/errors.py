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
