"""Self-tests of the e2e actors against published vectors and each other (no service needed)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from tests.e2e.actors import (
    DELETE,
    Holder,
    Issuer,
    KeyPair,
    VerificationError,
    Wallet,
    WalletRefused,
    WebhookReceiver,
    decode_did_jwk_public,
    decode_did_key_public,
    encode_jwt_unsigned,
    sign_hmac_jwt,
    verify_standard_webhook,
    verify_verdict,
)
from tests.e2e.actors.keys import (
    JwsError,
    b64url_decode,
    decode_jws,
    did_key_from_jwk,
    jwk_thumbprint,
    resolve_did_url,
    verify_jws,
)
from tests.e2e.actors.receiver import sign_standard_webhook

VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "vectors"
KINDS = ["ed25519", "p256", "p384", "secp256k1"]
DID_KEY_FILES = sorted(
    p for d in ("ed25519", "p-256", "p-384", "secp256k1") for p in (VECTORS / "did-key" / d).glob("*.json")
)
NOW = 1_700_000_000
RO_TYP = {"typ": "oauth-authz-req+jwt"}
RO_MEDIA = "application/oauth-authz-req+jwt"
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
PD = {"id": "age-over-18", "input_descriptors": [{"id": "age"}, {"id": "email"}]}


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


# --- keys and DIDs --- #


@pytest.mark.parametrize("path", DID_KEY_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_did_key_vector_round_trips(path: Path) -> None:
    """The published public key encodes to the published DID, and the DID decodes back to it."""
    case = _load(path)
    jwk = case["derived_check"]["publicKeyJwk"]
    assert did_key_from_jwk(jwk) == case["did"]
    assert decode_did_key_public(case["did"]) == jwk


def test_did_key_from_seed_and_private_jwk() -> None:
    """A KeyPair built from the vectors' private material yields the published DIDs."""
    ed = _load(VECTORS / "did-key/ed25519/z6MkiTBz1ymuepAQ.json")
    seed = bytes.fromhex(ed["vector"]["seed"])
    assert KeyPair("ed25519", ed25519.Ed25519PrivateKey.from_private_bytes(seed)).did_key() == ed["did"]
    p256 = _load(VECTORS / "did-key/p-256/zDnaerDaTF5BXEav.json")
    d = int.from_bytes(b64url_decode(p256["vector"]["verificationMethod"]["privateKeyJwk"]["d"]), "big")
    pair = KeyPair("p256", ec.derive_private_key(d, ec.SECP256R1()))
    assert pair.did_key() == p256["did"]
    assert pair.did_key_url() == p256["vector"]["didDocument"]["verificationMethod"][0]["id"]


def test_did_jwk_vector_decodes() -> None:
    """The did:jwk vector decodes to its JWK and resolves only through `#0`."""
    case = _load(VECTORS / "did-jwk/p-256.json")
    assert decode_did_jwk_public(case["did"]) == case["decoded_jwk"]
    assert resolve_did_url(case["did_url"], case["did"]) == case["decoded_jwk"]
    with pytest.raises(JwsError):
        resolve_did_url(case["did"] + "#1", case["did"])


def test_rfc7638_and_extra_member_thumbprints() -> None:
    """Thumbprints use only the required members (RFC 7638 §3.1 RSA example, EC with use/alg/kid)."""
    rsa = _load(VECTORS / "siopv2/rfc7638-3.1-rsa-thumbprint.json")
    assert jwk_thumbprint(rsa["jwk"]) == rsa["expected_thumbprint_sha256_b64url"]
    ec_case = _load(VECTORS / "siopv2/ec-thumbprint-ignores-extra-members.json")
    assert jwk_thumbprint(ec_case["jwk"]) == ec_case["expected_thumbprint_sha256_b64url"]


@pytest.mark.parametrize("kind", KINDS)
def test_jws_sign_verify_per_kind(kind: str) -> None:
    """Each key kind signs a JWS its public JWK verifies; tampering and other keys fail."""
    pair = KeyPair.generate(kind)  # type: ignore[arg-type]
    token = pair.sign_jws({"typ": "JWT"}, {"hello": "world"})
    header, payload = verify_jws(token, pair.public_jwk())
    assert header["alg"] == pair.alg
    assert payload == {"hello": "world"}
    assert decode_did_key_public(pair.did_key()) == pair.public_jwk()
    assert decode_did_jwk_public(pair.did_jwk()) == pair.public_jwk()
    assert pair.thumbprint_uri().endswith(pair.thumbprint())
    head, body, sig = token.split(".")
    with pytest.raises(JwsError):
        verify_jws(f"{head}.{body}x.{sig}", pair.public_jwk())
    with pytest.raises(JwsError):
        verify_jws(token, KeyPair.generate(kind).public_jwk())  # type: ignore[arg-type]


def test_unsigned_and_hmac_jwts() -> None:
    """alg none has an empty signature; HS256 tokens never verify with an asymmetric key."""
    assert encode_jwt_unsigned({"typ": "JWT"}, {"a": 1}).endswith(".")
    assert decode_jws(encode_jwt_unsigned({}, {}))[0] == {"alg": "none"}
    token = sign_hmac_jwt({"typ": "JWT"}, {"a": 1}, b"k" * 32)
    assert decode_jws(token)[0]["alg"] == "HS256"
    with pytest.raises(JwsError):
        verify_jws(token, KeyPair.generate().public_jwk())


def test_issuer_vc_shape_and_overrides() -> None:
    """VC JWTs verify with the issuer DID key and honour DELETE / sign_with."""
    issuer = Issuer(KeyPair.generate("ed25519"), now=lambda: NOW)
    vc = issuer.issue("did:key:zHolder", {"age_over_18": True}, claim_overrides={"jti": DELETE})
    header, claims = verify_jws(vc, resolve_did_url(decode_jws(vc)[0]["kid"], issuer.did))
    assert header["kid"] == issuer.kid
    assert "jti" not in claims
    assert claims["iss"] == claims["vc"]["issuer"] == issuer.did
    assert claims["nbf"] == NOW
    assert claims["vc"]["credentialSubject"] == {"id": "did:key:zHolder", "age_over_18": True}
    assert claims["vc"]["type"] == ["VerifiableCredential", "AgeCredential"]
    forged = issuer.issue("did:key:zHolder", {}, sign_with=KeyPair.generate("ed25519"))
    with pytest.raises(JwsError):
        verify_jws(forged, resolve_did_url(issuer.kid, issuer.did))
    assert Issuer(KeyPair.generate(), "did:jwk").kid.endswith("#0")


# --- wallet against a stub verifier --- #


def _make_cert(subject: str, key: Any, issuer: x509.Certificate | None, issuer_key: Any) -> x509.Certificate:
    """A certificate for `subject` (CA when issuer is None) with a dNSName SAN."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    start = dt.datetime.fromtimestamp(NOW - 3600, dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _x5c(*certs: x509.Certificate) -> list[str]:
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs]


def _request_payload(client_id: str, scheme: str, response_uri: str) -> dict[str, Any]:
    """Request Object claims as the service is expected to emit them."""
    claims = {"response_type": "vp_token id_token", "scope": "openid", "response_mode": "direct_post"}
    claims |= {"response_uri": response_uri, "client_id": client_id, "client_id_scheme": scheme}
    claims |= {"iss": client_id}
    claims |= {"nonce": "n-0S6_WzA2Mj", "state": "st-123", "presentation_definition": PD, "iat": NOW}
    claims |= {"client_metadata": {"vp_formats": {"jwt_vp_json": {"alg": ["ES256"]}}}, "exp": NOW + 300}
    return claims | {"id_token_type": "subject_signed_id_token", "aud": "https://self-issued.me/v2"}


class StubVerifier:
    """Serves one Request Object and records posted forms through httpx.MockTransport."""

    def __init__(self, jwt: str, client_id: str, content_type: str = RO_MEDIA):
        self.jwt, self.client_id, self.content_type = jwt, client_id, content_type
        self.forms: list[dict[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, text=self.jwt, headers={"content-type": self.content_type})
        self.forms.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        return httpx.Response(200, json={})

    @property
    def link(self) -> str:
        request_uri = quote("https://rp.example/req/1", safe="")
        return f"openid4vp://?client_id={quote(self.client_id, safe='')}&request_uri={request_uri}"

    def wallet(self, holder: Holder, **kwargs: Any) -> Wallet:
        client = httpx.Client(transport=httpx.MockTransport(self.handler))
        return Wallet(holder, client, now=lambda: NOW, **kwargs)


def _did_request(mutate: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> StubVerifier:
    """A did-scheme stub verifier; `mutate(header, payload)` bends the Request Object."""
    rp = KeyPair.generate("p256")
    header: dict[str, Any] = {**RO_TYP, "kid": rp.did_key_url()}
    payload = _request_payload(rp.did_key(), "did", "https://rp.example/response")
    if mutate:
        mutate(header, payload)
    return StubVerifier(rp.sign_jws(header, payload), rp.did_key())


def test_wallet_accepts_did_request_and_builds_response() -> None:
    """A did-signed request is accepted; ID Token and VP are bound to nonce/client_id and verify."""
    stub = _did_request()
    holder = Holder(KeyPair.generate("ed25519"), "did:key")
    wallet = stub.wallet(holder)
    request = wallet.fetch_request(stub.link)
    assert (request.client_id_scheme, request.nonce, request.state) == ("did", "n-0S6_WzA2Mj", "st-123")
    vc = Issuer(KeyPair.generate()).issue(holder.id, {"age_over_18": True})
    assert wallet.respond(request, [vc]).status_code == 200
    form = stub.forms[0]
    assert form["state"] == "st-123"
    id_header, id_claims = verify_jws(form["id_token"], resolve_did_url(holder.kid or "", holder.id))
    assert id_header["kid"] == holder.kid
    assert id_claims["iss"] == id_claims["sub"] == holder.id
    assert (id_claims["aud"], id_claims["nonce"]) == (request.client_id, request.nonce)
    vp_claims = verify_jws(form["vp_token"], holder.key.public_jwk())[1]
    assert vp_claims["vp"]["verifiableCredential"] == [vc]
    assert vp_claims["exp"] == NOW + 300
    entry = json.loads(form["presentation_submission"])["descriptor_map"][0]
    assert (entry["path"], entry["path_nested"]["path"]) == ("$", "$.vp.verifiableCredential[0]")


def test_wallet_thumbprint_holder_and_several_vps() -> None:
    """JWK-thumbprint holders carry sub_jwk / header jwk; nested credentials give an array vp_token."""
    holder = Holder(KeyPair.generate("p256"), "jwk_thumbprint")
    stub = _did_request()
    wallet = stub.wallet(holder)
    request = wallet.fetch_request(stub.link)
    form = wallet.build_response(request, [["vc-a"], ["vc-b"]], id_token_claims={"nonce": DELETE})
    id_claims = verify_jws(form["id_token"], holder.key.public_jwk())[1]
    assert id_claims["sub"] == holder.key.thumbprint_uri()
    assert id_claims["sub_jwk"] == holder.key.public_jwk()
    assert "nonce" not in id_claims
    assert "kid" not in decode_jws(form["id_token"])[0]
    vps = json.loads(form["vp_token"])
    assert [decode_jws(vp)[0]["jwk"] for vp in vps] == [holder.key.public_jwk()] * 2
    paths = [(e["id"], e["path"]) for e in json.loads(form["presentation_submission"])["descriptor_map"]]
    assert paths == [("age", "$[0]"), ("email", "$[1]")]


def test_wallet_negative_knobs() -> None:
    """alg none, HMAC, corrupted signatures, foreign signers and omissions produce what they say."""
    stub = _did_request()
    holder = Holder(KeyPair.generate("p256"), "did:jwk")
    wallet = stub.wallet(holder)
    request = wallet.fetch_request(stub.link)
    form = wallet.build_response(request, ["vc"], id_token_alg_none=True, corrupt_vp_signature=True)
    assert form["id_token"].endswith(".")
    assert decode_jws(form["id_token"])[0]["alg"] == "none"
    with pytest.raises(JwsError):
        verify_jws(form["vp_token"], holder.key.public_jwk())
    form = wallet.build_response(request, ["vc"], id_token_hmac=b"s" * 32, vp_signer=KeyPair.generate())
    assert decode_jws(form["id_token"])[0]["alg"] == "HS256"
    assert decode_jws(form["vp_token"])[0]["kid"] == holder.kid
    with pytest.raises(JwsError):
        verify_jws(form["vp_token"], holder.key.public_jwk())
    assert "id_token" not in wallet.build_response(request, ["vc"], omit_id_token=True)
    with pytest.raises(ValueError, match="descriptor"):
        wallet.build_response(request, ["a", "b", "c"])
    wallet.post_error(request)
    error = {"error": "access_denied", "error_description": "the user declined"}
    assert stub.forms[-1] == {**error, "state": "st-123"}


def _set(key: str, value: Any, where: str = "payload") -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def mutate(header: dict[str, Any], payload: dict[str, Any]) -> None:
        (header if where == "header" else payload)[key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("typ", "JWT", "header"), "typ"),
        (_set("client_id", "did:key:zOther"), "client_id"),
        (_set("kid", "did:key:zOther#zOther", "header"), "kid"),
        (_set("response_mode", "fragment"), "response_mode"),
        (_set("response_type", "vp_token"), "response_type"),
        (_set("aud", "https://wallet.example"), "aud"),
        (_set("exp", NOW), "expired"),
    ],
)
def test_wallet_refuses_bad_did_requests(mutate: Any, message: str) -> None:
    """Each broken Request Object property makes the wallet refuse loudly."""
    stub = _did_request(mutate)
    with pytest.raises(WalletRefused, match=message):
        stub.wallet(Holder(KeyPair.generate())).fetch_request(stub.link)


def test_wallet_refuses_foreign_signature_and_media_type() -> None:
    """A signature by another key, or a wrong content type, is refused."""
    rp, other = KeyPair.generate(), KeyPair.generate()
    payload = _request_payload(rp.did_key(), "did", "https://rp.example/response")
    header = {**RO_TYP, "kid": rp.did_key_url()}
    for signer, media, message in ((other, RO_MEDIA, "signature"), (rp, "application/jwt", "content-type")):
        stub = StubVerifier(signer.sign_jws(header, payload), rp.did_key(), media)
        with pytest.raises(WalletRefused, match=message):
            stub.wallet(Holder(rp)).fetch_request(stub.link)


def test_wallet_redirect_uri_scheme() -> None:
    """redirect_uri requests are unsigned and client_id must be the response_uri."""
    uri = "https://rp.example/response"
    payload = _request_payload(uri, "redirect_uri", uri)
    stub = StubVerifier(encode_jwt_unsigned(RO_TYP, payload), uri)
    assert stub.wallet(Holder(KeyPair.generate())).fetch_request(stub.link).client_id == uri
    stub = StubVerifier(KeyPair.generate().sign_jws(RO_TYP, payload), uri)
    with pytest.raises(WalletRefused, match="unsigned"):
        stub.wallet(Holder(KeyPair.generate())).fetch_request(stub.link)


def test_wallet_x509_san_dns_scheme() -> None:
    """x5c leaf signs, SAN and response_uri host must match; the optional trust anchor is enforced."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _make_cert("Test CA", ca_key, None, ca_key)
    leaf = _make_cert("rp.example", leaf_key, ca, ca_key)
    signer = KeyPair("p256", leaf_key)
    header = {**RO_TYP, "x5c": _x5c(leaf, ca)}

    def fetch(payload: dict[str, Any], anchor: x509.Certificate | None = None) -> Any:
        stub = StubVerifier(signer.sign_jws(header, payload), payload["client_id"])
        return stub.wallet(Holder(signer), trust_anchor=anchor).fetch_request(stub.link)

    payload = _request_payload("rp.example", "x509_san_dns", "https://rp.example/response")
    assert fetch(payload, anchor=ca).client_id == "rp.example"
    with pytest.raises(WalletRefused, match="SAN"):
        fetch({**payload, "client_id": "evil.example", "response_uri": "https://evil.example/r"})
    with pytest.raises(WalletRefused, match="host"):
        fetch({**payload, "response_uri": "https://evil.example/r"})
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(WalletRefused, match="trust anchor"):
        fetch(payload, anchor=_make_cert("Other CA", other_key, None, other_key))


# --- webhooks --- #


@pytest.mark.parametrize(
    "name", ["v1-hmac-valid", "v1-hmac-multi-signature", "v1-hmac-tampered", "v1-hmac-stale-timestamp"]
)
def test_standard_webhooks_vectors(name: str) -> None:
    """The published Standard Webhooks cases verify or fail as labelled."""
    case = _load(VECTORS / "webhooks" / f"{name}.json")
    args = (case["headers"], case["body"].encode(), case["secret"])
    if case["expected_result"] == "valid":
        verify_standard_webhook(*args, now=case["now"], tolerance=case["tolerance_seconds"])
    else:
        with pytest.raises(VerificationError):
            verify_standard_webhook(*args, now=case["now"], tolerance=case["tolerance_seconds"])


def test_standard_webhooks_v1a() -> None:
    """An Ed25519 (v1a) signature verifies with the whpk_ key and not after tampering."""
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    signature = base64.b64encode(key.sign(b"msg_1.100.{}")).decode()
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": "100",
        "Webhook-Signature": f"v1,x v1a,{signature}",
    }
    public = "whpk_" + base64.b64encode(raw).decode()
    verify_standard_webhook(headers, b"{}", public, now=100)
    with pytest.raises(VerificationError):
        verify_standard_webhook(headers, b"{ }", public, now=100)


def test_verify_verdict() -> None:
    """Verdicts verify by kid; wrong typ, unknown kid and HMAC are refused."""
    pair = KeyPair.generate("p256")
    jwks = {"keys": [{**pair.public_jwk(), "kid": "v1", "alg": "ES256", "use": "sig"}]}
    token = pair.sign_jws({"typ": "verdict+jwt", "kid": "v1"}, {"sub": "tx", "exp": NOW + 60})
    assert verify_verdict(token, jwks, now=NOW)["sub"] == "tx"
    for bad in (
        pair.sign_jws({"typ": "JWT", "kid": "v1"}, {}),
        pair.sign_jws({"typ": "verdict+jwt", "kid": "v2"}, {}),
        sign_hmac_jwt({"typ": "verdict+jwt", "kid": "v1"}, {}, b"x" * 32),
        KeyPair.generate().sign_jws({"typ": "verdict+jwt", "kid": "v1"}, {}),
    ):
        with pytest.raises(VerificationError):
            verify_verdict(bad, jwks)


def _post(client: httpx.Client, url: str, msg_id: str) -> int:
    stamp, body = int(time.time()), b'{"type":"verification.completed"}'
    signature = sign_standard_webhook(SECRET, msg_id, stamp, body)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}
    return client.post(url, content=body, headers=headers).status_code


def test_receiver_fail_first_and_dedup() -> None:
    """fail_first answers 503 n times; accepted retries of one webhook-id count once."""
    with WebhookReceiver() as receiver, httpx.Client() as client:
        receiver.fail_first(2, headers={"Retry-After": "1"})
        assert [_post(client, receiver.url, "msg_1") for _ in range(4)] == [503, 503, 200, 200]
        assert _post(client, receiver.url, "msg_2") == 200
        assert [a.webhook_id for a in receiver.wait_for(2, timeout=2)] == ["msg_1", "msg_2"]
        assert len(receiver.attempts) == 5
        assert receiver.attempts[0].status == 503
        attempt = receiver.delivered[0]
        verify_standard_webhook(attempt.headers, attempt.body, SECRET, now=int(time.time()))
        with pytest.raises(TimeoutError):
            receiver.wait_for(3, timeout=0.2)


def test_receiver_down_up_same_port() -> None:
    """down() refuses connections on the port; up() and start_later() reopen the same port."""
    with WebhookReceiver() as receiver, httpx.Client() as client:
        url = receiver.url
        receiver.down()
        with pytest.raises(httpx.ConnectError):
            _post(client, url, "msg_1")
        receiver.up()
        assert receiver.url == url
        assert _post(client, url, "msg_1") == 200
        started = time.monotonic()
        receiver.start_later(0.3)
        with pytest.raises(httpx.ConnectError):
            _post(client, url, "msg_2")
        while time.monotonic() - started < 5:
            try:
                assert _post(client, url, "msg_2") == 200
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert time.monotonic() - started >= 0.3
        assert len(receiver.wait_for(2, timeout=2)) == 2
