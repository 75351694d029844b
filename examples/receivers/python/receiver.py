"""A minimal verdict webhook receiver for siop-verifier: Python standard library plus joserfc.

    pip install joserfc
    VERIFIER_URL=http://127.0.0.1:8080 WEBHOOK_SECRET=whsec_... PORT=8090 OUTPUT=verdicts.jsonl \
        python receiver.py

POST /verdicts:
1. Standard Webhooks v1: HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" with the shared
   whsec_ secret, compared in constant time; the timestamp must be within 5 minutes of now.
2. The body is a compact JWT (typ verdict+jwt) signed with a key from the verifier's
   /.well-known/jwks.json. The JWKS is cached and fetched again once when a kid is unknown (rotation).
3. At-least-once delivery: dedupe by webhook-id. Duplicates are acknowledged (2xx), not processed again.
4. Each accepted verdict's claims are appended as one JSON line to OUTPUT (stand-in for your business
   logic). Bad signatures and bad verdicts get 400; a JWKS outage gets 503 so the verifier retries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import KeySet

# The verifier's Ed25519 keys sign as "EdDSA"; joserfc warns that RFC 9864 deprecates the name.
warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)

ENV = os.environ  # noqa: TID251 -- a standalone example reads its configuration from the environment
VERIFIER_URL = ENV.get("VERIFIER_URL", "http://127.0.0.1:8080").rstrip("/")
ISSUER = ENV.get("VERIFIER_ISSUER", VERIFIER_URL)  # the verifier's public URL, if it differs
SECRETS = ENV["WEBHOOK_SECRET"].split()  # several, space separated, while you rotate
HOST = ENV.get("HOST", "127.0.0.1")
PORT = int(ENV.get("PORT", "8090"))
OUTPUT = ENV.get("OUTPUT", "verdicts.jsonl")

TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 1 << 20
ALGORITHMS = ["ES256", "ES384", "EdDSA"]


class Rejected(Exception):
    """The delivery is not authentic or not a verdict: answer 400."""


class JwksUnavailable(Exception):
    """The verifier's JWKS could not be fetched: answer 503 so the delivery is retried."""


def secret_key(secret: str) -> bytes:
    text = secret.removeprefix("whsec_")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def check_signature(headers: Any, body: bytes) -> str:
    """Verify the Standard Webhooks v1 signature and timestamp; return the webhook-id."""
    msg_id = headers.get("webhook-id") or ""
    timestamp = headers.get("webhook-timestamp") or ""
    if not msg_id or not timestamp.isdigit():
        raise Rejected("missing webhook-id or webhook-timestamp")
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:  # noqa: TID251 -- wall clock on purpose
        raise Rejected("webhook-timestamp outside the tolerance")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(secret_key(s), signed, hashlib.sha256).digest()) for s in SECRETS]
    for candidate in (headers.get("webhook-signature") or "").split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and any(hmac.compare_digest(signature.encode(), e) for e in expected):
            return msg_id
    raise Rejected("no valid v1 signature")


class Jwks:
    """The verifier's public keys: cached, fetched again once when a kid is unknown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.keys: KeySet | None = None

    def _fetch(self) -> KeySet:
        if not self.url.startswith(("https://", "http://")):
            raise JwksUnavailable("VERIFIER_URL must be http(s)")
        try:
            with urllib.request.urlopen(self.url, timeout=5) as response:  # noqa: S310 -- scheme checked
                return KeySet.import_key_set(json.load(response))
        except (OSError, ValueError, JoseError) as exc:
            raise JwksUnavailable(str(exc)) from exc

    def for_kid(self, kid: str) -> KeySet:
        with self.lock:
            if self.keys is None or not any(key.kid == kid for key in self.keys):
                self.keys = self._fetch()
            if not any(key.kid == kid for key in self.keys):
                raise Rejected(f"unknown kid {kid!r}")
            return self.keys


JWKS = Jwks(f"{VERIFIER_URL}/.well-known/jwks.json")


def verify_verdict(body: bytes, msg_id: str) -> dict[str, Any]:
    """Verify the verdict JWT's signature, typ, issuer and jti; return its claims."""
    try:
        token = body.decode("ascii")
        encoded_header = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4)))
        if header.get("typ") != "verdict+jwt":
            raise Rejected("not a verdict+jwt")
        claims = jwt.decode(token, JWKS.for_kid(str(header.get("kid"))), algorithms=ALGORITHMS).claims
    except (UnicodeDecodeError, ValueError, binascii.Error, JoseError) as exc:
        raise Rejected(f"invalid verdict JWT: {exc}") from exc
    if claims.get("iss") != ISSUER:
        raise Rejected("verdict from another issuer")
    if claims.get("jti") != msg_id:
        raise Rejected("webhook-id does not match the verdict jti")
    return claims


# In memory for the example. A real receiver keeps seen webhook-ids in its database, in the same
# transaction as the business effect (e.g. a unique constraint on webhook_id), for at least 24 hours.
SEEN: set[str] = set()
SEEN_LOCK = threading.Lock()


def handle(msg_id: str, claims: dict[str, Any]) -> bool:
    """Record a verdict once; False when this webhook-id was handled already."""
    with SEEN_LOCK:
        if msg_id in SEEN:
            return False
        with open(OUTPUT, "a", encoding="utf-8") as out:
            out.write(json.dumps(claims, separators=(",", ":")) + "\n")
        SEEN.add(msg_id)
        return True


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        if self.path != "/verdicts":
            self.answer(404, "not found")
            return
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self.answer(413, "too large")
            return
        body = self.rfile.read(length)
        try:
            msg_id = check_signature(self.headers, body)
            claims = verify_verdict(body, msg_id)
        except Rejected as exc:
            self.answer(400, str(exc))
            return
        except JwksUnavailable as exc:
            self.answer(503, f"JWKS unavailable: {exc}")
            return
        if handle(msg_id, claims):
            self.answer(200, f"accepted {msg_id} {claims.get('txn')} {claims.get('result')}")
        else:
            self.answer(200, f"duplicate {msg_id}")

    def answer(self, status: int, message: str) -> None:
        sys.stderr.write(f"{status} {message}\n")
        self.send_response_only(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: answer() logs one line per delivery."""


def main() -> None:
    server = ThreadingHTTPServer((HOST, PORT), Handler)
    print(f"listening on http://{HOST}:{server.server_address[1]}/verdicts", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
