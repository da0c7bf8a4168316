"""SIGTERM to pytest becomes a clean shutdown, like Ctrl-C.

CI systems cancel a job with SIGTERM. Python's default for it is to die at once: no finally
blocks, no fixture teardown, so the Locust child group and the `--aks-local` server (both in
their own sessions, out of reach of the terminal's signals) would live on. Raised as a
KeyboardInterrupt instead, it unwinds like Ctrl-C: the runner kills the child group and keeps
the partial result, pytest tears down session fixtures and reports the run as interrupted.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class TerminatedBySignal(KeyboardInterrupt):
    """pytest received SIGTERM."""


class SigtermAsInterrupt:
    """Installs the SIGTERM handler for a session and puts the previous one back afterwards."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        # Only the main thread may set handlers, and a handler someone else installed (a CI
        # wrapper, another plugin) is theirs to keep.
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        self._installed = True

    def restore(self) -> None:
        if not self._installed:
            return
        self._installed = False
        # A handler installed on top of ours since (a test, another plugin) is theirs to keep.
        if signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # A second SIGTERM during the clean-up must still kill at once.
        self.restore()
        raise TerminatedBySignal(f"received signal {signal.Signals(signum).name}")
