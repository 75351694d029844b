"""No verdict lost: a long receiver outage under load, and a replica killed with undelivered verdicts."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from tests.e2e.actors import Issuer, Wallet, WebhookReceiver
from tests.replicas.conftest import Deployment, Flow, Replica, begin, eventually, verdicts

OUTAGE_SECONDS = float(os.environ.get("REPLICAS_OUTAGE_SECONDS", "20"))
"""How long the receiver is down in the load test (the issue asks for ~20 s)."""
TRANSACTIONS = int(os.environ.get("REPLICAS_TRANSACTIONS", "200"))


def _outbox_key(deployment: Deployment, name: str) -> str:
    return f"{{{deployment.key_prefix}:outbox}}:{name}"


def test_receiver_outage_under_load_loses_nothing(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet], redis_url: str
) -> None:
    """200 transactions complete across two replicas while the receiver is down (first refusing
    connections, then answering 503); once it is back every verdict arrives, one per transaction."""
    receiver = deployment.receiver
    replicas = deployment.start(2)
    outage_began = time.monotonic()
    receiver.down()  # connection refused

    def one(n: int) -> tuple[str, int]:
        # Created on one replica, answered at the other; the replica answering alternates.
        flow = begin(replicas[(n + 1) % 2], make_wallet(), issuer, fetch_from=replicas[n % 2])
        return flow.transaction_id, flow.post(replicas[n % 2]).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, range(TRANSACTIONS)))
    accepted_in = time.monotonic() - outage_began
    assert all(status == 200 for _, status in results), [s for _, s in results if s != 200][:5]
    transaction_ids = {tid for tid, _ in results}
    assert len(transaction_ids) == TRANSACTIONS
    assert accepted_in < OUTAGE_SECONDS / 2, f"responses took {accepted_in:.1f} s; raise OUTAGE_SECONDS"

    time.sleep(max(0.0, outage_began + OUTAGE_SECONDS / 2 - time.monotonic()))
    receiver.respond_with(503)  # second half of the outage: reachable, but failing
    receiver.up()
    time.sleep(max(0.0, outage_began + OUTAGE_SECONDS - time.monotonic()))
    failed_attempts = len(receiver.attempts)
    assert receiver.delivered == []
    assert failed_attempts > 0, "the replicas kept retrying during the outage"
    receiver.respond_with(200)

    receiver.wait_for(TRANSACTIONS, timeout=30)
    time.sleep(1.5)  # a straggler (a second verdict for a transaction) would show up by now
    claims = verdicts(receiver, replicas[0].jwks())
    assert len(claims) == TRANSACTIONS  # distinct webhook-ids
    assert {c["txn"] for c in claims} == transaction_ids  # none lost, none for anything else
    assert all(c["final"] and c["result"] == "verified" for c in claims)

    # Both replicas delivered, nothing is left in the outbox, and nothing was given up.
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.hlen(_outbox_key(deployment, "records")) == 0
        assert client.zcard(_outbox_key(deployment, "scheduled")) == 0
        assert client.hlen(_outbox_key(deployment, "dead")) == 0
        ready = _outbox_key(deployment, "ready")
        eventually(
            lambda: client.xlen(ready) == 0 and _sync(client.xpending(ready, "delivery"))["pending"] == 0,
            timeout=5,
            what="every stream entry settled (acknowledged and deleted)",
        )
    finally:
        client.close()
    assert replicas[0].dead_letters() == [] == replicas[1].dead_letters()
    duplicates = sum(a.accepted for a in receiver.attempts) - TRANSACTIONS
    print(
        f"\n{TRANSACTIONS} responses accepted in {accepted_in:.1f} s; {failed_attempts} failed attempts "
        f"during the {OUTAGE_SECONDS:.0f} s outage; {duplicates} duplicate deliveries"
    )


@contextmanager
def black_hole(port: int) -> Iterator[None]:
    """A socket listening on ``port`` that never accepts: connections open, requests are never answered.

    Closing it resets the connections waiting in its backlog, so senders stuck on it fail at once.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        yield
    finally:
        sock.close()


def _pending_of(client: redis.Redis, deployment: Deployment, replica: Replica) -> list[str]:
    """Webhook ids in ``replica``'s pending entries list (read by its worker, not yet settled)."""
    ready = _outbox_key(deployment, "ready")
    consumers = [c["name"].decode() for c in _sync(client.xinfo_consumers(ready, "delivery"))]
    mine = [name for name in consumers if f"-{replica.pid}-" in name]
    webhook_ids = []
    for consumer in mine:
        pending = client.xpending_range(
            ready, "delivery", min="-", max="+", count=1000, consumername=consumer
        )
        for entry in _sync(pending):
            for _, fields in _sync(client.xrange(ready, entry["message_id"], entry["message_id"])):
                webhook_ids.append(fields[b"id"].decode())
    return webhook_ids


def _sync(result: Any) -> Any:
    """redis-py types its commands for both clients (``Awaitable[T] | T``); this one is synchronous."""
    assert not isinstance(result, Awaitable)
    return result


@pytest.mark.parametrize("outage", ["refused", "hanging"])
def test_replica_killed_with_undelivered_verdicts(
    deployment: Deployment,
    issuer: Issuer,
    make_wallet: Callable[[], Wallet],
    redis_url: str,
    outage: str,
) -> None:
    """A accepts 30 responses while the receiver is unreachable and is killed with SIGKILL right after;
    once the receiver is back, B delivers every one of them.

    ``refused``: A's failed attempts went to the shared retry schedule, which B works through.
    ``hanging``: the receiver accepts connections but never answers, so A dies holding deliveries in its
    pending list; only B's takeover after the visibility timeout can deliver those.
    """
    receiver: WebhookReceiver = deployment.receiver
    a, b = deployment.start(2, webhook_timeout="30")
    receiver.down()
    client = redis.Redis.from_url(redis_url)
    try:
        with black_hole(receiver.port) if outage == "hanging" else _nothing():
            flows: list[Flow] = [begin(a, make_wallet(), issuer) for _ in range(30)]
            with ThreadPoolExecutor(max_workers=6) as pool:
                statuses = list(pool.map(lambda flow: flow.post(a).status_code, flows))
            assert statuses == [200] * len(flows)
            held: list[str] = []
            if outage == "hanging":
                held = eventually(lambda: _pending_of(client, deployment, a), timeout=5, what="A holds work")
            a.kill()
            killed_at = time.time()
        receiver.up()
        delivered = receiver.wait_for(len(flows), timeout=20)
        assert b.running
        claims = verdicts(receiver, b.jwks())
        assert {c["txn"] for c in claims} == {flow.transaction_id for flow in flows}
        assert len(claims) == len(flows)
        if outage == "hanging":
            # What A held could only be delivered by B, after the visibility timeout (2 s of idleness).
            by_id = {attempt.webhook_id: attempt for attempt in delivered}
            assert set(held) <= set(by_id)
            assert _pending_of(client, deployment, a) == []
            earliest = min(by_id[webhook_id].time for webhook_id in held) - killed_at
            print(f"\nA held {len(held)} deliveries when killed; B delivered them from {earliest:.1f} s on")
        # B deletes a record after the receiver's 2xx reaches it, a moment after the receiver counted it.
        records = _outbox_key(deployment, "records")
        eventually(lambda: client.hlen(records) == 0, timeout=5, what="every delivered record deleted")
    finally:
        client.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def test_graceful_stop_hands_back_in_flight_deliveries(
    deployment: Deployment, issuer: Issuer, make_wallet: Callable[[], Wallet], redis_url: str
) -> None:
    """SIGTERM (a rolling restart) while A's sends hang: A gives its in-flight deliveries back to the
    stream as it stops, so B delivers them at once, long before the (here 30 s) visibility timeout."""
    receiver = deployment.receiver
    a, b = deployment.start(2, webhook_timeout="30", webhook_visibility_timeout="30")
    receiver.down()
    client = redis.Redis.from_url(redis_url)
    try:
        with black_hole(receiver.port):
            flows = [begin(a, make_wallet(), issuer) for _ in range(20)]
            with ThreadPoolExecutor(max_workers=6) as pool:
                statuses = list(pool.map(lambda flow: flow.post(a).status_code, flows))
            assert statuses == [200] * len(flows)
            held = eventually(lambda: _pending_of(client, deployment, a), timeout=5, what="A holds work")
            a.terminate()
            a.wait_stopped()
            assert _pending_of(client, deployment, a) == [], "A handed its entries back"
        receiver.up()
        stopped_at = time.time()
        delivered = receiver.wait_for(len(flows), timeout=15)
        by_id = {attempt.webhook_id: attempt for attempt in delivered}
        assert set(held) <= set(by_id)
        assert max(by_id[webhook_id].time for webhook_id in held) - stopped_at < 10
        assert {c["txn"] for c in verdicts(receiver, b.jwks())} == {flow.transaction_id for flow in flows}
    finally:
        client.close()
