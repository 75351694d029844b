"""Self-tests of the OpenID4VP 1.0 wallet actor against stub verifiers (no service needed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
import pytest
from joserfc import jwe
from joserfc.jwk import ECKey

from tests.e2e.actors import (
    DELETE,
    AuthorizationRequestV1,
    Holder,
    Issuer,
    KeyPair,
    SdJwtIssuer,
    TestCa,
    WalletRefused,
    WalletV1,
    encode_jwt_unsigned,
)
from tests.e2e.actors.keys import b64url_decode, decode_jws, resolve_did_url, verify_jws
from tests.e2e.actors.sd_jwt import decode_disclosure, sd_hash, split_presentation
from tests.e2e.actors.wallet_v1 import disclosures_for, form_fields, x509_hash

NOW = 1_700_000_000
RO_TYP = {"typ": "oauth-authz-req+jwt"}
RO_MEDIA = "application/oauth-authz-req+jwt"
REQUEST_URI = "https://rp.example/request/1"
RESPONSE_URI = "https://rp.example/response"
PID_VCT = "urn:eudi:pid:1"
DCQL = {
    "credentials": [
        {"id": "age", "format": "jwt_vc_json", "meta": {"type_values": [["AgeCredential"]]}},
        {
            "id": "pid",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [PID_VCT]},
            "claims": [{"path": ["given_name"]}, {"path": ["address", "locality"]}],
        },
    ]
}
Mutate = Callable[[dict[str, Any], dict[str, Any]], None]


def _payload(client_id: str, **overrides: Any) -> dict[str, Any]:
    """Request Object claims as the service is expected to emit them for 1.0."""
    claims = {"client_id": client_id, "response_type": "vp_token id_token", "response_mode": "direct_post"}
    claims |= {"response_uri": RESPONSE_URI, "nonce": "n-0S6_WzA2Mj", "state": "st-123", "dcql_query": DCQL}
    claims |= {"client_metadata": {"vp_formats_supported": {"jwt_vc_json": {"alg_values": ["ES256"]}}}}
    claims |= {"aud": "https://self-issued.me/v2", "iat": NOW, "exp": NOW + 300, "scope": "openid"}
    claims |= {"id_token_type": "subject_signed_id_token"}
    return claims | overrides


class StubVerifierV1:
    """Serves a Request Object (GET or POST) and records every request through httpx.MockTransport."""

    def __init__(self, make: Callable[[str | None], str], client_id: str, **link_params: str) -> None:
        self.make, self.client_id, self.link_params = make, client_id, link_params
        self.status, self.content_type = 200, RO_MEDIA
        self.fetches: list[httpx.Request] = []
        self.forms: list[dict[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == REQUEST_URI:
            self.fetches.append(request)
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            body = self.make(form.get("wallet_nonce"))
            return httpx.Response(self.status, text=body, headers={"content-type": self.content_type})
        self.forms.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        return httpx.Response(200, json={})

    @property
    def link(self) -> str:
        params = {"client_id": self.client_id, "request_uri": REQUEST_URI, **self.link_params}
        return "openid4vp://?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())

    def wallet(self, holder: Holder | None = None, **kwargs: Any) -> WalletV1:
        client = httpx.Client(transport=httpx.MockTransport(self.handler))
        return WalletV1(holder or Holder(KeyPair.generate()), client, now=lambda: NOW, **kwargs)


def _stub(
    client_id: str,
    sign: Callable[[dict[str, Any], dict[str, Any]], str],
    header: dict[str, Any],
    mutate: Mutate | None = None,
    *,
    echo: bool = True,
    link: dict[str, str] | None = None,
    **claims: Any,
) -> StubVerifierV1:
    """A stub whose Request Object echoes a posted wallet_nonce (unless echo=False); mutate bends it."""

    def make(wallet_nonce: str | None) -> str:
        head, payload = dict(header), _payload(client_id, **claims)
        if wallet_nonce is not None and echo:
            payload["wallet_nonce"] = wallet_nonce
        if mutate:
            mutate(head, payload)
        return sign(head, payload)

    return StubVerifierV1(make, client_id, **(link or {}))


def _did_stub(mutate: Mutate | None = None, **kwargs: Any) -> StubVerifierV1:
    rp = KeyPair.generate("p256")
    client_id = f"decentralized_identifier:{rp.did_key()}"
    return _stub(client_id, rp.sign_jws, {**RO_TYP, "kid": rp.did_key_url()}, mutate, **kwargs)


def _x509_stub(client_id: str, dns: str = "rp.example", **kwargs: Any) -> tuple[StubVerifierV1, TestCa]:
    ca = TestCa.create(now=lambda: NOW)
    leaf, key = ca.leaf([dns])
    client_id = client_id.replace("<hash>", x509_hash(leaf))
    return _stub(client_id, key.sign_jws, {**RO_TYP, "x5c": ca.x5c(leaf)}, **kwargs), ca


def _set(key: str, value: Any, where: str = "payload") -> Mutate:
    def mutate(header: dict[str, Any], payload: dict[str, Any]) -> None:
        target = header if where == "header" else payload
        if value is DELETE:
            target.pop(key, None)
        else:
            target[key] = value

    return mutate


def _encryption_key(**members: Any) -> tuple[ECKey, dict[str, Any]]:
    """A verifier P-256 key and its client_metadata.jwks entry."""
    key = ECKey.generate_key("P-256")
    public = {**key.as_dict(private=False), "kid": "enc-1", "use": "enc", "alg": "ECDH-ES"}
    return key, {k: v for k, v in (public | members).items() if v is not DELETE}


def _encrypted_metadata(jwk: dict[str, Any], enc: list[str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"vp_formats_supported": {"jwt_vc_json": {}}, "jwks": {"keys": [jwk]}}
    if enc is not None:
        metadata["encrypted_response_enc_values_supported"] = enc
    return metadata


# --- Request Object per prefix --- #


@pytest.mark.parametrize("method", ["did:key", "did:jwk"])
def test_decentralized_identifier_request_accepted(method: str) -> None:
    """A request signed by a DID URL of the prefixed DID is accepted and parsed into its fields."""
    rp = KeyPair.generate("ed25519")
    did, kid = (rp.did_key(), rp.did_key_url()) if method == "did:key" else (rp.did_jwk(), rp.did_jwk_url())
    stub = _stub(f"decentralized_identifier:{did}", rp.sign_jws, {**RO_TYP, "kid": kid})
    request = stub.wallet().fetch_request(stub.link)
    assert isinstance(request, AuthorizationRequestV1)
    assert (request.prefix, request.original_client_id) == ("decentralized_identifier", did)
    assert (request.response_mode, request.nonce, request.state) == ("direct_post", "n-0S6_WzA2Mj", "st-123")
    assert request.credential_ids() == ["age", "pid"]
    assert request.wants_vp_token
    assert request.wants_id_token
    assert not request.encrypted
    assert (request.request_uri, request.request_uri_method, request.wallet_nonce) == (
        REQUEST_URI,
        "get",
        None,
    )
    fetch = stub.fetches[0]
    assert (fetch.method, fetch.headers["accept"]) == ("GET", RO_MEDIA)


def test_x509_san_dns_request() -> None:
    """The leaf's dNSName must be the id and the response_uri host; the chain must reach the anchor."""
    stub, ca = _x509_stub("x509_san_dns:rp.example")
    assert stub.wallet(trust_anchor=ca.cert).fetch_request(stub.link).prefix == "x509_san_dns"
    stub, _ = _x509_stub("x509_san_dns:rp.example", dns="other.example")
    with pytest.raises(WalletRefused, match="SAN"):
        stub.wallet().fetch_request(stub.link)
    stub, _ = _x509_stub("x509_san_dns:rp.example", response_uri="https://evil.example/r")
    with pytest.raises(WalletRefused, match="host"):
        stub.wallet().fetch_request(stub.link)
    stub, _ = _x509_stub("x509_san_dns:rp.example")
    with pytest.raises(WalletRefused, match="trust anchor"):
        stub.wallet(trust_anchor=TestCa.create(now=lambda: NOW).cert).fetch_request(stub.link)


def test_x509_hash_request() -> None:
    """The id must be b64url(SHA-256(leaf DER)); a hash of another certificate is refused."""
    stub, ca = _x509_stub("x509_hash:<hash>")
    request = stub.wallet(trust_anchor=ca.cert).fetch_request(stub.link)
    assert request.prefix == "x509_hash"
    other_leaf, _ = ca.leaf(["rp.example"])
    stub, _ = _x509_stub(f"x509_hash:{x509_hash(other_leaf)}")
    with pytest.raises(WalletRefused, match="hash"):
        stub.wallet().fetch_request(stub.link)
    stub, _ = _x509_stub("x509_hash:<hash>", mutate=_set("x5c", DELETE, "header"))
    with pytest.raises(WalletRefused, match="x5c"):
        stub.wallet().fetch_request(stub.link)


def test_redirect_uri_request() -> None:
    """redirect_uri requests are unsigned and name the response_uri; signed or mismatched ones are refused."""
    client_id = f"redirect_uri:{RESPONSE_URI}"
    stub = _stub(client_id, encode_jwt_unsigned, dict(RO_TYP))
    assert stub.wallet().fetch_request(stub.link).original_client_id == RESPONSE_URI
    stub = _stub(client_id, KeyPair.generate().sign_jws, dict(RO_TYP))
    with pytest.raises(WalletRefused, match="unsigned"):
        stub.wallet().fetch_request(stub.link)
    stub = _stub(client_id, encode_jwt_unsigned, dict(RO_TYP), response_uri="https://rp.example/other")
    with pytest.raises(WalletRefused, match="equal response_uri"):
        stub.wallet().fetch_request(stub.link)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("typ", "JWT", "header"), "typ"),
        (_set("typ", DELETE, "header"), "typ"),
        (_set("client_id", "decentralized_identifier:did:key:zOther"), "client_id"),
        (_set("kid", "did:key:zOther#zOther", "header"), "kid"),
        (_set("client_id_scheme", "did"), "client_id_scheme"),
        (_set("presentation_definition", {"id": "pd", "input_descriptors": []}), "presentation_definition"),
        (_set("response_mode", "fragment"), "response_mode"),
        (_set("response_type", "code"), "response_type"),
        (_set("dcql_query", DELETE), "dcql_query"),
        (_set("dcql_query", {"credentials": [{"id": "a b", "format": "jwt_vc_json"}]}), "credential ids"),
        (_set("response_type", "id_token"), "dcql_query"),
        (_set("scope", DELETE), "openid"),
        (_set("aud", "https://wallet.example"), "aud"),
        (_set("exp", NOW), "expired"),
        (_set("transaction_data", ["e30"]), "transaction_data"),
        (_set("redirect_uri", "https://rp.example/cb"), "redirect_uri"),
        (_set("client_metadata", {}), "vp_formats_supported"),
        (_set("nonce", ""), "nonce"),
    ],
)
def test_tampered_requests_refused(mutate: Mutate, message: str) -> None:
    """Each broken or draft-era Request Object property makes the 1.0 wallet refuse."""
    stub = _did_stub(mutate)
    with pytest.raises(WalletRefused, match=message):
        stub.wallet().fetch_request(stub.link)


def test_unknown_or_unprefixed_client_id_refused() -> None:
    """A bare DID (draft 22 style) or an unknown prefix is refused."""
    rp = KeyPair.generate()
    for client_id in (rp.did_key(), f"openid_federation:{rp.did_key()}"):
        stub = _stub(client_id, rp.sign_jws, {**RO_TYP, "kid": rp.did_key_url()})
        with pytest.raises(WalletRefused, match="prefix"):
            stub.wallet().fetch_request(stub.link)


def test_id_token_only_request() -> None:
    """response_type id_token without dcql_query is a SIOPv2 sign-in; the answer carries no vp_token."""
    stub = _did_stub(_set("dcql_query", DELETE), response_type="id_token")
    wallet = stub.wallet()
    request = wallet.fetch_request(stub.link)
    assert (request.wants_vp_token, request.dcql_query) == (False, None)
    assert wallet.sign_in(request).status_code == 200
    assert set(stub.forms[0]) == {"id_token", "state"}


# --- request_uri transport --- #


def test_request_uri_method_post_sends_metadata_and_checks_wallet_nonce() -> None:
    """POST carries wallet_metadata + a fresh wallet_nonce, and the Request Object must echo it."""
    stub = _did_stub(link={"request_uri_method": "post"})
    wallet = stub.wallet()
    request = wallet.fetch_request(stub.link)
    fetch = stub.fetches[0]
    form = {k: v[0] for k, v in parse_qs(fetch.content.decode()).items()}
    assert (fetch.method, fetch.headers["accept"]) == ("POST", RO_MEDIA)
    assert fetch.headers["content-type"] == "application/x-www-form-urlencoded"
    assert json.loads(form["wallet_metadata"]) == wallet.metadata()
    assert len(form["wallet_nonce"]) >= 16
    assert (request.wallet_nonce, request.request_uri_method) == (form["wallet_nonce"], "post")
    again = _did_stub(link={"request_uri_method": "post"}).wallet().metadata()
    assert again["authorization_encryption_enc_values_supported"] == ["A128GCM", "A256GCM"]


def test_wallet_nonce_not_echoed_or_wrong_refused() -> None:
    """A Request Object without, or with another, wallet_nonce is refused after a POST."""
    stub = _did_stub(echo=False, link={"request_uri_method": "post"})
    with pytest.raises(WalletRefused, match="wallet_nonce"):
        stub.wallet().fetch_request(stub.link)
    stub = _did_stub(_set("wallet_nonce", "someone-else"))
    with pytest.raises(WalletRefused, match="wallet_nonce"):
        stub.wallet().fetch_request(stub.link, method="post", wallet_nonce="mine-0123456789ab")
    stub = _did_stub(echo=False)
    request = stub.wallet().fetch_request(
        stub.link, method="post", wallet_metadata=DELETE, wallet_nonce=DELETE
    )
    assert request.wallet_nonce is None
    assert stub.fetches[0].content == b""


def test_request_uri_transport_errors_refused() -> None:
    """An unknown request_uri_method, an HTTP error, a redirect or another media type is refused."""
    stub = _did_stub(link={"request_uri_method": "put"})
    with pytest.raises(WalletRefused, match="invalid_request_uri_method"):
        stub.wallet().fetch_request(stub.link)
    for status, media, message in (
        (404, RO_MEDIA, "404"),
        (302, RO_MEDIA, "302"),
        (200, "text/plain", "type"),
    ):
        stub = _did_stub()
        stub.status, stub.content_type = status, media
        with pytest.raises(WalletRefused, match=message):
            stub.wallet().fetch_request(stub.link)


# --- response --- #


def _credentials(holder: Holder) -> tuple[str, Any]:
    vc = Issuer(KeyPair.generate(), now=lambda: NOW).issue(holder.id, {"age_over_18": True})
    sd_issuer = SdJwtIssuer(KeyPair.generate(), "https://issuer.example", now=lambda: NOW)
    claims = {"given_name": "Erika", "family_name": "M", "address": {"locality": "Berlin", "street": "X 1"}}
    sd = ["given_name", "family_name", "address", ("address", "locality"), ("address", "street")]
    return vc, sd_issuer.issue(claims, vct=PID_VCT, holder_jwk=holder.key.public_jwk(), sd=sd)


def test_vp_token_shape_and_bindings() -> None:
    """vp_token is {query id: [presentation]}; VP, KB-JWT and ID Token are bound to client_id and nonce."""
    stub = _did_stub()
    holder = Holder(KeyPair.generate("p256"), "did:key")
    wallet = stub.wallet(holder)
    request = wallet.fetch_request(stub.link)
    vc, issued = _credentials(holder)
    assert wallet.respond_v1(
        request, wallet.presentations_for(request, {"age": vc, "pid": issued})
    ).is_success
    form = stub.forms[0]
    assert set(form) == {"vp_token", "id_token", "state"}
    assert form["state"] == "st-123"
    vp_token = json.loads(form["vp_token"])
    assert list(vp_token) == ["age", "pid"]
    assert all(isinstance(v, list) and len(v) == 1 for v in vp_token.values())
    vp_header, vp = verify_jws(vp_token["age"][0], resolve_did_url(holder.kid or "", holder.id))
    assert vp_header["kid"] == holder.kid
    assert (vp["iss"], vp["aud"], vp["nonce"]) == (holder.id, request.client_id, request.nonce)
    assert vp["vp"]["verifiableCredential"] == [vc]
    jwt, disclosures, kb = split_presentation(vp_token["pid"][0])
    assert {tuple(decode_disclosure(d)[1:2]) for d in disclosures} == {
        ("given_name",),
        ("address",),
        ("locality",),
    }
    kb_claims = verify_jws(kb, holder.key.public_jwk())[1]
    assert (kb_claims["aud"], kb_claims["nonce"]) == (request.client_id, request.nonce)
    assert kb_claims["sd_hash"] == sd_hash(vp_token["pid"][0][: -len(kb)])
    id_claims = verify_jws(form["id_token"], holder.key.public_jwk())[1]
    assert (id_claims["aud"], id_claims["iss"], id_claims["sub"]) == (request.client_id, holder.id, holder.id)
    assert jwt == issued.jwt


def test_build_response_knobs() -> None:
    """id_token follows response_type unless forced; state, extra, DELETE and bare strings behave as said."""
    stub = _did_stub(response_type="vp_token")
    wallet = stub.wallet()
    request = wallet.fetch_request(stub.link)
    payload = wallet.build_response_v1(request, {"age": "vp-1"})
    assert payload == {"vp_token": {"age": ["vp-1"]}, "state": "st-123"}
    payload = wallet.build_response_v1(request, {"age": ["a", "b"]}, id_token=True, state=DELETE)
    assert set(payload) == {"vp_token", "id_token"}
    assert payload["vp_token"]["age"] == ["a", "b"]
    payload = wallet.build_response_v1(request, None, id_token="raw", state="other", extra={"vp_token": "x"})
    assert payload == {"id_token": "raw", "state": "other", "vp_token": "x"}
    assert form_fields({"vp_token": {"a": ["b"]}, "state": "s"}) == {"vp_token": '{"a": ["b"]}', "state": "s"}
    vp = decode_jws(wallet.vp_for(request, "vc-1", extra_vcs=["vc-2"], claims={"nonce": DELETE}))[1]
    assert vp["vp"]["verifiableCredential"] == ["vc-1", "vc-2"]
    assert "nonce" not in vp
    with pytest.raises(ValueError, match="format"):
        wallet.presentations_for(request, {"pid": "not-an-sd-jwt"})
    with pytest.raises(KeyError):
        wallet.presentations_for(request, {"unknown": "vc"})
    wallet.post_error(request)
    assert stub.forms[-1] == {
        "error": "access_denied",
        "error_description": "the user declined",
        "state": "st-123",
    }


def test_disclosures_follow_claim_sets() -> None:
    """With claim_sets the first option decides; a null path component matches any array index."""
    issued = SdJwtIssuer(KeyPair.generate(), "https://issuer.example").issue(
        {"a": 1, "b": 2, "tags": ["x", "y"]}, vct=PID_VCT, sd=["a", "b", ("tags", 0), ("tags", 1)]
    )
    query = {
        "claims": [{"id": "a", "path": ["a"]}, {"id": "t", "path": ["tags", None]}],
        "claim_sets": [["t"]],
    }
    assert disclosures_for(query, issued) == [("tags", 0), ("tags", 1)]
    assert disclosures_for({}, issued) == []


# --- direct_post.jwt --- #


def test_encrypted_response_round_trip() -> None:
    """direct_post.jwt posts only `response`: a standard ECDH-ES JWE that joserfc decrypts to the payload."""
    key, jwk = _encryption_key()
    stub = _did_stub(response_mode="direct_post.jwt", client_metadata=_encrypted_metadata(jwk, ["A256GCM"]))
    wallet = stub.wallet()
    request = wallet.fetch_request(stub.link)
    assert request.encrypted
    assert request.encryption_jwk() == jwk
    assert wallet.respond_v1(request, {"age": ["vp-1"]}).status_code == 200
    assert set(stub.forms[0]) == {"response"}
    decrypted = jwe.decrypt_compact(stub.forms[0]["response"], key)
    assert decrypted.protected["alg"] == "ECDH-ES"
    assert (decrypted.protected["enc"], decrypted.protected["kid"]) == ("A256GCM", "enc-1")
    payload = json.loads(decrypted.plaintext or b"")
    assert payload["vp_token"] == {"age": ["vp-1"]}
    assert payload["state"] == "st-123"
    assert "id_token" in payload


def test_encryption_knobs() -> None:
    """Default enc is A128GCM; encrypt=False sends plaintext; jwe_header and jwk bend the JWE."""
    key, jwk = _encryption_key()
    stub = _did_stub(response_mode="direct_post.jwt", client_metadata=_encrypted_metadata(jwk))
    wallet = stub.wallet()
    request = wallet.fetch_request(stub.link)
    wallet.respond_v1(request, {"age": ["vp-1"]}, compress=True)
    decrypted = jwe.decrypt_compact(stub.forms[-1]["response"], key)
    assert (decrypted.protected["enc"], decrypted.protected["zip"]) == ("A128GCM", "DEF")
    wallet.respond_v1(request, {"age": ["vp-1"]}, encrypt=False)
    assert set(stub.forms[-1]) == {"vp_token", "id_token", "state"}
    wallet.respond_v1(request, {"age": ["vp-1"]}, jwe_header={"kid": "other"})
    assert json.loads(b64url_decode(stub.forms[-1]["response"].split(".")[0]))["kid"] == "other"
    other, other_jwk = _encryption_key(kid="enc-2")
    wallet.respond_v1(request, {"age": ["vp-1"]}, jwk=other_jwk)
    assert json.loads(jwe.decrypt_compact(stub.forms[-1]["response"], other).plaintext or b"")["state"]
    wallet.post_error(request, "vp_formats_not_supported", None, encrypt=True)
    assert json.loads(jwe.decrypt_compact(stub.forms[-1]["response"], key).plaintext or b"") == {
        "error": "vp_formats_not_supported",
        "state": "st-123",
    }


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"vp_formats_supported": {}}, "ECDH-ES"),
        (_encrypted_metadata(_encryption_key(alg=DELETE)[1]), "ECDH-ES"),
        (_encrypted_metadata(_encryption_key(kid=DELETE)[1]), "ECDH-ES"),
        (_encrypted_metadata(_encryption_key(use="sig")[1]), "ECDH-ES"),
        (_encrypted_metadata(_encryption_key()[1], ["A192CBC-HS384"]), "enc"),
        ({**_encrypted_metadata({}), "jwks": {"keys": [_encryption_key()[1]] * 2}}, "unique"),
    ],
)
def test_encrypted_request_without_usable_key_refused(metadata: dict[str, Any], message: str) -> None:
    """direct_post.jwt without a usable key, with duplicate kids or with no common enc is refused."""
    stub = _did_stub(response_mode="direct_post.jwt", client_metadata=metadata)
    with pytest.raises(WalletRefused, match=message):
        stub.wallet().fetch_request(stub.link)
