"""Step 5: deliver the signed verdict to the backend as a Standard Webhook (webhooks.md).

The body is the compact verdict JWS (``application/jwt``), POSTed through the SSRF guard in
``service.outbound``. Each attempt carries these headers:

- ``webhook-id``: the verdict ``jti``. It is the same on every retry, so receivers dedupe by it.
- ``webhook-timestamp``: Unix seconds of *this* attempt. A retry gets a new timestamp and so a new
  signature.
- ``webhook-signature``: one ``v1,<base64 HMAC-SHA256>`` per configured secret, space separated, so
  secrets can be rotated. The header is left out when no secret is configured; the JWS still
  authenticates the verdict.
- ``content-type``: ``application/jwt``.
- ``x-verifier-event``: the event type (``verification.completed``, ...). Standard Webhooks keeps the type
  in a JSON payload, but ours is a JWS, and this header lets receivers route before they decode it. The
  ``v1`` signature does not cover it, so it is a routing hint: the verified JWS is authoritative.

Delivery is at-least-once: any 2xx is success. 3xx (never followed), 4xx, 5xx, timeouts and connection
errors are retried with exponential backoff and full jitter until the delivery's deadline. ``410 Gone``
ends the delivery at once, and ``Retry-After`` on 429/503 sets a floor for the next delay. ``MemoryOutbox``
keeps its queue in process memory only (see its docstring for what a crash loses). The ``Outbox``
protocol is the seam for a durable implementation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import heapq
import hmac
import itertools
import random
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol
from urllib.parse import unquote, urlsplit

import msgspec
import structlog

from service import tracing
from service.errors import BadBackendRequest, ConfigurationError, Forbidden, VerifierError
from service.outbound import (
    OutboundClient,
    OutboundPolicy,
    OutboundRefused,
    OutboundResponse,
    OutboundUnavailable,
    Resolver,
    parse_outbound_url,
    post,
)

__all__ = [
    "DEFAULT_RETRY_PERIOD",
    "Delivery",
    "HttpWebhookSender",
    "MemoryOutbox",
    "Outbox",
    "SendOutcome",
    "WebhookSender",
    "attempt_traced",
    "backoff_delay",
    "check_event_type",
    "check_webhook_id",
    "choose_webhook_url",
    "decode_secret",
    "new_delivery",
    "sign_v1",
    "webhook_headers",
    "webhook_url_allowed",
]

_log = structlog.get_logger(__name__)

DEFAULT_RETRY_PERIOD: Final = 24 * 3600.0  # webhooks.md §4: the example schedule ends after 24 h
_WHSEC_PREFIX: Final = "whsec_"
_MIN_SECRET_BYTES: Final = 24  # webhooks.md §2: 24-64 random bytes per endpoint
_EVENT_HEADER: Final = "x-verifier-event"
# "Signature scheme": the id must not contain "."; printable ASCII without spaces also keeps it a safe
# header value.
_WEBHOOK_ID: Final = re.compile(r"[\x21-\x2d\x2f-\x7e]{1,256}")
_EVENT_TYPE: Final = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")  # webhooks.md §4, event types
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}
_DELAY_SECONDS: Final = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() also takes "²"
_MAX_BACKOFF_EXPONENT: Final = 64  # 2**64 base delays is past any max_delay; avoids float overflow


# --- Standard Webhooks v1 signatures --- #


def check_webhook_id(msg_id: str) -> None:
    """Refuse an id that could break the signed content ``id.timestamp.body`` or the header."""
    if _WEBHOOK_ID.fullmatch(msg_id) is None:
        raise VerifierError(
            "webhook.invalid_id", "A webhook id must be 1-256 printable characters without '.'"
        )


def check_event_type(event_type: str) -> None:
    """Refuse an event type outside ``segment(.segment)*`` with ``[A-Za-z0-9_]`` segments."""
    if _EVENT_TYPE.fullmatch(event_type) is None:
        raise VerifierError("webhook.invalid_event_type", "The webhook event type is not valid")


def decode_secret(secret: str) -> bytes:
    """``whsec_<base64>`` (or bare base64, padding optional) to key bytes; at least 24 bytes."""
    text = secret.removeprefix(_WHSEC_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("webhook.secret_invalid", "A webhook secret is not base64") from exc
    if len(key) < _MIN_SECRET_BYTES:
        raise ConfigurationError("webhook.secret_invalid", "A webhook secret must be at least 24 bytes")
    return key


def sign_v1(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """``v1,<base64(HMAC-SHA256(key, "id.timestamp.body"))>`` (Standard Webhooks "Signature scheme")."""
    check_webhook_id(msg_id)
    signed = f"{msg_id}.{timestamp}.".encode("ascii") + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_headers(
    msg_id: str,
    timestamp: int,
    body: bytes,
    *,
    secrets: Sequence[str],
    event_type: str,
    content_type: str = "application/jwt",
) -> dict[str, str]:
    """The headers of one delivery attempt, with lower-case names as in the Standard Webhooks spec."""
    check_webhook_id(msg_id)
    check_event_type(event_type)
    if timestamp < 0:
        raise VerifierError("webhook.invalid_timestamp", "A webhook timestamp must not be negative")
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "content-type": content_type,
        _EVENT_HEADER: event_type,
    }
    if secrets:
        headers["webhook-signature"] = " ".join(sign_v1(msg_id, timestamp, body, s) for s in secrets)
    return headers


# --- Which URL a transaction may deliver to --- #


def webhook_url_allowed(url: str, allow_list: Sequence[str]) -> bool:
    """Whether ``url`` matches an allow-list entry.

    An entry whose normalised form ends in ``/`` is a prefix ("https://rp.example/hooks/" allows every URL
    below it, "https://rp.example" allows the whole origin); any other entry must match exactly.
    Scheme and host compare case-insensitively, and the scheme's default port equals no port. Both sides
    are normalised the same way, so "https://example.com.evil.net/" never matches "https://example.com/".
    URLs with userinfo, a fragment, dot segments (even percent-encoded) or odd characters match nothing.
    """
    candidate = _normalise_url(url)
    if candidate is None:
        return False
    for entry in allow_list:
        allowed = _normalise_url(entry)
        if allowed is not None and (
            candidate == allowed or (allowed.endswith("/") and candidate.startswith(allowed))
        ):
            return True
    return False


def _normalise_url(url: str) -> str | None:
    if not url.isascii() or any(c.isspace() or c in '\\"<>#' for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc or "%" in parts.netloc:
        return None
    path = parts.path or "/"
    # "/hooks/../admin" (or "/hooks/%2e%2e/admin") starts with "/hooks/" but may reach /admin.
    if any(segment in {".", ".."} for segment in unquote(path).split("/")):
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}{path}" + (f"?{parts.query}" if parts.query else "")


def choose_webhook_url(
    requested: str | None,
    *,
    default: str | None,
    allow_list: Sequence[str],
    policy: OutboundPolicy | None = None,
) -> str:
    """The URL a new transaction delivers its verdict to.

    The configured default needs no allow-list entry (the operator set it); a URL the backend asks for
    must match one. With a ``policy`` the result also passes the static SSRF checks now, so a bad URL
    fails when the transaction is created instead of at delivery time.
    """
    if requested is None:
        if default is None:
            raise BadBackendRequest("webhook.missing", "No webhook URL was given and none is configured")
        url = default
    elif requested == default or webhook_url_allowed(requested, allow_list):
        url = requested
    else:
        raise Forbidden("webhook.url_not_allowed", "The webhook URL is not in the allow-list")
    if policy is not None:
        parse_outbound_url(url, policy)
    return url


# --- Delivery records and ports --- #


class Delivery(msgspec.Struct, frozen=True):
    """One verdict to deliver, and where its retry schedule stands."""

    id: str
    """The webhook-id: the verdict ``jti``, identical on every attempt."""
    url: str
    body: bytes
    """The compact verdict JWS, sent byte for byte on every attempt."""
    event_type: str
    transaction_id: str
    created_at: float
    deadline: float
    """No attempt starts after this instant; the delivery is then given up."""
    attempts: int = 0
    """Attempts made so far."""
    next_attempt_at: float = 0
    trace_parent: str | None = None
    """W3C ``traceparent`` of the span that queued it (tracing on): each attempt's span is its child."""


def new_delivery(
    *,
    verdict_id: str,
    url: str,
    body: bytes,
    event_type: str,
    transaction_id: str,
    now: float,
    retry_period: float = DEFAULT_RETRY_PERIOD,
) -> Delivery:
    """A delivery due now, whose retries stop ``retry_period`` seconds from now."""
    check_webhook_id(verdict_id)
    check_event_type(event_type)
    return Delivery(
        id=verdict_id,
        url=url,
        body=body,
        event_type=event_type,
        transaction_id=transaction_id,
        created_at=now,
        deadline=now + retry_period,
        next_attempt_at=now,
    )


class SendOutcome(msgspec.Struct, frozen=True):
    """What one attempt tells the outbox."""

    delivered: bool
    give_up: bool = False
    """The failure is permanent (410 Gone, a refused destination): no further attempt."""
    retry_after: float | None = None
    """The receiver's ``Retry-After`` in seconds (429/503): a floor for the next delay."""
    status: int | None = None
    """The HTTP status, if a response arrived."""
    reason: str | None = None
    """Why the attempt failed, as a stable code."""


class WebhookSender(Protocol):
    """Makes one delivery attempt; never raises for a failed delivery."""

    async def send(self, delivery: Delivery, *, timestamp: int) -> SendOutcome: ...


class Outbox(Protocol):
    """Accepts deliveries and keeps attempting them in the background until delivered or given up."""

    async def enqueue(self, delivery: Delivery) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def pending(self) -> int: ...

    @property
    def running(self) -> bool:
        """True while deliveries are being attempted (readiness)."""
        ...


# --- HTTP sender --- #


class HttpWebhookSender:
    """``WebhookSender`` over HTTP through the SSRF guard. Logs outcomes, never the body or the URL."""

    def __init__(
        self,
        client: OutboundClient,
        policy: OutboundPolicy,
        secrets: Sequence[str],
        *,
        resolver: Resolver | None = None,
    ) -> None:
        for secret in secrets:
            decode_secret(secret)  # a bad secret fails at start-up, not at the first verdict
        self._client = client
        self._policy = policy
        self._secrets = tuple(secrets)
        self._resolver = resolver

    async def send(self, delivery: Delivery, *, timestamp: int) -> SendOutcome:
        """Make one attempt, signed with ``timestamp``, and classify the result."""
        headers = webhook_headers(
            delivery.id, timestamp, delivery.body, secrets=self._secrets, event_type=delivery.event_type
        )
        log = _log.bind(
            webhook_id=delivery.id, transaction_id=delivery.transaction_id, attempt=delivery.attempts + 1
        )
        try:
            response = await post(
                self._client,
                delivery.url,
                body=delivery.body,
                headers=headers,
                policy=self._policy,
                resolver=self._resolver,
            )
        except OutboundRefused as exc:
            # Vetted when the transaction was created; refused now means the name moved to a
            # non-public address (what DNS rebinding looks like), so do not keep knocking.
            log.warning("webhook.delivery_failed", status=None, reason=exc.reason)
            return SendOutcome(delivered=False, give_up=True, reason=exc.reason)
        except OutboundUnavailable as exc:
            log.warning("webhook.delivery_failed", status=None, reason=exc.reason)
            return SendOutcome(delivered=False, reason=exc.reason)
        return _classify(response, log)


def _classify(response: OutboundResponse, log: structlog.typing.FilteringBoundLogger) -> SendOutcome:
    status = response.status
    if response.ok:
        log.info("webhook.delivered", status=status)
        return SendOutcome(delivered=True, status=status)
    reason = "webhook.endpoint_gone" if status == 410 else f"webhook.http_{status // 100}xx"
    log.warning("webhook.delivery_failed", status=status, reason=reason)
    retry_after = _retry_after(response.headers) if status in {429, 503} else None
    return SendOutcome(
        delivered=False, give_up=status == 410, retry_after=retry_after, status=status, reason=reason
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as delay-seconds (RFC 9110 §10.2.3); the HTTP-date form is ignored."""
    value = headers.get("retry-after", "").strip()
    return float(value) if _DELAY_SECONDS.fullmatch(value) else None


# --- Backoff and the in-memory outbox --- #


async def attempt_traced(sender: WebhookSender, delivery: Delivery, *, timestamp: int) -> SendOutcome:
    """One attempt in its own ``verifier.delivery`` span; a crashing sender costs the attempt only.

    The span records the attempt number, the outcome and the reason code, never the URL or the body.
    """
    with tracing.span(
        "verifier.delivery",
        parent=delivery.trace_parent,
        transaction_id=delivery.transaction_id,
        event_type=delivery.event_type,
        attempt=delivery.attempts + 1,
    ):
        try:
            outcome = await sender.send(delivery, timestamp=timestamp)
        except Exception:  # noqa: BLE001 - a sender bug must cost an attempt, not the worker or the delivery
            _log.exception(
                "webhook.sender_crashed", webhook_id=delivery.id, transaction_id=delivery.transaction_id
            )
            outcome = SendOutcome(delivered=False, reason="webhook.sender_error")
        tracing.set_attribute("delivered", outcome.delivered)
        tracing.set_attribute("http_status", outcome.status)
        if not outcome.delivered:
            tracing.record_reason(outcome.reason or "webhook.failed", failed=True)
        return outcome


def next_attempt(
    delivery: Delivery,
    outcome: SendOutcome,
    *,
    now: float,
    base_delay: float,
    max_delay: float,
    uniform: Callable[[float, float], float],
) -> float | None:
    """When to try a failed delivery again, or None to give up (410 Gone, or the deadline has passed)."""
    if outcome.give_up or now >= delivery.deadline:
        return None
    delay = backoff_delay(delivery.attempts + 1, base_delay=base_delay, max_delay=max_delay, uniform=uniform)
    if outcome.retry_after is not None:
        # The receiver's wish is a floor, but capped: it must not park the delivery past our schedule.
        delay = max(delay, min(outcome.retry_after, max_delay))
    # The last attempt happens at the deadline rather than being skipped for overshooting it.
    return min(now + delay, delivery.deadline)


def backoff_delay(
    attempts: int, *, base_delay: float, max_delay: float, uniform: Callable[[float, float], float]
) -> float:
    """Seconds before the next attempt: full jitter over an exponential ceiling, floored.

    ``uniform(0, min(max_delay, base_delay * 2**attempts))``, at least ``base_delay / 2`` so that retries
    of many deliveries do not bunch at zero. The result is clamped into that interval, so an injected
    ``uniform`` cannot push it out. Assumes ``max_delay >= base_delay > 0``, which ``MemoryOutbox`` checks.
    """
    ceiling = min(max_delay, base_delay * 2.0 ** min(max(attempts, 0), _MAX_BACKOFF_EXPONENT))
    floor = base_delay / 2
    return min(ceiling, max(floor, uniform(0.0, ceiling)))


class MemoryOutbox:
    """An ``Outbox`` in process memory: a heap of deliveries ordered by due time, and one worker task.

    Durability: none. A crash or restart loses every queued delivery and its retry schedule, so a
    verdict can then go undelivered. ``stop()`` waits ``stop_grace`` seconds for in-flight sends,
    cancels the rest and puts them back in the heap, which is also gone once the process exits. A
    durable outbox (Redis stream, dead letters) implements the same protocol.
    """

    def __init__(
        self,
        sender: WebhookSender,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        uniform: Callable[[float, float], float] | None = None,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        concurrency: int = 16,
        stop_grace: float = 5.0,
    ) -> None:
        if not 0 < base_delay <= max_delay or concurrency < 1 or stop_grace < 0:
            raise ConfigurationError(
                "config.webhook", "Need 0 < base_delay <= max_delay, concurrency >= 1, stop_grace >= 0"
            )
        self._sender = sender
        self._clock = clock
        self._sleep = sleep
        # Jitter only spreads load and needs no secrecy; SystemRandom just avoids sharing a seeded global.
        self._uniform = uniform or random.SystemRandom().uniform
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._stop_grace = stop_grace
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()  # ties on due time keep arrival order; Delivery is not orderable
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None

    async def enqueue(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for its ``next_attempt_at``; it is kept even before ``start()``."""
        check_webhook_id(delivery.id)
        check_event_type(delivery.event_type)
        self._push(delivery)

    @property
    def running(self) -> bool:
        """True while the worker task runs."""
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Start the worker task; a second call does nothing."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="webhook-outbox")

    async def stop(self) -> None:
        """Stop taking deliveries, wait briefly for in-flight sends, and re-queue those still running."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.cancel()
        await asyncio.wait({worker})
        if self._in_flight:
            _, still_running = await asyncio.wait(set(self._in_flight), timeout=self._stop_grace)
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)

    def pending(self) -> int:
        """Deliveries queued or in flight."""
        return len(self._heap) + len(self._in_flight)

    def _push(self, delivery: Delivery) -> None:
        heapq.heappush(self._heap, (delivery.next_attempt_at, next(self._order), delivery))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            # Take a slot before a delivery, so a delivery is never held outside both heap and flight.
            await self._slots.acquire()
            try:
                delivery = await self._next_due()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._attempt(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _next_due(self) -> Delivery:
        while True:
            self._wake.clear()
            now = self._clock()
            if self._heap and self._heap[0][0] <= now:
                return heapq.heappop(self._heap)[2]
            await self._wait(self._heap[0][0] - now if self._heap else None)

    async def _wait(self, delay: float | None) -> None:
        """Sleep until ``delay`` passes (through the injected sleep) or a new delivery arrives."""
        if delay is None:
            # The usual wait (nothing queued): the event alone, without two tasks and a wait() to race
            # them, which cost more than the delivery's own bookkeeping.
            await self._wake.wait()
            return
        waiters: set[asyncio.Future[Any]] = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._sleep(delay)),
        }
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            now = self._clock()
            # The final retry is scheduled *at* the deadline and starts a moment after it: still send it.
            final_retry = delivery.attempts > 0 and delivery.next_attempt_at >= delivery.deadline
            if now > delivery.deadline and not final_retry:
                self._give_up(delivery, delivery.attempts, "webhook.deadline")
                return
            outcome = await self._send(delivery, timestamp=int(now))
            if not outcome.delivered:
                self._after_failure(delivery, outcome)
        except asyncio.CancelledError:
            self._push(delivery)  # interrupted by stop(): keep it rather than lose it silently
            raise
        finally:
            self._slots.release()

    async def _send(self, delivery: Delivery, *, timestamp: int) -> SendOutcome:
        return await attempt_traced(self._sender, delivery, timestamp=timestamp)

    def _after_failure(self, delivery: Delivery, outcome: SendOutcome) -> None:
        attempts = delivery.attempts + 1
        due = next_attempt(
            delivery,
            outcome,
            now=self._clock(),
            base_delay=self._base_delay,
            max_delay=self._max_delay,
            uniform=self._uniform,
        )
        if due is None:
            self._give_up(delivery, attempts, outcome.reason if outcome.give_up else "webhook.deadline")
            return
        self._push(msgspec.structs.replace(delivery, attempts=attempts, next_attempt_at=due))

    def _give_up(self, delivery: Delivery, attempts: int, reason: str | None) -> None:
        _log.error(
            "webhook.gave_up",
            webhook_id=delivery.id,
            transaction_id=delivery.transaction_id,
            attempts=attempts,
            reason=reason,
        )
