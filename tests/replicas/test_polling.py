"""Polling GET /v1/presentations/{transaction_id}: shared by replicas with Redis, 501 without a store."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.e2e.actors import Issuer, Wallet
from tests.replicas.conftest import Deployment, Flow, begin, eventually, link_via, verdicts


def _events(status: dict[str, Any]) -> list[str]:
    return [event["event"] for event in status["events"]]


def test_pending_to_verified_with_events_in_order(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet]
) -> None:
    """Created on A, polled on B: pending, then verified with the verdict JWT (the one the webhook got,
    verifying with the JWKS) and the events created, request_retrieved, response_received,
    verdict_delivered, in order."""
    a, b = deployment.start(2)
    wallet = make_wallet()
    created = a.create(correlation_id="poll-1")
    transaction_id = created["transaction_id"]

    first = b.status(transaction_id)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "pending"
    assert first.json()["verdict"] is None
    assert first.json()["decided_at"] is None
    assert _events(first.json()) == ["created"]

    request = wallet.fetch_request(link_via(created["authorization_request_uri"], b))
    assert _events(a.status(transaction_id).json()) == ["created", "request_retrieved"]
    assert a.status(transaction_id).json()["state"] == "pending"
    flow = Flow(
        created,
        wallet,
        request,
        wallet.build_response(request, [issuer.issue(wallet.holder.id, {"ageOver21": True})]),
    )
    assert flow.post(a).status_code == 200

    [delivered] = deployment.receiver.wait_for(1, timeout=10)
    final = eventually(
        lambda: (s := b.status(transaction_id).json())["events"][-1]["event"] == "verdict_delivered" and s,
        timeout=10,
        what="verdict_delivered recorded",
    )
    assert final["transaction_id"] == transaction_id
    assert final["state"] == "verified"
    assert _events(final) == ["created", "request_retrieved", "response_received", "verdict_delivered"]
    times = [event["at"] for event in final["events"]]
    assert times == sorted(times)
    assert isinstance(final["decided_at"], int)
    assert times[2] <= final["decided_at"] <= times[3]
    assert final["verdict"] == delivered.body.decode()  # the very JWT the webhook carried
    [claims] = verdicts(deployment.receiver, b.jwks())
    assert claims["txn"] == transaction_id
    assert claims["result"] == "verified"
    assert claims["correlation_id"] == "poll-1"
    assert a.status(transaction_id).json() == final

    unknown = b.status("AAAAAAAAAAAAAAAAAAAAAA")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["code"] == "transaction.unknown"


def test_unanswered_transaction_reads_expired(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet]
) -> None:
    """TTL 2 s: an unanswered transaction reads `expired` once its time is up; one answered too late
    reads `rejected` (transaction.expired), and the wallet is refused."""
    [a] = deployment.start(1, transaction_ttl="2")
    unanswered = a.create()
    late: Flow = begin(a, make_wallet(), issuer)  # fetched and prepared in time, posted too late
    assert a.status(unanswered["transaction_id"]).json()["state"] == "pending"

    time.sleep(2.2)
    expired = a.status(unanswered["transaction_id"]).json()
    assert expired["state"] == "expired"
    assert expired["verdict"] is None
    assert _events(expired) == ["created"]

    refused = late.post(a)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    deployment.receiver.wait_for(1, timeout=10)
    [claims] = verdicts(deployment.receiver, a.jwks())
    assert claims["txn"] == late.transaction_id
    assert claims["result"] == "rejected"
    assert [error["code"] for error in claims["errors"]] == ["transaction.expired"]
    assert a.status(late.transaction_id).json()["state"] == "rejected"


def test_memory_store_answers_501(deployment: Deployment) -> None:
    """Without a store, polling and the operator endpoints say they need one (problem+json 501). The
    development playground's in-memory feed is turned off: it is what answers polling in development."""
    deployment.store_url = "memory"
    [a] = deployment.start(1, playground="false")
    created = a.create()
    for answer in (
        a.status(created["transaction_id"]),
        a.http.get("/v1/operator/dead-letters"),
        a.redrive("vrd_anything"),
    ):
        assert answer.status_code == 501, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "store.required"
        assert answer.json()["status"] == 501


def test_expiry_survives_many_request_fetches(
    deployment: Deployment, make_wallet: Callable[[], Wallet]
) -> None:
    """A wallet fetching the request object again and again (64+ times) must not make an unanswered,
    expired transaction read `pending` forever."""
    [a] = deployment.start(1, transaction_ttl="2")
    created = a.create()
    wallet = make_wallet()
    for _ in range(70):
        wallet.fetch_request(created["authorization_request_uri"])
    time.sleep(2.2)
    status = a.status(created["transaction_id"]).json()
    assert status["state"] == "expired", (status["state"], _events(status)[:3], len(status["events"]))
