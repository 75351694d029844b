"""A real local webhook endpoint plus independent verifiers for Standard Webhooks and verdict JWTs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.e2e.actors.keys import JwsError, decode_jws, verify_jws

VERDICT_ALGS = frozenset({"ES256", "EdDSA"})


class VerificationError(ValueError):
    """A webhook delivery or a verdict JWT failed verification."""


@dataclass(frozen=True)
class Attempt:
    """One POST the receiver saw, with the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    time: float
    status: int

    @property
    def webhook_id(self) -> str | None:
        """The `webhook-id` header, if any."""
        return self.headers.get("webhook-id")

    @property
    def accepted(self) -> bool:
        """True when the receiver answered 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """Header value by case-insensitive name."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """Body decoded as JSON."""
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its receiver."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """Records POSTs; one request per connection (HTTP/1.0) so `down()` really refuses."""

    server: _Server

    def do_POST(self) -> None:
        """Record the attempt and answer with the configured status."""
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, extra = self.server.receiver._record(self.path, headers, body)
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def do_GET(self) -> None:
        """Webhooks are POST only."""
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep test output quiet."""


class WebhookReceiver:
    """HTTP webhook endpoint on 127.0.0.1 with scripted failures and a down/up switch."""

    def __init__(self, path: str = "/hooks/verdicts", host: str = "127.0.0.1") -> None:
        self.path = path
        self.host = host
        self.port = 0
        self._cond = threading.Condition()
        self._attempts: list[Attempt] = []
        self._fail_remaining = 0
        self._fail_status = 503
        self._fail_headers: dict[str, str] = {}
        self._status = 200
        self._delay = 0.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # --- lifecycle --- #

    def start(self) -> Self:
        """Bind (ephemeral port the first time, the same port afterwards) and serve in a thread."""
        return self.up()

    def up(self) -> Self:
        """Open the listening socket on the same port again."""
        with self._cond:
            if self._server is not None:
                return self
            self._server = _Server((self.host, self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def down(self) -> None:
        """Close the listening socket: senders get connection refused until `up()`."""
        with self._cond:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def start_later(self, seconds: float) -> None:
        """Go down now (binding first if needed, to fix the port) and come back up after `seconds`."""
        if not self.port:
            self.up()
        self.down()
        self._timer = threading.Timer(seconds, self.up)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        """Cancel a pending start_later and close the socket."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.down()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Webhook URL to register with the service."""
        if not self.port:
            raise RuntimeError("receiver not started")
        return f"http://{self.host}:{self.port}{self.path}"

    # --- behaviour --- #

    def fail_first(self, n: int, status: int = 503, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next `n` POSTs with `status` (and extra headers such as Retry-After)."""
        with self._cond:
            self._fail_remaining, self._fail_status = n, status
            self._fail_headers = dict(headers or {})

    def respond_with(self, status: int) -> None:
        """Status for every POST not consumed by fail_first (default 200)."""
        with self._cond:
            self._status = status

    def respond_slowly(self, seconds: float) -> None:
        """Sleep this long before answering each POST (timeout tests)."""
        self._delay = seconds

    def reset(self) -> None:
        """Forget attempts and scripted behaviour."""
        with self._cond:
            self._attempts.clear()
            self._fail_remaining, self._status, self._delay = 0, 200, 0.0

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        """Called by the handler thread: decide the status and store the attempt."""
        if self._delay:
            time.sleep(self._delay)
        with self._cond:
            extra: dict[str, str] = {}
            if path != self.path:
                status = 404
            elif self._fail_remaining > 0:
                self._fail_remaining -= 1
                status, extra = self._fail_status, dict(self._fail_headers)
            else:
                status = self._status
            self._attempts.append(Attempt(path, headers, body, time.time(), status))
            self._cond.notify_all()
        return status, extra

    # --- observation --- #

    @property
    def attempts(self) -> list[Attempt]:
        """Every POST received, in order."""
        with self._cond:
            return list(self._attempts)

    @property
    def delivered(self) -> list[Attempt]:
        """Accepted attempts, first one per webhook-id (what an idempotent consumer keeps)."""
        with self._cond:
            return self._delivered()

    def _delivered(self) -> list[Attempt]:
        """Deduplicate accepted attempts by webhook-id (caller holds the lock)."""
        seen: set[str] = set()
        out = []
        for attempt in self._attempts:
            key = attempt.webhook_id
            if not attempt.accepted or (key is not None and key in seen):
                continue
            if key is not None:
                seen.add(key)
            out.append(attempt)
        return out

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Attempt]:
        """Block until `count` distinct webhook-ids were accepted; return the delivered list."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._delivered()) >= count, timeout):
                statuses = [a.status for a in self._attempts]
                raise TimeoutError(f"{len(self._delivered())}/{count} delivered; attempt statuses {statuses}")
            return self._delivered()

    def wait_for_attempts(self, count: int, timeout: float = 10.0) -> list[Attempt]:
        """Block until `count` POSTs arrived, whatever was answered."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._attempts) >= count, timeout):
                raise TimeoutError(f"{len(self._attempts)}/{count} attempts")
            return list(self._attempts)


# --- verification helpers (independent of service/) --- #


def sign_standard_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over `id.timestamp.body` (to test the verifier)."""
    mac = hmac.new(_secret_bytes(secret, "whsec_"), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify_standard_webhook(
    headers: Mapping[str, str], body: bytes | str, secret: str, *, now: int, tolerance: int = 300
) -> None:
    """Check a Standard Webhooks delivery: `whsec_` secret → v1 HMAC, `whpk_` key → v1a Ed25519."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id, stamp = lowered["webhook-id"], lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"].split()
    except KeyError as exc:
        raise VerificationError(f"missing header {exc}") from exc
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise VerificationError("webhook-timestamp is not an integer") from exc
    if abs(now - timestamp) > tolerance:
        raise VerificationError("timestamp outside tolerance")
    raw = body.encode() if isinstance(body, str) else body
    content = f"{msg_id}.{timestamp}.".encode() + raw
    if secret.startswith("whpk_"):
        key = ed25519.Ed25519PublicKey.from_public_bytes(_secret_bytes(secret, "whpk_"))
        for entry in signatures:
            version, _, value = entry.partition(",")
            try:
                if version == "v1a":
                    key.verify(base64.b64decode(value), content)
                    return
            except (InvalidSignature, binascii.Error, ValueError):
                continue
    else:
        expected = sign_standard_webhook(secret, msg_id, timestamp, raw)
        if any(hmac.compare_digest(entry, expected) for entry in signatures):
            return
    raise VerificationError("no webhook-signature entry verifies")


def _secret_bytes(secret: str, prefix: str) -> bytes:
    """Strip the `whsec_`/`whpk_` prefix and base64-decode (padding optional)."""
    if not secret.startswith(prefix):
        raise VerificationError(f"secret must start with {prefix}")
    text = secret[len(prefix) :]
    return base64.b64decode(text + "=" * (-len(text) % 4))


def verify_verdict(
    jwt: str, jwks: Mapping[str, Any], *, expected_typ: str | None = "verdict+jwt", now: int | None = None
) -> dict[str, Any]:
    """Verify a verdict JWS against a JWK Set (key by kid, alg ES256/EdDSA fitting the key); return claims."""
    try:
        header = decode_jws(jwt)[0]
    except JwsError as exc:
        raise VerificationError(str(exc)) from exc
    if expected_typ is not None and header.get("typ") != expected_typ:
        raise VerificationError(f"typ {header.get('typ')!r} != {expected_typ!r}")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in VERDICT_ALGS:
        raise VerificationError(f"alg {alg!r} not allowed for verdicts")
    matches = [k for k in jwks.get("keys", []) if kid is not None and k.get("kid") == kid]
    if len(matches) != 1:
        raise VerificationError(f"kid {kid!r} matches {len(matches)} keys in the JWKS")
    jwk = matches[0]
    if jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        raise VerificationError(f"JWK (alg {jwk.get('alg')!r}, use {jwk.get('use')!r}) refuses {alg}")
    try:
        claims = verify_jws(jwt, jwk)[1]
    except (JwsError, ValueError, KeyError) as exc:
        raise VerificationError(f"verdict signature: {exc}") from exc
    if now is not None and isinstance(claims.get("exp"), int) and claims["exp"] <= now:
        raise VerificationError("verdict expired")
    return claims
