"""Issuer policy over HTTP: the explicit any-issuer switch, per-definition narrowing, and the verdict's
account of which rule admitted the issuer."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.e2e.actors import Issuer, KeyPair, Wallet, WebhookReceiver
from tests.e2e.conftest import REPO_ROOT, Issuers, start_service


def test_any_issuer_switch_admits_a_did_issuer_and_says_so(
    tmp_path: Path, receiver: WebhookReceiver, make_wallet: Callable[..., Wallet]
) -> None:
    """With trust_any_issuer on, an unlisted did:key issuer is accepted and the verdict says any_issuer."""
    service = start_service(tmp_path, receiver, {"issuers": []}, trust_any_issuer=True)
    try:
        wallet = make_wallet()
        created = service.create()
        request = wallet.fetch_request(created["authorization_request_uri"])
        stranger = Issuer(KeyPair.generate("ed25519"))
        answer = wallet.respond(request, [stranger.issue(wallet.holder.id, {"ageOver21": True})])
        assert answer.status_code == 200, answer.text
        [credential] = service.verdict(created["transaction_id"])["credentials"]
        assert credential["trust"] == {
            "rule": "any_issuer",
            "key_source": "did",
            "narrowed_by_definition": False,
        }
    finally:
        service.stop()


def test_without_the_switch_the_same_issuer_is_refused(
    tmp_path: Path, receiver: WebhookReceiver, make_wallet: Callable[..., Wallet]
) -> None:
    """The default trusts nobody who is not listed."""
    service = start_service(tmp_path, receiver, {"issuers": []})
    try:
        wallet = make_wallet()
        created = service.create()
        request = wallet.fetch_request(created["authorization_request_uri"])
        stranger = Issuer(KeyPair.generate("ed25519"))
        answer = wallet.respond(request, [stranger.issue(wallet.holder.id, {"ageOver21": True})])
        assert answer.status_code == 400
        verdict = service.verdict(created["transaction_id"])
        assert [e["code"] for e in verdict["errors"]] == ["credential.untrusted_issuer"]
    finally:
        service.stop()


def test_definition_narrows_the_trust_list(
    tmp_path: Path, receiver: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A definition listing only the second issuer refuses the (globally trusted) first one."""
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    shutil.copy(REPO_ROOT / "definitions" / "age-over-21.json", definitions)
    narrowed = json.loads((REPO_ROOT / "definitions" / "age-over-21.json").read_text())
    narrowed["presentation_definition"]["id"] = "age-over-21-second-only"
    narrowed["trusted_issuers"] = [issuers.second.did]
    (definitions / "age-over-21-second-only.json").write_text(json.dumps(narrowed))
    service = start_service(tmp_path, receiver, issuers.trust_file(), definitions_dir=str(definitions))
    try:
        outcomes = {}
        for issuer in (issuers.trusted, issuers.second):
            wallet = make_wallet()
            created = service.create(definition_id="age-over-21-second-only")
            request = wallet.fetch_request(created["authorization_request_uri"])
            wallet.respond(request, [issuer.issue(wallet.holder.id, {"ageOver21": True})])
            outcomes[issuer.did] = service.verdict(created["transaction_id"])
        assert outcomes[issuers.trusted.did]["errors"][0]["code"] == "credential.untrusted_issuer"
        [credential] = outcomes[issuers.second.did]["credentials"]
        assert credential["trust"]["narrowed_by_definition"] is True
    finally:
        service.stop()


def test_credential_clock_skew_is_configurable_apart_from_token_skew(
    tmp_path: Path, receiver: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A credential valid from 120 s ahead fails the 60 s default and passes a 300 s credential skew."""
    outcomes = {}
    for skew in (None, 300):
        overrides = {} if skew is None else {"credential_clock_skew": skew}
        (tmp_path / str(skew)).mkdir()
        service = start_service(tmp_path / str(skew), receiver, issuers.trust_file(), **overrides)
        try:
            wallet = make_wallet()
            created = service.create()
            request = wallet.fetch_request(created["authorization_request_uri"])
            early = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True}, nbf=int(time.time()) + 120)
            wallet.respond(request, [early])
            verdict = service.verdict(created["transaction_id"])
            outcomes[skew] = [e["code"] for e in verdict.get("errors", [])] or verdict["result"]
        finally:
            service.stop()
    assert outcomes == {None: ["credential.not_yet_valid"], 300: "verified"}


def test_issuer_keys_from_a_configured_jwks_uri(
    tmp_path: Path, receiver: WebhookReceiver, make_wallet: Callable[..., Wallet]
) -> None:
    """A non-DID issuer trusted with a jwks_uri: its key is fetched once and cached; the verdict says so."""
    key = KeyPair.generate("p256")
    hits: list[str] = []
    jwks = json.dumps({"keys": [key.public_jwk() | {"kid": "k1", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Cache-Control", "max-age=600")
            self.send_header("Content-Length", str(len(jwks)))
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = Issuer(key)
    issuer.did, issuer.kid = "https://issuer.example", "k1"
    trust = {"issuers": [{"id": issuer.did, "jwks_uri": f"http://localhost:{server.server_address[1]}/jwks"}]}
    service = start_service(tmp_path, receiver, trust)
    try:
        for _ in range(2):
            wallet = make_wallet()
            created = service.create()
            request = wallet.fetch_request(created["authorization_request_uri"])
            answer = wallet.respond(request, [issuer.issue(wallet.holder.id, {"ageOver21": True})])
            assert answer.status_code == 200, answer.text
            credential = service.verdict(created["transaction_id"])["credentials"][0]
            assert credential["trust"]["key_source"] == "jwks_uri"
        assert hits == ["/jwks"]
    finally:
        service.stop()
        server.shutdown()
        server.server_close()
