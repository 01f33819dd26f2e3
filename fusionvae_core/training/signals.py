"""Graceful stop on SIGINT (Ctrl-C) and SIGTERM: the training loop checkpoints after the current step and exits."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Records the first SIGINT/SIGTERM; later ones are reported and otherwise ignored until the checkpoint is safe."""

    def __init__(self) -> None:
        self.signal_number: int | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop signal has arrived."""
        return self.signal_number is not None

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        """Signal handler: remember the signal and tell the user what happens next."""
        name = signal.Signals(signal_number).name
        if self.signal_number is None:
            self.signal_number = signal_number
            print(f"\n{name} received: saving a checkpoint after the current step, then exiting", file=sys.stderr)
        else:
            print(f"\n{name} received again: still saving the checkpoint, please wait", file=sys.stderr)

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Install the handlers for the duration of the block and restore the previous ones afterwards."""
        previous = {number: signal.signal(number, self._handle) for number in HANDLED_SIGNALS}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def ignore_stop_signals(_worker_id: int = 0) -> None:
    """DataLoader worker init: leave SIGINT/SIGTERM to the main process, which stops the workers itself."""
    for number in HANDLED_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
