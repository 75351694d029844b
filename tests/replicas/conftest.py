"""Replicas as real processes: ``python -m service`` several times over one Redis and one webhook receiver.

A ``Deployment`` is what an operator would roll out: one keyring (``VERIFIER_KEYRING_JSON``), one store URL
and key prefix, one trust file and one default webhook (a ``WebhookReceiver`` from the e2e actors), and fast
webhook timings. ``deployment.start(2)`` launches two replicas on their own ports; both are told the SAME
``VERIFIER_PUBLIC_URL`` (replica A's), because request and response URIs are built from it and the sealed
handle in them opens on any replica. A test sends a wallet to another replica by rewriting the host and port
of a URI (``via``); the path, and so the handle, stays the same.

Everything started here is stopped in the fixtures' teardown: replicas get SIGTERM, then SIGKILL after a
grace period, and are always waited for; log files and HTTP clients are closed. Each replica's output goes
to ``<tmp_path>/replica-<name>.log``, whose tail is shown when a replica fails to come up.

Redis comes from ``tests/integration/conftest.py`` (the local one on 6379, or a throw-away redis-server),
with a fresh key prefix per test whose keys are deleted afterwards. ``PrivateRedis`` is a redis-server this
module owns outright, for tests that stop and restart the store under the replicas.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import redis

from service.keys import dump_keyring, generate_keyring
from tests.e2e.actors import AuthorizationRequest, Holder, Issuer, KeyPair, Wallet, WebhookReceiver
from tests.e2e.actors import verify_verdict as _verify_verdict
from tests.integration.conftest import free_port, key_prefix, redis_url

__all__ = [
    "WEBHOOK_SECRET",
    "Deployment",
    "Flow",
    "PrivateRedis",
    "Replica",
    "begin",
    "key_prefix",
    "redis_url",
    "verdicts",
    "via",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

FAST_WEBHOOKS: dict[str, str] = {
    "webhook_base_delay": "0.05",
    "webhook_max_delay": "0.5",
    "webhook_poll_interval": "0.1",
    "webhook_visibility_timeout": "2",
    "log_level": "warning",
}


# --- One replica: a `python -m service` process --- #


class Replica:
    """A verifier process on 127.0.0.1:<port>, with a backend HTTP client pointed at it."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.port = int(env["VERIFIER_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"replica-{name}.log"
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"Replica({self.name!r}, {self.url})"

    # lifecycle

    def start(self) -> Replica:
        """Launch the process (not waiting for it)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._close_log()
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service"],
            env=self.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_until(self, path: str, *, status: int = 200, timeout: float = START_TIMEOUT) -> None:
        """Poll ``path`` until it answers ``status``; fail (with the log tail) if the process dies."""
        deadline = time.monotonic() + timeout
        last: str = "no answer"
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"{self} exited with {self.proc.returncode} while waiting for {path}\n{self.log_tail()}"
                )
            try:
                answer = self.http.get(path, timeout=2)
                if answer.status_code == status:
                    return
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self} {path} did not answer {status} in {timeout} s (last: {last})\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        self.wait_until("/health/ready", timeout=timeout)

    def ready_status(self) -> int:
        return self.http.get("/health/ready", timeout=5).status_code

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no hand-back of in-flight deliveries."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)

    def terminate(self) -> None:
        """Ask for a graceful stop (SIGTERM) without waiting."""
        if self.running:
            assert self.proc is not None
            self.proc.terminate()

    def wait_stopped(self) -> None:
        """Wait for the process to end, killing it after STOP_TIMEOUT; close the log file."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._close_log()

    def close(self) -> None:
        self.terminate()
        self.wait_stopped()
        self.http.close()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return f"--- {self.log_path.name} (tail) ---\n{text[-chars:]}"

    # backend calls

    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("definition_id", "age-over-21")
        answer = self.http.post("/v1/presentations", json=body)
        assert answer.status_code == 201, f"{self}: {answer.status_code} {answer.text}"
        return dict(answer.json())

    def jwks(self) -> dict[str, Any]:
        return dict(self.http.get("/.well-known/jwks.json").json())

    def status(self, transaction_id: str) -> httpx.Response:
        return self.http.get(f"/v1/presentations/{transaction_id}")

    def dead_letters(self) -> list[dict[str, Any]]:
        answer = self.http.get("/v1/operator/dead-letters")
        assert answer.status_code == 200, answer.text
        return list(answer.json())

    def redrive(self, webhook_id: str) -> httpx.Response:
        return self.http.post(f"/v1/operator/dead-letters/{webhook_id}/redrive")


def settings_env(settings: dict[str, str | None]) -> dict[str, str]:
    """The child's environment: ours without any VERIFIER_* variable, plus ``settings`` (None: unset)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("VERIFIER_")}
    for name, value in settings.items():
        if value is not None:
            env["VERIFIER_" + name.upper()] = value
    return env


# --- A deployment: replicas sharing keyring, store, trust and webhook --- #


class Deployment:
    """Shared configuration of a set of replicas, and the replicas started from it."""

    def __init__(
        self, tmp_path: Path, *, store_url: str, key_prefix: str, receiver: WebhookReceiver, issuer: Issuer
    ) -> None:
        self.tmp_path = tmp_path
        self.store_url = store_url
        self.key_prefix = key_prefix
        self.receiver = receiver
        self.issuer = issuer
        self.keyring_json = dump_keyring(generate_keyring())
        self.trust_file = tmp_path / "trust.json"
        self.trust_file.write_text(json.dumps({"issuers": [{"id": issuer.did, "name": "Age authority"}]}))
        self.replicas: list[Replica] = []

    def settings(self, **overrides: str | None) -> dict[str, str | None]:
        """The settings every replica shares, then ``overrides`` (a value of None unsets one)."""
        return {
            "environment": "development",
            "keyring_json": self.keyring_json,
            "store_url": self.store_url,
            "store_key_prefix": self.key_prefix,
            "trust_file": str(self.trust_file),
            "definitions_dir": str(REPO_ROOT / "definitions"),
            "webhook_url": self.receiver.url,
            "webhook_secrets": WEBHOOK_SECRET,
            **FAST_WEBHOOKS,
            **overrides,
        }

    def start(
        self,
        count: int = 2,
        *,
        wait: str | None = "/health/ready",
        public_url: str | None = None,
        **overrides: str | None,
    ) -> list[Replica]:
        """Launch ``count`` replicas at once; by default all share the first one's URL as public URL."""
        ports = [free_port() for _ in range(count)]
        public = public_url or f"http://127.0.0.1:{ports[0]}"
        started = []
        for port in ports:
            name = "ABCDEFGH"[len(self.replicas)]
            env = settings_env(self.settings(**{"port": str(port), "public_url": public, **overrides}))
            replica = Replica(name, env, self.tmp_path)
            self.replicas.append(replica)
            started.append(replica.start())
        if wait is not None:
            for replica in started:
                replica.wait_until(wait)
        return started

    def stop(self) -> None:
        for replica in self.replicas:
            replica.terminate()  # all at once: each takes about a second to drain
        for replica in self.replicas:
            replica.close()


@pytest.fixture(scope="session")
def issuer() -> Issuer:
    """The one trusted credential issuer."""
    return Issuer(KeyPair.generate("ed25519"))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A fresh webhook receiver per test (answering 200 until told otherwise)."""
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture
def deployment(
    tmp_path: Path, redis_url: str, key_prefix: str, receiver: WebhookReceiver, issuer: Issuer
) -> Iterator[Deployment]:
    """A deployment on the shared Redis with a key prefix of its own; start replicas with ``.start()``."""
    made = Deployment(tmp_path, store_url=redis_url, key_prefix=key_prefix, receiver=receiver, issuer=issuer)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def wallet_http() -> Iterator[httpx.Client]:
    """One HTTP client shared by every wallet of a test (many wallets, few sockets)."""
    with httpx.Client(timeout=15, limits=httpx.Limits(max_connections=64)) as client:
        yield client


@pytest.fixture
def make_wallet(wallet_http: httpx.Client) -> Callable[[], Wallet]:
    """A new holder (Ed25519 did:key) with a wallet on the shared client; nothing to close per wallet."""

    def factory() -> Wallet:
        return Wallet(Holder(KeyPair.generate("ed25519"), "did:key"), http=wallet_http)

    return factory


# --- The flow, step by step, with the replica chosen at each step --- #


def via(url: str, replica: Replica) -> str:
    """``url`` with its scheme, host and port replaced by ``replica``'s (the path, the handle, stays)."""
    parts = urlsplit(url)
    return urlunsplit(("http", f"127.0.0.1:{replica.port}", parts.path, parts.query, parts.fragment))


def link_via(authorization_request_uri: str, replica: Replica) -> str:
    """The openid4vp:// link with its request_uri sent to ``replica``."""
    parts = urlsplit(authorization_request_uri)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query["request_uri"] = via(query["request_uri"], replica)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@dataclass
class Flow:
    """One transaction: created by a backend, fetched and answered (not yet posted) by a wallet."""

    created: dict[str, Any]
    wallet: Wallet
    request: AuthorizationRequest
    form: dict[str, str]

    @property
    def transaction_id(self) -> str:
        return str(self.created["transaction_id"])

    def post(self, replica: Replica) -> httpx.Response:
        """POST the prepared response to ``replica`` (the response_uri's path, on its host and port)."""
        return self.wallet.http.post(via(self.request.response_uri, replica), data=self.form)


def begin(
    backend: Replica, wallet: Wallet, issuer: Issuer, *, fetch_from: Replica | None = None, **create: Any
) -> Flow:
    """Create on ``backend``, fetch the request object from ``fetch_from`` (default: the public URL), and
    prepare a response proving age over 21 with a credential of ``issuer``."""
    created = backend.create(**create)
    link = created["authorization_request_uri"]
    request = wallet.fetch_request(link if fetch_from is None else link_via(link, fetch_from))
    credential = issuer.issue(wallet.holder.id, {"ageOver21": True})
    return Flow(created, wallet, request, wallet.build_response(request, [credential]))


def verdicts(receiver: WebhookReceiver, jwks: dict[str, Any]) -> list[dict[str, Any]]:
    """Claims of every delivered verdict (first accepted attempt per webhook-id), signatures checked."""
    out = []
    for attempt in receiver.delivered:
        claims = _verify_verdict(attempt.body.decode(), jwks)
        assert claims["jti"] == attempt.webhook_id, "the webhook-id must be the verdict's jti"
        out.append(claims)
    return out


def eventually(
    predicate: Callable[[], Any], *, timeout: float = 15.0, step: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate}")
        time.sleep(step)


# --- A redis-server this module owns (to stop and restart it under the replicas) --- #


class PrivateRedis:
    """A redis-server on a fixed port, started and stopped by this test only.

    Not persistent by default (a restart comes back empty); ``persistent=True`` keeps an append-only file
    fsynced on every write in its own folder, so a restart comes back with every acknowledged write.
    """

    def __init__(self, workdir: Path, port: int | None = None, *, persistent: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> PrivateRedis:
        assert self.proc is None
        self._log = (self.workdir / f"redis-{self.port}.log").open("ab")
        data = self.workdir / f"redis-{self.port}"
        data.mkdir(exist_ok=True)
        aof = (
            ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        )
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *aof]
            + ["--dir", str(data)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        eventually(self.answers, timeout=10, what=f"redis-server on {self.port} answers")
        return self

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM (redis shuts down without saving: --save ''), then wait; SIGKILL if it hangs."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[..., PrivateRedis]]:
    """Factory of private redis-servers (``make(port=None, persistent=False)``, started); all stopped at
    teardown."""
    made: list[PrivateRedis] = []

    def make(port: int | None = None, *, persistent: bool = False) -> PrivateRedis:
        server = PrivateRedis(tmp_path, port, persistent=persistent)
        made.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in made:
            server.stop()
