"""Spec strings in one place: parameters, response modes, formats, media types.

Section references point at the digests in ``../shared/spec`` (OpenID4VP draft 20 / 1.0, SIOPv2 draft 13,
DIF Presentation Exchange v2).
"""

from __future__ import annotations

from typing import Final

# --- Authorization request (OpenID4VP d20 §5, SIOPv2 §9) --- #
RESPONSE_TYPE_VP_ID_TOKEN: Final = "vp_token id_token"
RESPONSE_TYPE_ID_TOKEN: Final = "id_token"
RESPONSE_TYPE_VP_TOKEN: Final = "vp_token"
SCOPE_OPENID: Final = "openid"
RESPONSE_MODE_DIRECT_POST: Final = "direct_post"
RESPONSE_MODE_DIRECT_POST_JWT: Final = "direct_post.jwt"  # OpenID4VP 1.0 §8.3: the response is a JWE
ID_TOKEN_TYPE_SUBJECT_SIGNED: Final = "subject_signed_id_token"
SELF_ISSUED_AUDIENCE: Final = "https://self-issued.me/v2"  # SIOPv2 §9.1 static discovery
REQUEST_OBJECT_TYP: Final = "oauth-authz-req+jwt"  # OpenID4VP 1.0 §5, RFC 9101 §10.8
REQUEST_OBJECT_MEDIA_TYPE: Final = "application/oauth-authz-req+jwt"
AUTHORIZATION_SCHEME: Final = "openid4vp://"

# --- Client identifier schemes (d20 §5.7) --- #
CLIENT_ID_SCHEME_DID: Final = "did"
CLIENT_ID_SCHEME_REDIRECT_URI: Final = "redirect_uri"
CLIENT_ID_SCHEME_X509_SAN_DNS: Final = "x509_san_dns"
CLIENT_ID_SCHEME_X509_HASH: Final = "x509_hash"  # OpenID4VP 1.0 only
CLIENT_ID_SCHEMES: Final = frozenset(
    {CLIENT_ID_SCHEME_DID, CLIENT_ID_SCHEME_REDIRECT_URI, CLIENT_ID_SCHEME_X509_SAN_DNS}
)
# OpenID4VP 1.0 §5.9: the prefix of each scheme inside `client_id` (a DID goes under its 1.0 name).
CLIENT_ID_PREFIXES: Final = {
    CLIENT_ID_SCHEME_DID: "decentralized_identifier",
    CLIENT_ID_SCHEME_REDIRECT_URI: "redirect_uri",
    CLIENT_ID_SCHEME_X509_SAN_DNS: "x509_san_dns",
    CLIENT_ID_SCHEME_X509_HASH: "x509_hash",
}

# --- Subject syntax types (SIOPv2 §8) --- #
JWK_THUMBPRINT_SUBJECT_TYPE: Final = "urn:ietf:params:oauth:jwk-thumbprint"
JWK_THUMBPRINT_URN_PREFIX: Final = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"  # RFC 9278

# --- Formats (OpenID4VP App. A; DIF claim format registry) --- #
FORMAT_JWT_VP_JSON: Final = "jwt_vp_json"
FORMAT_JWT_VC_JSON: Final = "jwt_vc_json"
FORMAT_DC_SD_JWT: Final = "dc+sd-jwt"  # SD-JWT VC; `vc+sd-jwt` before OpenID4VP draft 23
# Older names meaning the same thing; accepted on input, never emitted.
FORMAT_ALIASES: Final = {
    "jwt_vp": FORMAT_JWT_VP_JSON,
    "jwt_vp_json": FORMAT_JWT_VP_JSON,
    "jwt_vc": FORMAT_JWT_VC_JSON,
    "jwt_vc_json": FORMAT_JWT_VC_JSON,
    "vc+sd-jwt": FORMAT_DC_SD_JWT,
    "dc+sd-jwt": FORMAT_DC_SD_JWT,
}
SD_JWT_VC_TYPES: Final = frozenset({"dc+sd-jwt", "vc+sd-jwt"})  # issuer JWT `typ` (SD-JWT VC -18 §2.2.1)
KB_JWT_TYP: Final = "kb+jwt"


def canonical_format(name: str) -> str | None:
    """The format id we use internally for ``name``, or None when we do not speak it."""
    return FORMAT_ALIASES.get(name)


# --- Algorithms (RFC 7518, RFC 8037, RFC 8812) --- #
ALG_EDDSA: Final = "EdDSA"
ALG_ES256: Final = "ES256"
ALG_ES256K: Final = "ES256K"
ALG_ES384: Final = "ES384"
ALG_ES512: Final = "ES512"
ALG_RS256: Final = "RS256"
ALG_PS256: Final = "PS256"
# Asymmetric signature algorithms the verifier can check; settings narrow this further.
SUPPORTED_SIGNATURE_ALGS: Final = frozenset(
    {ALG_EDDSA, "Ed25519", ALG_ES256, ALG_ES256K, ALG_ES384, ALG_ES512, ALG_RS256, ALG_PS256}
)

# --- W3C VCDM 1.1 (§6.3.1) --- #
VC_TYPE: Final = "VerifiableCredential"
VP_TYPE: Final = "VerifiablePresentation"
VC_CONTEXT_V1: Final = "https://www.w3.org/2018/credentials/v1"
VC_CONTEXT_V2: Final = "https://www.w3.org/ns/credentials/v2"

# --- Verdict --- #
VERDICT_TYP: Final = "verdict+jwt"
VERDICT_MEDIA_TYPE: Final = "application/jwt"
RESULT_VERIFIED: Final = "verified"
RESULT_REJECTED: Final = "rejected"
