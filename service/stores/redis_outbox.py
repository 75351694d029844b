"""A durable webhook ``Outbox`` on Redis: a verdict survives the replica that produced it.

Keys share the hash tag ``{<prefix>:outbox}``, so every script touches a single Redis Cluster slot::

    {p:outbox}:records     hash     delivery id -> Delivery (JSON): the durable copy until delivered or dead
    {p:outbox}:ready       stream   entries {id}; read by the consumer group "delivery"
    {p:outbox}:scheduled   zset     delivery id scored by its next attempt time (retries in backoff)
    {p:outbox}:dead        hash     delivery id -> DeadLetter (JSON)
    {p:outbox}:dead:index  zset     delivery id scored by the time it died, to list the newest first

A delivery's life:

1. ``enqueue`` writes the record and a stream entry (or a schedule entry) in one script and returns
   only then, so the verifier answers the wallet after the verdict is durable.
2. A worker on any replica reads the entry (``XREADGROUP``); it now sits in that consumer's pending list.
3. After the attempt, one script settles it, but only while the worker still owns the entry: delivered
   deletes the record; a failure rewrites the record and schedules the retry (``backoff_delay``, as in
   ``MemoryOutbox``); ``410 Gone`` or the deadline moves it to the dead letters. Then ``XACK`` + ``XDEL``.
4. Each poll, one script moves the scheduled ids that are due into the stream; as a script it runs
   alone, so exactly one replica moves each id.
5. An entry whose consumer died or hung stays pending; once idle for ``visibility_timeout`` a live
   worker takes it over (``XPENDING IDLE`` + ``XCLAIM``). ``stop()`` hands its unfinished entries back
   at once instead.

Delivery is at-least-once: a crash between the send and step 3 sends again, with the same webhook-id and
body, and receivers dedupe by webhook-id. Redis must not evict keys (``maxmemory-policy noeviction``) and
should persist (AOF) for "durable" to hold across a Redis restart. Replicas' clocks are assumed to be
NTP-synchronised: the schedule holds wall-clock times.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import msgspec
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError, ResponseError
from redis.typing import StreamIdT

from service.errors import ConfigurationError, VerifierError
from service.stores.recorder import TransactionRecorder
from service.stores.redis_replay import check_key_prefix, ping, store_errors
from service.webhook import (
    Delivery,
    SendOutcome,
    WebhookSender,
    attempt_traced,
    check_event_type,
    check_webhook_id,
    next_attempt,
)

__all__ = ["DeadLetter", "RedisOutbox"]

_log = structlog.get_logger(__name__)

GROUP: Final = "delivery"
_Mode = Literal["done", "retry", "dead", "requeue"]
_Entry = tuple[str, str]  # (stream entry id, delivery id)

# KEYS: records, ready, scheduled. ARGV: id, record, due, now. Returns 1 if queued, 0 if already known.
_ENQUEUE: Final = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if tonumber(ARGV[3]) > tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
else
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
end
return 1
"""

# KEYS: scheduled, ready. ARGV: now, limit. Returns how many ids were moved.
_PROMOTE: Final = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #due
"""

# KEYS: ready, records, scheduled, dead, dead_index.
# ARGV: group, consumer, entry, id, mode, payload, score. Returns 1 if applied, 0 if the entry is not ours.
# "done" deletes the record even when another worker has taken the entry over: the verdict arrived, so
# that worker's retry must not bring the record back. Every other mode needs ownership and a live record.
_FINISH: Final = """
local owned = #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) > 0
local function settle()
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
  redis.call('XDEL', KEYS[1], ARGV[3])
end
if ARGV[5] == 'done' then
  redis.call('HDEL', KEYS[2], ARGV[4])
  if owned then settle() end
  return 1
end
if not owned then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[4]) == 0 then settle() return 0 end
if ARGV[5] == 'retry' then
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[6])
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[4])
elseif ARGV[5] == 'dead' then
  redis.call('HDEL', KEYS[2], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[6])
  redis.call('ZADD', KEYS[5], ARGV[7], ARGV[4])
elseif ARGV[5] == 'requeue' then
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[4])
end
settle()
return 1
"""

# KEYS: dead, dead_index, records, ready. ARGV: id, record. Returns 1 if redriven, 0 if not dead (any more).
_REDRIVE: Final = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[4], '*', 'id', ARGV[1])
return 1
"""

# KEYS: ready. ARGV: group, consumer. Deleting a consumer drops its pending entries, so only an idle one.
_RETIRE: Final = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""


class DeadLetter(msgspec.Struct, frozen=True):
    """A delivery that was given up, kept for an operator to inspect or redrive."""

    delivery: Delivery
    """The delivery as last attempted; ``attempts`` counts every attempt made."""
    reason: str | None
    """Why it was given up: ``webhook.deadline``, ``webhook.endpoint_gone``, ``outbound.refused``..."""
    status: int | None
    """The HTTP status of the last attempt, if a response arrived."""
    failed_at: float


@dataclass(frozen=True)
class _Keys:
    records: str
    ready: str
    scheduled: str
    dead: str
    dead_index: str

    @classmethod
    def for_prefix(cls, key_prefix: str) -> _Keys:
        tag = f"{{{check_key_prefix(key_prefix)}:outbox}}"
        return cls(f"{tag}:records", f"{tag}:ready", f"{tag}:scheduled", f"{tag}:dead", f"{tag}:dead:index")


class RedisOutbox:
    """``Outbox`` whose queue lives in Redis and is worked by every replica; see the module docstring."""

    def __init__(
        self,
        client: aioredis.Redis,
        sender: WebhookSender,
        *,
        clock: Callable[[], float],
        key_prefix: str = "verifier",
        recorder: TransactionRecorder | None = None,
        uniform: Callable[[float, float], float] | None = None,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        concurrency: int = 16,
        stop_grace: float = 5.0,
        visibility_timeout: float = 60.0,
        poll_interval: float = 1.0,
        consumer: str | None = None,
    ) -> None:
        _check_tuning(
            base_delay=base_delay,
            max_delay=max_delay,
            concurrency=concurrency,
            stop_grace=stop_grace,
            visibility_timeout=visibility_timeout,
            poll_interval=poll_interval,
        )
        self._client = client
        self._sender = sender
        self._clock = clock
        self._keys = _Keys.for_prefix(key_prefix)
        self._recorder = recorder
        # Jitter only spreads load and needs no secrecy; SystemRandom just avoids sharing a seeded global.
        self._uniform = uniform or random.SystemRandom().uniform
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._concurrency = concurrency
        self._stop_grace = stop_grace
        self._visibility_ms = int(visibility_timeout * 1000)
        self._poll_interval = poll_interval
        # The last retry is scheduled at the deadline itself and a polling worker promotes it up to a poll
        # late; that attempt is still made. Anything later (a backlog, a long outage) is given up.
        self._slack = poll_interval + 1.0
        # Unique per instance: two outboxes in one process (tests) must not share a pending list.
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self._enqueue_script = client.register_script(_ENQUEUE)
        self._promote_script = client.register_script(_PROMOTE)
        self._finish_script = client.register_script(_FINISH)
        self._redrive_script = client.register_script(_REDRIVE)
        self._retire_script = client.register_script(_RETIRE)
        self._tasks: dict[asyncio.Task[None], _Entry] = {}
        self._worker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._group_ready = False
        self._next_claim = 0.0
        self._pending = 0

    # --- Outbox protocol --- #

    async def enqueue(self, delivery: Delivery) -> None:
        """Store ``delivery`` durably and return only then; a known id is not queued twice.

        Raises ``DependencyUnavailable("store.unavailable")`` when the store cannot take it.
        """
        check_webhook_id(delivery.id)
        check_event_type(delivery.event_type)
        now = self._clock()
        keys = self._keys
        with store_errors():
            await self._enqueue_script(
                keys=[keys.records, keys.ready, keys.scheduled],
                args=[delivery.id, msgspec.json.encode(delivery), delivery.next_attempt_at, now],
            )

    @property
    def running(self) -> bool:
        """True while the worker task runs (readiness)."""
        return self._worker is not None and not self._worker.done() and not self._stopping.is_set()

    async def start(self) -> None:
        """Start the worker; a second call does nothing. A store outage is retried, not raised."""
        if self._worker is None:
            self._stopping = asyncio.Event()
            self._worker = asyncio.create_task(self._run(), name=f"redis-outbox-{self.consumer}")
            self._worker.add_done_callback(_report_crash)

    async def stop(self) -> None:
        """Stop claiming, give in-flight sends ``stop_grace`` seconds, and hand the rest back to the stream.

        Nothing undelivered leaves Redis. If the hand-back itself fails, the entries stay pending and
        another replica claims them after the visibility timeout.
        """
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._stopping.set()
        # The worker notices within one blocking read; cancelling it mid-read could strand entries in
        # this consumer's pending list until the visibility timeout.
        await _wait_or_cancel({worker}, timeout=self._poll_interval + 1.0)
        attempts = dict(self._tasks)  # a snapshot: finished tasks remove themselves from self._tasks
        late = await _wait_or_cancel(set(attempts), timeout=self._stop_grace)
        await self._hand_back([attempts[task] for task in late])
        await self._retire_consumer()

    def pending(self) -> int:
        """Deliveries not yet delivered or dead, across all replicas, as of the worker's last cycle."""
        return self._pending

    # --- Operator API --- #

    async def list_dead(self, limit: int = 100) -> list[DeadLetter]:
        """Up to ``limit`` dead letters, most recent first."""
        if limit <= 0:
            return []
        with store_errors():
            ids = await self._client.zrevrange(self._keys.dead_index, 0, limit - 1)
            raws = await _bytes_list(self._client.hmget(self._keys.dead, ids)) if ids else []
        return [msgspec.json.decode(raw, type=DeadLetter) for raw in raws if raw is not None]

    async def redrive(self, delivery_id: str, *, retry_period: float | None = None) -> bool:
        """Queue a dead letter again, due now, with a fresh deadline; False if no such dead letter.

        The new deadline is ``retry_period`` from now, by default the delivery's original retry period.
        """
        with store_errors():
            raw = await _bytes(self._client.hget(self._keys.dead, delivery_id))
            if raw is None:
                return False
            old = msgspec.json.decode(raw, type=DeadLetter).delivery
            now = self._clock()
            period = old.deadline - old.created_at if retry_period is None else retry_period
            revived = msgspec.structs.replace(old, attempts=0, next_attempt_at=now, deadline=now + period)
            keys = self._keys
            moved = await self._redrive_script(
                keys=[keys.dead, keys.dead_index, keys.records, keys.ready],
                args=[delivery_id, msgspec.json.encode(revived)],
            )
        if moved:
            _log.info("webhook.redriven", webhook_id=delivery_id, transaction_id=old.transaction_id)
        return bool(moved)

    async def ping(self) -> bool:
        """Readiness: True when the store answers."""
        return await ping(self._client)

    # --- Worker loop --- #

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._cycle()
            except RedisError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted under us (FLUSHDB, an operator)
                    self._group_ready = False
                _log.warning("outbox.store_unavailable", error=type(exc).__name__)
                await self._pause(self._poll_interval)

    async def _cycle(self) -> None:
        """One round: move due retries, take over orphans, then read new work (blocking briefly)."""
        if not self._group_ready:
            await self._ensure_group()
        await self._promote_script(
            keys=[self._keys.scheduled, self._keys.ready], args=[self._clock(), self._concurrency * 4]
        )
        free = await self._free_slots()
        if free and asyncio.get_running_loop().time() >= self._next_claim:
            self._next_claim = asyncio.get_running_loop().time() + self._visibility_ms / 4000
            free -= self._launch(await self._reclaim(free))
        if free and not self._stopping.is_set():
            self._launch(await self._read(free))
        self._pending = await _count(self._client.hlen(self._keys.records))

    async def _ensure_group(self) -> None:
        try:
            # From id 0, not "$": entries enqueued before the group existed must still be read.
            await self._client.xgroup_create(self._keys.ready, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _free_slots(self) -> int:
        """Free attempt slots, waiting up to one poll interval for a busy worker to finish one."""
        if len(self._tasks) >= self._concurrency:
            await asyncio.wait(
                list(self._tasks), timeout=self._poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        return max(0, self._concurrency - len(self._tasks))

    async def _read(self, count: int) -> list[_Entry]:
        response = await self._client.xreadgroup(
            GROUP,
            self.consumer,
            {self._keys.ready: ">"},
            count=count,
            block=max(1, int(self._poll_interval * 1000)),
        )
        return _entries(response)

    async def _reclaim(self, count: int) -> list[_Entry]:
        """Take over entries idle past the visibility timeout: their consumer died or hung.

        XPENDING IDLE + XCLAIM rather than XAUTOCLAIM: our own sends still in flight are skipped, since
        claiming them would reset their idle time and keep a hung replica's entries from everyone else.
        XCLAIM repeats the idle test, so two replicas racing for an entry cannot both win it.
        """
        busy = {entry_id for entry_id, _ in self._tasks.values()}
        idle = await self._client.xpending_range(
            self._keys.ready, GROUP, min="-", max="+", count=count + len(busy), idle=self._visibility_ms
        )
        ids = (_text(pending["message_id"]) for pending in idle)
        candidates: list[StreamIdT] = [entry_id for entry_id in ids if entry_id not in busy]
        del candidates[count:]
        if not candidates:
            return []
        claimed = _stream_entries(
            await self._client.xclaim(self._keys.ready, GROUP, self.consumer, self._visibility_ms, candidates)
        )
        if claimed:
            _log.info("outbox.reclaimed", count=len(claimed), consumer=self.consumer)
        return claimed

    def _launch(self, entries: Iterable[_Entry]) -> int:
        busy = {entry_id for entry_id, _ in self._tasks.values()}
        launched = 0
        for entry in entries:
            if entry[0] in busy:  # our own send outlived the visibility timeout; it is still running
                continue
            task = asyncio.create_task(self._attempt(*entry))
            self._tasks[task] = entry
            task.add_done_callback(self._tasks.pop)
            task.add_done_callback(_report_crash)
            launched += 1
        return launched

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    # --- One attempt --- #

    async def _attempt(self, entry_id: str, delivery_id: str) -> None:
        try:
            raw = await _bytes(self._client.hget(self._keys.records, delivery_id))
            if raw is None:  # delivered or dead-lettered by another worker: only the entry is left
                await self._finish(entry_id, delivery_id, "done")
                return
            delivery = msgspec.json.decode(raw, type=Delivery)
            now = self._clock()
            if now > delivery.deadline + self._slack:
                await self._dead(entry_id, delivery, SendOutcome(delivered=False, reason="webhook.deadline"))
                return
            outcome = await self._send(delivery, timestamp=int(now))
            if outcome.delivered:
                await self._finish(entry_id, delivery_id, "done")
                await self._record(delivery, "verdict_delivered")
            else:
                await self._after_failure(entry_id, delivery, outcome)
        except RedisError as exc:
            # The entry stays in this consumer's pending list; it is claimed again after the timeout.
            _log.warning("outbox.store_unavailable", webhook_id=delivery_id, error=type(exc).__name__)

    async def _send(self, delivery: Delivery, *, timestamp: int) -> SendOutcome:
        return await attempt_traced(self._sender, delivery, timestamp=timestamp)

    async def _after_failure(self, entry_id: str, delivery: Delivery, outcome: SendOutcome) -> None:
        """Schedule the next attempt like ``MemoryOutbox``, or give up on 410 / a passed deadline."""
        attempts = delivery.attempts + 1
        tried = msgspec.structs.replace(delivery, attempts=attempts)
        due = next_attempt(
            delivery,
            outcome,
            now=self._clock(),
            base_delay=self._base_delay,
            max_delay=self._max_delay,
            uniform=self._uniform,
        )
        if due is None:
            reason = outcome.reason if outcome.give_up else "webhook.deadline"
            await self._dead(entry_id, tried, msgspec.structs.replace(outcome, reason=reason))
            return
        retry = msgspec.structs.replace(tried, next_attempt_at=due)
        await self._finish(entry_id, delivery.id, "retry", msgspec.json.encode(retry), due)

    async def _dead(self, entry_id: str, delivery: Delivery, outcome: SendOutcome) -> None:
        now = self._clock()
        letter = DeadLetter(delivery=delivery, reason=outcome.reason, status=outcome.status, failed_at=now)
        if await self._finish(entry_id, delivery.id, "dead", msgspec.json.encode(letter), now):
            _log.error(
                "webhook.gave_up",
                webhook_id=delivery.id,
                transaction_id=delivery.transaction_id,
                attempts=delivery.attempts,
                reason=outcome.reason,
            )
            await self._record(delivery, "verdict_dead_lettered")

    async def _finish(
        self, entry_id: str, delivery_id: str, mode: _Mode, payload: bytes = b"", score: float = 0.0
    ) -> bool:
        keys = self._keys
        applied = await self._finish_script(
            keys=[keys.ready, keys.records, keys.scheduled, keys.dead, keys.dead_index],
            args=[GROUP, self.consumer, entry_id, delivery_id, mode, payload, score],
        )
        return bool(applied)

    async def _record(self, delivery: Delivery, event: str) -> None:
        """Best effort: the delivery is settled already, and a poller's view must not undo that."""
        if self._recorder is None:
            return
        try:
            await self._recorder.record_event(
                delivery.transaction_id, event, at=self._clock(), detail=delivery.event_type
            )
        except VerifierError as exc:
            _log.warning(
                "transaction.record_failed", transaction_id=delivery.transaction_id, reason=exc.reason
            )

    # --- Shutdown --- #

    async def _hand_back(self, entries: Sequence[_Entry]) -> None:
        """Put cancelled attempts back into the stream now, rather than after the visibility timeout."""
        handed = 0
        for entry_id, delivery_id in entries:
            try:
                handed += await self._finish(entry_id, delivery_id, "requeue")
            except RedisError as exc:
                _log.warning("outbox.hand_back_failed", webhook_id=delivery_id, error=type(exc).__name__)
        if handed:
            _log.info("outbox.handed_back", count=handed, consumer=self.consumer)

    async def _retire_consumer(self) -> None:
        """Remove this consumer from the group if nothing is pending on it, so names do not pile up."""
        try:
            await self._retire_script(keys=[self._keys.ready], args=[GROUP, self.consumer])
        except RedisError as exc:
            _log.info("outbox.retire_skipped", consumer=self.consumer, error=type(exc).__name__)


def _report_crash(task: asyncio.Task[None]) -> None:
    """Log a worker or attempt that died of a bug; store outages are handled inside and never get here."""
    if not task.cancelled() and (error := task.exception()) is not None:
        _log.error("outbox.task_crashed", task=task.get_name(), exc_info=error)


async def _wait_or_cancel(tasks: set[asyncio.Task[None]], *, timeout: float) -> set[asyncio.Task[None]]:
    """Wait up to ``timeout`` for ``tasks``, then cancel and await the rest; returns those cancelled."""
    if not tasks:
        return set()
    _, late = await asyncio.wait(tasks, timeout=timeout)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return late


def _check_tuning(
    *,
    base_delay: float,
    max_delay: float,
    concurrency: int,
    stop_grace: float,
    visibility_timeout: float,
    poll_interval: float,
) -> None:
    if not 0 < base_delay <= max_delay or concurrency < 1 or stop_grace < 0:
        raise ConfigurationError(
            "config.webhook", "Need 0 < base_delay <= max_delay, concurrency >= 1, stop_grace >= 0"
        )
    if poll_interval <= 0 or visibility_timeout <= poll_interval:
        raise ConfigurationError("config.webhook", "Need 0 < poll_interval < visibility_timeout")


# redis-py types its hash commands as "Awaitable[T] | T" (one signature for both clients) and as str
# although this client returns bytes; on the asyncio client they are always awaitables of bytes.


async def _bytes(result: object) -> bytes | None:
    return await cast("Awaitable[bytes | None]", result)


async def _bytes_list(result: object) -> list[bytes | None]:
    return await cast("Awaitable[list[bytes | None]]", result)


async def _count(result: object) -> int:
    return await cast("Awaitable[int]", result)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_entries(raw: Sequence[Any] | None) -> list[_Entry]:
    """``[(entry id, {b"id": delivery id})]`` to pairs; entries deleted meanwhile come back as None."""
    entries = []
    for entry_id, fields in raw or ():
        if entry_id is not None and fields and b"id" in fields:
            entries.append((_text(entry_id), _text(fields[b"id"])))
    return entries


def _entries(response: Any) -> list[_Entry]:
    """XREADGROUP's answer for our one stream, in either the RESP2 (list) or RESP3 (dict) shape."""
    if not response:
        return []
    if isinstance(response, dict):
        return [
            entry for batches in response.values() for batch in batches for entry in _stream_entries(batch)
        ]
    return [entry for _, batch in response for entry in _stream_entries(batch)]
