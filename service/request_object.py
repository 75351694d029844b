"""Step 1: the Authorization Request as a Request Object (JAR, RFC 9101), per protocol profile.

Draft 20 (PE): ``client_id`` plus ``client_id_scheme``, ``presentation_definition``, ``vp_formats``.
OpenID4VP 1.0 (DCQL): the scheme is a prefix inside ``client_id`` (§5.9), ``dcql_query``,
``vp_formats_supported``, and for ``direct_post.jwt`` the per-transaction encryption key in
``client_metadata.jwks`` (§8.3). How the object is signed follows the scheme: ``did`` (``kid`` names a key of
our DID), ``x509_san_dns``/``x509_hash`` (``x5c`` header), ``redirect_uri`` (unsigned: the wallet could not
verify a signature anyway).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.errors import BadBackendRequest
from service.jose.encoding import b64url_encode
from service.jose.jws import PrivateKey, algorithm_for, sign_jws, unsigned_jwt

if TYPE_CHECKING:
    from service.asks import Ask
from service.transaction.state import PROFILE_V1, TransactionState
from service.vocabulary import (
    CLIENT_ID_PREFIXES,
    CLIENT_ID_SCHEME_REDIRECT_URI,
    CLIENT_ID_SCHEME_X509_HASH,
    FORMAT_DC_SD_JWT,
    FORMAT_JWT_VC_JSON,
    FORMAT_JWT_VP_JSON,
    ID_TOKEN_TYPE_SUBJECT_SIGNED,
    JWK_THUMBPRINT_SUBJECT_TYPE,
    REQUEST_OBJECT_TYP,
    RESPONSE_MODE_DIRECT_POST,
    RESPONSE_MODE_DIRECT_POST_JWT,
    RESPONSE_TYPE_ID_TOKEN,
    RESPONSE_TYPE_VP_ID_TOKEN,
    RESPONSE_TYPE_VP_TOKEN,
    SCOPE_OPENID,
    SELF_ISSUED_AUDIENCE,
)

__all__ = [
    "ClientIdentities",
    "ClientIdentity",
    "EncryptionOffer",
    "build_client_metadata",
    "build_client_metadata_v1",
    "build_request_object",
    "x509_hash_of",
]


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """How we sign request objects for one client identifier scheme."""

    scheme: str
    client_id: str
    """Empty for ``redirect_uri``: there the client_id is the per-transaction response URI."""
    private_key: PrivateKey | None
    kid: str | None = None
    x5c: tuple[bytes, ...] = ()
    """DER certificates, leaf first (``x509_san_dns``, ``x509_hash``)."""

    @property
    def alg(self) -> str | None:
        """The JOSE alg request objects are signed with (None: unsigned)."""
        return None if self.private_key is None else algorithm_for(self.private_key)

    def client_id_for(self, profile: str, response_uri: str) -> str:
        """The Client Identifier a transaction of ``profile`` uses, prefix included under 1.0 (§5.9)."""
        original = self.client_id or response_uri
        if profile != PROFILE_V1:
            return original
        return f"{CLIENT_ID_PREFIXES[self.scheme]}:{original}"


def x509_hash_of(leaf_der: bytes) -> str:
    """``x509_hash`` client id: base64url SHA-256 of the DER leaf certificate (OpenID4VP 1.0 §5.9.3)."""
    return b64url_encode(hashlib.sha256(leaf_der).digest())


@dataclass(frozen=True, slots=True)
class ClientIdentities:
    """Every client identifier scheme this deployment can speak; a request may pick one."""

    default: str
    by_scheme: Mapping[str, ClientIdentity]

    def get(self, scheme: str | None, *, profile: str) -> ClientIdentity:
        """The identity for ``scheme`` (default when None); refuse one this deployment or profile lacks."""
        chosen = scheme or self.default
        if chosen == CLIENT_ID_SCHEME_X509_HASH and profile != PROFILE_V1:
            if scheme is None:
                # A deployment defaulting to x509_hash still serves draft wallets by DNS name.
                chosen = "x509_san_dns"
            else:
                raise BadBackendRequest(
                    "api.client_id_prefix", "x509_hash exists in OpenID4VP 1.0 only (protocol 1.0)"
                )
        identity = self.by_scheme.get(chosen)
        if identity is None:
            raise BadBackendRequest(
                "api.client_id_prefix", f"This deployment has no {chosen} identity (see x509_chain_file)"
            )
        return identity


@dataclass(frozen=True, slots=True)
class EncryptionOffer:
    """What ``direct_post.jwt`` publishes: the transaction's key and the content encryptions we accept."""

    jwk: Mapping[str, str]
    enc_values: tuple[str, ...]


def build_client_metadata(
    *, holder_algs: Sequence[str], issuer_algs: Sequence[str], subject_syntax_types: Sequence[str]
) -> dict[str, Any]:
    """Verifier metadata sent by value (d20 §9.1 ``vp_formats``; SIOPv2 §7.5)."""
    vp_alg = {"alg": list(holder_algs)}
    vc_alg = {"alg": list(issuer_algs)}
    sd_jwt = {"sd-jwt_alg_values": list(issuer_algs), "kb-jwt_alg_values": list(holder_algs)}
    return {
        "vp_formats": {
            FORMAT_JWT_VP_JSON: vp_alg,
            FORMAT_JWT_VC_JSON: vc_alg,
            # The DIF registry names, for wallets that only know those.
            "jwt_vp": vp_alg,
            "jwt_vc": vc_alg,
            # SD-JWT VC under its current and its pre-draft-23 name (OpenID4VP d23 App. B.4.2).
            FORMAT_DC_SD_JWT: sd_jwt,
            "vc+sd-jwt": sd_jwt,
        },
        "subject_syntax_types_supported": list(subject_syntax_types),
        "id_token_signing_alg_values_supported": list(holder_algs),
        "client_name": "SIOP verifier",
    }


def build_client_metadata_v1(
    *, holder_algs: Sequence[str], issuer_algs: Sequence[str], subject_syntax_types: Sequence[str]
) -> dict[str, Any]:
    """1.0 verifier metadata (§5.1, §11.1, App. B): ``vp_formats_supported`` with format-specific members.

    The SIOPv2 members are only sent on transactions that ask for an ID Token (see ``_metadata_v1``).
    """
    # jwt_vc_json's alg_values cover the credential and the presentation: every alg either may use.
    w3c_algs = list(dict.fromkeys([*issuer_algs, *holder_algs]))
    return {
        "vp_formats_supported": {
            FORMAT_JWT_VC_JSON: {"alg_values": w3c_algs},
            FORMAT_DC_SD_JWT: {
                "sd-jwt_alg_values": list(issuer_algs),
                "kb-jwt_alg_values": list(holder_algs),
            },
        },
        "subject_syntax_types_supported": list(subject_syntax_types),
        "id_token_signing_alg_values_supported": list(holder_algs),
    }


def _metadata_for(client_metadata: Mapping[str, Any], ask: Ask) -> dict[str, Any]:
    """Narrow the advertised subject syntax types to what this sign-in accepts."""
    metadata = dict(client_metadata)
    if ask.sign_in is not None:
        supported = metadata.get("subject_syntax_types_supported", [])
        metadata["subject_syntax_types_supported"] = [
            t for t in supported if t in ask.sign_in.subject_syntax_types
        ]
    return metadata


def subject_syntax_types(did_methods: Sequence[str]) -> list[str]:
    """Subject syntax types we accept: JWK thumbprints and DIDs of the given methods (SIOPv2 §8)."""
    return [JWK_THUMBPRINT_SUBJECT_TYPE, *(f"did:{method}" for method in did_methods)]


def build_request_object(
    state: TransactionState,
    *,
    identity: ClientIdentity,
    client_id: str,
    response_uri: str,
    ask: Ask,
    client_metadata: Mapping[str, Any],
    now: float,
    wallet_nonce: str | None = None,
    encryption: EncryptionOffer | None = None,
) -> str:
    """The Request Object served at ``request_uri``: every parameter, signed per the scheme."""
    if state.profile == PROFILE_V1:
        claims = _claims_v1(
            state,
            client_id=client_id,
            response_uri=response_uri,
            ask=ask,
            client_metadata=client_metadata,
            encryption=encryption,
        )
    else:
        claims = _claims_draft(
            state,
            identity=identity,
            client_id=client_id,
            response_uri=response_uri,
            ask=ask,
            client_metadata=client_metadata,
        )
    claims |= {"iss": client_id, "aud": SELF_ISSUED_AUDIENCE, "iat": int(now), "exp": state.expires_at}
    if wallet_nonce is not None:
        # 1.0 §5.10: a nonce the wallet posted to the request_uri MUST come back in the signed object.
        claims["wallet_nonce"] = wallet_nonce
    if ask.sign_in is not None and ask.sign_in.self_attested_claims:
        # OIDC Core §5.5: ask for (voluntary) self-asserted claims in the ID Token.
        claims["claims"] = {"id_token": dict.fromkeys(ask.sign_in.self_attested_claims)}
    if ask.id_token_hint is not None:
        claims["id_token_hint"] = ask.id_token_hint
    return _sign(claims, identity)


def _claims_draft(
    state: TransactionState,
    *,
    identity: ClientIdentity,
    client_id: str,
    response_uri: str,
    ask: Ask,
    client_metadata: Mapping[str, Any],
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        # Sign-in only asks for the ID Token (SIOPv2 §9); anything else is combined with OpenID4VP.
        "response_type": RESPONSE_TYPE_VP_ID_TOKEN if ask.definition is not None else RESPONSE_TYPE_ID_TOKEN,
        "scope": SCOPE_OPENID,
        "id_token_type": ID_TOKEN_TYPE_SUBJECT_SIGNED,
        "client_id": client_id,
        "client_id_scheme": identity.scheme,
        "response_mode": RESPONSE_MODE_DIRECT_POST,
        "response_uri": response_uri,
        "nonce": state.nonce,
        "state": state.state,
        "client_metadata": _metadata_for(client_metadata, ask),
    }
    if ask.definition is not None:
        claims["presentation_definition"] = dict(ask.definition.raw)
    return claims


def _claims_v1(
    state: TransactionState,
    *,
    client_id: str,
    response_uri: str,
    ask: Ask,
    client_metadata: Mapping[str, Any],
    encryption: EncryptionOffer | None,
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "response_type": _response_type_v1(ask),
        "client_id": client_id,
        "response_mode": RESPONSE_MODE_DIRECT_POST_JWT
        if encryption is not None
        else RESPONSE_MODE_DIRECT_POST,
        "response_uri": response_uri,
        "nonce": state.nonce,
        "state": state.state,
        "client_metadata": _metadata_v1(client_metadata, ask, encryption),
    }
    if ask.dcql is not None:
        claims["dcql_query"] = dict(ask.dcql.raw)
    if ask.sign_in is not None:
        # SIOPv2 combined with OpenID4VP 1.0 (App. C): the ID Token request parameters.
        claims["scope"] = SCOPE_OPENID
        claims["id_token_type"] = ID_TOKEN_TYPE_SUBJECT_SIGNED
    return claims


def _response_type_v1(ask: Ask) -> str:
    if ask.dcql is None:
        return RESPONSE_TYPE_ID_TOKEN
    return RESPONSE_TYPE_VP_ID_TOKEN if ask.sign_in is not None else RESPONSE_TYPE_VP_TOKEN


def _metadata_v1(
    client_metadata: Mapping[str, Any], ask: Ask, encryption: EncryptionOffer | None
) -> dict[str, Any]:
    # §5.1: only vp_formats_supported, jwks and encrypted_response_enc_values_supported, unless a profile
    # adds more — SIOPv2 does, so its members ride along only when an ID Token is asked for.
    metadata: dict[str, Any] = {}
    if ask.dcql is not None:
        metadata["vp_formats_supported"] = client_metadata["vp_formats_supported"]
    if ask.sign_in is not None:
        sign_in = _metadata_for(client_metadata, ask)
        for name in ("subject_syntax_types_supported", "id_token_signing_alg_values_supported"):
            metadata[name] = sign_in[name]
    if encryption is not None:
        metadata["jwks"] = {"keys": [dict(encryption.jwk)]}
        metadata["encrypted_response_enc_values_supported"] = list(encryption.enc_values)
    return metadata


def _sign(claims: dict[str, Any], identity: ClientIdentity) -> str:
    header: dict[str, Any] = {"typ": REQUEST_OBJECT_TYP}
    if identity.scheme == CLIENT_ID_SCHEME_REDIRECT_URI or identity.private_key is None:
        return unsigned_jwt(header, claims)
    if identity.kid is not None:
        header["kid"] = identity.kid
    if identity.x5c:
        header["x5c"] = [base64.b64encode(der).decode("ascii") for der in identity.x5c]
    return sign_jws(header, claims, identity.private_key)
