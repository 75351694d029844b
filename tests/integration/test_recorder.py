"""Polling support (the transaction recorder) and the ``build_stores`` factory."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from service.errors import ConfigurationError, DependencyUnavailable
from service.replay import MemoryReplayGuard
from service.stores import Stores, build_stores
from service.stores.recorder import (
    MAX_EVENTS,
    NullRecorder,
    RedisRecorder,
    TransactionEvent,
    TransactionStatus,
)
from service.stores.redis_outbox import RedisOutbox
from service.stores.redis_replay import RedisReplayGuard
from service.webhook import Delivery, MemoryOutbox, SendOutcome
from tests.integration.conftest import free_port, redis_clients

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ2LTEifQ.c2ln"


def events_key(prefix: str, transaction_id: str) -> str:
    return f"{prefix}:tx:{{{transaction_id}}}:events"


def verdict_key(prefix: str, transaction_id: str) -> str:
    return f"{prefix}:tx:{{{transaction_id}}}:verdict"


class TestRedisRecorder:
    def test_events_and_verdict_round_trip(self, redis_url: str, key_prefix: str) -> None:
        """A poller sees pending with the events so far, then the verdict; the first verdict stays."""

        async def scenario() -> tuple[TransactionStatus | None, ...]:
            async with redis_clients(redis_url, 2) as (one, other):
                writer = RedisRecorder(one, retention=60, key_prefix=key_prefix)
                reader = RedisRecorder(other, retention=60, key_prefix=key_prefix)  # another replica
                unknown = await reader.status("tx-1")
                await writer.record_event("tx-1", "request_retrieved", at=1000.0)
                await writer.record_event("tx-1", "response_received", at=1001.5)
                pending = await reader.status("tx-1")
                await writer.store_verdict("tx-1", result="verified", verdict_jwt=JWT, at=1002.0)
                await writer.store_verdict("tx-1", result="rejected", verdict_jwt="other", at=1003.0)
                await writer.record_event(
                    "tx-1", "verdict_delivered", at=1004.0, detail="presentation.verified"
                )
                return unknown, pending, await reader.status("tx-1")

        unknown, pending, done = asyncio.run(scenario())
        assert unknown is None
        assert pending == TransactionStatus(
            transaction_id="tx-1",
            state="pending",
            verdict_jwt=None,
            decided_at=None,
            events=(
                TransactionEvent(event="request_retrieved", at=1000.0),
                TransactionEvent(event="response_received", at=1001.5),
            ),
        )
        assert done is not None
        assert (done.state, done.verdict_jwt, done.decided_at) == ("verified", JWT, 1002.0)
        assert done.events[-1] == TransactionEvent(
            event="verdict_delivered", at=1004.0, detail="presentation.verified"
        )

    def test_rejected_verdict_alone_is_a_status(self, redis_url: str, key_prefix: str) -> None:
        """A verdict with no events recorded before it still answers."""

        async def scenario() -> TransactionStatus | None:
            async with redis_clients(redis_url) as (client,):
                recorder = RedisRecorder(client, retention=60, key_prefix=key_prefix)
                await recorder.store_verdict("tx-2", result="rejected", verdict_jwt=JWT, at=5.0)
                return await recorder.status("tx-2")

        status = asyncio.run(scenario())
        assert status is not None
        assert (status.state, status.events) == ("rejected", ())

    def test_every_key_expires_after_the_retention(
        self, redis_url: str, key_prefix: str, raw_redis: redis.Redis
    ) -> None:
        """Both keys carry the retention TTL, refreshed by each write."""

        async def scenario() -> None:
            async with redis_clients(redis_url) as (client,):
                recorder = RedisRecorder(client, retention=90, key_prefix=key_prefix)
                await recorder.record_event("tx-3", "request_retrieved", at=1.0)
                await recorder.store_verdict("tx-3", result="verified", verdict_jwt=JWT, at=2.0)

        asyncio.run(scenario())
        for key in (events_key(key_prefix, "tx-3"), verdict_key(key_prefix, "tx-3")):
            assert 89_000 < raw_redis.pttl(key) <= 90_000

    def test_event_list_is_bounded(self, redis_url: str, key_prefix: str) -> None:
        """A wallet fetching the request in a loop cannot grow the list without end."""

        async def scenario() -> TransactionStatus | None:
            async with redis_clients(redis_url) as (client,):
                recorder = RedisRecorder(client, retention=60, key_prefix=key_prefix)
                for n in range(MAX_EVENTS + 10):
                    await recorder.record_event("tx-4", "request_retrieved", at=float(n))
                return await recorder.status("tx-4")

        status = asyncio.run(scenario())
        assert status is not None
        assert len(status.events) == MAX_EVENTS
        assert status.events[0].at == 0  # the oldest are kept: `created` (with the expiry) stays
        assert status.events[-1].at == MAX_EVENTS - 1

    def test_unknown_result_is_a_bug(self, redis_url: str, key_prefix: str) -> None:
        """Only verified and rejected are final results."""

        async def scenario() -> None:
            async with redis_clients(redis_url) as (client,):
                recorder = RedisRecorder(client, retention=60, key_prefix=key_prefix)
                await recorder.store_verdict("tx-5", result="maybe", verdict_jwt=JWT, at=1.0)

        with pytest.raises(ValueError, match="unknown verdict result"):
            asyncio.run(scenario())

    def test_store_down_raises_dependency_unavailable(self) -> None:
        """An outage is reported, not hidden as "no status"."""

        async def scenario() -> None:
            async with redis_clients(f"redis://127.0.0.1:{free_port()}/0") as (client,):
                recorder = RedisRecorder(client, retention=60)
                await recorder.status("tx-1")

        with pytest.raises(DependencyUnavailable, match="store.unavailable"):
            asyncio.run(scenario())

    def test_zero_retention_is_refused(self, redis_url: str) -> None:
        """Zero retention means NullRecorder; a RedisRecorder with no lifetime is a wiring mistake."""

        async def scenario() -> None:
            async with redis_clients(redis_url) as (client,):
                RedisRecorder(client, retention=0)

        with pytest.raises(ConfigurationError):
            asyncio.run(scenario())


class TestNullRecorder:
    def test_records_nothing(self) -> None:
        """The memory and zero-retention recorder answers None, and says it is not enabled."""

        async def scenario() -> TransactionStatus | None:
            recorder = NullRecorder()
            await recorder.record_event("tx-1", "request_retrieved", at=1.0)
            await recorder.store_verdict("tx-1", result="verified", verdict_jwt=JWT, at=2.0)
            return await recorder.status("tx-1")

        assert asyncio.run(scenario()) is None
        assert NullRecorder().enabled is False


class NoSender:
    async def send(self, delivery: Delivery, *, timestamp: int) -> SendOutcome:
        raise AssertionError("nothing is sent in these tests")


class TestBuildStores:
    @pytest.mark.parametrize("url", [None, "memory"])
    def test_memory(self, url: str | None) -> None:
        """No URL: in-process guard and outbox, nothing recorded, always ready; Redis knobs are ignored."""

        async def scenario() -> tuple[Stores, bool]:
            stores = build_stores(
                url, sender=NoSender(), clock=time.time, retention=60, base_delay=0.5, poll_interval=0.1
            )
            ready = await stores.ping()
            await stores.close()
            return stores, ready

        stores, ready = asyncio.run(scenario())
        assert isinstance(stores.replay_guard, MemoryReplayGuard)
        assert isinstance(stores.outbox, MemoryOutbox)
        assert isinstance(stores.recorder, NullRecorder)
        assert stores.dead_letters is None
        assert ready is True

    def test_redis(self, redis_url: str, key_prefix: str, raw_redis: redis.Redis) -> None:
        """A Redis URL: every port on the shared store, under the given prefix."""

        async def scenario() -> tuple[Stores, bool, bool]:
            stores = build_stores(
                redis_url, sender=NoSender(), clock=time.time, retention=60, key_prefix=key_prefix
            )
            try:
                now = time.time()
                consumed = await stores.replay_guard.consume("tx-1", expires_at=now + 5, now=now)
                await stores.recorder.record_event("tx-1", "request_retrieved", at=now)
                return stores, consumed, await stores.ping()
            finally:
                await stores.close()

        stores, consumed, ready = asyncio.run(scenario())
        assert isinstance(stores.replay_guard, RedisReplayGuard)
        assert isinstance(stores.outbox, RedisOutbox)
        assert isinstance(stores.recorder, RedisRecorder)
        assert stores.dead_letters is stores.outbox
        assert (consumed, ready) == (True, True)
        assert raw_redis.exists(f"{key_prefix}:replay:tx-1", events_key(key_prefix, "tx-1")) == 2

    def test_zero_retention_records_nothing(
        self, redis_url: str, key_prefix: str, raw_redis: redis.Redis
    ) -> None:
        """Retention 0 keeps only what delivery needs: no event or verdict reaches Redis."""

        async def scenario() -> TransactionStatus | None:
            stores = build_stores(
                redis_url, sender=NoSender(), clock=time.time, retention=0, key_prefix=key_prefix
            )
            try:
                await stores.recorder.record_event("tx-1", "request_retrieved", at=1.0)
                await stores.recorder.store_verdict("tx-1", result="verified", verdict_jwt=JWT, at=2.0)
                return await stores.recorder.status("tx-1")
            finally:
                await stores.close()

        assert asyncio.run(scenario()) is None
        assert list(raw_redis.scan_iter(match=f"*{key_prefix}*")) == []

    def test_negative_retention_fails_the_boot(self) -> None:
        """A negative retention is a configuration error."""
        with pytest.raises(ConfigurationError):
            build_stores(None, sender=NoSender(), clock=time.time, retention=-1)
