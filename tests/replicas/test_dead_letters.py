"""A delivery that keeps failing ends in the dead letters; an operator re-drives it from any replica."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.actors import Issuer, Wallet
from tests.replicas.conftest import Deployment, begin, eventually, verdicts


def _events(answer: dict[str, Any]) -> list[str]:
    return [str(event["event"]) for event in answer["events"]]


def test_dead_letter_then_redrive(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet]
) -> None:
    """Receiver answers 500 for longer than the retry period: dead-lettered, listed on both replicas;
    re-driven through B once the receiver is healthy: delivered, and the dead letter is gone."""
    receiver = deployment.receiver
    receiver.respond_with(500)
    a, b = deployment.start(2, webhook_retry_period="1.5")
    flow = begin(a, make_wallet(), issuer)
    assert flow.post(a).status_code == 200

    def dead_on_a() -> list[dict[str, object]]:
        return [d for d in a.dead_letters() if d["transaction_id"] == flow.transaction_id]

    [letter] = eventually(dead_on_a, timeout=15, what="the delivery is dead-lettered")
    assert letter["reason"] == "webhook.deadline"
    assert letter["status"] == 500
    assert letter["url"] == receiver.url
    assert isinstance(letter["failed_at"], int)
    assert b.dead_letters() == [letter]  # the same store, seen from the other replica
    webhook_id = str(letter["webhook_id"])
    tried = [attempt for attempt in receiver.attempts if attempt.webhook_id == webhook_id]
    assert len(tried) >= 2, "it was retried before being given up"
    assert all(attempt.status == 500 for attempt in tried)
    assert receiver.delivered == []
    status = a.status(flow.transaction_id).json()
    assert status["state"] == "verified"  # decided; only the delivery failed
    assert _events(status)[-1] == "verdict_dead_lettered"

    receiver.respond_with(200)
    redriven = b.redrive(webhook_id)
    assert redriven.status_code == 202, redriven.text
    assert redriven.json() == {"status": "queued"}
    [delivered] = receiver.wait_for(1, timeout=10)
    assert delivered.webhook_id == webhook_id
    [claims] = verdicts(receiver, a.jwks())
    assert claims["txn"] == flow.transaction_id
    assert claims["result"] == "verified"
    assert delivered.body == tried[0].body  # the very verdict that was given up, not a new one

    assert a.dead_letters() == [] == b.dead_letters()
    again = a.redrive(webhook_id)
    assert again.status_code == 404
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "dead_letter.unknown"
    eventually(
        lambda: _events(a.status(flow.transaction_id).json())[-1] == "verdict_delivered",
        timeout=5,
        what="the delivery is recorded",
    )
    assert _events(a.status(flow.transaction_id).json()) == [
        "created",
        "request_retrieved",
        "response_received",
        "verdict_dead_lettered",
        "verdict_delivered",
    ]


def test_gone_is_dead_at_once_and_unknown_redrive_is_404(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet]
) -> None:
    """410 Gone gives up without retrying (whatever the retry period); a made-up id cannot be re-driven."""
    receiver = deployment.receiver
    receiver.respond_with(410)
    [a] = deployment.start(1)
    flow = begin(a, make_wallet(), issuer)
    assert flow.post(a).status_code == 200
    [letter] = eventually(a.dead_letters, timeout=10, what="dead-lettered on 410")
    assert letter["reason"] == "webhook.endpoint_gone"
    assert letter["status"] == 410
    assert len(receiver.attempts) == 1
    missing = a.redrive("vrd_does-not-exist")
    assert missing.status_code == 404
    assert missing.json()["code"] == "dead_letter.unknown"
    receiver.respond_with(200)
    assert a.redrive(str(letter["webhook_id"])).status_code == 202
    receiver.wait_for(1, timeout=10)
