"""Step 1: the Authorization Request as a Request Object (JAR, RFC 9101), OpenID4VP draft 20 profile.

One parameter set, three ways to sign it, chosen by the client identifier scheme (d20 §5.7):
``did`` (signed, ``kid`` names a key of our DID), ``x509_san_dns`` (signed, ``x5c`` header), and
``redirect_uri`` (unsigned, because the wallet could not verify a signature anyway).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.jose.jws import PrivateKey, sign_jws, unsigned_jwt

if TYPE_CHECKING:
    from service.asks import Ask
from service.transaction.state import TransactionState
from service.vocabulary import (
    CLIENT_ID_SCHEME_REDIRECT_URI,
    FORMAT_DC_SD_JWT,
    FORMAT_JWT_VC_JSON,
    FORMAT_JWT_VP_JSON,
    ID_TOKEN_TYPE_SUBJECT_SIGNED,
    JWK_THUMBPRINT_SUBJECT_TYPE,
    REQUEST_OBJECT_TYP,
    RESPONSE_MODE_DIRECT_POST,
    RESPONSE_TYPE_ID_TOKEN,
    RESPONSE_TYPE_VP_ID_TOKEN,
    SCOPE_OPENID,
    SELF_ISSUED_AUDIENCE,
)

__all__ = ["ClientIdentity", "build_client_metadata", "build_request_object"]


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """How we sign request objects for one client identifier scheme."""

    scheme: str
    client_id: str
    """Empty for ``redirect_uri``: there the client_id is the per-transaction response URI."""
    private_key: PrivateKey | None
    kid: str | None = None
    x5c: tuple[bytes, ...] = ()
    """DER certificates, leaf first (``x509_san_dns``)."""


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
) -> str:
    """The Request Object served at ``request_uri``: every parameter, signed per the scheme."""
    claims: dict[str, Any] = {
        "iss": client_id,
        "aud": SELF_ISSUED_AUDIENCE,  # SIOPv2 §9.1: static discovery
        "iat": int(now),
        "exp": state.expires_at,
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
    if ask.sign_in is not None and ask.sign_in.self_attested_claims:
        # OIDC Core §5.5: ask for (voluntary) self-asserted claims in the ID Token.
        claims["claims"] = {"id_token": dict.fromkeys(ask.sign_in.self_attested_claims)}
    if ask.id_token_hint is not None:
        claims["id_token_hint"] = ask.id_token_hint
    header: dict[str, Any] = {"typ": REQUEST_OBJECT_TYP}
    if identity.scheme == CLIENT_ID_SCHEME_REDIRECT_URI or identity.private_key is None:
        return unsigned_jwt(header, claims)
    if identity.kid is not None:
        header["kid"] = identity.kid
    if identity.x5c:
        header["x5c"] = [base64.b64encode(der).decode("ascii") for der in identity.x5c]
    return sign_jws(header, claims, identity.private_key)
