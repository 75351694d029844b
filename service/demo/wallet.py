"""The demo's outside parties: an issuer with a fixed, public key and a holder's wallet with a fresh one.

Both are minimal and honest: the wallet checks the request object's signature against the verifier's
``client_id`` before answering (as a wallet must), and answers with a Self-Issued ID Token (SIOPv2) and a
``jwt_vp_json`` presentation of one ``jwt_vc_json`` age credential, with a submission mapping every input
descriptor to it. Nothing else (SD-JWT VCs, encrypted responses) is in the demo's repertoire.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.did import did_key_from_jwk, did_of, resolve_did_key, select_verification_method
from service.errors import InvalidRequest, MalformedResponse
from service.jose.encoding import b64url_decode
from service.jose.jwk import public_jwk_from_key
from service.jose.jws import TokenKind, decode_jws, sign_jws, verify_jws
from service.strict_json import StrictJsonError, loads_strict
from service.vocabulary import (
    CLIENT_ID_SCHEME_DID,
    CLIENT_ID_SCHEME_REDIRECT_URI,
    CLIENT_ID_SCHEME_X509_SAN_DNS,
    FORMAT_JWT_VC_JSON,
    FORMAT_JWT_VP_JSON,
    REQUEST_OBJECT_MEDIA_TYPE,
    REQUEST_OBJECT_TYP,
    RESPONSE_MODE_DIRECT_POST,
    VC_CONTEXT_V1,
    VC_TYPE,
    VP_TYPE,
)

__all__ = ["DEMO_ISSUER_SEED", "DemoError", "DemoIssuer", "DemoWallet", "RequestObject"]

DEMO_ISSUER_SEED: Final = bytes.fromhex("f0d039dd128dbf1086d08acbe14d78bf01535cd518a95120716329a3152ca789")
"""The demo issuer's Ed25519 seed. Public on purpose (the same as the README walkthrough's): never trust
its DID outside a demo."""

_REQUEST: Final = TokenKind("request_object", InvalidRequest)
_REQUEST_ALGS: Final = frozenset({"EdDSA", "ES256", "ES256K", "ES384", "ES512"})
_ONE_YEAR: Final = 365 * 24 * 3600
_TOKEN_LIFETIME: Final = 300


class DemoError(Exception):
    """Something the demo cannot go on from; the message says what and, where it can, what to do."""


@dataclass(frozen=True, slots=True)
class RequestObject:
    """An authorization request the wallet fetched and checked."""

    client_id: str
    client_id_scheme: str
    signed_by: str
    """Who the signature was checked against (or that the request is unsigned, for ``redirect_uri``)."""
    response_uri: str
    response_type: frozenset[str]
    nonce: str
    state: str | None
    presentation_definition: Mapping[str, Any] | None


def _kid_of(did: str) -> str:
    return resolve_did_key(did).verification_methods[0].id


class DemoIssuer:
    """Issues ``jwt_vc_json`` age credentials as the did:key of ``DEMO_ISSUER_SEED``."""

    def __init__(self, seed: bytes = DEMO_ISSUER_SEED) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.did = did_key_from_jwk(public_jwk_from_key(self._key.public_key()))
        self._kid = _kid_of(self.did)

    def issue(self, subject: str, *, over_age: bool, now: int) -> str:
        """An AgeCredential for ``subject``: ageOver18, ageOver21 and a birth date that agrees with them."""
        today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
        born = today.replace(year=today.year - (30 if over_age else 10), day=1)
        claims = {"id": subject, "ageOver18": over_age, "ageOver21": over_age, "birthDate": born.isoformat()}
        vc = {
            "@context": [VC_CONTEXT_V1],
            "type": [VC_TYPE, "AgeCredential"],
            "issuer": self.did,
            "credentialSubject": claims,
        }
        payload = {
            "iss": self.did,
            "sub": subject,
            "nbf": now,
            "iat": now,
            "exp": now + _ONE_YEAR,
            "jti": f"urn:uuid:{uuid.uuid4()}",
            "vc": vc,
        }
        return sign_jws({"typ": "JWT", "kid": self._kid}, payload, self._key)


class DemoWallet:
    """A holder with a fresh Ed25519 did:key, speaking OpenID4VP draft 20 + SIOPv2 over ``http``."""

    def __init__(self, http: httpx.Client, *, clock: Callable[[], float]) -> None:
        self._http = http
        self._clock = clock
        self._key = Ed25519PrivateKey.generate()
        self.did = did_key_from_jwk(public_jwk_from_key(self._key.public_key()))
        self._kid = _kid_of(self.did)

    # --- the request --- #

    def fetch(self, link: str) -> tuple[str, RequestObject]:
        """GET the request object an ``openid4vp://`` link names and check it; returns its URI and it."""
        query = parse_qs(urlsplit(link).query)
        client_ids, request_uris = query.get("client_id", []), query.get("request_uri", [])
        if len(client_ids) != 1 or len(request_uris) != 1:
            raise DemoError("The link needs exactly one client_id and one request_uri")
        try:
            answer = self._http.get(request_uris[0], follow_redirects=False)
        except httpx.HTTPError as exc:
            raise DemoError(f"Cannot fetch the request object: {exc}") from exc
        media_type = answer.headers.get("content-type", "").split(";")[0].strip()
        if answer.status_code != 200 or media_type != REQUEST_OBJECT_MEDIA_TYPE:
            raise DemoError(f"The request_uri answered HTTP {answer.status_code} {answer.text[:200]}")
        return request_uris[0], _check_request(client_ids[0], answer.text.strip())

    # --- the response --- #

    def answer(self, request: RequestObject, credential: str | None) -> httpx.Response:
        """POST the ID Token and, when asked for, the presentation of ``credential`` (direct_post)."""
        now = int(self._clock())
        form: dict[str, str] = {}
        if "id_token" in request.response_type:
            form["id_token"] = self._id_token(request, now)
        if "vp_token" in request.response_type:
            if credential is None or request.presentation_definition is None:
                raise DemoError("The request asks for a presentation but names no definition")
            form["vp_token"] = self._vp_token(request, credential, now)
            form["presentation_submission"] = json.dumps(_submission(request.presentation_definition))
        if request.state is not None:
            form["state"] = request.state
        try:
            return self._http.post(request.response_uri, data=form, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise DemoError(f"Cannot post the response: {exc}") from exc

    def _id_token(self, request: RequestObject, now: int) -> str:
        claims: dict[str, Any] = {"iss": self.did, "sub": self.did, "aud": request.client_id}
        claims |= {"nonce": request.nonce, "iat": now, "exp": now + _TOKEN_LIFETIME}
        return sign_jws({"typ": "JWT", "kid": self._kid}, claims, self._key)

    def _vp_token(self, request: RequestObject, credential: str, now: int) -> str:
        vp = {
            "@context": [VC_CONTEXT_V1],
            "type": [VP_TYPE],
            "holder": self.did,
            "verifiableCredential": [credential],
        }
        claims: dict[str, Any] = {"iss": self.did, "aud": request.client_id, "nonce": request.nonce}
        claims |= {"iat": now, "exp": now + _TOKEN_LIFETIME, "jti": f"urn:uuid:{uuid.uuid4()}", "vp": vp}
        return sign_jws({"typ": "JWT", "kid": self._kid}, claims, self._key)


def check_formats(definition: Mapping[str, Any]) -> None:
    """Refuse, with a clear message, a definition whose descriptors want a format the demo lacks."""
    for descriptor in definition.get("input_descriptors", []):
        formats = descriptor.get("format") or definition.get("format") or {}
        if formats and not {FORMAT_JWT_VC_JSON, FORMAT_JWT_VP_JSON} & set(formats):
            raise DemoError(
                f"Input descriptor {descriptor.get('id')!r} asks for {', '.join(sorted(formats))}; "
                f"the demo wallet holds only a {FORMAT_JWT_VC_JSON} age credential"
            )


def _submission(definition: Mapping[str, Any]) -> dict[str, Any]:
    """One VP holding one credential, mapped to every input descriptor (one credential may serve two)."""
    descriptor_map = [
        {
            "id": descriptor["id"],
            "format": FORMAT_JWT_VP_JSON,
            "path": "$",
            "path_nested": {
                "id": descriptor["id"],
                "format": FORMAT_JWT_VC_JSON,
                "path": "$.vp.verifiableCredential[0]",
            },
        }
        for descriptor in definition.get("input_descriptors", [])
    ]
    return {"id": str(uuid.uuid4()), "definition_id": definition.get("id"), "descriptor_map": descriptor_map}


# --- checking the request object (what a wallet does before it shows anything to its user) --- #


def _check_request(client_id: str, token: str) -> RequestObject:
    header, payload, signed_by = _verified_parts(client_id, token)
    if header.get("typ") != REQUEST_OBJECT_TYP:
        raise DemoError(f"The request object's typ is {header.get('typ')!r}, not {REQUEST_OBJECT_TYP!r}")
    if payload.get("client_id") != client_id:
        raise DemoError("The request object's client_id differs from the link's")
    if payload.get("response_mode") != RESPONSE_MODE_DIRECT_POST:
        raise DemoError(f"The demo wallet answers direct_post only, not {payload.get('response_mode')!r}")
    response_uri, nonce = payload.get("response_uri"), payload.get("nonce")
    if not isinstance(response_uri, str) or not isinstance(nonce, str) or not nonce:
        raise DemoError("The request object lacks a response_uri or a nonce")
    scheme = str(payload.get("client_id_scheme", CLIENT_ID_SCHEME_DID))
    if scheme == CLIENT_ID_SCHEME_REDIRECT_URI and client_id != response_uri:
        raise DemoError("A redirect_uri client_id must be the response_uri")
    if scheme == CLIENT_ID_SCHEME_X509_SAN_DNS and urlsplit(response_uri).hostname != client_id:
        raise DemoError("The response_uri host is not the x509_san_dns client_id")
    definition = payload.get("presentation_definition")
    if isinstance(definition, dict):
        check_formats(definition)
    state = payload.get("state")
    return RequestObject(
        client_id=client_id,
        client_id_scheme=scheme,
        signed_by=signed_by,
        response_uri=response_uri,
        response_type=frozenset(str(payload.get("response_type", "")).split()),
        nonce=nonce,
        state=state if isinstance(state, str) else None,
        presentation_definition=definition if isinstance(definition, dict) else None,
    )


def _verified_parts(client_id: str, token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header and payload once the signature checks out for the client_id's scheme."""
    parts = token.split(".")
    header = _json_part(parts[0]) if len(parts) == 3 else {}
    if header.get("alg") == "none":
        payload = _json_part(parts[1])
        if payload.get("client_id_scheme") != CLIENT_ID_SCHEME_REDIRECT_URI or parts[2]:
            raise DemoError("Only a redirect_uri request object may be unsigned")
        return header, payload, "nobody (redirect_uri requests are unsigned)"
    try:
        jws = decode_jws(token, kind=_REQUEST)
        scheme = jws.payload.get("client_id_scheme", CLIENT_ID_SCHEME_DID)
        if scheme == CLIENT_ID_SCHEME_DID:
            if not client_id.startswith("did:key:") or jws.kid is None or did_of(jws.kid) != client_id:
                raise DemoError("A did request object must be signed by a key of the client_id (did:key)")
            method = select_verification_method(
                resolve_did_key(client_id), jws.kid, relationship="authentication"
            )
            verify_jws(jws, method.public_key, allowed_algs=_REQUEST_ALGS, kind=_REQUEST)
            return dict(jws.header), dict(jws.payload), method.id
        if scheme == CLIENT_ID_SCHEME_X509_SAN_DNS:
            leaf = _x509_leaf(jws.header, client_id)
            verify_jws(jws, public_jwk_from_key(leaf), allowed_algs=_REQUEST_ALGS, kind=_REQUEST)
            return dict(jws.header), dict(jws.payload), f"the x5c leaf certificate for {client_id}"
    except InvalidRequest as exc:
        raise DemoError(f"The request object does not check out: {exc.reason}: {exc.description}") from exc
    raise DemoError(f"The demo wallet does not support client_id_scheme {scheme!r}")


def _x509_leaf(header: Mapping[str, Any], client_id: str) -> ec.EllipticCurvePublicKey | Ed25519PublicKey:
    """The leaf's key, when the leaf names ``client_id`` (the demo does not check the chain's anchor)."""
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise DemoError("An x509_san_dns request object needs an x5c header")
    try:  # x5c is standard base64, not base64url
        leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise DemoError("The x5c leaf certificate cannot be read") from exc
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | Ed25519PublicKey):
        raise DemoError("The x5c leaf certificate has neither an EC nor an Ed25519 key")
    if client_id not in names.get_values_for_type(x509.DNSName):
        raise DemoError("The x5c leaf certificate does not name the client_id")
    return key


def _json_part(segment: str) -> dict[str, Any]:
    try:
        value = loads_strict(b64url_decode(segment))
    except (MalformedResponse, StrictJsonError) as exc:
        raise DemoError("The request object is not a JWT") from exc
    if not isinstance(value, dict):
        raise DemoError("The request object is not a JWT")
    return value
