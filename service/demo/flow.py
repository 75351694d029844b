"""The demo's steps: a backend creating a transaction, the demo wallet answering it, a webhook receiving it.

The verdict arrives at a receiver this process runs on the loopback interface, which a development-mode
service may deliver to without an allow-list entry. Checking the verdict's signature is left to the
caller (``service.cli``), with the same code as ``python -m service verdict verify``.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from service.clock import SystemClock
from service.demo.wallet import DemoError, DemoIssuer, DemoWallet

__all__ = ["Delivery", "answer_link", "hint_for", "receive_verdicts", "run_demo"]

Say = Callable[[str], None]
_MAX_BODY: Final = 1024 * 1024
_HTTP_TIMEOUT: Final = 10.0
_HINTS: Final = {
    "credential.untrusted_issuer": "the service does not trust the demo issuer: start it with "
    "VERIFIER_TRUST_FILE=examples/demo/trust.json (or the output of `python -m service demo --print-trust`)",
}


def hint_for(claims: dict[str, Any]) -> str | None:
    """What to do about a rejected verdict, when the cause is the demo's setup rather than the demo."""
    for error in claims.get("errors") or []:
        if isinstance(error, dict) and error.get("code") in _HINTS:
            return _HINTS[error["code"]]
    return None


def _short(url: str) -> str:
    """The URL with a long last path segment (a sealed transaction handle) cut, for reading."""
    head, _, last = url.rpartition("/")
    return url if len(last) <= 24 or not urlsplit(url).scheme else f"{head}/{last[:16]}…"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook request the receiver took."""

    webhook_id: str
    event: str
    body: str


@dataclass(frozen=True, slots=True)
class _Receiver:
    url: str
    deliveries: queue.Queue[Delivery]


def _handler(deliveries: queue.Queue[Delivery]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if not 0 < length <= _MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length).decode("ascii", errors="replace")
            deliveries.put(
                Delivery(
                    webhook_id=self.headers.get("webhook-id", ""),
                    event=self.headers.get("x-verifier-event", ""),
                    body=body,
                )
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the demo prints its own steps."""

    return Handler


@contextmanager
def receive_verdicts() -> Iterator[_Receiver]:
    """A webhook receiver on 127.0.0.1 (an ephemeral port) for as long as the block runs."""
    deliveries: queue.Queue[Delivery] = queue.Queue()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(deliveries))
    thread = threading.Thread(target=server.serve_forever, name="demo-webhook", daemon=True)
    thread.start()
    try:
        yield _Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/verdicts", deliveries=deliveries)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def answer_link(link: str, *, over_age: bool = True, say: Say = print) -> bool:
    """Play the wallet for ``link``: fetch and check the request object, answer it; True on HTTP 200."""
    clock = SystemClock()
    with httpx.Client(timeout=_HTTP_TIMEOUT) as http:
        wallet = DemoWallet(http, clock=clock)
        request_uri, request = wallet.fetch(link)
        asks = request.presentation_definition
        wanted = [str(d.get("id")) for d in asks.get("input_descriptors", [])] if asks else []
        say(f"2. wallet: GET {_short(request_uri)}")
        say(f"   request object checked: signed by {request.signed_by}")
        say(f"   it asks for: {', '.join(wanted) if wanted else 'sign-in only (an ID Token)'}")
        credential = None
        if "vp_token" in request.response_type:
            issuer = DemoIssuer()
            credential = issuer.issue(wallet.did, over_age=over_age, now=int(clock()))
            say(f"   demo issuer {issuer.did} issued an age credential (ageOver18: {json.dumps(over_age)})")
        answer = wallet.answer(request, credential)
        say(f"3. wallet: POST {_short(request.response_uri)} as {wallet.did}")
        say(f"   HTTP {answer.status_code} {answer.text.strip()}")
        return answer.status_code == 200


def run_demo(
    url: str, definition_id: str, *, over_age: bool = True, timeout: float = 20.0, say: Say = print
) -> str:
    """Create a transaction on the service at ``url``, answer it, and return the verdict JWT delivered."""
    base = url.rstrip("/")
    with receive_verdicts() as receiver, httpx.Client(base_url=base, timeout=_HTTP_TIMEOUT) as backend:
        body = {"definition_id": definition_id, "webhook_url": receiver.url, "correlation_id": "demo"}
        try:
            created = backend.post("/v1/presentations", json=body)
        except httpx.HTTPError as exc:
            raise DemoError(
                f"Cannot reach the verifier at {base} ({exc}); is it running (make run)?"
            ) from exc
        if created.status_code != 201:
            raise DemoError(f"Creating the transaction failed: HTTP {created.status_code} {created.text}")
        transaction = created.json()
        say(f"1. backend: POST {base}/v1/presentations {{definition_id: {definition_id}}}")
        say(f"   transaction {transaction['transaction_id']}, answerable until {transaction['expires_at']}")
        say(f"   wallet link: {transaction['authorization_request_uri']}")
        answer_link(transaction["authorization_request_uri"], over_age=over_age, say=say)
        try:
            delivery = receiver.deliveries.get(timeout=timeout)
        except queue.Empty:
            raise DemoError(f"No verdict reached the webhook within {timeout:g} s") from None
        say(f"4. webhook: {delivery.event} (webhook-id {delivery.webhook_id}) at {receiver.url}")
        return delivery.body
