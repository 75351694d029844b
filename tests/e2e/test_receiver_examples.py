"""The copy-paste webhook receivers in examples/receivers/ against the real service.

Each receiver runs as its own process. The service delivers through a transparent tee (it forwards every
delivery byte for byte and keeps a copy), so the test can replay a real delivery afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.actors import Wallet, WebhookReceiver
from tests.e2e.conftest import REPO_ROOT, Issuers, RunningService, start_service

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
FORWARDED = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature", "x-verifier-event")


class _Tee(ThreadingHTTPServer):
    """Forwards each POST to `target` unchanged and records (headers, body, status)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TeeHandler)
        self.target = ""
        self.deliveries: list[tuple[dict[str, str], bytes, int]] = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/verdicts"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


class _TeeHandler(BaseHTTPRequestHandler):
    server: _Tee

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name: self.headers[name] for name in FORWARDED if name in self.headers}
        try:
            status = httpx.post(self.server.target, content=body, headers=headers, timeout=10).status_code
        except httpx.HTTPError:
            status = 502
        self.server.deliveries.append((headers, body, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _command(kind: str) -> list[str]:
    if kind == "python":
        return [sys.executable, str(REPO_ROOT / "examples/receivers/python/receiver.py")]
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the Node.js receiver example needs Node 20+")
    return [node, str(REPO_ROOT / "examples/receivers/node/receiver.mjs")]


class _Setup:
    def __init__(self, service: RunningService, tee: _Tee, url: str, output: Path) -> None:
        self.service, self.tee, self.url, self.output = service, tee, url, output

    def recorded(self) -> list[dict[str, Any]]:
        if not self.output.exists():
            return []
        return [json.loads(line) for line in self.output.read_text().splitlines()]


@pytest.fixture(params=["python", "node"])
def setup(
    request: pytest.FixtureRequest, tmp_path: Path, receiver: WebhookReceiver, issuers: Issuers
) -> Iterator[_Setup]:
    command = _command(request.param)
    tee = _Tee()
    service = start_service(
        tmp_path, receiver, issuers.trust_file(), webhook_url=tee.url, webhook_secrets=(SECRET,)
    )
    output = tmp_path / "verdicts.jsonl"
    env = {
        **os.environ,
        "VERIFIER_URL": service.url,
        "WEBHOOK_SECRET": SECRET,
        "PORT": "0",  # the receiver prints the port it bound
        "OUTPUT": str(output),
    }
    try:
        with (
            (tmp_path / "receiver.log").open("wb") as log,
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True) as proc,
        ):
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                assert line.startswith("listening on http://"), (
                    line,
                    (tmp_path / "receiver.log").read_text(),
                )
                tee.target = line.split()[-1]
                yield _Setup(service, tee, tee.target, output)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
    finally:
        service.stop()
        tee.stop()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _sign(msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_receiver_example(setup: _Setup, issuers: Issuers, make_wallet: Callable[..., Wallet]) -> None:
    """A verified and a rejected verdict are recorded once; replays are acknowledged, forgeries refused."""
    service = setup.service
    good, bad = make_wallet(), make_wallet("p256")

    accepted = service.create(correlation_id="receiver-ok")
    request = good.fetch_request(accepted["authorization_request_uri"])
    answer = good.respond(request, [issuers.trusted.issue(good.holder.id, {"ageOver21": True})])
    assert answer.status_code == 200, answer.text

    rejected = service.create(correlation_id="receiver-bad")
    request = bad.fetch_request(rejected["authorization_request_uri"])
    answer = bad.respond(request, [issuers.untrusted.issue(bad.holder.id, {"ageOver21": True})])
    assert answer.status_code == 400, answer.text

    _wait_for(lambda: len(setup.recorded()) >= 2, "two recorded verdicts")
    _wait_for(lambda: sum(status == 200 for *_, status in setup.tee.deliveries) >= 2, "two 2xx answers")
    recorded = setup.recorded()
    assert len(recorded) == 2
    by_txn = {claims["txn"]: claims for claims in recorded}
    assert by_txn[accepted["transaction_id"]]["result"] == "verified"
    assert by_txn[accepted["transaction_id"]]["correlation_id"] == "receiver-ok"
    assert by_txn[rejected["transaction_id"]]["result"] == "rejected"
    assert [e["code"] for e in by_txn[rejected["transaction_id"]]["errors"]] == [
        "credential.untrusted_issuer"
    ]

    # A replayed delivery (same id, body and signature): acknowledged, not recorded again.
    headers, body, _ = setup.tee.deliveries[0]
    replay = httpx.post(setup.url, content=body, headers=headers)
    assert replay.is_success
    assert len(setup.recorded()) == 2

    # A tampered body under the original signature: refused.
    tampered = body[:-2] + (b"A" if body[-2:-1] != b"A" else b"B") + body[-1:]
    assert httpx.post(setup.url, content=tampered, headers=headers).status_code == 400

    # A correctly HMAC-signed delivery whose verdict payload was altered: the JWS check refuses it.
    head, payload, signature = body.decode().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(result="verified", jti="msg_forged")
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{head}.{forged_payload}.{signature}".encode()
    now = int(time.time())
    forged_headers = {**headers, "webhook-id": "msg_forged", "webhook-timestamp": str(now)}
    forged_headers["webhook-signature"] = _sign("msg_forged", now, forged)
    assert httpx.post(setup.url, content=forged, headers=forged_headers).status_code == 400

    # The original delivery re-signed 10 minutes in the past: outside the 5 minute tolerance.
    stale = now - 600
    stale_headers = {
        **headers,
        "webhook-timestamp": str(stale),
        "webhook-signature": _sign(headers["webhook-id"], stale, body),
    }
    assert httpx.post(setup.url, content=body, headers=stale_headers).status_code == 400

    assert len(setup.recorded()) == 2
