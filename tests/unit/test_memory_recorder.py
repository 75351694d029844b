"""MemoryRecorder: the playground's in-memory transaction record, bounded in count and in time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.clock import FrozenClock
from service.errors import ConfigurationError
from service.stores import MemoryRecorder, TransactionRecorder
from service.stores.recorder import MAX_EVENTS


def _recorder(clock: FrozenClock, *, retention: float = 60.0, max_transactions: int = 200) -> MemoryRecorder:
    return MemoryRecorder(clock=clock, retention=retention, max_transactions=max_transactions)


def test_events_then_the_first_verdict() -> None:
    """Pending with events in order; the first final verdict wins, a later one changes nothing."""
    clock = FrozenClock(1000.0)
    recorder: TransactionRecorder = _recorder(clock)
    assert recorder.enabled

    async def scenario() -> tuple[Any, Any, Any]:
        unknown = await recorder.status("tx-1")
        await recorder.record_event("tx-1", "created", at=1000.0, detail="1300")
        await recorder.record_event("tx-1", "request_retrieved", at=1001.0)
        pending = await recorder.status("tx-1")
        await recorder.store_verdict("tx-1", result="verified", verdict_jwt="a.b.c", at=1002.0)
        await recorder.store_verdict("tx-1", result="rejected", verdict_jwt="x.y.z", at=1003.0)
        return unknown, pending, await recorder.status("tx-1")

    unknown, pending, decided = asyncio.run(scenario())
    assert unknown is None
    assert pending is not None
    assert pending.state == "pending"
    assert [e.event for e in pending.events] == ["created", "request_retrieved"]
    assert pending.events[0].detail == "1300"
    assert decided.state == "verified"
    assert decided.verdict_jwt == "a.b.c"
    assert decided.decided_at == 1002.0


def test_forgets_a_transaction_retention_seconds_after_its_last_write() -> None:
    clock = FrozenClock(0.0)
    recorder = _recorder(clock, retention=10.0)

    async def scenario() -> list[bool]:
        seen = []
        await recorder.record_event("tx-1", "created", at=0.0)
        clock.advance(8)
        await recorder.record_event("tx-1", "request_retrieved", at=8.0)  # extends to 18
        clock.advance(8)
        seen.append(await recorder.status("tx-1") is not None)
        clock.advance(2)
        seen.append(await recorder.status("tx-1") is not None)
        return seen

    assert asyncio.run(scenario()) == [True, False]
    assert recorder.size == 0


def test_keeps_only_the_most_recently_written_transactions() -> None:
    """Capacity 3: a fourth transaction evicts the one written least recently."""
    clock = FrozenClock(0.0)
    recorder = _recorder(clock, max_transactions=3)

    async def scenario() -> list[bool]:
        for name in ("a", "b", "c"):
            await recorder.record_event(name, "created", at=0.0)
        await recorder.record_event("a", "request_retrieved", at=1.0)  # a is now the newest
        await recorder.record_event("d", "created", at=2.0)
        return [await recorder.status(name) is not None for name in ("a", "b", "c", "d")]

    assert asyncio.run(scenario()) == [True, False, True, True]
    assert recorder.size == 3


def test_event_list_is_bounded_and_keeps_the_oldest() -> None:
    """As on Redis: anyone with the link can add request_retrieved events; `created` must stay."""
    recorder = _recorder(FrozenClock(0.0))

    async def scenario() -> list[str]:
        await recorder.record_event("tx", "created", at=0.0, detail="300")
        for _ in range(MAX_EVENTS + 10):
            await recorder.record_event("tx", "request_retrieved", at=1.0)
        status = await recorder.status("tx")
        assert status is not None
        return [event.event for event in status.events]

    events = asyncio.run(scenario())
    assert len(events) == MAX_EVENTS
    assert events[0] == "created"


def test_refuses_unknown_results_and_bad_bounds() -> None:
    recorder = _recorder(FrozenClock(0.0))
    with pytest.raises(ValueError, match="unknown verdict result"):
        asyncio.run(recorder.store_verdict("tx", result="maybe", verdict_jwt="a.b.c", at=0.0))
    with pytest.raises(ConfigurationError):
        MemoryRecorder(clock=FrozenClock(0.0), retention=0)
    with pytest.raises(ConfigurationError):
        MemoryRecorder(clock=FrozenClock(0.0), retention=10, max_transactions=0)
