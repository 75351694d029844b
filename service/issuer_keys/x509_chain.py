"""Issuer keys from an ``x5c`` header: the chain validated to a configured trust anchor, no I/O.

SD-JWT VC -18 §2.5 lets an issuer carry its key in an X.509 chain (RFC 7515 §4.1.6: standard base64 DER,
leaf first). The path is built and checked by ``cryptography.x509.verification`` (RFC 5280 §6 with the
web PKI profile for issuers): signatures, validity, basicConstraints cA and keyCertSign on every issuer,
path length and name constraints, no unknown critical extension, anchors matched by name and key. The leaf
profile is ours, because a credential signer is not a TLS client: any extended key usage or none, but not
a CA, and digitalSignature if it states a key usage. That profile also limits chain signatures to RSA
(>= 2048 bit) and ECDSA P-256/384/521; an Ed25519 *leaf key* is fine, an Ed25519-signed chain is not.

Nothing is fetched (no AIA, CRL or OCSP): the presented chain and the anchors are all we look at.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from service.errors import ConfigurationError, CredentialInvalid, MalformedKey
from service.jose.jwk import PublicJwk, public_jwk_from_key

__all__ = ["VerifiedChain", "check_issuer_matches_leaf", "load_trust_anchors", "verify_x5c"]

# secp256k1 parses as a JWK elsewhere, but no X.509 issuer profile we accept signs with it.
_LEAF_CURVES: Final = frozenset({"secp256r1", "secp384r1", "secp521r1"})


# --- Leaf profile: the two rules the permissive base policy does not enforce --- #


def _leaf_is_not_ca(_policy: Policy, _cert: x509.Certificate, ext: x509.BasicConstraints | None) -> None:
    if ext is not None and ext.ca:
        raise ValueError("the end-entity certificate is a CA")


def _leaf_may_sign(_policy: Policy, _cert: x509.Certificate, ext: x509.KeyUsage | None) -> None:
    # RFC 5280 §4.2.1.3: a key usage without digitalSignature forbids signing data such as a credential.
    if ext is not None and not ext.digital_signature:
        raise ValueError("the end-entity key usage does not allow signatures")


# permit_all() still refuses unknown critical extensions; it only drops the web PKI leaf rules (clientAuth
# EKU, mandatory SAN and authority key identifier) that credential signers do not follow.
_LEAF_POLICY: Final = (
    ExtensionPolicy.permit_all()
    .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _leaf_is_not_ca)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _leaf_may_sign)
)
# An issuing CA may state any EKU: the web PKI check compares it with clientAuth, which means nothing here.
_CA_POLICY: Final = ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None
)


@dataclass(frozen=True)
class VerifiedChain:
    """An ``x5c`` chain that validated to a trust anchor, and what the leaf says about its holder."""

    leaf: x509.Certificate = field(repr=False)
    key: PublicJwk
    """The leaf's public key: the key that must verify the credential."""
    dns_names: tuple[str, ...]
    """dNSName SANs of the leaf."""
    uris: tuple[str, ...]
    """uniformResourceIdentifier SANs of the leaf."""
    anchor_subject: str
    """RFC 4514 subject of the trust anchor the chain ends at (for logs and the verdict)."""


def load_trust_anchors(pem: bytes) -> tuple[x509.Certificate, ...]:
    """Parse the configured trust anchors (roots, or pinned issuer certificates) from PEM (RFC 7468)."""
    try:
        anchors = tuple(x509.load_pem_x509_certificates(pem))
        Store(list(anchors))  # refuses what the path builder could not use, at start-up, not per request
    except ValueError as exc:
        raise ConfigurationError("config.trust_anchors", "The trust anchors are not valid PEM") from exc
    return anchors


def verify_x5c(
    x5c: object, *, anchors: Sequence[x509.Certificate], now: datetime, max_chain: int = 5
) -> VerifiedChain:
    """Validate an ``x5c`` chain at ``now`` (aware) to one of ``anchors`` (RFC 7515 §4.1.6, RFC 5280 §6)."""
    certs = _decode_x5c(x5c, max_chain)
    _check_validity(certs, now)
    path = _build_path(certs, anchors, now=now, max_chain=max_chain)
    # RFC 7515 §4.1.6: each certificate certifies the one before it. The builder would also accept a
    # shuffled or padded list, so insist the path it found is exactly what was sent (plus the anchor).
    if path[: len(certs)] != certs:
        raise CredentialInvalid("credential.untrusted_chain", "The x5c certificates are not an ordered chain")
    leaf = certs[0]
    dns_names, uris = _subject_alt_names(leaf)
    return VerifiedChain(
        leaf=leaf,
        key=_leaf_key(leaf),
        dns_names=dns_names,
        uris=uris,
        anchor_subject=path[-1].subject.rfc4514_string(),
    )


def check_issuer_matches_leaf(iss: str | None, chain: VerifiedChain) -> None:
    """A present ``iss`` must be a URI SAN of the leaf, or https with its host a dNSName SAN (VC-09 §3.5)."""
    if iss is None or iss in chain.uris:
        return
    host = _https_host(iss)
    # Exact names only: a wildcard SAN vouches for a whole zone, not for one issuer.
    if host is not None and host in {name.lower() for name in chain.dns_names}:
        return
    # Any other iss (a DID, an http URL, another host) is a claim the certificate does not back.
    raise CredentialInvalid("credential.issuer_mismatch", "The issuer is not named by the x5c certificate")


# --- Decoding --- #


def _decode_x5c(x5c: object, max_chain: int) -> list[x509.Certificate]:
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= max_chain:
        raise CredentialInvalid("credential.x5c_malformed", f"x5c must list 1 to {max_chain} certificates")
    return [_decode_certificate(item) for item in x5c]


def _decode_certificate(item: object) -> x509.Certificate:
    if not isinstance(item, str) or not item:
        raise CredentialInvalid("credential.x5c_malformed", "An x5c entry is not a base64 string")
    try:
        der = base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CredentialInvalid("credential.x5c_malformed", "An x5c entry is not standard base64") from exc
    # validate=True still accepts non-zero padding bits; only the canonical text has one meaning.
    if base64.b64encode(der).decode("ascii") != item:
        raise CredentialInvalid("credential.x5c_malformed", "An x5c entry is not canonical base64")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CredentialInvalid("credential.x5c_malformed", "An x5c entry is not a DER certificate") from exc


# --- Validation --- #


def _check_validity(certs: Sequence[x509.Certificate], now: datetime) -> None:
    # Checked before the path so an out-of-date certificate gets its own reason, not "untrusted".
    for cert in certs:
        if not _valid_at(cert, now):
            raise CredentialInvalid("credential.certificate_expired", "A certificate is not valid now")


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _build_path(
    certs: list[x509.Certificate], anchors: Sequence[x509.Certificate], *, now: datetime, max_chain: int
) -> list[x509.Certificate]:
    if not anchors:
        raise CredentialInvalid("credential.untrusted_chain", "No trust anchor is configured")
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(now)
        .max_chain_depth(max_chain)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_LEAF_POLICY)
        .build_client_verifier()
    )
    try:
        return verifier.verify(certs[0], certs[1:]).chain
    except VerificationError as exc:
        if _issued_by_expired_anchor(certs[-1], anchors, now):
            raise CredentialInvalid(
                "credential.certificate_expired", "The trust anchor is not valid now"
            ) from exc
        raise CredentialInvalid(
            "credential.untrusted_chain", "The x5c chain does not validate to a trust anchor"
        ) from exc


def _issued_by_expired_anchor(
    top: x509.Certificate, anchors: Sequence[x509.Certificate], now: datetime
) -> bool:
    """Whether the chain would have reached an anchor that is outside its own validity window."""
    for anchor in anchors:
        if _valid_at(anchor, now) or top.issuer != anchor.subject:
            continue
        try:
            top.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return True
    return False


# --- The leaf --- #


def _leaf_key(leaf: x509.Certificate) -> PublicJwk:
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CredentialInvalid("credential.unsupported_key", "The leaf key cannot be used") from exc
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _LEAF_CURVES:
        raise CredentialInvalid("credential.unsupported_key", "The leaf key curve is not supported")
    if not isinstance(key, Ed25519PublicKey | ec.EllipticCurvePublicKey | RSAPublicKey):
        raise CredentialInvalid("credential.unsupported_key", "The leaf key type is not supported")
    try:
        return public_jwk_from_key(key)
    except MalformedKey as exc:  # e.g. RSA below 2048 bits, or a small-order Ed25519 point
        raise CredentialInvalid("credential.unsupported_key", "The leaf key is not accepted") from exc


def _subject_alt_names(leaf: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return (), ()
    except ValueError as exc:  # e.g. a duplicated extension the path builder did not need to read
        raise CredentialInvalid("credential.x5c_malformed", "The leaf extensions cannot be read") from exc
    return (
        tuple(san.get_values_for_type(x509.DNSName)),
        tuple(san.get_values_for_type(x509.UniformResourceIdentifier)),
    )


def _https_host(iss: str) -> str | None:
    try:
        parts = urlsplit(iss)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme != "https" or "@" in parts.netloc or not host:
        return None
    return host
