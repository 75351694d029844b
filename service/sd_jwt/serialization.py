"""The SD-JWT compact serialization (RFC 9901 §4): ``<Issuer-signed JWT>~<D1>~...~<Dn>~[<KB-JWT>]``.

Splitting is purely structural: nothing is decoded here. The issuer JWT goes to ``decode_jws``, the
Disclosures to ``process_disclosures`` and the KB-JWT to ``verify_key_binding``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from service.errors import CredentialInvalid
from service.jose.jws import TokenKind

__all__ = ["SD_JWT", "SdJwtPresentation", "split_presentation"]

SD_JWT: Final = TokenKind("sd_jwt", CredentialInvalid)
"""Structural and Disclosure failures report as ``CredentialInvalid`` with reason ``sd_jwt.<check>``."""

_SEPARATOR: Final = "~"
_DEFAULT_MAX_LENGTH: Final = 256 * 1024
_DEFAULT_MAX_DISCLOSURES: Final = 256


@dataclass(frozen=True, slots=True)
class SdJwtPresentation:
    """An SD-JWT or SD-JWT+KB split into its components, nothing decoded yet (RFC 9901 §4)."""

    issuer_jwt: str
    """The compact JWS of the Issuer-signed JWT."""
    disclosures: tuple[str, ...]
    """The base64url Disclosure strings as presented, in order."""
    kb_jwt: str | None
    """The KB-JWT compact string, or None when the presentation ends with ``~``."""
    sd_jwt: str
    """``<issuer_jwt>~<d1>~...~<dn>~`` exactly as presented: the input of the KB-JWT ``sd_hash``."""


def split_presentation(
    token: object,
    *,
    max_length: int = _DEFAULT_MAX_LENGTH,
    max_disclosures: int = _DEFAULT_MAX_DISCLOSURES,
) -> SdJwtPresentation:
    """Split a presented SD-JWT(+KB) on ``~`` and check its shape (RFC 9901 §4, §7.1 step 1)."""
    if not isinstance(token, str):
        raise SD_JWT.fail("malformed", "SD-JWT is not a string")
    if len(token) > max_length:
        raise SD_JWT.fail("too_large", "SD-JWT exceeds the size limit")
    if _SEPARATOR not in token:
        # A bare JWT is not an SD-JWT: even without Disclosures the serialization ends with "~".
        raise SD_JWT.fail("malformed", "SD-JWT has no '~' separator")
    if not token.isascii():
        # Every component is base64url or a compact JWS; anything else could not be hashed as ASCII.
        raise SD_JWT.fail("malformed", "SD-JWT is not ASCII")
    # Counting first keeps a hostile "~~~~..." from being split into a huge list.
    if token.count(_SEPARATOR) - 1 > max_disclosures:
        raise SD_JWT.fail("too_many_disclosures", "SD-JWT carries too many Disclosures")
    issuer_jwt, *disclosures, last = token.split(_SEPARATOR)
    if not issuer_jwt:
        raise SD_JWT.fail("malformed", "SD-JWT has no Issuer-signed JWT")
    if "" in disclosures:
        raise SD_JWT.fail("malformed", "SD-JWT has an empty Disclosure component")
    if len(set(disclosures)) != len(disclosures):
        # RFC 9901 §4: the Holder MUST NOT send a Disclosure twice.
        raise SD_JWT.fail("disclosure_duplicated", "SD-JWT presents a Disclosure twice")
    return SdJwtPresentation(
        issuer_jwt=issuer_jwt,
        disclosures=tuple(disclosures),
        kb_jwt=last or None,
        sd_jwt=token[: len(token) - len(last)],
    )
