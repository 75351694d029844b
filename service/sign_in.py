"""Sign in with your own key: SIOPv2 authentication, alone or beside a presentation.

What a backend learns is the subject (a DID or a JWK thumbprint URN), the key that proved it, when, and
under which self-issued profile — plus, only if asked, self-attested claims kept apart from anything an
issuer vouched for (SIOPv2 §11.1 last paragraph: only ``sub`` identifies the user).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from service.errors import BadBackendRequest, ConfigurationError, IdTokenInvalid
from service.id_token import Holder
from service.jose.jwk import jwk_thumbprint
from service.vocabulary import JWK_THUMBPRINT_SUBJECT_TYPE

__all__ = [
    "SELF_ATTESTABLE_CLAIMS",
    "SUBJECT_SYNTAX_TYPES",
    "SignInPolicy",
    "check_expected_subject",
    "check_subject_type",
    "parse_sign_in",
    "self_attested_claims",
    "sign_in_result",
    "subject_type_of",
]

SUBJECT_SYNTAX_TYPES: Final = ("did:key", "did:jwk", "did:web", JWK_THUMBPRINT_SUBJECT_TYPE)
# OIDC Core §5.1 standard claims a wallet may self-assert; anything else is refused when asked for.
SELF_ATTESTABLE_CLAIMS: Final = frozenset(
    {
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "email",
        "phone_number",
        "locale",
        "zoneinfo",
        "picture",
        "website",
    }
)
_MAX_CLAIM_LENGTH: Final = 512


class SignInPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a sign-in accepts and asks for."""

    subject_syntax_types: tuple[str, ...] = SUBJECT_SYNTAX_TYPES
    """Subject syntax types accepted (SIOPv2 §8): did:key, did:jwk, did:web, the thumbprint URN."""
    self_attested_claims: tuple[str, ...] = ()
    """Standard claims the wallet is asked to self-assert (OIDC ``claims`` parameter), e.g. name, email."""


def parse_sign_in(
    raw: object, *, error: type[BadBackendRequest] | type[ConfigurationError] = BadBackendRequest
) -> SignInPolicy:
    """Validate a sign-in policy from a definition file or a backend request."""
    try:
        policy = msgspec.convert(raw, SignInPolicy)
    except msgspec.ValidationError as exc:
        raise error("sign_in.malformed", f"sign_in is not valid: {exc}") from exc
    if not policy.subject_syntax_types or not set(policy.subject_syntax_types) <= set(SUBJECT_SYNTAX_TYPES):
        raise error("sign_in.subject_syntax_types", "sign_in.subject_syntax_types lists an unsupported type")
    if not set(policy.self_attested_claims) <= SELF_ATTESTABLE_CLAIMS:
        raise error("sign_in.self_attested_claims", "sign_in.self_attested_claims lists a non-standard claim")
    return policy


def subject_type_of(holder: Holder) -> str:
    """The subject syntax type of a holder: ``did:<method>`` or the thumbprint URN type."""
    if holder.did is not None:
        return ":".join(holder.did.split(":")[:2])
    return JWK_THUMBPRINT_SUBJECT_TYPE


def check_subject_type(holder: Holder, policy: SignInPolicy) -> None:
    """The subject's syntax type is one this sign-in accepts."""
    if subject_type_of(holder) not in policy.subject_syntax_types:
        raise IdTokenInvalid(
            "id_token.subject_type_not_allowed", "This sign-in does not accept that subject type"
        )


def check_expected_subject(holder: Holder, expected: str | None) -> None:
    """Re-authentication: the subject is the one the backend named (via ``id_token_hint``)."""
    if expected is not None and not holder.is_named_by(expected):
        raise IdTokenInvalid("id_token.subject_mismatch", "The subject is not the one being re-authenticated")


def self_attested_claims(payload: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The asked-for claims the wallet asserted itself: short strings only, nothing else copied."""
    claims: dict[str, str] = {}
    for name in names:
        value = payload.get(name)
        if isinstance(value, str) and 0 < len(value) <= _MAX_CLAIM_LENGTH:
            claims[name] = value
    return claims


def _numeric(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def sign_in_result(holder: Holder, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict's ``sign_in`` block."""
    iat = payload.get("iat")
    auth_time = payload.get("auth_time", iat)
    result: dict[str, Any] = {
        "subject": holder.id,
        "subject_type": subject_type_of(holder),
        "key_thumbprint": jwk_thumbprint(holder.key),
        "auth_time": int(auth_time)
        if isinstance(auth_time, int | float) and not isinstance(auth_time, bool)
        else None,
        "profile": holder.profile,
    }
    if holder.method == "jwk_thumbprint":
        result["sub_jwk"] = holder.key.to_dict()
    return result
