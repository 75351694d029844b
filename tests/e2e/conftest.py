"""End-to-end fixtures: the real service on a real socket, issuers, a trust file and a webhook receiver.

The service runs under uvicorn in a background thread (httpx's own test style); tests talk to it only
over HTTP, through the holder simulator in ``tests/e2e/actors`` (which imports nothing from service/).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from service.app import create_app
from service.keys import Keyring, generate_keyring
from service.settings import load_settings
from tests.e2e.actors import (
    Holder,
    Issuer,
    KeyPair,
    SdJwtIssuer,
    TestCa,
    Wallet,
    WebhookReceiver,
    verify_verdict,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class OffsetClock:
    """Wall-clock time plus an offset the test can move (expiry tests)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class RunningService:
    """A live service: its base URL, clock, and the HTTP client a backend would use."""

    url: str
    clock: OffsetClock
    receiver: WebhookReceiver
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket
    backend: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.backend = httpx.Client(base_url=self.url, timeout=10)

    def jwks(self) -> dict[str, Any]:
        return self.backend.get("/.well-known/jwks.json").json()

    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("definition_id", "age-over-21")
        response = self.backend.post("/v1/presentations", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def verdict(self, transaction_id: str, *, timeout: float = 10.0, final: bool = True) -> dict[str, Any]:
        """Wait for the verdict of one transaction and verify its signature with the published JWKS."""
        jwks = self.jwks()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for claims in self._own_verdicts(jwks):
                if claims["txn"] == transaction_id and claims.get("final", True) is final:
                    return claims
            time.sleep(0.02)
        raise AssertionError(f"no verdict for {transaction_id}")

    def verdicts_for(self, transaction_id: str) -> list[dict[str, Any]]:
        return [c for c in self._own_verdicts(self.jwks()) if c["txn"] == transaction_id]

    def _own_verdicts(self, jwks: dict[str, Any]) -> list[dict[str, Any]]:
        """Verdicts signed by this service (a shared receiver also hears other services' kids)."""
        own_kids = {key["kid"] for key in jwks["keys"]}
        verdicts = []
        for attempt in self.receiver.delivered:
            token = attempt.body.decode()
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            if header.get("kid") in own_kids:
                verdicts.append(verify_verdict(token, jwks))
        return verdicts

    def stop(self) -> None:
        self.backend.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def start_service(
    tmp_path: Path, receiver: WebhookReceiver, trust: dict[str, Any], **overrides: Any
) -> RunningService:
    """Start the real app under uvicorn on an ephemeral 127.0.0.1 port; any setting may be overridden."""
    return start_service_at(tmp_path, receiver, trust, host="127.0.0.1", **overrides)


PID_ISSUER = "https://pid.example"
PID_VCT = "urn:eudi:pid:1"
AV_VCT = "urn:example:age-attestation:1"


@dataclass(frozen=True)
class Issuers:
    """W3C issuers (two trusted, one not) and SD-JWT VC issuers (by x5c chain, by DID, and a rogue CA)."""

    trusted: Issuer
    second: Issuer
    untrusted: Issuer
    pid_ca: TestCa
    pid: SdJwtIssuer
    did_sd: SdJwtIssuer
    rogue_pid: SdJwtIssuer

    def trust_file(self) -> dict[str, Any]:
        return {
            "issuers": [
                {"id": self.trusted.did, "name": "Trusted age authority"},
                {"id": self.second.did, "name": "Second issuer"},
                {
                    "id": PID_ISSUER,
                    "name": "PID provider",
                    "vct": [PID_VCT, "urn:eu.europa.ec.eudi:pid:1"],
                    "x509_anchors": [self.pid_ca.root_pem()],
                },
                {"id": self.did_sd.iss, "name": "Age attestation provider", "vct": [AV_VCT, PID_VCT]},
            ]
        }


def _pid_issuer(ca: TestCa) -> SdJwtIssuer:
    leaf, key = ca.leaf(dns_names=["pid.example"])
    return SdJwtIssuer(key, PID_ISSUER, x5c=ca.x5c(leaf))


@pytest.fixture(scope="session")
def issuers() -> Issuers:
    pid_ca = TestCa.create("PID root")
    did_key = KeyPair.generate("ed25519")
    return Issuers(
        trusted=Issuer(KeyPair.generate("ed25519")),
        second=Issuer(KeyPair.generate("p256")),
        untrusted=Issuer(KeyPair.generate("ed25519")),
        pid_ca=pid_ca,
        pid=_pid_issuer(pid_ca),
        did_sd=SdJwtIssuer(did_key, did_key.did_key(), kid=did_key.did_key_url()),
        rogue_pid=_pid_issuer(TestCa.create("Rogue root")),
    )


@pytest.fixture(scope="session")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture(scope="session")
def service(
    tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver, issuers: Issuers
) -> Iterator[RunningService]:
    running = start_service(tmp_path_factory.mktemp("svc"), receiver, issuers.trust_file())
    yield running
    running.stop()


@pytest.fixture
def make_wallet() -> Iterator[Callable[..., Wallet]]:
    wallets: list[Wallet] = []

    def factory(kind: str = "ed25519", subject: str = "did:key") -> Wallet:
        wallet = Wallet(Holder(KeyPair.generate(kind), subject))  # type: ignore[arg-type]
        wallets.append(wallet)
        return wallet

    yield factory
    for wallet in wallets:
        wallet.close()


# --- Services whose public host name or fixed settings differ from start_service's --- #


def start_service_at(
    tmp_path: Path,
    receiver: WebhookReceiver,
    trust: dict[str, Any],
    host: str = "localhost",
    *,
    keyring: Keyring | None = None,
    tracer_provider: Any = None,
    **overrides: Any,
) -> RunningService:
    """Like start_service, but public_url names `host` (the socket still binds 127.0.0.1).

    Every setting start_service fixes (webhook_url, log_level, retry delays...) may be overridden here,
    e.g. ``webhook_url=None`` for a service without a default webhook. The backend client talks to
    127.0.0.1 directly; wallets follow the URLs the service hands out, which name `host`.
    """
    sock = _free_socket()
    port = sock.getsockname()[1]
    # Several services may share a tmp_path (key rotation tests): one trust file each.
    trust_file = tmp_path / f"trust-{port}.json"
    trust_file.write_text(json.dumps(trust))
    values: dict[str, Any] = {
        "public_url": f"http://{host}:{port}",
        "definitions_dir": str(REPO_ROOT / "definitions"),
        "trust_file": str(trust_file),
        "webhook_url": receiver.url,
        "webhook_secrets": (WEBHOOK_SECRET,),
        "webhook_base_delay": 0.05,
        "webhook_max_delay": 0.3,
        "log_level": "warning",
    }
    values.update(overrides)
    settings = load_settings({}, **values)
    clock = OffsetClock()
    app = create_app(
        settings, clock=clock, keyring=keyring or generate_keyring(), tracer_provider=tracer_provider
    )
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("service did not start")
        time.sleep(0.01)
    return RunningService(
        url=f"http://127.0.0.1:{port}",
        clock=clock,
        receiver=receiver,
        server=server,
        thread=thread,
        sock=sock,
    )
