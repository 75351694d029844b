"""What a backend may poll: a transaction's events and its final verdict (the ``TransactionRecorder`` port).

The verifier itself needs none of this (the sealed transaction and the webhook carry everything), so the
recorder is optional. ``NullRecorder`` records nothing: it serves the in-memory deployment, where a status
kept by one replica would be wrong on the others, and the zero-retention mode, where the operator keeps
only what delivery needs. ``RedisRecorder`` keeps, per transaction, a bounded event list and the first
final verdict, and every write pushes both keys' expiry ``retention`` seconds ahead. ``MemoryRecorder``
does the same in process memory for the last few hundred transactions: the development playground's feed
(one process, nothing durable, never wired in production).

Keys (the transaction id is the Redis Cluster hash tag, so the two keys of a transaction share a slot)::

    <prefix>:tx:{<transaction_id>}:events    list of JSON events, oldest first, at most MAX_EVENTS
    <prefix>:tx:{<transaction_id>}:verdict   JSON {result, verdict_jwt, at}, set once (NX)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

import msgspec
import redis.asyncio as aioredis

from service.errors import ConfigurationError
from service.stores.redis_replay import check_key_prefix, ping, store_errors
from service.vocabulary import RESULT_REJECTED, RESULT_VERIFIED

__all__ = [
    "MAX_EVENTS",
    "MemoryRecorder",
    "NullRecorder",
    "RedisRecorder",
    "TransactionEvent",
    "TransactionRecorder",
    "TransactionStatus",
]

MAX_EVENTS: Final = 64
"""Events kept per transaction; a wallet fetching the request in a loop must not grow the list forever."""

State = Literal["pending", "verified", "rejected", "expired"]


class TransactionEvent(msgspec.Struct, frozen=True):
    """One thing that happened to a transaction."""

    event: str
    """``request_retrieved``, ``response_received``, ``verdict_delivered``, ``verdict_dead_lettered``..."""
    at: float
    """Unix seconds."""
    detail: str | None = None
    """Optional context, e.g. the webhook event type of a delivered verdict."""


class TransactionStatus(msgspec.Struct, frozen=True):
    """A transaction as a poller sees it."""

    transaction_id: str
    state: State
    """``pending`` until a final verdict is stored, then that verdict's result."""
    verdict_jwt: str | None
    """The signed verdict (compact JWS), as sent in the webhook."""
    decided_at: float | None
    events: tuple[TransactionEvent, ...]


class _StoredVerdict(msgspec.Struct, frozen=True):
    result: str
    verdict_jwt: str
    at: float


class TransactionRecorder(Protocol):
    """Records transaction events and the final verdict for polling."""

    @property
    def enabled(self) -> bool:
        """False when nothing is recorded, so the status endpoint can say it needs a store."""
        ...

    async def record_event(
        self, transaction_id: str, event: str, *, at: float, detail: str | None = None
    ) -> None:
        """Append an event; raises ``DependencyUnavailable`` when the store is down."""
        ...

    async def store_verdict(self, transaction_id: str, *, result: str, verdict_jwt: str, at: float) -> None:
        """Keep the final verdict; the first one stored wins, later calls change nothing."""
        ...

    async def status(self, transaction_id: str) -> TransactionStatus | None:
        """The recorded status, or None when nothing is (or is any longer) recorded."""
        ...


class NullRecorder:
    """Records nothing: the in-memory deployment and the zero-retention mode."""

    @property
    def enabled(self) -> bool:
        """Always False."""
        return False

    async def record_event(
        self, transaction_id: str, event: str, *, at: float, detail: str | None = None
    ) -> None:
        """Drop the event."""

    async def store_verdict(self, transaction_id: str, *, result: str, verdict_jwt: str, at: float) -> None:
        """Drop the verdict."""

    async def status(self, transaction_id: str) -> TransactionStatus | None:
        """Always None."""
        return None


@dataclass
class _MemoryEntry:
    events: list[TransactionEvent] = field(default_factory=list)
    verdict: _StoredVerdict | None = None
    expires_at: float = 0.0


class MemoryRecorder:
    """``TransactionRecorder`` in process memory, bounded in count and time (development only).

    Keeps the ``max_transactions`` most recently written transactions; each is forgotten ``retention``
    seconds after its last write, like ``RedisRecorder``'s keys. Only one process sees it, so it suits a
    single development replica (the playground) and nothing else.
    """

    def __init__(self, *, clock: Callable[[], float], retention: float, max_transactions: int = 200) -> None:
        if retention <= 0 or max_transactions < 1:
            raise ConfigurationError(
                "config.store", "A memory recorder needs a positive retention and capacity"
            )
        self._clock = clock
        self._retention = retention
        self._max = max_transactions
        # Ordered by last write: the least recently written (and so the first to expire) come first.
        self._entries: OrderedDict[str, _MemoryEntry] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Always True."""
        return True

    async def record_event(
        self, transaction_id: str, event: str, *, at: float, detail: str | None = None
    ) -> None:
        """Append the event (the first MAX_EVENTS are kept, as on Redis) and extend the retention."""
        entry = self._touch(transaction_id)
        if len(entry.events) < MAX_EVENTS:
            entry.events.append(TransactionEvent(event=event, at=at, detail=detail))

    async def store_verdict(self, transaction_id: str, *, result: str, verdict_jwt: str, at: float) -> None:
        """Keep the first final verdict and extend the retention."""
        if result not in {RESULT_VERIFIED, RESULT_REJECTED}:
            raise ValueError(f"unknown verdict result {result!r}")
        entry = self._touch(transaction_id)
        if entry.verdict is None:
            entry.verdict = _StoredVerdict(result=result, verdict_jwt=verdict_jwt, at=at)

    async def status(self, transaction_id: str) -> TransactionStatus | None:
        """The recorded status; None when unknown, evicted or past its retention."""
        self._expire()
        entry = self._entries.get(transaction_id)
        if entry is None:
            return None
        decided = entry.verdict
        return TransactionStatus(
            transaction_id=transaction_id,
            state=_state(decided),
            verdict_jwt=None if decided is None else decided.verdict_jwt,
            decided_at=None if decided is None else decided.at,
            events=tuple(entry.events),
        )

    @property
    def size(self) -> int:
        """Transactions currently remembered (not ``__len__``: an empty recorder must stay truthy)."""
        return len(self._entries)

    def _touch(self, transaction_id: str) -> _MemoryEntry:
        self._expire()
        entry = self._entries.pop(transaction_id, None) or _MemoryEntry()
        entry.expires_at = self._clock() + self._retention
        self._entries[transaction_id] = entry
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return entry

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.expires_at > now:
                break
            self._entries.popitem(last=False)


class RedisRecorder:
    """``TransactionRecorder`` on Redis; every key expires ``retention`` seconds after its last write."""

    def __init__(self, client: aioredis.Redis, *, retention: float, key_prefix: str = "verifier") -> None:
        if retention <= 0:
            raise ConfigurationError(
                "config.store", "Retention must be positive; zero retention records nothing"
            )
        self._client = client
        self._ttl_ms = math.ceil(retention * 1000)
        self._prefix = f"{check_key_prefix(key_prefix)}:tx:"

    @property
    def enabled(self) -> bool:
        """Always True."""
        return True

    async def record_event(
        self, transaction_id: str, event: str, *, at: float, detail: str | None = None
    ) -> None:
        """Append the event, keep the first MAX_EVENTS, and extend the retention of both keys.

        The oldest events are the ones kept: ``created`` carries the expiry polling needs, and anyone with
        the QR link can add ``request_retrieved`` events, which must not push it out. The verdict itself is
        stored apart, so a truncated event list never hides the outcome.
        """
        events, verdict = self._keys(transaction_id)
        entry = msgspec.json.encode(TransactionEvent(event=event, at=at, detail=detail))
        with store_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.rpush(events, entry)
                pipe.ltrim(events, 0, MAX_EVENTS - 1)
                pipe.pexpire(events, self._ttl_ms)
                pipe.pexpire(verdict, self._ttl_ms)  # a verdict must not expire before its events
                await pipe.execute()

    async def store_verdict(self, transaction_id: str, *, result: str, verdict_jwt: str, at: float) -> None:
        """Keep the first final verdict (SET NX) and extend the retention of both keys."""
        if result not in {RESULT_VERIFIED, RESULT_REJECTED}:
            raise ValueError(f"unknown verdict result {result!r}")
        events, verdict = self._keys(transaction_id)
        stored = msgspec.json.encode(_StoredVerdict(result=result, verdict_jwt=verdict_jwt, at=at))
        with store_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(verdict, stored, nx=True, px=self._ttl_ms)
                pipe.pexpire(verdict, self._ttl_ms)
                pipe.pexpire(events, self._ttl_ms)
                await pipe.execute()

    async def status(self, transaction_id: str) -> TransactionStatus | None:
        """Events and verdict read in one round trip; None when neither exists."""
        events, verdict = self._keys(transaction_id)
        with store_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.lrange(events, 0, -1)
                pipe.get(verdict)
                raw_events, raw_verdict = await pipe.execute()
        if not raw_events and raw_verdict is None:
            return None
        decided = None if raw_verdict is None else msgspec.json.decode(raw_verdict, type=_StoredVerdict)
        return TransactionStatus(
            transaction_id=transaction_id,
            state=_state(decided),
            verdict_jwt=None if decided is None else decided.verdict_jwt,
            decided_at=None if decided is None else decided.at,
            events=tuple(msgspec.json.decode(raw, type=TransactionEvent) for raw in raw_events),
        )

    async def ping(self) -> bool:
        """Readiness: True when the store answers."""
        return await ping(self._client)

    def _keys(self, transaction_id: str) -> tuple[str, str]:
        base = f"{self._prefix}{{{transaction_id}}}"
        return f"{base}:events", f"{base}:verdict"


def _state(decided: _StoredVerdict | None) -> State:
    if decided is None:
        return "pending"
    return "verified" if decided.result == RESULT_VERIFIED else "rejected"
