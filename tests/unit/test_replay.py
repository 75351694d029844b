"""Single use: the in-memory replay guard accepts a transaction once until it can no longer be answered."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from service.replay import MemoryReplayGuard, ReplayGuard

NOW = 1_700_000_000.0


def _run(coro: Coroutine[Any, Any, bool]) -> bool:
    return asyncio.run(coro)


def _consume(guard: MemoryReplayGuard, transaction_id: str, *, expires_at: float, now: float) -> bool:
    return _run(guard.consume(transaction_id, expires_at=expires_at, now=now))


class TestMemoryReplayGuard:
    def test_first_consume_then_refused(self) -> None:
        """The first consume of an id returns True, the second (even a second later) False."""
        guard = MemoryReplayGuard()
        assert _consume(guard, "t1", expires_at=NOW + 300, now=NOW)
        assert not _consume(guard, "t1", expires_at=NOW + 300, now=NOW + 1)

    def test_ids_are_independent(self) -> None:
        """Consuming one id does not consume another."""
        guard = MemoryReplayGuard()
        assert _consume(guard, "t1", expires_at=NOW + 300, now=NOW)
        assert _consume(guard, "t2", expires_at=NOW + 300, now=NOW)
        assert len(guard) == 2

    def test_still_refused_at_expiry(self) -> None:
        """At exactly expires_at the entry is still held: a replay is refused."""
        guard = MemoryReplayGuard()
        assert _consume(guard, "t1", expires_at=NOW + 300, now=NOW)
        assert not _consume(guard, "t1", expires_at=NOW + 300, now=NOW + 300)

    def test_evicted_after_expiry(self) -> None:
        """After expires_at the entry is evicted, and the id is accepted again."""
        guard = MemoryReplayGuard()
        assert _consume(guard, "t1", expires_at=NOW + 300, now=NOW)
        assert _consume(guard, "t2", expires_at=NOW + 900, now=NOW)
        assert _consume(guard, "t3", expires_at=NOW + 900, now=NOW + 301)
        assert len(guard) == 2
        assert _consume(guard, "t1", expires_at=NOW + 900, now=NOW + 302)

    def test_max_entries_refuses_new_ids(self) -> None:
        """With max_entries live entries, a new id is refused rather than an old one forgotten."""
        guard = MemoryReplayGuard(max_entries=2)
        assert _consume(guard, "t1", expires_at=NOW + 300, now=NOW)
        assert _consume(guard, "t2", expires_at=NOW + 300, now=NOW)
        assert not _consume(guard, "t3", expires_at=NOW + 300, now=NOW)
        assert not _consume(guard, "t1", expires_at=NOW + 300, now=NOW)
        assert len(guard) == 2

    def test_room_again_after_eviction(self) -> None:
        """Once entries expire, a full guard accepts new ids again."""
        guard = MemoryReplayGuard(max_entries=1)
        assert _consume(guard, "t1", expires_at=NOW + 10, now=NOW)
        assert not _consume(guard, "t2", expires_at=NOW + 300, now=NOW + 5)
        assert _consume(guard, "t2", expires_at=NOW + 300, now=NOW + 11)

    def test_concurrent_consumes_accept_exactly_one(self) -> None:
        """Many concurrent consumes of one id in one event loop accept exactly one."""
        guard = MemoryReplayGuard()

        async def race() -> list[bool]:
            calls = [guard.consume("t1", expires_at=NOW + 300, now=NOW) for _ in range(50)]
            return list(await asyncio.gather(*calls))

        assert sorted(asyncio.run(race())) == [False] * 49 + [True]

    def test_satisfies_the_port(self) -> None:
        """MemoryReplayGuard can be used wherever a ReplayGuard is expected."""
        guard: ReplayGuard = MemoryReplayGuard()
        assert _run(guard.consume("t1", expires_at=NOW + 1, now=NOW))
