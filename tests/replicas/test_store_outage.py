"""Without its store a replica is not ready and accepts nothing: no response without the single-use check."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.e2e.actors import Issuer, Wallet
from tests.integration.conftest import free_port
from tests.replicas.conftest import Deployment, PrivateRedis, Replica, begin, eventually, verdicts


def _assert_temporarily_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["error"] == "temporarily_unavailable"


def _ready_is(replicas: list[Replica], status: int) -> bool:
    return all(replica.ready_status() == status for replica in replicas)


def test_store_down_at_start_up(
    deployment: Deployment,
    private_redis: Callable[..., PrivateRedis],
    issuer: Issuer,
    make_wallet: Callable[[], Wallet],
) -> None:
    """Store URL pointing at nothing: live but not ready, a wallet's post is a 503 temporarily_unavailable;
    once a Redis appears at that address the replica turns ready and the same post is accepted."""
    port = free_port()
    deployment.store_url = f"redis://127.0.0.1:{port}/0"
    a, b = deployment.start(2, wait="/health/live")
    for replica in (a, b):
        ready = replica.http.get("/health/ready")
        assert ready.status_code == 503, ready.text
        assert ready.headers["content-type"].startswith("application/problem+json")
        assert ready.json()["code"] == "dependency.not_ready"

    # Creating and fetching need no store (what they record for polling is best effort) ...
    flow = begin(a, make_wallet(), issuer)
    # ... but taking a response does: the single-use check cannot be skipped.
    _assert_temporarily_unavailable(flow.post(b))
    _assert_temporarily_unavailable(flow.post(a))
    polled = a.status(flow.transaction_id)
    assert polled.status_code == 503
    assert polled.json()["code"] == "store.unavailable"
    time.sleep(0.5)
    assert deployment.receiver.attempts == []

    private_redis(port)
    eventually(lambda: _ready_is([a, b], 200), timeout=15, what="both ready once Redis answers")
    accepted = flow.post(b)
    assert accepted.status_code == 200, accepted.text
    assert flow.post(a).status_code == 400  # and from now on single use holds
    deployment.receiver.wait_for(2, timeout=15)
    finals = [c for c in verdicts(deployment.receiver, a.jwks()) if c["final"]]
    assert [(c["txn"], c["result"]) for c in finals] == [(flow.transaction_id, "verified")]


def test_store_lost_mid_run_and_back(
    deployment: Deployment,
    private_redis: Callable[..., PrivateRedis],
    issuer: Issuer,
    make_wallet: Callable[[], Wallet],
) -> None:
    """Redis stops under two ready replicas: readiness turns false and posts get 503; Redis restarts
    (empty, on the same port): both turn ready again and a wallet's retry is accepted and delivered."""
    server = private_redis(None)
    deployment.store_url = server.url
    a, b = deployment.start(2)
    receiver = deployment.receiver

    before = begin(a, make_wallet(), issuer)
    assert before.post(b).status_code == 200
    receiver.wait_for(1, timeout=10)
    during = begin(b, make_wallet(), issuer)  # fetched while the store is up, answered while it is down

    server.stop()
    eventually(lambda: _ready_is([a, b], 503), timeout=15, what="both not ready")
    _assert_temporarily_unavailable(during.post(a))
    _assert_temporarily_unavailable(during.post(b))
    time.sleep(0.5)
    assert len(receiver.attempts) == 1  # nothing was taken, so nothing is delivered

    server.start()
    eventually(lambda: _ready_is([a, b], 200), timeout=15, what="both ready again")
    accepted = during.post(a)
    assert accepted.status_code == 200, accepted.text
    assert during.post(b).status_code == 400
    receiver.wait_for(3, timeout=20)  # before's verdict, during's verdict and its replay notice
    time.sleep(0.5)
    claims = verdicts(receiver, a.jwks())
    finals = sorted((c["txn"], c["result"]) for c in claims if c["final"])
    assert finals == sorted([(before.transaction_id, "verified"), (during.transaction_id, "verified")])
    status = b.status(during.transaction_id).json()
    assert status["state"] == "verified"


def test_undelivered_verdicts_survive_a_store_restart(
    deployment: Deployment,
    private_redis: Callable[..., PrivateRedis],
    issuer: Issuer,
    make_wallet: Callable[[], Wallet],
) -> None:
    """Responses accepted while the receiver is down, then the (persistent) store restarts under both
    replicas: after it is back, every verdict is delivered once per webhook-id, and single use still holds."""
    server = private_redis(persistent=True)
    deployment.store_url = server.url
    a, b = deployment.start(2)
    receiver = deployment.receiver
    receiver.down()
    flows = [begin(a, make_wallet(), issuer) for _ in range(10)]
    for n, flow in enumerate(flows):
        assert flow.post(b if n % 2 else a).status_code == 200

    server.stop()
    eventually(lambda: _ready_is([a, b], 503), timeout=15, what="both not ready")
    receiver.up()
    time.sleep(1.0)  # the replicas cannot read their outbox now
    assert receiver.attempts == []

    server.start()
    eventually(lambda: _ready_is([a, b], 200), timeout=15, what="both ready again")
    receiver.wait_for(len(flows), timeout=20)
    time.sleep(0.5)
    claims = verdicts(receiver, a.jwks())
    assert sorted(c["txn"] for c in claims) == sorted(flow.transaction_id for flow in flows)
    assert all(c["final"] for c in claims)
    assert flows[0].post(b).status_code == 400  # the single-use mark came back with the store
