"""did:web holders and issuers over HTTP: documents served by a real local host, paths and ports, SSRF."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.actors import Holder, Issuer, KeyPair, Wallet, WebhookReceiver
from tests.e2e.conftest import RunningService, start_service


class DidHost:
    """A local web server publishing DID documents by path; counts requests."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.hits = 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits += 1
                document = host.documents.get(self.path)
                body = json.dumps(document).encode() if document is not None else b"{}"
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/did+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def did(self, *path: str) -> str:
        return ":".join(["did:web", f"localhost%3A{self.port}", *path])

    def publish(
        self,
        path: tuple[str, ...],
        key: KeyPair,
        *,
        relationships: tuple[str, ...],
        document_id: str | None = None,
    ) -> str:
        """Publish a one-key document for did:web:localhost%3APORT:<path>; returns the DID."""
        did = self.did(*path)
        kid = f"{did}#key-1"
        method = {"id": kid, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": key.public_jwk()}
        document: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": document_id or did,
            "verificationMethod": [method],
        }
        for relationship in relationships:
            document[relationship] = [kid]
        self.documents["/" + "/".join(path) + "/did.json" if path else "/.well-known/did.json"] = document
        return did

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class WebHolder(Holder):
    """A holder whose identifier is a did:web (the key is the one published in its document)."""

    def __init__(self, key: KeyPair, did: str) -> None:
        super().__init__(key, "did:key")
        self.id, self.kid = did, f"{did}#key-1"


@pytest.fixture
def did_host() -> Iterator[DidHost]:
    host = DidHost()
    yield host
    host.close()


def _web_issuer(host: DidHost, key: KeyPair, path: tuple[str, ...], relationships: tuple[str, ...]) -> Issuer:
    issuer = Issuer(key)
    issuer.did = host.publish(path, key, relationships=relationships)
    issuer.kid = f"{issuer.did}#key-1"
    return issuer


def _service(tmp_path: Path, receiver: WebhookReceiver, issuer_did: str) -> RunningService:
    return start_service(tmp_path, receiver, {"issuers": [{"id": issuer_did, "name": "did:web issuer"}]})


def test_did_web_holder_and_issuer(
    tmp_path: Path, receiver: WebhookReceiver, did_host: DidHost, make_wallet: Callable[..., Wallet]
) -> None:
    """A did:web holder (path, port) presents a credential from a did:web issuer."""
    issuer = _web_issuer(did_host, KeyPair.generate("p256"), ("issuers", "age"), ("assertionMethod",))
    holder_key = KeyPair.generate("ed25519")
    holder_did = did_host.publish(("users", "alice"), holder_key, relationships=("authentication",))
    service = _service(tmp_path, receiver, issuer.did)
    try:
        wallet = Wallet(WebHolder(holder_key, holder_did))
        created = service.create()
        request = wallet.fetch_request(created["authorization_request_uri"])
        answer = wallet.respond(request, [issuer.issue(holder_did, {"ageOver21": True})])
        assert answer.status_code == 200, answer.text
        verdict = service.verdict(created["transaction_id"])
        assert verdict["holder"] == {"id": holder_did, "method": "did"}
        assert verdict["credentials"][0]["trust"]["key_source"] == "did"
        wallet.close()
    finally:
        service.stop()


def test_document_with_another_id_is_refused(
    tmp_path: Path, receiver: WebhookReceiver, did_host: DidHost, make_wallet: Callable[..., Wallet]
) -> None:
    """A did:web document whose id is not the DID resolved is refused (did:web Read step 7)."""
    holder_key = KeyPair.generate("ed25519")
    holder_did = did_host.did("users", "mallory")
    did_host.publish(
        ("users", "mallory"), holder_key, relationships=("authentication",), document_id="did:web:x"
    )
    service = _service(tmp_path, receiver, "did:key:unused")
    try:
        wallet = Wallet(WebHolder(holder_key, holder_did))
        created = service.create()
        request = wallet.fetch_request(created["authorization_request_uri"])
        answer = wallet.respond(request, [])
        assert answer.status_code == 400
        verdict = service.verdict(created["transaction_id"])
        assert [e["code"] for e in verdict["errors"]] == ["did.wrong_document_id"]
        wallet.close()
    finally:
        service.stop()


def test_authentication_key_cannot_sign_credentials(
    tmp_path: Path, receiver: WebhookReceiver, did_host: DidHost, make_wallet: Callable[..., Wallet]
) -> None:
    """An issuer key listed only under authentication cannot sign a credential (needs assertionMethod)."""
    issuer = _web_issuer(did_host, KeyPair.generate("p256"), ("issuers", "auth-only"), ("authentication",))
    service = _service(tmp_path, receiver, issuer.did)
    try:
        wallet = make_wallet()
        created = service.create()
        request = wallet.fetch_request(created["authorization_request_uri"])
        answer = wallet.respond(request, [issuer.issue(wallet.holder.id, {"ageOver21": True})])
        assert answer.status_code == 400
        verdict = service.verdict(created["transaction_id"])
        assert [e["code"] for e in verdict["errors"]] == ["did.wrong_relationship"]
    finally:
        service.stop()


def test_did_web_pointing_at_a_private_address_is_refused_without_a_request(
    tmp_path: Path, receiver: WebhookReceiver, did_host: DidHost, make_wallet: Callable[..., Wallet]
) -> None:
    """In production settings a did:web on loopback is refused by the SSRF guard before any request."""
    holder_key = KeyPair.generate("ed25519")
    holder_did = did_host.publish(("users", "eve"), holder_key, relationships=("authentication",))
    service = start_service(
        tmp_path,
        receiver,
        {"issuers": []},
        environment="production",
        keyring_path=str(tmp_path / "unused.json"),
        outbound_allow_http=True,
        webhook_allow_list=(receiver.url,),
        outbound_allow_private=False,
        outbound_private_hosts=("127.0.0.1",),  # the webhook receiver, on purpose; did:web's localhost is not
    )
    try:
        wallet = Wallet(WebHolder(holder_key, holder_did))
        created = service.create(definition_id="sign-in", webhook_url=receiver.url)
        request = wallet.fetch_request(created["authorization_request_uri"])
        answer = wallet.sign_in(request)
        assert answer.status_code == 400
        assert [e["code"] for e in service.verdict(created["transaction_id"])["errors"]] == ["did.refused"]
        assert did_host.hits == 0
        wallet.close()
    finally:
        service.stop()
