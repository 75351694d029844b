"""Verdict webhooks: signing, URL allow-list, the HTTP sender and the in-memory outbox."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from service.errors import BadBackendRequest, ConfigurationError, Forbidden, VerifierError
from service.outbound import OutboundPolicy, OutboundRefused, make_client
from service.webhook import (
    Delivery,
    HttpWebhookSender,
    MemoryOutbox,
    SendOutcome,
    choose_webhook_url,
    decode_secret,
    new_delivery,
    sign_v1,
    webhook_headers,
    webhook_url_allowed,
)
from tests.unit.test_outbound import LocalServer, Reply, closed_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # Standard Webhooks reference-library test secret
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
LOCAL = OutboundPolicy(allow_http=True, allow_private=True, connect_timeout=2, read_timeout=2)
BODY = b"eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ2LTEifQ.c2ln"  # shape of a compact JWS; never parsed here
T0 = 1_700_000_000.0


def expected_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Independent v1 computation, for checking what a receiver would check."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def make_delivery(url: str = "https://rp.example/hook", **changes: Any) -> Delivery:
    delivery = new_delivery(
        verdict_id="jti-1",
        url=url,
        body=BODY,
        event_type="presentation.accepted",
        transaction_id="tx-1",
        now=T0,
    )
    return Delivery(**{**{f: getattr(delivery, f) for f in delivery.__struct_fields__}, **changes})


class FakeClock:
    """Time that moves only through ``sleep``: a day of retries runs in milliseconds."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay
        await asyncio.sleep(0)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def largest(low: float, high: float) -> float:
    """A 'random' source that always picks the top of the jitter interval."""
    return high


# --- Signatures and headers --- #


class TestSignV1:
    def test_known_answer(self):
        """The Standard Webhooks reference value."""
        assert (
            sign_v1("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}', SECRET)
            == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        )

    def test_secret_prefix_and_padding_are_optional(self):
        """``whsec_`` may be absent and base64 padding may be missing."""
        raw = bytes(range(25))  # 25 bytes: base64 ends in "=="
        padded = base64.b64encode(raw).decode()
        assert padded.endswith("==")
        signatures = {
            sign_v1("m", 1, b"x", s) for s in (padded, "whsec_" + padded, "whsec_" + padded.rstrip("="))
        }
        assert len(signatures) == 1
        assert decode_secret(padded.rstrip("=")) == raw

    @pytest.mark.parametrize(
        "secret", ["whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode(), "whsec_"]
    )
    def test_bad_secret_is_a_configuration_error(self, secret):
        """Secrets are configuration: a bad one is reported as such (and never echoed)."""
        with pytest.raises(ConfigurationError) as caught:
            sign_v1("m", 1, b"x", secret)
        assert caught.value.reason == "webhook.secret_invalid"
        assert secret.removeprefix("whsec_") not in str(caught.value) or not secret.removeprefix("whsec_")

    @pytest.mark.parametrize("msg_id", ["", "a.b", "with space", "line\nbreak", "é", "x" * 257])
    def test_msg_id_is_validated(self, msg_id):
        """The id must not contain '.', and must be a plain header value."""
        with pytest.raises(VerifierError) as caught:
            sign_v1(msg_id, 1, b"x", SECRET)
        assert caught.value.reason == "webhook.invalid_id"


class TestWebhookHeaders:
    def test_headers_with_two_secrets(self):
        """One v1 entry per secret (rotation), each verifiable; the event type rides in x-verifier-event."""
        headers = webhook_headers("jti-1", 1700000000, BODY, secrets=[SECRET, OTHER_SECRET], event_type="a.b")
        assert set(headers) == {
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "content-type",
            "x-verifier-event",
        }
        assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("jti-1", "1700000000")
        assert (headers["content-type"], headers["x-verifier-event"]) == ("application/jwt", "a.b")
        assert headers["webhook-signature"].split(" ") == [
            expected_signature(s, "jti-1", "1700000000", BODY) for s in (SECRET, OTHER_SECRET)
        ]

    def test_no_secret_no_signature_header(self):
        """Without a configured secret the signature header is left out (the JWS still signs the verdict)."""
        headers = webhook_headers(
            "jti-1", 1, BODY, secrets=[], event_type="a", content_type="application/json"
        )
        assert "webhook-signature" not in headers
        assert headers["content-type"] == "application/json"

    @pytest.mark.parametrize("event_type", ["", "a..b", ".a", "a.", "a b", "a-b"])
    def test_event_type_is_validated(self, event_type):
        """Event types are dot-separated [A-Za-z0-9_] segments."""
        with pytest.raises(VerifierError):
            webhook_headers("jti-1", 1, BODY, secrets=[], event_type=event_type)


# --- URL allow-list --- #


class TestWebhookUrlAllowed:
    @pytest.mark.parametrize(
        ("url", "entry", "expected"),
        [
            ("https://rp.example/hook", "https://rp.example/hook", True),
            ("https://rp.example/hook2", "https://rp.example/hook", False),
            ("https://rp.example/hook/x", "https://rp.example/hook", False),
            ("https://rp.example/hooks/a", "https://rp.example/hooks/", True),
            ("https://rp.example/hooksx", "https://rp.example/hooks/", False),
            ("https://rp.example/anything", "https://rp.example", True),
            ("https://example.com.evil.net/", "https://example.com/", False),
            ("https://example.com.evil.net/hook", "https://example.com/", False),
            ("https://example.com@evil.net/", "https://example.com/", False),
            ("https://evil.net/?https://example.com/", "https://example.com/", False),
            ("https://sub.example.com/", "https://example.com/", False),
            ("https://xexample.com/", "https://example.com/", False),
            ("HTTPS://RP.Example/hooks/a", "https://rp.example/hooks/", True),
            ("https://rp.example/hooks/a", "HTTPS://RP.EXAMPLE/hooks/", True),
            ("https://rp.example/Hooks/a", "https://rp.example/hooks/", False),
            ("https://rp.example:443/hooks/a", "https://rp.example/hooks/", True),
            ("https://rp.example/hooks/a", "https://rp.example:443/hooks/", True),
            ("https://rp.example:8443/hooks/a", "https://rp.example/hooks/", False),
            ("http://rp.example:80/h", "http://rp.example/h", True),
            ("http://rp.example/hooks/a", "https://rp.example/hooks/", False),
            ("https://rp.example/hooks/../admin", "https://rp.example/hooks/", False),
            ("https://rp.example/hooks/%2e%2e/admin", "https://rp.example/hooks/", False),
            ("https://rp.example/hooks/%2E%2E%2Fadmin", "https://rp.example/hooks/", False),
            ("https://rp.example/hooks/a#frag", "https://rp.example/hooks/", False),
            ("https://rp.example/hooks/a b", "https://rp.example/hooks/", False),
            ("https://rp.example\\@evil.net/hooks/", "https://rp.example/hooks/", False),
            ("https://user@rp.example/hooks/a", "https://rp.example/hooks/", False),
            ("https://rp.example/hooks/a", "https://user@rp.example/hooks/", False),
            ("ftp://rp.example/hooks/a", "ftp://rp.example/hooks/", False),
            ("https://[::1]:8443/h", "https://[::1]:8443/h", True),
            ("https://rp.example:99999/h", "https://rp.example/", False),
        ],
    )
    def test_cases(self, url, entry, expected):
        """Exact entries match exactly; entries ending in '/' are prefixes; no partial host matches."""
        assert webhook_url_allowed(url, [entry]) is expected

    def test_empty_allow_list_allows_nothing(self):
        assert not webhook_url_allowed("https://rp.example/", [])

    def test_any_entry_may_match(self):
        assert webhook_url_allowed("https://b.example/x", ["https://a.example/", "https://b.example/"])


class TestChooseWebhookUrl:
    ALLOW = ("https://rp.example/hooks/",)

    def test_default_when_none_requested(self):
        assert choose_webhook_url(None, default="https://d.example/h", allow_list=()) == "https://d.example/h"

    def test_missing(self):
        """Nothing requested and nothing configured: the backend's request is incomplete (400)."""
        with pytest.raises(BadBackendRequest) as caught:
            choose_webhook_url(None, default=None, allow_list=self.ALLOW)
        assert (caught.value.reason, caught.value.status_code) == ("webhook.missing", 400)

    def test_requested_and_allowed(self):
        url = "https://rp.example/hooks/tenant-7"
        assert choose_webhook_url(url, default=None, allow_list=self.ALLOW) == url

    def test_requested_but_not_allowed(self):
        """A URL outside the allow-list is forbidden (403), default or not."""
        with pytest.raises(Forbidden) as caught:
            choose_webhook_url("https://evil.example/", default="https://d.example/h", allow_list=self.ALLOW)
        assert (caught.value.reason, caught.value.status_code) == ("webhook.url_not_allowed", 403)

    def test_requesting_the_default_needs_no_entry(self):
        url = "https://d.example/h"
        assert choose_webhook_url(url, default=url, allow_list=()) == url

    def test_policy_applies_the_static_ssrf_checks(self):
        """An allow-listed http URL still fails an https-only policy, at creation time."""
        with pytest.raises(OutboundRefused) as caught:
            choose_webhook_url(
                "http://rp.example/hooks/a",
                default=None,
                allow_list=["http://rp.example/"],
                policy=OutboundPolicy(),
            )
        assert caught.value.reason == "outbound.scheme"


# --- HTTP sender against a real server --- #


async def _send_once(server_url: str, policy: OutboundPolicy = LOCAL, secrets: tuple[str, ...] = (SECRET,)):
    async with make_client(policy) as client:
        sender = HttpWebhookSender(client, policy, secrets)
        return await sender.send(make_delivery(server_url), timestamp=1_700_000_123)


class TestHttpWebhookSender:
    def test_delivered(self):
        """2xx: delivered; the receiver got the exact body and verifiable Standard Webhooks headers."""
        with capture_logs() as logs, LocalServer(Reply(204)) as server:
            outcome = run(_send_once(server.url()))
        assert outcome == SendOutcome(delivered=True, status=204)
        [seen] = server.seen
        assert seen.body == BODY
        assert seen.headers["webhook-id"] == "jti-1"
        assert seen.headers["webhook-timestamp"] == "1700000123"
        assert seen.headers["webhook-signature"] == expected_signature(SECRET, "jti-1", "1700000123", BODY)
        assert seen.headers["x-verifier-event"] == "presentation.accepted"
        assert seen.headers["content-type"] == "application/jwt"
        assert logs == [
            {
                "event": "webhook.delivered",
                "log_level": "info",
                "webhook_id": "jti-1",
                "transaction_id": "tx-1",
                "attempt": 1,
                "status": 204,
            }
        ]

    @pytest.mark.parametrize(
        ("reply", "expected"),
        [
            (
                Reply(302, {"Location": "/elsewhere"}),
                SendOutcome(False, status=302, reason="webhook.http_3xx"),
            ),
            (Reply(400), SendOutcome(False, status=400, reason="webhook.http_4xx")),
            (Reply(500), SendOutcome(False, status=500, reason="webhook.http_5xx")),
            (Reply(410), SendOutcome(False, give_up=True, status=410, reason="webhook.endpoint_gone")),
            (
                Reply(429, {"Retry-After": "7"}),
                SendOutcome(False, retry_after=7.0, status=429, reason="webhook.http_4xx"),
            ),
            (
                Reply(503, {"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"}),
                SendOutcome(False, status=503, reason="webhook.http_5xx"),
            ),
            (Reply(500, {"Retry-After": "7"}), SendOutcome(False, status=500, reason="webhook.http_5xx")),
        ],
    )
    def test_non_2xx_is_a_failure(self, reply, expected):
        """3xx (not followed), 4xx and 5xx fail; 410 gives up; Retry-After counts on 429/503 only."""
        with capture_logs() as logs, LocalServer(reply, Reply(200)) as server:
            outcome = run(_send_once(server.url()))
        assert outcome == expected
        assert len(server.seen) == 1
        assert [(e["event"], e["status"]) for e in logs] == [("webhook.delivery_failed", reply.status)]

    def test_unreachable_is_a_retryable_failure(self):
        with capture_logs() as logs:
            outcome = run(_send_once(f"http://127.0.0.1:{closed_port()}/hook"))
        assert outcome == SendOutcome(False, reason="outbound.connect")
        assert logs[0]["event"] == "webhook.delivery_failed"
        assert logs[0]["status"] is None

    def test_refused_destination_gives_up(self):
        """A destination the guard refuses is not retried."""
        with LocalServer() as server:
            outcome = run(_send_once(server.url(), policy=OutboundPolicy()))
        assert outcome == SendOutcome(False, give_up=True, reason="outbound.scheme")
        assert server.seen == []

    def test_body_and_secret_are_never_logged(self):
        with capture_logs() as logs, LocalServer(Reply(500)) as server:
            run(_send_once(server.url()))
        text = repr(logs)
        assert BODY.decode() not in text
        assert SECRET not in text
        assert server.url() not in text

    def test_bad_secret_fails_at_construction(self):
        async def go() -> None:
            async with make_client(LOCAL) as client:
                HttpWebhookSender(client, LOCAL, ["whsec_***"])

        with pytest.raises(ConfigurationError):
            run(go())


# --- The in-memory outbox --- #


class RecordingSender:
    """A scripted sender: records (attempt, timestamp) and returns outcomes in order, the last repeating."""

    def __init__(self, *outcomes: SendOutcome | Exception, gate: asyncio.Event | None = None) -> None:
        self.outcomes = list(outcomes) or [SendOutcome(delivered=True)]
        self.calls: list[tuple[str, int, int]] = []
        self.gate = gate
        self.active = 0
        self.most_active = 0

    async def send(self, delivery: Delivery, *, timestamp: int) -> SendOutcome:
        self.calls.append((delivery.id, delivery.attempts, timestamp))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.active -= 1
        outcome = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def _drain(outbox: MemoryOutbox, *deliveries: Delivery) -> None:
    await outbox.start()
    try:
        for delivery in deliveries:
            await outbox.enqueue(delivery)
        await until(lambda: outbox.pending() == 0)
    finally:
        await outbox.stop()


class TestMemoryOutbox:
    def test_retries_until_delivered_against_a_real_server(self):
        """Two failures then 2xx: three attempts, one id, one body, new timestamps and signatures."""
        clock = FakeClock()

        async def go(url: str) -> None:
            async with make_client(LOCAL) as client:
                sender = HttpWebhookSender(client, LOCAL, [SECRET])
                outbox = MemoryOutbox(sender, clock=clock, sleep=clock.sleep, uniform=largest, base_delay=1.0)
                await _drain(outbox, make_delivery(url))

        with capture_logs() as logs, LocalServer(Reply(500), Reply(503), Reply(200)) as server:
            run(go(server.url()))
        assert len(server.seen) == 3
        assert {s.headers["webhook-id"] for s in server.seen} == {"jti-1"}
        assert {s.body for s in server.seen} == {BODY}
        stamps = [s.headers["webhook-timestamp"] for s in server.seen]
        assert stamps == [
            str(int(T0)),
            str(int(T0) + 2),
            str(int(T0) + 6),
        ]  # full jitter at its top: 2 s, 4 s
        for seen, stamp in zip(server.seen, stamps, strict=True):
            assert seen.headers["webhook-signature"] == expected_signature(SECRET, "jti-1", stamp, BODY)
        events = [(e["event"], e.get("attempt")) for e in logs]
        assert events == [
            ("webhook.delivery_failed", 1),
            ("webhook.delivery_failed", 2),
            ("webhook.delivered", 3),
        ]

    def test_real_time_short_delays(self):
        """The same with the real clock and real sleeps, kept fast by a 10 ms base delay."""

        async def go(url: str) -> None:
            async with make_client(LOCAL) as client:
                sender = HttpWebhookSender(client, LOCAL, [SECRET])
                outbox = MemoryOutbox(sender, clock=time.time, base_delay=0.01, max_delay=0.05)
                await _drain(outbox, make_delivery(url, created_at=time.time(), deadline=time.time() + 30))

        with LocalServer(Reply(500), Reply(500), Reply(200)) as server:
            run(go(server.url()))
        assert [s.headers["webhook-id"] for s in server.seen] == ["jti-1"] * 3
        assert sum(1 for _ in server.seen) == 3

    def test_gives_up_at_the_deadline(self):
        """Failing forever: attempts at 0, 2, 6 and (clamped) 10 s, then webhook.gave_up."""
        clock = FakeClock()
        sender = RecordingSender(SendOutcome(delivered=False, status=500))
        delivery = make_delivery(deadline=T0 + 10)
        outbox = MemoryOutbox(
            sender, clock=clock, sleep=clock.sleep, uniform=largest, base_delay=1, max_delay=4
        )
        with capture_logs() as logs:
            run(_drain(outbox, delivery))
        assert [stamp - int(T0) for _, _, stamp in sender.calls] == [0, 2, 6, 10]
        assert [attempts for _, attempts, _ in sender.calls] == [0, 1, 2, 3]
        [gave_up] = [e for e in logs if e["event"] == "webhook.gave_up"]
        assert gave_up == {
            "event": "webhook.gave_up",
            "log_level": "error",
            "webhook_id": "jti-1",
            "transaction_id": "tx-1",
            "attempts": 4,
            "reason": "webhook.deadline",
        }

    def test_a_day_of_retries_with_defaults(self):
        """Default schedule over 24 h: ordered attempts, never past the deadline, then given up.

        Full jitter under a 300 s cap averages 150 s, so about 576 attempts a day for a dead endpoint.
        """
        clock = FakeClock()
        sender = RecordingSender(SendOutcome(delivered=False))
        outbox = MemoryOutbox(sender, clock=clock, sleep=clock.sleep, uniform=random.Random(7).uniform)
        with capture_logs() as logs:
            run(_drain(outbox, make_delivery()))
        stamps = [stamp for _, _, stamp in sender.calls]
        assert stamps == sorted(stamps)
        assert stamps[-1] <= T0 + 24 * 3600
        assert stamps[-1] == T0 + 24 * 3600  # the last attempt is clamped onto the deadline
        assert 24 * 3600 / 300 <= len(stamps) <= 24 * 3600 / 100
        assert [e["event"] for e in logs] == ["webhook.gave_up"]

    def test_410_gives_up_at_once(self):
        """410 Gone against a real server: one attempt, then webhook.gave_up."""

        async def go(url: str) -> None:
            async with make_client(LOCAL) as client:
                sender = HttpWebhookSender(client, LOCAL, [SECRET])
                clock = FakeClock()
                await _drain(MemoryOutbox(sender, clock=clock, sleep=clock.sleep), make_delivery(url))

        with capture_logs() as logs, LocalServer(Reply(410), Reply(200)) as server:
            run(go(server.url()))
        assert len(server.seen) == 1
        assert [(e["event"], e.get("reason")) for e in logs] == [
            ("webhook.delivery_failed", "webhook.endpoint_gone"),
            ("webhook.gave_up", "webhook.endpoint_gone"),
        ]

    @pytest.mark.parametrize(("retry_after", "expected_gap"), [(30.0, 30), (10_000.0, 60)])
    def test_retry_after_is_a_floor_capped_at_max_delay(self, retry_after, expected_gap):
        clock = FakeClock()
        sender = RecordingSender(
            SendOutcome(delivered=False, retry_after=retry_after), SendOutcome(delivered=True)
        )
        outbox = MemoryOutbox(
            sender, clock=clock, sleep=clock.sleep, uniform=largest, base_delay=1, max_delay=60
        )
        run(_drain(outbox, make_delivery()))
        first, second = (stamp for _, _, stamp in sender.calls)
        assert second - first == expected_gap

    def test_expired_delivery_is_not_sent(self):
        clock = FakeClock()
        sender = RecordingSender()
        with capture_logs() as logs:
            run(_drain(MemoryOutbox(sender, clock=clock, sleep=clock.sleep), make_delivery(deadline=T0 - 1)))
        assert sender.calls == []
        assert [e["reason"] for e in logs] == ["webhook.deadline"]

    def test_concurrency_is_limited(self):
        """No more than ``concurrency`` sends are in flight."""
        clock = FakeClock()

        async def go() -> RecordingSender:
            gate = asyncio.Event()
            sender = RecordingSender(gate=gate)
            outbox = MemoryOutbox(sender, clock=clock, sleep=clock.sleep, concurrency=2)
            await outbox.start()
            for n in range(5):
                await outbox.enqueue(make_delivery(id=f"jti-{n}"))
            await until(lambda: sender.active == 2)
            await asyncio.sleep(0.05)
            assert outbox.pending() == 5
            gate.set()
            await until(lambda: outbox.pending() == 0)
            await outbox.stop()
            return sender

        sender = run(go())
        assert sender.most_active == 2
        assert sorted(call[0] for call in sender.calls) == [f"jti-{n}" for n in range(5)]

    @pytest.mark.parametrize("grace", [0, 0.01])
    def test_stop_requeues_what_is_still_in_flight(self, grace):
        """stop() waits stop_grace, then cancels and keeps the delivery (lost only with the process)."""
        clock = FakeClock()

        async def go() -> tuple[int, RecordingSender]:
            sender = RecordingSender(gate=asyncio.Event())  # never opened
            outbox = MemoryOutbox(sender, clock=clock, sleep=clock.sleep, stop_grace=grace)
            await outbox.start()
            await outbox.enqueue(make_delivery())
            await until(lambda: sender.active == 1)
            await outbox.stop()
            await outbox.stop()  # idempotent
            return outbox.pending(), sender

        pending, sender = run(go())
        assert (pending, len(sender.calls)) == (1, 1)

    def test_enqueue_before_start_is_kept(self):
        clock = FakeClock()
        sender = RecordingSender()

        async def go() -> None:
            outbox = MemoryOutbox(sender, clock=clock, sleep=clock.sleep)
            await outbox.enqueue(make_delivery())
            assert outbox.pending() == 1
            await _drain(outbox)

        run(go())
        assert len(sender.calls) == 1

    def test_sender_crash_costs_an_attempt_not_the_delivery(self):
        clock = FakeClock()
        sender = RecordingSender(RuntimeError("bug"), SendOutcome(delivered=True))
        with capture_logs() as logs:
            run(_drain(MemoryOutbox(sender, clock=clock, sleep=clock.sleep), make_delivery()))
        assert len(sender.calls) == 2
        assert [e["event"] for e in logs] == ["webhook.sender_crashed"]

    def test_enqueue_validates_the_delivery(self):
        outbox = MemoryOutbox(RecordingSender(), clock=FakeClock())
        with pytest.raises(VerifierError):
            run(outbox.enqueue(make_delivery(id="has.dot")))

    @pytest.mark.parametrize(
        "kwargs",
        [{"base_delay": 0}, {"base_delay": 10, "max_delay": 5}, {"concurrency": 0}, {"stop_grace": -1}],
    )
    def test_bad_configuration(self, kwargs):
        with pytest.raises(ConfigurationError):
            MemoryOutbox(RecordingSender(), clock=FakeClock(), **kwargs)


class TestFinalRetry:
    """The retry scheduled at the deadline is made even though it starts a moment after it."""

    def test_retry_scheduled_at_the_deadline_is_sent(self):
        """A delivery due exactly at its deadline, picked up 10 ms late, is still attempted once."""
        clock = FakeClock()
        sender = RecordingSender()
        delivery = make_delivery(deadline=T0 - 0.01, attempts=3, next_attempt_at=T0 - 0.01)
        run(_drain(MemoryOutbox(sender, clock=clock, sleep=clock.sleep), delivery))
        assert len(sender.calls) == 1
