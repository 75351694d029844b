"""did:jwk v1: the DID is a base64url-encoded public JWK, so resolving it is pure decoding (did.md §2).

The single method is ``<did>#0`` (a ``kid`` inside the JWK is never the fragment). Relationships follow
``use``: ``sig`` drops ``keyAgreement``, ``enc`` keeps only ``keyAgreement``. Beyond the spec text we
apply RFC 8037's split: Ed25519 keys never go into ``keyAgreement`` and X25519 keys only go there.
The DID string is kept as received: two serializations of one key are two DIDs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from service.did.document import (
    JSON_WEB_KEY_2020,
    DidDocument,
    KeyAgreementMethod,
    VerificationMethod,
)
from service.errors import DidResolutionFailed, MalformedKey, MalformedResponse
from service.jose.encoding import b64url_decode, b64url_encode
from service.jose.jwk import PublicJwk, parse_key_agreement_jwk, parse_public_jwk

__all__ = ["MAX_DID_JWK_LENGTH", "did_jwk_from_jwk", "resolve_did_jwk"]

# Room for an RSA-4096 JWK with a few extra members; anything longer is not a key we want to parse.
MAX_DID_JWK_LENGTH: Final = 4096
_PREFIX: Final = "did:jwk:"
_FRAGMENT: Final = "#0"
_NO_IDS: Final[frozenset[str]] = frozenset()


def resolve_did_jwk(did: str) -> DidDocument:
    """Decode a did:jwk into its DID document (did:jwk spec "Read")."""
    jwk = _decode_jwk(did)
    method_id = did + _FRAGMENT
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "X25519":
        return _key_agreement_document(did, method_id, jwk)
    public_key = parse_public_jwk(jwk)
    signing, agreement = _relationships(jwk.get("use"), public_key)
    ids = frozenset({method_id})
    return DidDocument(
        did,
        (VerificationMethod(method_id, did, JSON_WEB_KEY_2020, public_key),),
        authentication=ids if signing else _NO_IDS,
        assertion_method=ids if signing else _NO_IDS,
        key_agreement=ids if agreement else _NO_IDS,
    )


def did_jwk_from_jwk(jwk: PublicJwk) -> str:
    """The did:jwk of a key: its required members as compact JSON with sorted names."""
    document = json.dumps(dict(sorted(jwk.members.items())), separators=(",", ":"))
    return _PREFIX + b64url_encode(document.encode("ascii"))


def _decode_jwk(did: str) -> dict[str, Any]:
    if len(did) > MAX_DID_JWK_LENGTH or not did.startswith(_PREFIX):
        raise DidResolutionFailed("did.invalid", "Not a did:jwk")
    try:
        raw = b64url_decode(did[len(_PREFIX) :], reason="did.invalid")
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (MalformedResponse, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DidResolutionFailed("did.invalid", "did:jwk value is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise DidResolutionFailed("did.invalid", "did:jwk value is not a JSON object")
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two members with one name could be read as two different keys by two parsers.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _relationships(use: object, key: PublicJwk) -> tuple[bool, bool]:
    """Whether the key signs (authentication, assertionMethod) and whether it agrees keys."""
    if use is None:
        return True, key.kty != "OKP"  # Ed25519 is a signature-only curve (RFC 8037 §3.1)
    if use == "sig":
        return True, False
    if use == "enc":
        return False, True
    raise MalformedKey("key.invalid", "JWK use is neither sig nor enc")


def _key_agreement_document(did: str, method_id: str, jwk: Mapping[str, object]) -> DidDocument:
    public_key = parse_key_agreement_jwk(jwk)
    if jwk.get("use", "enc") != "enc":
        raise MalformedKey("key.invalid", "An X25519 key cannot be used for signatures")
    return DidDocument(
        did,
        (),
        authentication=_NO_IDS,
        assertion_method=_NO_IDS,
        key_agreement=frozenset({method_id}),
        key_agreement_methods=(KeyAgreementMethod(method_id, did, JSON_WEB_KEY_2020, public_key),),
    )
