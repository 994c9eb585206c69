"""Stop training cleanly when SLURM asks: SIGTERM (preemption, ``scancel``) or SIGUSR1.

SLURM sends SIGTERM to every process of a job it preempts, cancels or times
out, and SIGKILL ``KillWait`` seconds later (30 s by default). With
``--signal=USR1@<seconds>`` it also sends SIGUSR1 that long before the time
limit. Both only set a flag here; the training loop looks at it after every
batch, writes a checkpoint and stops, which takes one batch, not one epoch.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """A context manager that turns ``signals`` into a request to stop at the next safe point.

    Args:
        signals: the signals to catch; the previous handlers are restored on exit.

    Attributes:
        signum: the first signal received, or ``None``.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS):
        self.signals = signals
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            log.warning("received %s: stopping after the current batch and writing a checkpoint",
                        signal.Signals(signum).name)

    def __enter__(self) -> "StopRequest":
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
