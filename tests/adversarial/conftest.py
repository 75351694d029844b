"""Adversarial suite fixtures: the e2e fixtures re-exported, plus what hostile-wallet tests need beyond them.

- ``service``, ``issuers``, ``receiver``, ``make_wallet``: the real service on a real socket (tests/e2e).
- ``tripwire``: an HTTP server that records every request it gets; attacks point ``jku``/``x5u`` at it and
  assert the service never called it.
- ``start_service_with_keyring``: a service built around a chosen keyring (sealing-key rotation tests).
- ``spawn_service``: the service in a process of its own (``python -m service``), for attacks that might
  pin a CPU inside a C extension: a thread of this process could not be interrupted, a process can.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from service.keys import Keyring
from tests.e2e.actors import WebhookReceiver, verify_verdict
from tests.e2e.conftest import (
    REPO_ROOT,
    Issuers,
    RunningService,
    issuers,
    make_wallet,
    receiver,
    service,
    start_service,
    start_service_at,
)

__all__ = [
    "Issuers",
    "ProcessService",
    "RunningService",
    "Tripwire",
    "issuers",
    "make_wallet",
    "receiver",
    "service",
    "spawn_service",
    "start_service",
    "start_service_with_keyring",
    "tripwire",
]


@pytest.fixture(autouse=True)
def _plain_tracebacks() -> Iterator[None]:
    """Render service errors without rich's locals: a crash on a 100 kB token would take seconds to print.

    The in-thread service logs through the global structlog configuration; this one is restored afterwards.
    """
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ]
    )
    try:
        yield
    finally:
        structlog.configure(**saved)


# --- A server that must never be called --- #


class _TripwireHandler(BaseHTTPRequestHandler):
    server: _TripwireServer

    def _record(self) -> None:
        self.server.hits.append(f"{self.command} {self.path}")
        body = b'{"keys": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _record

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


class _TripwireServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.hits: list[str] = []
        super().__init__(("127.0.0.1", 0), _TripwireHandler)


@dataclass
class Tripwire:
    """URLs on a local server that records every request (a jku/x5u the service must never fetch)."""

    server: _TripwireServer

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    @property
    def hits(self) -> list[str]:
        return list(self.server.hits)


@pytest.fixture(scope="session")
def tripwire() -> Iterator[Tripwire]:
    server = _TripwireServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Tripwire(server)
    finally:
        server.shutdown()
        server.server_close()


# --- A service around a chosen keyring --- #


def start_service_with_keyring(
    tmp_path: Path, receiver: WebhookReceiver, trust: dict[str, Any], keyring: Keyring, **overrides: Any
) -> RunningService:
    """Like tests.e2e.conftest.start_service, with the keyring given (sealing-key rotation)."""
    return start_service_at(tmp_path, receiver, trust, host="127.0.0.1", keyring=keyring, **overrides)


# --- The service in a process of its own --- #


@dataclass
class ProcessService:
    """`python -m service` on a free port; `kill()` ends it whatever it is doing."""

    url: str
    process: subprocess.Popen[bytes]
    receiver: WebhookReceiver
    backend: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.backend = httpx.Client(base_url=self.url, timeout=10)

    def verdict(self, transaction_id: str, *, timeout: float = 5.0) -> dict[str, Any]:
        jwks = self.backend.get("/.well-known/jwks.json").json()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for attempt in self.receiver.delivered:
                token = attempt.body.decode()
                try:
                    claims = verify_verdict(token, jwks)
                except ValueError:
                    continue  # another service's verdict
                if claims["txn"] == transaction_id and claims.get("final", True):
                    return claims
            time.sleep(0.02)
        raise AssertionError(f"no verdict for {transaction_id}")

    def kill(self) -> None:
        self.backend.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)


def spawn_service(tmp_path: Path, receiver: WebhookReceiver, trust: dict[str, Any]) -> ProcessService:
    """Start `python -m service` (development mode, key generated into tmp_path) and wait until ready."""
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps(trust))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("VERIFIER_")}
    env |= {
        "VERIFIER_PORT": str(port),
        "VERIFIER_PUBLIC_URL": url,
        "VERIFIER_DEFINITIONS_DIR": str(REPO_ROOT / "definitions"),
        "VERIFIER_TRUST_FILE": str(trust_file),
        "VERIFIER_KEYRING_PATH": str(tmp_path / "keyring.json"),
        "VERIFIER_WEBHOOK_URL": receiver.url,
        "VERIFIER_LOG_LEVEL": "error",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    running = ProcessService(url=url, process=process, receiver=receiver)
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            running.kill()
            raise RuntimeError(f"python -m service exited {process.returncode}")
        try:
            if running.backend.get("/health/ready").status_code == 200:
                return running
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            running.kill()
            raise RuntimeError("python -m service did not become ready")
        time.sleep(0.05)
