"""Wallet simulator: checks the Request Object, answers with ID Token + VP Token (direct_post).

SD-JWT VCs: `Wallet.present_sd_jwt` makes an SD-JWT+KB string bound to the request (aud = client_id,
nonce = request nonce, KB-JWT signed by the holder key). `build_response(..., sd_jwt_presentations=[...])`
puts such strings in the vp_token after the VP JWTs (with `credentials=[]` there is no VP at all) and maps
them with `{"id", "format": sd_jwt_format, "path"}` (no `path_nested`). Descriptor ids are consumed in
order: VP credentials first, then SD-JWTs. A vp_token of one element is that bare string, else a JSON array.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.e2e.actors.keys import (
    JwsError,
    KeyPair,
    corrupt_signature,
    decode_jws,
    encode_jwt_unsigned,
    jwk_from_public_key,
    merge,
    resolve_did_url,
    sign_hmac_jwt,
    verify_jws,
)
from tests.e2e.actors.sd_jwt import SD_JWT_TYP, IssuedSdJwt, PathLike, present

REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"
SIOP_AUDIENCE = "https://self-issued.me/v2"
VC_CONTEXT_V1 = "https://www.w3.org/2018/credentials/v1"
Subject = Literal["did:key", "did:jwk", "jwk_thumbprint"]


class WalletRefused(Exception):
    """The wallet rejected an Authorization Request (a real wallet would stop here)."""


def _wall_clock() -> int:
    """Current Unix time in seconds."""
    return int(time.time())


class Holder:
    """A holder identity: a key and the subject syntax it presents itself with."""

    def __init__(self, key: KeyPair, subject: Subject = "did:key") -> None:
        self.key = key
        self.subject = subject
        self.id: str
        self.kid: str | None
        if subject == "did:key":
            self.id, self.kid = key.did_key(), key.did_key_url()
        elif subject == "did:jwk":
            self.id, self.kid = key.did_jwk(), key.did_jwk_url()
        else:
            self.id, self.kid = key.thumbprint_uri(), None

    @property
    def is_did(self) -> bool:
        """True for DID subjects (kid in headers), False for JWK thumbprint subjects."""
        return self.kid is not None


@dataclass(frozen=True)
class AuthorizationRequest:
    """A Request Object the wallet fetched and accepted."""

    client_id: str
    client_id_scheme: str
    response_uri: str
    nonce: str
    state: str | None
    presentation_definition: dict[str, Any]
    client_metadata: dict[str, Any]
    jwt: str
    header: dict[str, Any]
    payload: dict[str, Any] = field(repr=False)
    request_uri: str = ""

    def descriptor_ids(self) -> list[str]:
        """Input descriptor ids of the presentation definition, in order."""
        return [d["id"] for d in self.presentation_definition.get("input_descriptors", [])]


def build_submission(
    definition_id: str,
    layout: Sequence[Sequence[str]],
    sd_jwt_ids: Sequence[str] = (),
    *,
    sd_jwt_format: str = SD_JWT_TYP,
) -> dict[str, Any]:
    """PE submission: VPs (one descriptor-id list each), then one SD-JWT per id in `sd_jwt_ids`."""
    several = len(layout) + len(sd_jwt_ids) != 1
    descriptor_map = [
        {
            "id": descriptor_id,
            "format": "jwt_vp_json",
            "path": f"$[{vp_index}]" if several else "$",
            "path_nested": {
                "id": descriptor_id,
                "format": "jwt_vc_json",
                "path": f"$.vp.verifiableCredential[{vc_index}]",
            },
        }
        for vp_index, ids in enumerate(layout)
        for vc_index, descriptor_id in enumerate(ids)
    ]
    descriptor_map += [
        {"id": descriptor_id, "format": sd_jwt_format, "path": f"$[{index}]" if several else "$"}
        for index, descriptor_id in enumerate(sd_jwt_ids, start=len(layout))
    ]
    return {"id": str(uuid.uuid4()), "definition_id": definition_id, "descriptor_map": descriptor_map}


class Wallet:
    """Speaks OpenID4VP (draft-20 style, PE) + SIOPv2 to the verifier over real HTTP."""

    def __init__(
        self,
        holder: Holder,
        http: httpx.Client | None = None,
        *,
        now: Callable[[], int] = _wall_clock,
        trust_anchor: x509.Certificate | None = None,
    ) -> None:
        self.holder = holder
        self.http = http or httpx.Client(timeout=10.0)
        self.now = now
        self.trust_anchor = trust_anchor

    # --- request --- #

    def fetch_request(self, authorization_request_uri: str) -> AuthorizationRequest:
        """GET the request_uri of an openid4vp:// link and check the Request Object."""
        query = parse_qs(urlsplit(authorization_request_uri).query)
        client_ids, request_uris = query.get("client_id", []), query.get("request_uri", [])
        if len(client_ids) != 1 or len(request_uris) != 1:
            raise WalletRefused("link needs exactly one client_id and one request_uri")
        response = self.http.get(request_uris[0], follow_redirects=False)
        if response.status_code != 200:
            raise WalletRefused(f"request_uri answered {response.status_code}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/oauth-authz-req+jwt":
            raise WalletRefused(f"request_uri content-type {media_type!r}")
        request = self.check_request_object(client_ids[0], response.text.strip())
        return dataclasses.replace(request, request_uri=request_uris[0])

    def check_request_object(self, client_id: str, jwt: str) -> AuthorizationRequest:
        """Verify a Request Object against the client_id of the link (no I/O)."""
        try:
            header, payload, _, signature = decode_jws(jwt)
        except JwsError as exc:
            raise WalletRefused(f"Request Object unparseable: {exc}") from exc
        if header.get("typ") != REQUEST_OBJECT_TYP:
            raise WalletRefused(f"typ {header.get('typ')!r} != {REQUEST_OBJECT_TYP}")
        if payload.get("client_id") != client_id:
            raise WalletRefused("client_id of the link differs from the Request Object")
        scheme = payload.get("client_id_scheme", "did")
        response_uri = payload.get("response_uri")
        if not isinstance(response_uri, str) or urlsplit(response_uri).scheme not in ("http", "https"):
            raise WalletRefused(f"bad response_uri {response_uri!r}")
        if scheme == "did":
            self._check_did(jwt, header, client_id)
        elif scheme == "redirect_uri":
            if header.get("alg") != "none" or signature:
                raise WalletRefused("redirect_uri requests must be unsigned")
            if client_id != response_uri:
                raise WalletRefused("redirect_uri client_id must equal response_uri")
        elif scheme == "x509_san_dns":
            self._check_x509(jwt, header, client_id, response_uri)
        else:
            raise WalletRefused(f"unsupported client_id_scheme {scheme!r}")
        self._check_claims(payload)
        return AuthorizationRequest(
            client_id=client_id,
            client_id_scheme=scheme,
            response_uri=response_uri,
            nonce=payload["nonce"],
            state=payload.get("state"),
            presentation_definition=payload.get("presentation_definition") or {},
            client_metadata=payload.get("client_metadata", {}),
            jwt=jwt,
            header=header,
            payload=payload,
        )

    def _check_did(self, jwt: str, header: dict[str, Any], client_id: str) -> None:
        """Signature by the DID URL in kid, which must belong to the client_id DID."""
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise WalletRefused("did scheme needs a kid")
        try:
            verify_jws(jwt, resolve_did_url(kid, client_id))
        except (JwsError, ValueError, KeyError) as exc:
            raise WalletRefused(f"did Request Object: {exc}") from exc

    def _check_x509(self, jwt: str, header: dict[str, Any], client_id: str, response_uri: str) -> None:
        """Signature by the x5c leaf whose dNSName SAN is the client_id and the response_uri host."""
        x5c = header.get("x5c")
        if not isinstance(x5c, list) or not x5c:
            raise WalletRefused("x509_san_dns needs an x5c header")
        try:
            chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
            leaf_key = chain[0].public_key()
            if not isinstance(leaf_key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
                raise WalletRefused(f"unsupported leaf key {type(leaf_key).__name__}")
            names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns_names = names.get_values_for_type(x509.DNSName)
            verify_jws(jwt, jwk_from_public_key(leaf_key))
        except (JwsError, ValueError, binascii.Error, x509.ExtensionNotFound, StopIteration) as exc:
            raise WalletRefused(f"x509 Request Object: {exc}") from exc
        if client_id not in dns_names:
            raise WalletRefused(f"client_id {client_id!r} not in leaf dNSName SANs {dns_names}")
        if urlsplit(response_uri).hostname != client_id:
            raise WalletRefused("response_uri host differs from the x509_san_dns client_id")
        if self.trust_anchor is not None:
            self._check_chain(chain)

    def _check_chain(self, chain: list[x509.Certificate]) -> None:
        """Each certificate is issued by the next; the last is, or is issued by, the trust anchor."""
        assert self.trust_anchor is not None
        moment = datetime.fromtimestamp(self.now(), UTC)
        try:
            for cert, issuer in zip(chain, [*chain[1:], self.trust_anchor], strict=True):
                if cert == self.trust_anchor:
                    break
                cert.verify_directly_issued_by(issuer)
                if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
                    raise WalletRefused("certificate outside its validity period")
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise WalletRefused(f"x5c chain does not lead to the trust anchor: {exc}") from exc

    def _check_claims(self, payload: dict[str, Any]) -> None:
        """Request parameters a PE + SIOP direct_post wallet relies on."""
        if payload.get("response_mode") != "direct_post":
            raise WalletRefused(f"response_mode {payload.get('response_mode')!r} != direct_post")
        response_type = set(str(payload.get("response_type", "")).split())
        if response_type not in ({"vp_token", "id_token"}, {"id_token"}):
            raise WalletRefused(f"response_type {payload.get('response_type')!r}")
        if "openid" not in str(payload.get("scope", "")).split():
            raise WalletRefused("scope must contain openid")
        if not isinstance(payload.get("nonce"), str) or not payload["nonce"]:
            raise WalletRefused("nonce missing")
        wants_vp = "vp_token" in response_type
        if wants_vp != isinstance(payload.get("presentation_definition"), dict):
            raise WalletRefused(
                "presentation_definition must be an object exactly when vp_token is asked for"
            )
        if payload.get("aud", SIOP_AUDIENCE) != SIOP_AUDIENCE:
            raise WalletRefused(f"aud {payload.get('aud')!r} != {SIOP_AUDIENCE}")
        exp = payload.get("exp")
        if isinstance(exp, int) and exp <= self.now():
            raise WalletRefused("Request Object expired")

    # --- response --- #

    def build_response(
        self,
        request: AuthorizationRequest,
        credentials: Sequence[str] | Sequence[Sequence[str]],
        *,
        descriptor_ids: Sequence[str] | None = None,
        id_token_claims: Mapping[str, Any] | None = None,
        id_token_header: Mapping[str, Any] | None = None,
        vp_claims: Mapping[str, Any] | None = None,
        vp_header: Mapping[str, Any] | None = None,
        id_token_signer: KeyPair | None = None,
        vp_signer: KeyPair | None = None,
        id_token_alg_none: bool = False,
        vp_alg_none: bool = False,
        id_token_hmac: bytes | None = None,
        corrupt_vp_signature: bool = False,
        submission: Mapping[str, Any] | None = None,
        state: str | None = None,
        omit_id_token: bool = False,
        sd_jwt_presentations: Sequence[str] = (),
        sd_jwt_format: str = SD_JWT_TYP,
    ) -> dict[str, str]:
        """Form fields of a direct_post response; flat `credentials` = one VP, nested = one VP each."""
        sd_jwts = list(sd_jwt_presentations)
        layout = [] if sd_jwts and not credentials else _layout(credentials)
        ids = list(descriptor_ids) if descriptor_ids is not None else request.descriptor_ids()
        count = sum(len(vp) for vp in layout) + len(sd_jwts)
        if len(ids) < count:
            raise ValueError(f"{count} credentials but only {len(ids)} descriptor ids; pass descriptor_ids")
        id_iter = iter(ids)
        id_layout = [[next(id_iter) for _ in vp] for vp in layout]
        sd_jwt_ids = [next(id_iter) for _ in sd_jwts]
        vps = [
            self._vp(request, vcs, vp_claims, vp_header, vp_signer, vp_alg_none, corrupt_vp_signature)
            for vcs in layout
        ]
        if submission is None:
            definition_id = request.presentation_definition.get("id", "")
            submission = build_submission(definition_id, id_layout, sd_jwt_ids, sd_jwt_format=sd_jwt_format)
        tokens = [*vps, *sd_jwts]
        form = {
            "vp_token": tokens[0] if len(tokens) == 1 else json.dumps(tokens),
            "presentation_submission": json.dumps(submission),
        }
        if not omit_id_token:
            form["id_token"] = self._id_token(
                request, id_token_claims, id_token_header, id_token_signer, id_token_alg_none, id_token_hmac
            )
        chosen_state = state if state is not None else request.state
        if chosen_state is not None:
            form["state"] = chosen_state
        return form

    def sign_in(
        self,
        request: AuthorizationRequest,
        *,
        id_token_claims: Mapping[str, Any] | None = None,
        id_token_header: Mapping[str, Any] | None = None,
        id_token_signer: KeyPair | None = None,
        state: str | None = None,
    ) -> httpx.Response:
        """Answer a SIOPv2-only request (response_type id_token): the ID Token and state, nothing else."""
        form = {
            "id_token": self._id_token(
                request, id_token_claims, id_token_header, id_token_signer, False, None
            ),
            "state": state if state is not None else (request.state or ""),
        }
        return self.post(request, form)

    def _id_token(
        self,
        request: AuthorizationRequest,
        claims: Mapping[str, Any] | None,
        header: Mapping[str, Any] | None,
        signer: KeyPair | None,
        alg_none: bool,
        hmac_secret: bytes | None,
    ) -> str:
        """Self-issued ID Token (SIOPv2 §11)."""
        now, key = self.now(), signer or self.holder.key
        base_header: dict[str, Any] = {"alg": key.alg, "typ": "JWT"}
        base: dict[str, Any] = {"iss": self.holder.id, "sub": self.holder.id, "aud": request.client_id}
        base |= {"nonce": request.nonce, "iat": now, "exp": now + 300}
        if self.holder.is_did:
            base_header["kid"] = self.holder.kid
        else:
            base["sub_jwk"] = self.holder.key.public_jwk()
        return _finish(key, merge(base_header, header), merge(base, claims), alg_none, hmac_secret)

    def _vp(
        self,
        request: AuthorizationRequest,
        vcs: Sequence[str],
        claims: Mapping[str, Any] | None,
        header: Mapping[str, Any] | None,
        signer: KeyPair | None,
        alg_none: bool,
        corrupt: bool,
    ) -> str:
        """VP JWT (`jwt_vp_json`) wrapping the VC JWTs."""
        now, key = self.now(), signer or self.holder.key
        base_header: dict[str, Any] = {"alg": key.alg, "typ": "JWT"}
        if self.holder.is_did:
            base_header["kid"] = self.holder.kid
        else:
            base_header["jwk"] = self.holder.key.public_jwk()
        vp = {
            "@context": [VC_CONTEXT_V1],
            "type": ["VerifiablePresentation"],
            "holder": self.holder.id,
            "verifiableCredential": list(vcs),
        }
        base: dict[str, Any] = {"iss": self.holder.id, "aud": request.client_id, "nonce": request.nonce}
        base |= {"iat": now, "exp": now + 300, "jti": f"urn:uuid:{uuid.uuid4()}", "vp": vp}
        token = _finish(key, merge(base_header, header), merge(base, claims), alg_none, None)
        return corrupt_signature(token) if corrupt else token

    def present_sd_jwt(
        self,
        request: AuthorizationRequest,
        issued: IssuedSdJwt,
        disclose: Iterable[PathLike] | None = None,
        **present_kwargs: Any,
    ) -> str:
        """SD-JWT+KB for `request`: aud client_id, nonce, KB-JWT by the holder key at now(); kwargs win."""
        options: dict[str, Any] = {
            "aud": request.client_id,
            "nonce": request.nonce,
            "holder_key": self.holder.key,
            "now": self.now(),
        }
        return present(issued, disclose=disclose, **(options | present_kwargs))

    def post(self, request: AuthorizationRequest, form: Mapping[str, str]) -> httpx.Response:
        """POST the form to response_uri (never following redirects)."""
        return self.http.post(request.response_uri, data=dict(form), follow_redirects=False)

    def respond(
        self,
        request: AuthorizationRequest,
        credentials: Sequence[str] | Sequence[Sequence[str]],
        **options: Any,
    ) -> httpx.Response:
        """build_response then post."""
        return self.post(request, self.build_response(request, credentials, **options))

    def post_error(
        self,
        request: AuthorizationRequest,
        error: str = "access_denied",
        description: str | None = "the user declined",
        *,
        state: str | None = None,
    ) -> httpx.Response:
        """POST an OAuth error response."""
        form = {"error": error}
        if description is not None:
            form["error_description"] = description
        chosen_state = state if state is not None else request.state
        if chosen_state is not None:
            form["state"] = chosen_state
        return self.post(request, form)

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def __enter__(self) -> Wallet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _layout(credentials: Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
    """Normalize credentials to one list per VP."""
    if all(isinstance(c, str) for c in credentials):
        return [[str(c) for c in credentials]]
    if all(not isinstance(c, str) for c in credentials):
        return [list(vp) for vp in credentials]
    raise TypeError("credentials must be all strings (one VP) or all lists (one VP each)")


def _finish(
    key: KeyPair, header: dict[str, Any], claims: dict[str, Any], alg_none: bool, hmac_secret: bytes | None
) -> str:
    """Sign with key, or emit alg none / HS256 for negative tests."""
    if alg_none:
        return encode_jwt_unsigned(header, claims)
    if hmac_secret is not None:
        return sign_hmac_jwt(header, claims, hmac_secret)
    return key.sign_jws(header, claims)
