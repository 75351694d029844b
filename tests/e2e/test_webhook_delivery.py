"""Verdict delivery as Standard Webhooks over real HTTP: retries, outages, headers, signatures, rejections.

Each test runs its own receiver and service (start_service's retry delays are 0.05 s base, 0.3 s max).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.actors import (
    Attempt,
    VerificationError,
    Wallet,
    WebhookReceiver,
    verify_standard_webhook,
    verify_verdict,
)
from tests.e2e.conftest import WEBHOOK_SECRET, Issuers, RunningService, start_service, start_service_at


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def own_service(tmp_path: Path, hook: WebhookReceiver, issuers: Issuers) -> Iterator[RunningService]:
    running = start_service(tmp_path, hook, issuers.trust_file())
    yield running
    running.stop()


def _verified_flow(service: RunningService, issuers: Issuers, wallet: Wallet) -> dict[str, Any]:
    created = service.create()
    request = wallet.fetch_request(created["authorization_request_uri"])
    answer = wallet.respond(request, [issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})])
    assert answer.status_code == 200, answer.text
    return created


def _rejected_flow(service: RunningService, issuers: Issuers, wallet: Wallet) -> dict[str, Any]:
    created = service.create()
    request = wallet.fetch_request(created["authorization_request_uri"])
    credential = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
    answer = wallet.respond(request, [credential], id_token_claims={"nonce": "not-the-nonce"})
    assert answer.status_code == 400, answer.text
    return created


def _for_transaction(attempts: list[Attempt], jwks: dict[str, Any], transaction_id: str) -> list[Attempt]:
    return [a for a in attempts if verify_verdict(a.body.decode(), jwks)["txn"] == transaction_id]


def _check_delivery(
    attempt: Attempt, jwks: dict[str, Any], *, event: str, now: float | None = None
) -> dict[str, Any]:
    """Every Standard Webhooks header is right and both signatures verify; return the verdict claims."""
    claims = verify_verdict(attempt.body.decode(), jwks)
    assert attempt.header("content-type") == "application/jwt"
    assert attempt.header("webhook-id") == claims["jti"]
    assert attempt.header("x-verifier-event") == event
    signature = attempt.header("webhook-signature")
    assert signature is not None
    assert signature.startswith("v1,")
    verify_standard_webhook(attempt.headers, attempt.body, WEBHOOK_SECRET, now=int(now or time.time()))
    return claims


# --- Retries --- #


def test_retried_until_accepted_with_one_webhook_id(
    own_service: RunningService, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """After three 503s the verdict arrives once: same id and body each attempt, a fresh signed timestamp."""
    hook.fail_first(3)
    created = _verified_flow(own_service, issuers, make_wallet())
    hook.wait_for_attempts(1)
    own_service.clock.offset = 30  # later attempts must carry the later time, not the first attempt's
    try:
        [delivered] = hook.wait_for(1)
        time.sleep(0.5)  # nothing more may arrive once it was accepted
        jwks = own_service.jwks()
        attempts = _for_transaction(hook.attempts, jwks, created["transaction_id"])
        assert len(attempts) >= 4
        assert [a.status for a in attempts] == [503, 503, 503, 200]
        assert attempts[-1] == delivered
        assert {a.webhook_id for a in attempts} == {delivered.webhook_id}
        assert {a.body for a in attempts} == {delivered.body}
        stamps = [int(a.header("webhook-timestamp") or 0) for a in attempts]
        assert stamps[-1] >= stamps[0] + 29
        assert len({a.header("webhook-signature") for a in attempts}) >= 2
        now = time.time() + own_service.clock.offset
        for attempt in attempts:  # each attempt is signed over its own timestamp
            verify_standard_webhook(attempt.headers, attempt.body, WEBHOOK_SECRET, now=int(now))
        replayed = {**delivered.headers, "webhook-timestamp": str(stamps[0])}
        with pytest.raises(VerificationError):
            verify_standard_webhook(replayed, delivered.body, WEBHOOK_SECRET, now=int(now))
        claims = _check_delivery(delivered, jwks, event="presentation.verified", now=now)
        assert claims["txn"] == created["transaction_id"]
        assert claims["result"] == "verified"
        assert [a.webhook_id for a in hook.delivered] == [claims["jti"]]
    finally:
        own_service.clock.offset = 0


def test_retried_through_a_receiver_outage(
    own_service: RunningService, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """Connection refused for a second, then up: the verdict is delivered exactly once."""
    hook.start_later(1.0)
    down_at = time.time()
    created = _verified_flow(own_service, issuers, make_wallet())
    [delivered] = hook.wait_for(1, timeout=10)
    time.sleep(0.5)
    assert delivered.time >= down_at + 0.9  # it did wait out the outage rather than being sent before it
    jwks = own_service.jwks()
    attempts = _for_transaction(hook.attempts, jwks, created["transaction_id"])
    assert attempts == [delivered]  # the refused attempts never reached the receiver
    claims = _check_delivery(delivered, jwks, event="presentation.verified")
    assert claims["txn"] == created["transaction_id"]
    assert [a.webhook_id for a in hook.delivered] == [claims["jti"]]


def test_redirect_is_not_followed(
    own_service: RunningService, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A 3xx is a failed attempt that is retried at the same URL, never followed to the Location."""
    with WebhookReceiver() as elsewhere:
        hook.fail_first(2, status=307, headers={"Location": elsewhere.url})
        created = _verified_flow(own_service, issuers, make_wallet())
        [delivered] = hook.wait_for(1)
        time.sleep(0.3)
        assert elsewhere.attempts == []
        assert [a.status for a in hook.attempts] == [307, 307, 200]
        assert verify_verdict(delivered.body.decode(), own_service.jwks())["txn"] == created["transaction_id"]


def test_gone_stops_delivery(
    own_service: RunningService, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """410 Gone ends the delivery at once: no further attempt."""
    hook.fail_first(1, status=410)
    _verified_flow(own_service, issuers, make_wallet())
    hook.wait_for_attempts(1)
    time.sleep(0.8)  # more than two maximal retry delays
    assert [a.status for a in hook.attempts] == [410]
    assert hook.delivered == []


def test_many_transactions_each_delivered_once(
    own_service: RunningService, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """Several verdicts through a flaky receiver: each transaction's verdict is accepted exactly once."""
    hook.fail_first(4)
    transactions = [_verified_flow(own_service, issuers, make_wallet())["transaction_id"] for _ in range(3)]
    hook.wait_for(3)
    time.sleep(0.5)
    jwks = own_service.jwks()
    delivered = [verify_verdict(a.body.decode(), jwks)["txn"] for a in hook.delivered]
    assert sorted(delivered) == sorted(transactions)
    accepted = [a for a in hook.attempts if a.accepted]
    assert len(accepted) == 3


# --- Headers and events --- #


def test_verified_delivery_headers(
    own_service: RunningService, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A verified verdict comes as application/jwt with webhook-id == jti and event presentation.verified."""
    created = _verified_flow(own_service, issuers, make_wallet())
    [delivered] = hook.wait_for(1)
    claims = _check_delivery(delivered, own_service.jwks(), event="presentation.verified")
    assert claims["txn"] == created["transaction_id"]
    assert claims["result"] == "verified"
    assert abs(int(delivered.header("webhook-timestamp") or 0) - time.time()) < 10


def test_rejected_response_is_delivered_signed(
    own_service: RunningService, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A rejected response gives a signed verdict, delivered the same way as presentation.rejected."""
    hook.fail_first(1)
    created = _rejected_flow(own_service, issuers, make_wallet())
    [delivered] = hook.wait_for(1)
    claims = _check_delivery(delivered, own_service.jwks(), event="presentation.rejected")
    assert claims["txn"] == created["transaction_id"]
    assert claims["result"] == "rejected"
    assert [e["code"] for e in claims["errors"]] == ["id_token.nonce_mismatch"]
    assert [a.status for a in hook.attempts] == [503, 200]


def test_wallet_error_is_delivered_as_rejected(
    own_service: RunningService, hook: WebhookReceiver, make_wallet: Callable[..., Wallet]
) -> None:
    """A wallet's access_denied becomes a signed presentation.rejected delivery."""
    wallet = make_wallet()
    created = own_service.create()
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert wallet.post_error(request, "access_denied").status_code == 200
    [delivered] = hook.wait_for(1)
    claims = _check_delivery(delivered, own_service.jwks(), event="presentation.rejected")
    assert claims["txn"] == created["transaction_id"]
    assert claims["wallet_error"] == "access_denied"


def test_replay_notice_event(
    own_service: RunningService, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A replayed response yields one non-final notice under its own event and its own webhook-id."""
    wallet = make_wallet()
    created = own_service.create()
    request = wallet.fetch_request(created["authorization_request_uri"])
    form = wallet.build_response(request, [issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})])
    assert wallet.post(request, form).status_code == 200
    assert wallet.post(request, form).status_code == 400
    assert wallet.post(request, form).status_code == 400
    first, notice = hook.wait_for(2)
    time.sleep(0.3)
    assert len(hook.delivered) == 2
    jwks = own_service.jwks()
    final = _check_delivery(first, jwks, event="presentation.verified")
    replay = _check_delivery(notice, jwks, event="presentation.attempt_rejected")
    assert final["final"] is True
    assert replay["final"] is False
    assert final["jti"] != replay["jti"]
    assert replay["txn"] == created["transaction_id"]


def test_rotated_secrets_both_sign(
    tmp_path: Path, hook: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """With two secrets every delivery carries one v1 signature per secret, each verifiable alone."""
    new_secret = "whsec_" + base64.b64encode(b"n" * 32).decode()
    service = start_service_at(
        tmp_path, hook, issuers.trust_file(), "127.0.0.1", webhook_secrets=(new_secret, WEBHOOK_SECRET)
    )
    try:
        _verified_flow(service, issuers, make_wallet())
        [delivered] = hook.wait_for(1)
        signatures = (delivered.header("webhook-signature") or "").split()
        assert len(signatures) == 2
        assert all(s.startswith("v1,") for s in signatures)
        for secret in (new_secret, WEBHOOK_SECRET):
            verify_standard_webhook(delivered.headers, delivered.body, secret, now=int(time.time()))
        other = "whsec_" + base64.b64encode(b"o" * 32).decode()
        with pytest.raises(VerificationError):
            verify_standard_webhook(delivered.headers, delivered.body, other, now=int(time.time()))
    finally:
        service.stop()
