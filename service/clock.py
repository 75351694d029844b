"""The one source of time. Validators take ``now`` as a parameter; only the edges call a Clock."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock"]


class Clock(Protocol):
    """Seconds since the epoch."""

    def __call__(self) -> float: ...


class SystemClock:
    """Wall-clock time."""

    def __call__(self) -> float:
        """Now, from the system clock."""
        return time.time()


class FrozenClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        """The frozen instant."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds
