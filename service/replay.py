"""Single use: a transaction's response is accepted once (OpenID4VP §14.1, SIOPv2 §11.2).

The only stateful port of the verifier. One replica keeps it in memory; replicas that scale out share a
store (a later addition) implementing the same one-method protocol.
"""

from __future__ import annotations

import heapq
from typing import Protocol

__all__ = ["MemoryReplayGuard", "ReplayGuard"]


class ReplayGuard(Protocol):
    """Atomically mark a transaction used."""

    async def consume(self, transaction_id: str, *, expires_at: float, now: float) -> bool:
        """Return True the first time ``transaction_id`` is seen before ``expires_at``, else False."""
        ...

    async def release(self, transaction_id: str) -> None:
        """Undo a ``consume`` whose response could not be taken (its verdict could not be queued)."""
        ...


class MemoryReplayGuard:
    """In-process guard; entries are dropped once their transaction could no longer be answered."""

    def __init__(self, *, max_entries: int = 1_000_000) -> None:
        self._seen: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []
        self._max_entries = max_entries

    async def consume(self, transaction_id: str, *, expires_at: float, now: float) -> bool:
        """Mark used; no await happens between the check and the write, so this is atomic in asyncio."""
        self._evict(now)
        if transaction_id in self._seen:
            return False
        if len(self._seen) >= self._max_entries:
            # Refusing is safe (the wallet gets an error); forgetting an entry early would not be.
            return False
        self._seen[transaction_id] = expires_at
        heapq.heappush(self._expiry, (expires_at, transaction_id))
        return True

    async def release(self, transaction_id: str) -> None:
        """Forget a consumed transaction (its stale heap entry expires harmlessly)."""
        self._seen.pop(transaction_id, None)

    def _evict(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            _, transaction_id = heapq.heappop(self._expiry)
            self._seen.pop(transaction_id, None)

    def __len__(self) -> int:
        return len(self._seen)
