"""Wallet simulator for OpenID4VP 1.0 (DCQL, client_id prefixes, direct_post[.jwt]) + SIOPv2.

`WalletV1` extends the draft-20 `Wallet` (same `Holder`, clock, trust anchor, ID Token and VP JWT code):

- `fetch_request(link, *, method=None, wallet_metadata=None, wallet_nonce=None)` reads `client_id`,
  `request_uri` and `request_uri_method` from the `openid4vp://` link; `method` ("get" | "post") overrides
  the link. With "post" it sends `wallet_metadata` (default `metadata()`; DELETE omits it) and
  `wallet_nonce` (default fresh random; DELETE omits it) as a form with `Accept:
  application/oauth-authz-req+jwt`, and then requires the Request Object to echo that nonce. Refusals
  raise `WalletRefused`.
- `check_request_object(client_id, jwt, *, wallet_nonce=None)` is the same check without I/O. Prefixes:
  `decentralized_identifier:` (kid is a DID URL of the DID), `x509_san_dns:` (x5c leaf dNSName SAN = id =
  response_uri host), `x509_hash:` (id = b64url(SHA-256(leaf DER))), `redirect_uri:` (alg none, id =
  response_uri). `client_id_scheme`, `presentation_definition[_uri]`, `transaction_data` and `redirect_uri`
  are refused, as are a `dcql_query` without `vp_token` (and the reverse), a wrong `aud`, or an expired
  `exp`. `direct_post.jwt` needs an ECDH-ES P-256 key with a `kid` in `client_metadata.jwks` and an `enc`
  the wallet supports.
- `vp_for(request, vc_jwt, ...)` returns a VP JWT with one VC (aud = full client_id, nonce).
  `sd_jwt_for(request, issued, disclose)` returns an SD-JWT+KB. `presentations_for(request, credentials)` maps
  query id to VC JWT / `IssuedSdJwt` (or lists of them) and produces the presentations by the query format,
  disclosing what the query's `claims` (first `claim_sets` option) name.
- `build_response_v1(request, presentations, *, id_token=None, state=None, extra=None, ...)` returns the
  response payload as a dict (`vp_token` is an object of lists, and a bare string is wrapped). `id_token`:
  None = when response_type asks, True/False = force, str = send that token as is. `state`: None = the
  request's, DELETE = omit. `extra` merges last (DELETE removes a key).
- `respond_v1(request, presentations, *, encrypt=None, enc=None, jwk=None, jwe_header=None, compress=False,
  **build)` builds and posts. `encrypt=None` encrypts exactly when response_mode is direct_post.jwt (form
  `response`=JWE); False sends plaintext form fields. `enc` defaults to the first verifier value the wallet
  supports. `jwk` and `jwe_header` bend the JWE. `post_payload` posts a hand-made payload the same way.
  `post_error` sends an OAuth error (plaintext unless `encrypt=True`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.e2e.actors.holder import REQUEST_OBJECT_TYP, SIOP_AUDIENCE, Wallet, WalletRefused
from tests.e2e.actors.jwe import encrypt_response
from tests.e2e.actors.keys import (
    DELETE,
    JwsError,
    KeyPair,
    b64url,
    decode_jws,
    jwk_from_public_key,
    merge,
    verify_jws,
)
from tests.e2e.actors.sd_jwt import SD_JWT_TYP, ClaimPath, IssuedSdJwt

REQUEST_OBJECT_MEDIA = "application/oauth-authz-req+jwt"
PREFIXES = ("decentralized_identifier", "x509_san_dns", "x509_hash", "redirect_uri")
RESPONSE_MODES = ("direct_post", "direct_post.jwt")
RESPONSE_TYPES = ({"vp_token"}, {"vp_token", "id_token"}, {"id_token"})
NOT_IN_V1 = ("client_id_scheme", "presentation_definition", "presentation_definition_uri")
UNSUPPORTED = ("transaction_data", "redirect_uri")
DEFAULT_ENC = "A128GCM"
SUPPORTED_ENC = ("A128GCM", "A256GCM")
_QUERY_ID = re.compile(r"[A-Za-z0-9_-]+")
Credential = str | IssuedSdJwt


@dataclass(frozen=True)
class AuthorizationRequestV1:
    """A 1.0 Request Object the wallet fetched and accepted."""

    client_id: str
    prefix: str
    response_uri: str
    response_mode: str
    response_type: str
    nonce: str
    state: str | None
    dcql_query: dict[str, Any] | None
    client_metadata: dict[str, Any]
    jwt: str
    header: dict[str, Any]
    payload: dict[str, Any] = field(repr=False)
    wallet_nonce: str | None = None
    request_uri: str = ""
    request_uri_method: str = "get"

    @property
    def original_client_id(self) -> str:
        """The client_id after its prefix."""
        return self.client_id.partition(":")[2]

    @property
    def wants_vp_token(self) -> bool:
        """response_type includes vp_token."""
        return "vp_token" in self.response_type.split()

    @property
    def wants_id_token(self) -> bool:
        """response_type includes id_token (SIOPv2)."""
        return "id_token" in self.response_type.split()

    @property
    def encrypted(self) -> bool:
        """The response must be a JWE (direct_post.jwt)."""
        return self.response_mode == "direct_post.jwt"

    def credential_ids(self) -> list[str]:
        """Credential query ids of the DCQL query, in order."""
        return [q["id"] for q in (self.dcql_query or {}).get("credentials", [])]

    def credential_query(self, query_id: str) -> dict[str, Any]:
        """The Credential Query with this id."""
        for query in (self.dcql_query or {}).get("credentials", []):
            if query["id"] == query_id:
                return query
        raise KeyError(f"no credential query {query_id!r} in the request")

    def encryption_jwk(self) -> dict[str, Any] | None:
        """First key of client_metadata.jwks usable for ECDH-ES P-256 response encryption."""
        keys = (self.client_metadata.get("jwks") or {}).get("keys") or []
        return next((dict(k) for k in keys if isinstance(k, dict) and _is_encryption_key(k)), None)

    def enc_values(self) -> list[str]:
        """encrypted_response_enc_values_supported, A128GCM when absent (1.0 §5.1)."""
        return list(self.client_metadata.get("encrypted_response_enc_values_supported") or [DEFAULT_ENC])


def _is_encryption_key(jwk: Mapping[str, Any]) -> bool:
    """Public EC P-256 key with kid, alg ECDH-ES and use enc or no use (1.0 §8.3)."""
    shape = jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and "d" not in jwk
    return shape and jwk.get("alg") == "ECDH-ES" and jwk.get("use", "enc") == "enc" and bool(jwk.get("kid"))


def form_fields(payload: Mapping[str, Any]) -> dict[str, str]:
    """direct_post form fields: strings as they are, other values as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}


def x509_hash(cert: x509.Certificate) -> str:
    """The x509_hash client_id value of a certificate: b64url(SHA-256(DER))."""
    return b64url(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())


def disclosures_for(query: Mapping[str, Any], issued: IssuedSdJwt) -> list[ClaimPath]:
    """Disclosable paths the query's claims (or first claim_sets option) reach, ancestors and descendants."""
    claims = query.get("claims") or []
    if query.get("claim_sets"):
        by_id = {c.get("id"): c for c in claims}
        claims = [by_id[claim_id] for claim_id in query["claim_sets"][0]]
    patterns = [claim["path"] for claim in claims]
    return [path for path in issued.disclosures if any(_reaches(p, path) for p in patterns)]


def _reaches(pattern: Sequence[Any], path: ClaimPath) -> bool:
    """A claims path pointer and a disclosure path agree on their common prefix (null = any index)."""
    return all(
        (want is None and isinstance(have, int)) or want == have
        for want, have in zip(pattern, path, strict=False)
    )


class WalletV1(Wallet):
    """Speaks OpenID4VP 1.0 (DCQL) + SIOPv2 to the verifier over real HTTP."""

    def __init__(self, *args: Any, enc_values: Sequence[str] = SUPPORTED_ENC, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enc_values = tuple(enc_values)

    def metadata(self) -> dict[str, Any]:
        """Default wallet_metadata for request_uri_method=post (1.0 §10.1)."""
        algs = ["ES256", "ES384", "ES256K", "EdDSA"]
        return {
            "vp_formats_supported": {
                "jwt_vc_json": {"alg_values": algs},
                SD_JWT_TYP: {"sd-jwt_alg_values": algs, "kb-jwt_alg_values": algs},
            },
            "client_id_prefixes_supported": list(PREFIXES),
            "request_object_signing_alg_values_supported": algs,
            "response_modes_supported": list(RESPONSE_MODES),
            "authorization_encryption_alg_values_supported": ["ECDH-ES"],
            "authorization_encryption_enc_values_supported": list(self.enc_values),
        }

    # --- request --- #

    def fetch_request(  # type: ignore[override]
        self,
        link: str,
        *,
        method: str | None = None,
        wallet_metadata: Mapping[str, Any] | None = None,
        wallet_nonce: str | None = None,
    ) -> AuthorizationRequestV1:
        """Fetch the request_uri of an openid4vp:// link (GET or POST) and check the Request Object."""
        query = parse_qs(urlsplit(link).query)
        client_ids, request_uris = query.get("client_id", []), query.get("request_uri", [])
        methods = query.get("request_uri_method", ["get"])
        if len(client_ids) != 1 or len(request_uris) != 1 or len(methods) != 1:
            raise WalletRefused("link needs exactly one client_id, request_uri and request_uri_method")
        if methods[0] not in ("get", "post"):
            raise WalletRefused(f"invalid_request_uri_method {methods[0]!r}")
        chosen = method or methods[0]
        headers = {"Accept": REQUEST_OBJECT_MEDIA}
        sent_nonce: str | None = None
        if chosen == "post":
            form: dict[str, str] = {}
            metadata = self.metadata() if wallet_metadata is None else wallet_metadata
            if metadata is not DELETE:
                form["wallet_metadata"] = json.dumps(dict(metadata))
            if wallet_nonce is not DELETE:
                sent_nonce = wallet_nonce or secrets.token_urlsafe(16)
                form["wallet_nonce"] = sent_nonce
            response = self.http.post(request_uris[0], data=form, headers=headers, follow_redirects=False)
        else:
            response = self.http.get(request_uris[0], headers=headers, follow_redirects=False)
        if response.status_code != 200:
            raise WalletRefused(f"request_uri answered {response.status_code}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != REQUEST_OBJECT_MEDIA:
            raise WalletRefused(f"request_uri content-type {media_type!r}")
        request = self.check_request_object(client_ids[0], response.text.strip(), wallet_nonce=sent_nonce)
        return dataclasses.replace(request, request_uri=request_uris[0], request_uri_method=chosen)

    def check_request_object(  # type: ignore[override]
        self, client_id: str, jwt: str, *, wallet_nonce: str | None = None
    ) -> AuthorizationRequestV1:
        """Verify a 1.0 Request Object against the link's client_id and the posted wallet_nonce (no I/O)."""
        try:
            header, payload, _, signature = decode_jws(jwt)
        except JwsError as exc:
            raise WalletRefused(f"Request Object unparseable: {exc}") from exc
        if header.get("typ") != REQUEST_OBJECT_TYP:
            raise WalletRefused(f"typ {header.get('typ')!r} != {REQUEST_OBJECT_TYP}")
        if payload.get("client_id") != client_id:
            raise WalletRefused("client_id of the link differs from the Request Object")
        for name in NOT_IN_V1:
            if name in payload:
                raise WalletRefused(f"{name} is not an OpenID4VP 1.0 parameter")
        prefix, _, original = client_id.partition(":")
        response_uri = payload.get("response_uri")
        if not isinstance(response_uri, str) or urlsplit(response_uri).scheme not in ("http", "https"):
            raise WalletRefused(f"bad response_uri {response_uri!r}")
        if prefix == "decentralized_identifier" and original.startswith("did:"):
            self._check_did(jwt, header, original)
        elif prefix == "x509_san_dns":
            self._check_x509(jwt, header, original, response_uri)
        elif prefix == "x509_hash":
            self._check_x509_hash(jwt, header, original)
        elif prefix == "redirect_uri":
            if header.get("alg") != "none" or signature:
                raise WalletRefused("redirect_uri requests must be unsigned")
            if original != response_uri:
                raise WalletRefused("redirect_uri client_id must equal response_uri")
        else:
            raise WalletRefused(f"unsupported client_id prefix in {client_id!r}")
        self._check_claims_v1(payload, wallet_nonce)
        request = AuthorizationRequestV1(
            client_id=client_id,
            prefix=prefix,
            response_uri=response_uri,
            response_mode=payload["response_mode"],
            response_type=payload["response_type"],
            nonce=payload["nonce"],
            state=payload.get("state"),
            dcql_query=payload.get("dcql_query"),
            client_metadata=payload.get("client_metadata") or {},
            jwt=jwt,
            header=header,
            payload=payload,
            wallet_nonce=wallet_nonce,
        )
        if request.encrypted:
            self._check_encryption(request)
        return request

    def _check_x509_hash(self, jwt: str, header: dict[str, Any], expected: str) -> None:
        """Signature by the x5c leaf whose SHA-256 DER hash is the client_id (1.0 §5.9.3)."""
        x5c = header.get("x5c")
        if not isinstance(x5c, list) or not x5c:
            raise WalletRefused("x509_hash needs an x5c header")
        try:
            chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
            leaf_key = chain[0].public_key()
            if not isinstance(leaf_key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
                raise WalletRefused(f"unsupported leaf key {type(leaf_key).__name__}")
            verify_jws(jwt, jwk_from_public_key(leaf_key))
        except (JwsError, ValueError, binascii.Error) as exc:
            raise WalletRefused(f"x509 Request Object: {exc}") from exc
        if x509_hash(chain[0]) != expected:
            raise WalletRefused("x509_hash client_id does not match the leaf certificate hash")
        if self.trust_anchor is not None:
            self._check_chain(chain)

    def _check_claims_v1(self, payload: dict[str, Any], wallet_nonce: str | None) -> None:
        """Request parameters a 1.0 DCQL + SIOP direct_post[.jwt] wallet relies on."""
        if payload.get("response_mode") not in RESPONSE_MODES:
            raise WalletRefused(f"response_mode {payload.get('response_mode')!r}")
        response_type = set(str(payload.get("response_type", "")).split())
        if response_type not in RESPONSE_TYPES:
            raise WalletRefused(f"response_type {payload.get('response_type')!r}")
        for name in UNSUPPORTED:
            if name in payload:
                raise WalletRefused(f"{name} is not supported with direct_post")
        if not isinstance(payload.get("nonce"), str) or not payload["nonce"]:
            raise WalletRefused("nonce missing")
        if not isinstance(payload.get("state"), str | None):
            raise WalletRefused("state must be a string")
        if "id_token" in response_type and "openid" not in str(payload.get("scope", "")).split():
            raise WalletRefused("scope must contain openid when an id_token is asked for")
        wants_vp, dcql = "vp_token" in response_type, payload.get("dcql_query")
        if wants_vp != isinstance(dcql, dict):
            raise WalletRefused("dcql_query must be an object exactly when vp_token is asked for")
        if wants_vp:
            _check_dcql(dcql)
        metadata = payload.get("client_metadata", {})
        if not isinstance(metadata, dict):
            raise WalletRefused("client_metadata must be an object")
        if wants_vp and not isinstance(metadata.get("vp_formats_supported"), dict):
            raise WalletRefused("client_metadata.vp_formats_supported missing")
        if payload.get("aud") != SIOP_AUDIENCE:
            raise WalletRefused(f"aud {payload.get('aud')!r} != {SIOP_AUDIENCE}")
        exp = payload.get("exp")
        if not isinstance(exp, int) or exp <= self.now():
            raise WalletRefused(f"Request Object expired or without exp ({exp!r})")
        if wallet_nonce is not None and payload.get("wallet_nonce") != wallet_nonce:
            raise WalletRefused("wallet_nonce not echoed by the Request Object")

    def _check_encryption(self, request: AuthorizationRequestV1) -> None:
        """direct_post.jwt: a usable jwks key, unique kids, and an enc both sides support (1.0 §8.3)."""
        keys = (request.client_metadata.get("jwks") or {}).get("keys")
        if not isinstance(keys, list) or request.encryption_jwk() is None:
            raise WalletRefused("direct_post.jwt needs an ECDH-ES P-256 key with kid in client_metadata.jwks")
        kids = [k.get("kid") for k in keys if isinstance(k, dict)]
        if len(kids) != len(set(kids)):
            raise WalletRefused("client_metadata.jwks kids must be unique")
        if not set(request.enc_values()) & set(self.enc_values):
            raise WalletRefused(f"no supported enc in {request.enc_values()}")

    # --- presentations --- #

    def vp_for(
        self,
        request: AuthorizationRequestV1,
        vc_jwt: str,
        *,
        extra_vcs: Sequence[str] = (),
        claims: Mapping[str, Any] | None = None,
        header: Mapping[str, Any] | None = None,
        signer: KeyPair | None = None,
        alg_none: bool = False,
        corrupt: bool = False,
    ) -> str:
        """jwt_vc_json presentation: a VP JWT with `vc_jwt` (plus `extra_vcs` for negative tests)."""
        vcs = [vc_jwt, *extra_vcs]
        return self._vp(request, vcs, claims, header, signer, alg_none, corrupt)  # type: ignore[arg-type]

    def sd_jwt_for(
        self,
        request: AuthorizationRequestV1,
        issued: IssuedSdJwt,
        disclose: Sequence[Any] | None = None,
        **present_kwargs: Any,
    ) -> str:
        """dc+sd-jwt presentation: SD-JWT+KB (aud = full client_id, nonce); None discloses everything."""
        return self.present_sd_jwt(request, issued, disclose, **present_kwargs)  # type: ignore[arg-type]

    def presentations_for(
        self, request: AuthorizationRequestV1, credentials: Mapping[str, Credential | Sequence[Credential]]
    ) -> dict[str, list[str]]:
        """Presentations per query id, by the query's format; SD-JWTs disclose what the query names."""
        out: dict[str, list[str]] = {}
        for query_id, given in credentials.items():
            query = request.credential_query(query_id)
            items = [given] if isinstance(given, str | IssuedSdJwt) else list(given)
            out[query_id] = []
            for item in items:
                if isinstance(item, IssuedSdJwt):
                    out[query_id].append(self.sd_jwt_for(request, item, disclosures_for(query, item)))
                elif query.get("format") == "jwt_vc_json":
                    out[query_id].append(self.vp_for(request, item))
                else:
                    raise ValueError(f"cannot present a string credential for format {query.get('format')!r}")
        return out

    # --- response --- #

    def build_response_v1(
        self,
        request: AuthorizationRequestV1,
        presentations: Mapping[str, str | Sequence[str]] | None = None,
        *,
        id_token: bool | str | None = None,
        id_token_claims: Mapping[str, Any] | None = None,
        id_token_header: Mapping[str, Any] | None = None,
        id_token_signer: KeyPair | None = None,
        id_token_alg_none: bool = False,
        state: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Response payload: vp_token object of lists, id_token, state; `extra` merges last."""
        payload: dict[str, Any] = {}
        if presentations is not None:
            payload["vp_token"] = {
                query_id: [p] if isinstance(p, str) else list(p) for query_id, p in presentations.items()
            }
        if id_token is None:
            id_token = request.wants_id_token
        if id_token is True:
            payload["id_token"] = self._id_token(
                request,  # type: ignore[arg-type]
                id_token_claims,
                id_token_header,
                id_token_signer,
                id_token_alg_none,
                None,
            )
        elif isinstance(id_token, str):
            payload["id_token"] = id_token
        chosen_state = request.state if state is None else state
        if chosen_state is not None and chosen_state is not DELETE:
            payload["state"] = chosen_state
        return merge(payload, extra)

    def choose_enc(self, request: AuthorizationRequestV1) -> str:
        """First verifier enc value the wallet supports (A128GCM when the verifier lists none)."""
        return next((e for e in request.enc_values() if e in self.enc_values), DEFAULT_ENC)

    def encrypt(
        self,
        request: AuthorizationRequestV1,
        payload: Mapping[str, Any],
        *,
        enc: str | None = None,
        jwk: Mapping[str, Any] | None = None,
        header_overrides: Mapping[str, Any] | None = None,
        compress: bool = False,
    ) -> str:
        """JWE (ECDH-ES) of the payload to the request's jwks key, or to `jwk`."""
        key = jwk if jwk is not None else request.encryption_jwk()
        if key is None:
            raise ValueError("no encryption key in client_metadata.jwks; pass jwk=")
        overrides = dict(header_overrides) if header_overrides is not None else None
        return encrypt_response(
            dict(payload),
            dict(key),
            enc=enc or self.choose_enc(request),
            compress=compress,
            header_overrides=overrides,
        )

    def post_payload(
        self,
        request: AuthorizationRequestV1,
        payload: Mapping[str, Any],
        *,
        encrypt: bool | None = None,
        enc: str | None = None,
        jwk: Mapping[str, Any] | None = None,
        jwe_header: Mapping[str, Any] | None = None,
        compress: bool = False,
    ) -> httpx.Response:
        """POST a payload: form `response`=JWE when encrypting (default: iff direct_post.jwt), else fields."""
        if request.encrypted if encrypt is None else encrypt:
            jwe = self.encrypt(
                request, payload, enc=enc, jwk=jwk, header_overrides=jwe_header, compress=compress
            )
            form = {"response": jwe}
        else:
            form = form_fields(payload)
        return self.post(request, form)  # type: ignore[arg-type]

    def respond_v1(
        self,
        request: AuthorizationRequestV1,
        presentations: Mapping[str, str | Sequence[str]] | None = None,
        *,
        encrypt: bool | None = None,
        enc: str | None = None,
        jwk: Mapping[str, Any] | None = None,
        jwe_header: Mapping[str, Any] | None = None,
        compress: bool = False,
        **build: Any,
    ) -> httpx.Response:
        """build_response_v1 then post_payload."""
        payload = self.build_response_v1(request, presentations, **build)
        return self.post_payload(
            request, payload, encrypt=encrypt, enc=enc, jwk=jwk, jwe_header=jwe_header, compress=compress
        )

    build_response = build_response_v1  # type: ignore[assignment]
    respond = respond_v1  # type: ignore[assignment]

    def sign_in(self, request: AuthorizationRequestV1, **options: Any) -> httpx.Response:  # type: ignore[override]
        """Answer a SIOPv2-only request (response_type id_token)."""
        return self.respond_v1(request, None, **options)

    def post_error(  # type: ignore[override]
        self,
        request: AuthorizationRequestV1,
        error: str = "access_denied",
        description: str | None = "the user declined",
        *,
        state: str | None = None,
        encrypt: bool = False,
    ) -> httpx.Response:
        """POST an OAuth error response (plaintext by default, as 1.0 §8.3 allows)."""
        payload = {"error": error}
        if description is not None:
            payload["error_description"] = description
        chosen_state = request.state if state is None else state
        if chosen_state is not None and chosen_state is not DELETE:
            payload["state"] = chosen_state
        return self.post_payload(request, payload, encrypt=encrypt)

    def __enter__(self) -> WalletV1:
        return self


def _check_dcql(dcql: dict[str, Any]) -> None:
    """A DCQL query shape the wallet can answer: credentials with unique, well-formed ids (1.0 §6)."""
    credentials = dcql.get("credentials")
    if not isinstance(credentials, list) or not credentials:
        raise WalletRefused("dcql_query.credentials must be a non-empty array")
    ids = [q.get("id") if isinstance(q, dict) else None for q in credentials]
    if not all(isinstance(i, str) and _QUERY_ID.fullmatch(i) for i in ids) or len(set(ids)) != len(ids):
        raise WalletRefused("dcql_query credential ids must be unique [A-Za-z0-9_-]+ strings")
    if not all(isinstance(q.get("format"), str) for q in credentials):
        raise WalletRefused("every dcql_query credential needs a format")
