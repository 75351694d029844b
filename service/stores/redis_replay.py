"""Single use across replicas: the ``ReplayGuard`` port on Redis/Valkey (DESIGN.md "Stateless").

``consume`` is one ``SET key 1 NX PX <remaining lifetime>``: the server decides atomically which replica
saw the transaction first, and the key expires once no response for it could be accepted any more.
When the store cannot be reached the guard raises ``DependencyUnavailable("store.unavailable")``; it never
answers "first use" without asking the store, so no response is accepted without the single-use check.

This module also holds the small helpers the other Redis stores share: building the client with short
timeouts, translating client errors, and the readiness ping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from service.errors import ConfigurationError, DependencyUnavailable

__all__ = [
    "STORE_UNAVAILABLE",
    "RedisReplayGuard",
    "check_key_prefix",
    "connect",
    "ping",
    "store_errors",
]

STORE_UNAVAILABLE: Final = "store.unavailable"
# The prefix becomes part of every key and of Redis Cluster hash tags ("{prefix:outbox}"), so braces and
# glob characters are kept out of it.
_KEY_PREFIX: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# A wallet waits on the guard: retry a dropped connection briefly, never for the client's default seconds.
_RETRIES: Final = 2


def check_key_prefix(key_prefix: str) -> str:
    """Return ``key_prefix`` if it is 1-64 characters of ``[A-Za-z0-9_.:-]``, else fail the boot."""
    if _KEY_PREFIX.fullmatch(key_prefix) is None:
        raise ConfigurationError("config.store", "The store key prefix must be 1-64 of [A-Za-z0-9_.:-]")
    return key_prefix


def connect(url: str, *, connect_timeout: float = 2.0, socket_timeout: float = 5.0) -> aioredis.Redis:
    """A client for ``redis://``, ``rediss://`` or ``unix://`` URLs; connects lazily on first use.

    ``socket_timeout`` must exceed the outbox's blocking read (its ``poll_interval``).
    """
    try:
        client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), _RETRIES),
            health_check_interval=30,
        )
    except ValueError as exc:  # the URL is not parseable, so its text is not echoed
        raise ConfigurationError("config.store", "The store URL is not a valid Redis URL") from exc
    return client


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn any client error (refused, timeout, OOM, read-only replica) into a retryable 503."""
    try:
        yield
    except RedisError as exc:
        raise DependencyUnavailable(STORE_UNAVAILABLE, "The verifier's store is unavailable") from exc


async def ping(client: aioredis.Redis) -> bool:
    """Readiness: True when the store answers ``PING``."""
    try:
        return bool(await client.ping())
    except RedisError:
        return False


class RedisReplayGuard:
    """``ReplayGuard`` shared by every replica that points at the same store and key prefix."""

    def __init__(self, client: aioredis.Redis, *, key_prefix: str = "verifier") -> None:
        self._client = client
        self._prefix = f"{check_key_prefix(key_prefix)}:replay:"

    async def consume(self, transaction_id: str, *, expires_at: float, now: float) -> bool:
        """True for the first caller on any replica before ``expires_at``; False after, or once expired."""
        ttl_ms = math.ceil((expires_at - now) * 1000)
        if ttl_ms <= 0:
            # Nothing may be accepted for it any more, and PX needs a positive lifetime.
            return False
        with store_errors():
            created = await self._client.set(self._prefix + transaction_id, b"1", nx=True, px=ttl_ms)
        return created is True

    async def release(self, transaction_id: str) -> None:
        """Delete the single-use mark, so the wallet may post again (its verdict could not be queued)."""
        with store_errors():
            await self._client.delete(self._prefix + transaction_id)

    async def ping(self) -> bool:
        """Readiness: True when the store answers."""
        return await ping(self._client)
