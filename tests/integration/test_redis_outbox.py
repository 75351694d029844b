"""The durable outbox: two replicas, a real Redis, a real HTTP receiver and the real sender.

Every test runs with short delays (base delay 50 ms, poll 50 ms, visibility timeout 0.5 s), so a day of
retry policy plays out in about a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from service.errors import ConfigurationError, DependencyUnavailable
from service.outbound import OutboundPolicy, make_client
from service.stores.recorder import RedisRecorder
from service.stores.redis_outbox import GROUP, RedisOutbox
from service.webhook import Delivery, HttpWebhookSender, SendOutcome, WebhookSender, new_delivery
from tests.integration.conftest import Receiver, eventually, free_port, redis_clients

LOCAL = OutboundPolicy(allow_http=True, allow_private=True, connect_timeout=1, read_timeout=2)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b"eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ2LTEifQ.c2ln"  # the shape of a compact JWS; never parsed
FAST: dict[str, Any] = {
    "base_delay": 0.05,
    "max_delay": 0.2,
    "poll_interval": 0.05,
    "visibility_timeout": 0.5,
    "stop_grace": 0.5,
}


def key(prefix: str, name: str) -> str:
    """An outbox key, as laid out in the module docstring."""
    return f"{{{prefix}:outbox}}:{name}"


def delivery(n: int, url: str, *, retry_period: float = 60.0, **changes: Any) -> Delivery:
    made = new_delivery(
        verdict_id=f"v-{n}",
        url=url,
        body=BODY,
        event_type="presentation.verified",
        transaction_id=f"tx-{n}",
        now=time.time(),
        retry_period=retry_period,
    )
    return Delivery(**{**{f: getattr(made, f) for f in made.__struct_fields__}, **changes})


@asynccontextmanager
async def replicas(
    url: str, prefix: str, count: int = 2, *, sender: WebhookSender | None = None, **tuning: Any
) -> AsyncIterator[list[RedisOutbox]]:
    """``count`` outboxes, each with its own client as separate processes would have; stopped after."""
    async with make_client(LOCAL) as http, redis_clients(url, count) as clients:
        real = HttpWebhookSender(http, LOCAL, secrets=[SECRET])
        outboxes = [
            RedisOutbox(c, sender or real, clock=time.time, key_prefix=prefix, **{**FAST, **tuning})
            for c in clients
        ]
        try:
            yield outboxes
        finally:
            for outbox in outboxes:
                await outbox.stop()


class HungSender:
    """A replica frozen mid-send: it never answers (until cancelled by stop)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def send(self, delivery: Delivery, *, timestamp: int) -> SendOutcome:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class TestScaleOut:
    def test_outage_loses_nothing_across_two_replicas(
        self, redis_url: str, key_prefix: str, receiver: Receiver, raw_redis: redis.Redis
    ) -> None:
        """50 verdicts enqueued on two replicas while the receiver answers 503 all arrive once it is up."""
        receiver.status = 503
        ids = {f"v-{n}" for n in range(50)}

        async def scenario() -> None:
            async with replicas(redis_url, key_prefix) as (a, b):
                await a.start()
                await b.start()
                for n in range(50):
                    await (a, b)[n % 2].enqueue(delivery(n, receiver.url))
                await asyncio.sleep(1.5)
                assert not receiver.delivered
                assert len(set(receiver.attempts)) == 50  # every one was tried and is being retried
                receiver.status = 200
                await eventually(lambda: set(receiver.delivered) == ids, timeout=15)

        asyncio.run(scenario())
        assert len(set(receiver.delivered)) == 50
        assert raw_redis.hlen(key(key_prefix, "records")) == 0
        assert raw_redis.xlen(key(key_prefix, "ready")) == 0
        assert raw_redis.zcard(key(key_prefix, "scheduled")) == 0
        assert raw_redis.hlen(key(key_prefix, "dead")) == 0

    def test_dead_consumer_entries_are_reclaimed(
        self, redis_url: str, key_prefix: str, receiver: Receiver, raw_redis: redis.Redis
    ) -> None:
        """A replica that read an entry and died: another one takes it after the visibility timeout."""

        async def scenario() -> float:
            async with replicas(redis_url, key_prefix, 1) as (survivor,):
                await survivor.enqueue(delivery(1, receiver.url))
                # The dead replica: it read the entry into its pending list and was never heard of again.
                raw_redis.xgroup_create(key(key_prefix, "ready"), GROUP, id="0", mkstream=True)
                read = raw_redis.xreadgroup(GROUP, "dead-replica", {key(key_prefix, "ready"): ">"}, count=10)
                assert len(read[0][1]) == 1
                began = time.monotonic()
                await survivor.start()
                await eventually(lambda: receiver.delivered == ["v-1"], timeout=5)
                return time.monotonic() - began

        took = asyncio.run(scenario())
        assert took >= 0.5  # not before the visibility timeout: the dead replica might only be slow
        assert raw_redis.xpending(key(key_prefix, "ready"), GROUP)["pending"] == 0

    def test_hung_worker_is_taken_over_and_its_late_stop_sends_nothing(
        self, redis_url: str, key_prefix: str, receiver: Receiver, raw_redis: redis.Redis
    ) -> None:
        """A replica stuck mid-send loses the entry to a live one; stopping it later adds no duplicate."""
        hung = HungSender()

        async def scenario() -> None:
            async with replicas(redis_url, key_prefix, 1, sender=hung) as (stuck,):
                await stuck.start()
                await stuck.enqueue(delivery(1, receiver.url))
                await asyncio.wait_for(hung.started.wait(), timeout=5)
                async with replicas(redis_url, key_prefix, 1) as (live,):
                    await live.start()
                    await eventually(lambda: receiver.delivered == ["v-1"], timeout=5)
                # leaving the outer block stops the hung replica: its send is cancelled and handed back,
                # which must find the delivery settled and do nothing
            await asyncio.sleep(0.3)

        asyncio.run(scenario())
        assert receiver.attempts == ["v-1"]
        assert raw_redis.xlen(key(key_prefix, "ready")) == 0
        assert raw_redis.hlen(key(key_prefix, "records")) == 0

    def test_verdict_delivered_is_recorded(self, redis_url: str, key_prefix: str, receiver: Receiver) -> None:
        """With a recorder, a delivered verdict shows up in the transaction's events."""

        async def scenario() -> list[tuple[str, str | None]]:
            async with make_client(LOCAL) as http, redis_clients(redis_url) as (client,):
                recorder = RedisRecorder(client, retention=60, key_prefix=key_prefix)
                sender = HttpWebhookSender(http, LOCAL, secrets=[])
                outbox = RedisOutbox(
                    client, sender, clock=time.time, key_prefix=key_prefix, recorder=recorder, **FAST
                )
                await outbox.start()
                try:
                    await outbox.enqueue(delivery(7, receiver.url))
                    await eventually(lambda: receiver.delivered == ["v-7"])
                    await eventually(lambda: _has_events(recorder, "tx-7"))
                finally:
                    await outbox.stop()
                status = await recorder.status("tx-7")
                assert status is not None
                return [(e.event, e.detail) for e in status.events]

        assert asyncio.run(scenario()) == [("verdict_delivered", "presentation.verified")]


async def _has_events(recorder: RedisRecorder, transaction_id: str) -> bool:
    return await recorder.status(transaction_id) is not None


class TestEnqueue:
    def test_enqueue_is_durable_before_it_returns_and_idempotent(
        self, redis_url: str, key_prefix: str, raw_redis: redis.Redis
    ) -> None:
        """With no worker running, the record and its stream entry are in Redis; a repeat is ignored."""

        async def scenario() -> None:
            async with replicas(redis_url, key_prefix, 1) as (outbox,):
                await outbox.enqueue(delivery(1, "https://rp.example/hook"))
                await outbox.enqueue(delivery(1, "https://rp.example/hook"))

        asyncio.run(scenario())
        assert raw_redis.hexists(key(key_prefix, "records"), "v-1")
        assert raw_redis.xlen(key(key_prefix, "ready")) == 1

    def test_future_delivery_waits_in_the_schedule(
        self, redis_url: str, key_prefix: str, receiver: Receiver
    ) -> None:
        """A delivery due later is sent when due, not before."""

        async def scenario() -> None:
            async with replicas(redis_url, key_prefix, 1) as (outbox,):
                await outbox.start()
                await outbox.enqueue(delivery(1, receiver.url, next_attempt_at=time.time() + 0.4))
                await asyncio.sleep(0.2)
                assert receiver.attempts == []
                await eventually(lambda: receiver.delivered == ["v-1"], timeout=3)

        asyncio.run(scenario())

    def test_store_down_raises_dependency_unavailable(self) -> None:
        """The verifier must not answer the wallet when the verdict could not be stored."""

        async def scenario() -> DependencyUnavailable:
            async with replicas(f"redis://127.0.0.1:{free_port()}/0", "down", 1) as (outbox,):
                with pytest.raises(DependencyUnavailable) as caught:
                    await outbox.enqueue(delivery(1, "https://rp.example/hook"))
                return caught.value

        assert asyncio.run(scenario()).reason == "store.unavailable"

    def test_worker_survives_a_store_outage(self, key_prefix: str) -> None:
        """Started against a store that is down, the worker keeps running (and retrying) instead of dying."""

        async def scenario() -> tuple[bool, bool]:
            async with replicas(f"redis://127.0.0.1:{free_port()}/0", key_prefix, 1) as (outbox,):
                await outbox.start()
                await asyncio.sleep(0.3)
                return outbox.running, await outbox.ping()

        assert asyncio.run(scenario()) == (True, False)


class TestDeadLetters:
    def test_deadline_then_redrive(
        self, redis_url: str, key_prefix: str, receiver: Receiver, raw_redis: redis.Redis
    ) -> None:
        """Failing until the deadline ends in the dead letters; redrive delivers once the receiver is up."""
        receiver.status = 503

        async def scenario() -> None:
            async with replicas(redis_url, key_prefix, 1) as (outbox,):
                await outbox.start()
                await outbox.enqueue(delivery(1, receiver.url, retry_period=0.4))
                await eventually(lambda: _dead_count(outbox, 1), timeout=5)
                (letter,) = await outbox.list_dead()
                assert letter.delivery.id == "v-1"
                assert letter.reason == "webhook.deadline"
                assert letter.status == 503
                assert letter.delivery.attempts == len(receiver.attempts) >= 2
                assert raw_redis.hlen(key(key_prefix, "records")) == 0

                receiver.status = 200
                assert await outbox.redrive("v-1") is True
                assert await outbox.redrive("v-1") is False  # no longer dead
                await eventually(lambda: receiver.delivered == ["v-1"], timeout=5)
                assert await outbox.list_dead() == []

        asyncio.run(scenario())
        assert raw_redis.hlen(key(key_prefix, "records")) == 0

    def test_gone_is_dead_at_once(self, redis_url: str, key_prefix: str, receiver: Receiver) -> None:
        """410 Gone is not retried."""
        receiver.status = 410

        async def scenario() -> None:
            async with replicas(redis_url, key_prefix, 1) as (outbox,):
                await outbox.start()
                await outbox.enqueue(delivery(1, receiver.url))
                await eventually(lambda: _dead_count(outbox, 1), timeout=5)
                (letter,) = await outbox.list_dead()
                assert (letter.reason, letter.status, letter.delivery.attempts) == (
                    "webhook.endpoint_gone",
                    410,
                    1,
                )
                await asyncio.sleep(0.2)

        asyncio.run(scenario())
        assert receiver.attempts == ["v-1"]

    def test_list_dead_is_newest_first_and_limited(
        self, redis_url: str, key_prefix: str, receiver: Receiver
    ) -> None:
        """The operator listing pages from the most recent failure."""
        receiver.status = 410

        async def scenario() -> list[str]:
            async with replicas(redis_url, key_prefix, 1) as (outbox,):
                await outbox.start()
                for n in range(3):
                    await outbox.enqueue(delivery(n, receiver.url))
                    await eventually(lambda n=n: _dead_count(outbox, n + 1), timeout=5)
                assert await outbox.list_dead(0) == []
                return [letter.delivery.id for letter in await outbox.list_dead(2)]

        assert asyncio.run(scenario()) == ["v-2", "v-1"]

    def test_redrive_of_unknown_id_is_false(self, redis_url: str, key_prefix: str) -> None:
        """Nothing to redrive: nothing happens."""

        async def scenario() -> bool:
            async with replicas(redis_url, key_prefix, 1) as (outbox,):
                return await outbox.redrive("v-404")

        assert asyncio.run(scenario()) is False


async def _dead_count(outbox: RedisOutbox, count: int) -> bool:
    return len(await outbox.list_dead()) == count


class TestStop:
    def test_stop_leaves_undelivered_work_for_other_replicas(
        self, redis_url: str, key_prefix: str, receiver: Receiver, raw_redis: redis.Redis
    ) -> None:
        """Deliveries still in retry when a replica stops stay in Redis; the next replica delivers them."""
        receiver.status = 503

        async def scenario() -> None:
            async with replicas(redis_url, key_prefix, 1) as (first,):
                await first.start()
                for n in range(3):
                    await first.enqueue(delivery(n, receiver.url))
                await eventually(lambda: len(set(receiver.attempts)) == 3)
                await first.stop()
                assert not first.running
            assert raw_redis.hlen(key(key_prefix, "records")) == 3
            receiver.status = 200
            async with replicas(redis_url, key_prefix, 1) as (second,):
                await second.start()
                await eventually(lambda: set(receiver.delivered) == {"v-0", "v-1", "v-2"}, timeout=5)

        asyncio.run(scenario())

    def test_stop_hands_in_flight_sends_back_at_once(
        self, redis_url: str, key_prefix: str, receiver: Receiver, raw_redis: redis.Redis
    ) -> None:
        """A send still running after the grace period is cancelled and requeued, not left to time out."""
        receiver.status = 503
        receiver.hold = True

        async def scenario() -> None:
            async with replicas(redis_url, key_prefix, 1, stop_grace=0.1) as (first,):
                await first.start()
                await first.enqueue(delivery(1, receiver.url))
                await eventually(lambda: receiver.attempts == ["v-1"])
                await first.stop()
            ready = key(key_prefix, "ready")
            assert raw_redis.xpending(ready, GROUP)["pending"] == 0
            assert raw_redis.xlen(ready) == 1
            assert raw_redis.xinfo_consumers(ready, GROUP) == []  # the idle consumer retired itself
            receiver.hold = False
            receiver.status = 200
            # A visibility timeout far beyond the test: only the hand-back can explain a delivery.
            async with replicas(redis_url, key_prefix, 1, visibility_timeout=60) as (second,):
                await second.start()
                await eventually(lambda: receiver.delivered == ["v-1"], timeout=5)

        asyncio.run(scenario())

    def test_start_and_stop_are_idempotent(self, redis_url: str, key_prefix: str) -> None:
        """A second start or stop does nothing; the outbox can start again after a stop."""

        async def scenario() -> list[bool]:
            async with replicas(redis_url, key_prefix, 1) as (outbox,):
                seen = [outbox.running]
                await outbox.start()
                await outbox.start()
                seen.append(outbox.running)
                await outbox.stop()
                await outbox.stop()
                seen.append(outbox.running)
                await outbox.start()
                seen.append(outbox.running)
                return seen

        assert asyncio.run(scenario()) == [False, True, False, True]


class TestTuning:
    @pytest.mark.parametrize(
        "tuning",
        [{"base_delay": 0}, {"concurrency": 0}, {"poll_interval": 0}, {"visibility_timeout": 0.05}],
    )
    def test_bad_tuning_fails_the_boot(self, tuning: dict[str, Any]) -> None:
        """Impossible delays or a visibility timeout shorter than a poll are configuration errors."""

        async def scenario() -> None:
            client = aioredis.Redis()
            try:
                RedisOutbox(client, HungSender(), clock=time.time, **{**FAST, **tuning})
            finally:
                await client.aclose()

        with pytest.raises(ConfigurationError):
            asyncio.run(scenario())
