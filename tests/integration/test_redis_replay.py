"""Single use across replicas: two guards on one Redis behave as one."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from service.errors import ConfigurationError, DependencyUnavailable
from service.stores.redis_replay import RedisReplayGuard, connect
from tests.integration.conftest import free_port, redis_clients


class TestRedisReplayGuard:
    def test_second_replica_is_refused(self, redis_url: str, key_prefix: str) -> None:
        """A response accepted by replica A is refused by replica B, and by A again."""

        async def scenario() -> list[bool]:
            async with redis_clients(redis_url, 2) as clients:
                a, b = (RedisReplayGuard(c, key_prefix=key_prefix) for c in clients)
                now = time.time()
                return [
                    await a.consume("tx-1", expires_at=now + 60, now=now),
                    await b.consume("tx-1", expires_at=now + 60, now=now),
                    await a.consume("tx-1", expires_at=now + 60, now=now),
                    await b.consume("tx-2", expires_at=now + 60, now=now),
                ]

        assert asyncio.run(scenario()) == [True, False, False, True]

    def test_concurrent_consumers_admit_exactly_one(self, redis_url: str, key_prefix: str) -> None:
        """Forty racing consumes over two replicas: one wins."""

        async def scenario() -> list[bool]:
            async with redis_clients(redis_url, 2) as clients:
                guards = [RedisReplayGuard(c, key_prefix=key_prefix) for c in clients]
                now = time.time()
                calls = [g.consume("tx-race", expires_at=now + 60, now=now) for g in guards * 20]
                return list(await asyncio.gather(*calls))

        assert sorted(asyncio.run(scenario())) == [False] * 39 + [True]

    def test_key_lives_for_the_remaining_lifetime(
        self, redis_url: str, key_prefix: str, raw_redis: redis.Redis
    ) -> None:
        """PX is the time left until expires_at, so the key goes when the transaction could."""

        async def scenario() -> None:
            async with redis_clients(redis_url) as (client,):
                guard = RedisReplayGuard(client, key_prefix=key_prefix)
                assert await guard.consume("tx-ttl", expires_at=1000.0 + 42.5, now=1000.0)

        asyncio.run(scenario())
        pttl = raw_redis.pttl(f"{key_prefix}:replay:tx-ttl")
        assert 42_000 < pttl <= 42_500

    def test_expired_transaction_is_refused_without_a_write(
        self, redis_url: str, key_prefix: str, raw_redis: redis.Redis
    ) -> None:
        """At or past expires_at nothing can be accepted, so nothing is stored."""

        async def scenario() -> bool:
            async with redis_clients(redis_url) as (client,):
                guard = RedisReplayGuard(client, key_prefix=key_prefix)
                return await guard.consume("tx-old", expires_at=1000.0, now=1000.0)

        assert asyncio.run(scenario()) is False
        assert raw_redis.exists(f"{key_prefix}:replay:tx-old") == 0

    def test_store_down_raises_dependency_unavailable(self) -> None:
        """Nothing listening: the wallet gets a 503-class error, never an acceptance."""

        async def scenario() -> tuple[bool, DependencyUnavailable]:
            async with redis_clients(f"redis://127.0.0.1:{free_port()}/0") as (client,):
                guard = RedisReplayGuard(client)
                ready = await guard.ping()
                with pytest.raises(DependencyUnavailable) as caught:
                    await guard.consume("tx-1", expires_at=time.time() + 60, now=time.time())
                return ready, caught.value

        ready, error = asyncio.run(scenario())
        assert ready is False
        assert error.reason == "store.unavailable"
        assert error.status_code == 503

    def test_ping_answers_when_up(self, redis_url: str, key_prefix: str) -> None:
        """Readiness is True against a live store."""

        async def scenario() -> bool:
            async with redis_clients(redis_url) as (client,):
                return await RedisReplayGuard(client, key_prefix=key_prefix).ping()

        assert asyncio.run(scenario()) is True

    @pytest.mark.parametrize("prefix", ["", "a b", "{tag}", "x*", "p" * 65])
    def test_unsafe_key_prefix_fails_the_boot(self, prefix: str) -> None:
        """Braces, spaces and glob characters would break hash tags and key scans."""

        async def scenario() -> None:
            async with redis_clients("redis://127.0.0.1:6379/0") as (client,):
                RedisReplayGuard(client, key_prefix=prefix)

        with pytest.raises(ConfigurationError):
            asyncio.run(scenario())

    def test_bad_url_fails_the_boot(self) -> None:
        """A URL redis-py cannot parse is a configuration error, without echoing it."""
        with pytest.raises(ConfigurationError) as caught:
            connect("http://not-redis.example/")
        assert "not-redis" not in str(caught.value)
