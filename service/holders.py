"""Holder binding without an ID Token (OpenID4VP 1.0 ``response_type=vp_token``).

With SIOPv2 the ID Token names the holder and every presentation must come from that key. A 1.0 wallet that
only answers ``vp_token`` proves possession per presentation instead (1.0 §8.6 step 2c, §14.1.2): a VP JWT
is signed by the key its header names (a DID URL ``kid`` of the VP's holder, or an embedded ``jwk``), an
SD-JWT VC's Key Binding JWT by its ``cnf`` key. These functions say which DID must be resolved for that
(``*_holder_did``) and build the :class:`Holder` each presentation is then checked against, exactly as if
an ID Token had named it. Pure: DID documents arrive resolved.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.did.resolve import DidDocument, did_method, did_of, select_verification_method
from service.errors import DidResolutionFailed, HolderBindingFailed, MalformedKey
from service.id_token import Holder
from service.jose.jwk import PublicJwk, jwk_thumbprint_uri, parse_public_jwk
from service.jose.jws import Jws
from service.sd_jwt import holder_key_from_cnf

__all__ = [
    "presentation_holder",
    "presentation_holder_did",
    "sd_jwt_holder",
    "sd_jwt_holder_did",
]

_DID_PREFIX = "did:"


def presentation_holder_did(jws: Jws) -> str | None:
    """The DID whose document holds the VP's key: the DID of a DID URL ``kid``; None for a ``jwk`` header."""
    if jws.kid is None or not jws.kid.startswith(_DID_PREFIX):
        return None
    return _did_of(jws.kid)


def presentation_holder(jws: Jws, document: DidDocument | None, *, subject_methods: frozenset[str]) -> Holder:
    """The holder a VP JWT claims: the DID of its ``kid`` (checked against its document), or its ``jwk``."""
    did = presentation_holder_did(jws)
    if did is not None:
        if document is None or document.id != did:
            raise _no_key("The presentation's DID could not be resolved")
        _check_method(did, subject_methods)
        key = select_verification_method(document, jws.kid, relationship="authentication").public_key
        return Holder(id=did, method="did", key=key, did=did, document=document)
    header_jwk = jws.header.get("jwk")
    if not isinstance(header_jwk, Mapping):
        raise _no_key("The presentation names its key neither by a DID URL kid nor by a jwk header")
    return _thumbprint_holder(_parse(header_jwk))


def sd_jwt_holder_did(payload: Mapping[str, object]) -> str | None:
    """The DID to resolve for an SD-JWT whose ``cnf`` names its key by DID URL; None for a ``cnf.jwk``."""
    key_or_kid = holder_key_from_cnf(payload.get("cnf"))
    return _did_of(key_or_kid) if isinstance(key_or_kid, str) else None


def sd_jwt_holder(
    payload: Mapping[str, object], document: DidDocument | None, *, subject_methods: frozenset[str]
) -> Holder:
    """The holder an SD-JWT VC's ``cnf`` names: its DID (by DID URL) or its JWK thumbprint."""
    key_or_kid = holder_key_from_cnf(payload.get("cnf"))
    if not isinstance(key_or_kid, str):
        return _thumbprint_holder(key_or_kid)
    did = _did_of(key_or_kid)
    if document is None or document.id != did:
        raise _no_key("The DID in the credential's cnf could not be resolved")
    _check_method(did, subject_methods)
    key = select_verification_method(document, key_or_kid, relationship="authentication").public_key
    return Holder(id=did, method="did", key=key, did=did, document=document)


def _thumbprint_holder(key: PublicJwk) -> Holder:
    return Holder(id=jwk_thumbprint_uri(key), method="jwk_thumbprint", key=key, did=None, document=None)


def _did_of(did_url: str) -> str:
    try:
        return did_of(did_url)
    except DidResolutionFailed as exc:
        raise _no_key("The holder key is not named by a valid DID URL") from exc


def _check_method(did: str, subject_methods: frozenset[str]) -> None:
    if did_method(did) not in subject_methods:
        raise HolderBindingFailed(
            "holder_binding.method_not_allowed", "The holder's DID method is not accepted here"
        )


def _parse(jwk: Mapping[str, object]) -> PublicJwk:
    try:
        return parse_public_jwk(jwk)
    except MalformedKey as exc:
        raise _no_key("The presentation's jwk header is not a usable public key") from exc


def _no_key(description: str) -> HolderBindingFailed:
    return HolderBindingFailed("holder_binding.no_holder_key", description)
