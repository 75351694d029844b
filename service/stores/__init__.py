"""The stateful ports, in memory (one replica) or on Redis/Valkey (replicas that scale out).

``build_stores(url, ...)`` is the one place that picks the backend:

- ``None`` or ``"memory"``: ``MemoryReplayGuard``, ``MemoryOutbox`` and a ``NullRecorder``. Single use holds
  within the process only, and queued webhooks are lost with it.
- a Redis URL (``redis://``, ``rediss://``, ``unix://``): ``RedisReplayGuard`` (SET NX PX),
  ``RedisOutbox`` (stream + consumer group + retry schedule + dead letters) and, unless ``retention`` is
  zero, a ``RedisRecorder`` for polling. All three share one client; ``close()`` releases it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol, TypedDict, Unpack, cast

from service.errors import ConfigurationError
from service.replay import MemoryReplayGuard, ReplayGuard
from service.stores.recorder import (
    MemoryRecorder,
    NullRecorder,
    RedisRecorder,
    TransactionEvent,
    TransactionRecorder,
    TransactionStatus,
)
from service.stores.redis_outbox import DeadLetter, RedisOutbox
from service.stores.redis_replay import STORE_UNAVAILABLE, RedisReplayGuard, connect
from service.webhook import MemoryOutbox, Outbox, WebhookSender

__all__ = [
    "STORE_UNAVAILABLE",
    "DeadLetter",
    "DeadLetters",
    "MemoryRecorder",
    "MemoryTuning",
    "NullRecorder",
    "OutboxTuning",
    "RedisOutbox",
    "RedisRecorder",
    "RedisReplayGuard",
    "Stores",
    "TransactionEvent",
    "TransactionRecorder",
    "TransactionStatus",
    "build_stores",
]

MEMORY: Final = "memory"


class MemoryTuning(TypedDict, total=False):
    """The knobs both outboxes take (see ``MemoryOutbox``)."""

    uniform: Callable[[float, float], float]
    base_delay: float
    max_delay: float
    concurrency: int
    stop_grace: float


_MEMORY_TUNING: Final = MemoryTuning.__optional_keys__


class OutboxTuning(MemoryTuning, total=False):
    """Outbox knobs; a memory store ignores the Redis-only ones, so settings can pass them always."""

    visibility_timeout: float
    """Redis only: seconds an entry may sit unacknowledged before another worker takes it over."""
    poll_interval: float
    """Redis only: the longest a worker blocks reading, and so the lateness of a scheduled retry."""
    consumer: str
    """Redis only: this worker's consumer name; unique per instance by default."""


class DeadLetters(Protocol):
    """The operator's view of deliveries that were given up."""

    async def list_dead(self, limit: int = 100) -> list[DeadLetter]: ...

    async def redrive(self, delivery_id: str, *, retry_period: float | None = None) -> bool: ...


@dataclass(frozen=True)
class Stores:
    """The stateful ports, built together because they share one store connection."""

    replay_guard: ReplayGuard
    outbox: Outbox
    recorder: TransactionRecorder
    ping: Callable[[], Awaitable[bool]]
    """Readiness of the store; always True in memory."""
    close: Callable[[], Awaitable[None]]
    """Release the store connection; call after ``outbox.stop()``."""
    dead_letters: DeadLetters | None = None
    """None in memory, where a given-up delivery is only logged."""


def build_stores(
    url: str | None,
    *,
    sender: WebhookSender,
    clock: Callable[[], float],
    retention: float,
    key_prefix: str = "verifier",
    **outbox_tuning: Unpack[OutboxTuning],
) -> Stores:
    """The ports for ``url`` (None or ``"memory"``, or a Redis URL); ``retention`` 0 records nothing."""
    if retention < 0:
        raise ConfigurationError("config.store", "The status retention must not be negative")
    if url is None or url == MEMORY:
        return _memory_stores(sender, clock, outbox_tuning)
    poll_interval = outbox_tuning.get("poll_interval", 1.0)
    # A blocking XREADGROUP holds the socket for poll_interval; the read timeout must outlast it.
    client = connect(url, socket_timeout=max(5.0, 2 * poll_interval))
    recorder: TransactionRecorder = (
        RedisRecorder(client, retention=retention, key_prefix=key_prefix) if retention else NullRecorder()
    )
    outbox = RedisOutbox(
        client, sender, clock=clock, key_prefix=key_prefix, recorder=recorder, **outbox_tuning
    )
    guard = RedisReplayGuard(client, key_prefix=key_prefix)
    return Stores(
        replay_guard=guard,
        outbox=outbox,
        recorder=recorder,
        ping=guard.ping,
        close=client.aclose,
        dead_letters=outbox,
    )


def _memory_stores(sender: WebhookSender, clock: Callable[[], float], tuning: OutboxTuning) -> Stores:
    # The keys are filtered to MemoryTuning's own, which mypy cannot follow through a comprehension.
    shared = cast(MemoryTuning, {key: value for key, value in tuning.items() if key in _MEMORY_TUNING})
    outbox = MemoryOutbox(sender, clock=clock, **shared)
    return Stores(
        replay_guard=MemoryReplayGuard(),
        outbox=outbox,
        recorder=NullRecorder(),
        ping=_always_ready,
        close=_nothing_to_close,
    )


async def _always_ready() -> bool:
    return True


async def _nothing_to_close() -> None:
    return None
