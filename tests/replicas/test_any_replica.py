"""Any replica answers any step, and single use holds across replicas (one Redis, two processes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.actors import Issuer, Wallet, WebhookReceiver, verify_standard_webhook
from tests.replicas.conftest import WEBHOOK_SECRET, Deployment, begin, verdicts


def test_request_from_a_response_to_b_replay_to_a(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet]
) -> None:
    """Fetched from A, answered at B: verified. The same response again at A: refused, one final verdict."""
    a, b = deployment.start(2)
    assert a.jwks() == b.jwks(), "replicas sharing a keyring publish the same keys"
    flow = begin(a, make_wallet(), issuer, correlation_id="order-1")
    assert flow.request.response_uri.startswith(a.url + "/wallet/responses/")

    first = flow.post(b)
    assert first.status_code == 200, first.text
    assert first.json() == {}

    replay = flow.post(a)
    assert replay.status_code == 400, replay.text
    assert replay.headers["cache-control"] == "no-store"
    body = replay.json()
    assert body["error"] == "invalid_request"
    assert "already received" in body["error_description"]

    deployment.receiver.wait_for(2, timeout=15)  # the verdict and the one replay notice
    time.sleep(1.0)  # anything else (a second final verdict) would arrive by now
    claims = verdicts(deployment.receiver, a.jwks())
    mine = [c for c in claims if c["txn"] == flow.transaction_id]
    assert len(mine) == len(claims) == 2
    [final] = [c for c in mine if c["final"]]
    [notice] = [c for c in mine if not c["final"]]
    assert final["result"] == "verified"
    assert final["correlation_id"] == "order-1"
    assert final["iss"] == a.url  # the public URL, whichever replica decided
    assert final["holder"]["id"] == flow.wallet.holder.id
    assert notice["result"] == "rejected"
    assert [e["code"] for e in notice["errors"]] == ["transaction.replayed"]

    for attempt in deployment.receiver.delivered:  # signed with the shared secret, whoever sent it
        verify_standard_webhook(attempt.headers, attempt.body, WEBHOOK_SECRET, now=int(time.time()))

    # A third post, to B this time, changes nothing and sends no second notice.
    assert flow.post(b).status_code == 400
    time.sleep(0.5)
    assert len(verdicts(deployment.receiver, a.jwks())) == 2


def test_webhook_chosen_at_creation_is_used_by_the_other_replica(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet]
) -> None:
    """The per-request webhook_url travels sealed in the handle: created at A, answered at B, delivered
    to the URL the backend chose at A, not to the default."""
    a, b = deployment.start(2)
    with WebhookReceiver(path="/other") as other:
        flow = begin(a, make_wallet(), issuer, webhook_url=other.url)
        assert flow.post(b).status_code == 200
        [attempt] = other.wait_for(1, timeout=10)
        assert attempt.path == "/other"
    assert deployment.receiver.attempts == []


def test_simultaneous_posts_to_both_replicas_accept_exactly_one(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet]
) -> None:
    """The same response raced to A and B at once, 20 times: per transaction exactly one 200."""
    a, b = deployment.start(2)
    flows = [begin(a if n % 2 else b, make_wallet(), issuer) for n in range(20)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [(flow, [pool.submit(flow.post, r) for r in (a, b, a, b)]) for flow in flows]
        outcomes = {flow.transaction_id: sorted(f.result().status_code for f in fs) for flow, fs in futures}
    for transaction_id, statuses in outcomes.items():
        assert statuses == [200, 400, 400, 400], (transaction_id, statuses)

    deployment.receiver.wait_for(40, timeout=20)  # 20 verdicts + 20 notices
    time.sleep(1.0)
    claims = verdicts(deployment.receiver, a.jwks())
    finals = [c for c in claims if c["final"]]
    notices = [c for c in claims if not c["final"]]
    assert sorted(c["txn"] for c in finals) == sorted(outcomes)
    assert all(c["result"] == "verified" for c in finals)
    assert sorted(c["txn"] for c in notices) == sorted(outcomes)  # one notice each, however many replays
