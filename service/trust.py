"""Trusted credential issuers: who may vouch for a claim, and with which keys.

Trust file (``VERIFIER_TRUST_FILE``)::

    {"issuers": [
        {"id": "did:key:z6Mk...", "name": "Example Age Authority"},
        {"id": "did:jwk:eyJ...", "name": "Pinned", "jwks": {"keys": [{...public JWK with kid...}]}},
        {"id": "https://issuer.example", "name": "Non-DID issuer", "jwks": {"keys": [...]},
         "credential_types": ["AgeCredential"]}
    ]}

        {"id": "https://pid.example", "name": "PID provider", "vct": ["urn:eudi:pid:1"],
         "x509_anchors": ["pid-root.pem"], "metadata": true}

A DID issuer's keys come from its DID document unless ``jwks`` pins them. A non-DID (https) issuer needs
at least one key source: ``jwks`` (pinned), ``x509_anchors`` (an ``x5c`` chain in the credential must lead
to one of these roots, and its leaf name the issuer; paths relative to the trust file, or inline PEM), or
``metadata: true`` (keys from its JWT VC Issuer Metadata), or ``jwks_uri`` (a published JWK Set); both are
fetched over the SSRF-guarded, cached client.
``credential_types`` (W3C types) and ``vct`` (SD-JWT VC types) limit what the issuer is trusted for.
A definition may narrow the list further with its own ``trusted_issuers``; it can never widen it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography import x509

from service.errors import ConfigurationError, MalformedKey
from service.jose.jwk import PublicJwk, parse_public_jwk

__all__ = ["TrustDecision", "TrustList", "TrustedIssuer", "load_trust_file", "parse_trust_list"]

_MAX_TRUST_FILE = 1024 * 1024


class _IssuerEntry(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    name: str | None = None
    jwks: dict[str, list[dict[str, Any]]] | None = None
    credential_types: list[str] | None = None
    vct: list[str] | None = None
    x509_anchors: list[str] | None = None
    metadata: bool = False
    jwks_uri: str | None = None


class _TrustFile(msgspec.Struct, forbid_unknown_fields=True):
    issuers: list[_IssuerEntry]


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """One issuer we accept credentials from."""

    id: str
    name: str | None
    pinned_keys: tuple[tuple[str | None, PublicJwk], ...] | None
    """(kid, key) pairs when the trust file pins keys; None means: use the issuer's DID document."""
    credential_types: frozenset[str] | None
    vct: frozenset[str] | None = None
    """SD-JWT VC types the issuer is trusted for (None: any)."""
    x509_anchors: tuple[x509.Certificate, ...] = ()
    """Roots an ``x5c`` chain in the issuer's credentials may lead to (empty: x5c not accepted)."""
    metadata: bool = False
    """Keys may come from the issuer's JWT VC Issuer Metadata (SD-JWT VC -18 §3)."""
    jwks_uri: str | None = None
    """Keys published at this URL (a JWK Set), fetched over the SSRF-guarded, cached client."""
    rule: str = "trust_file"
    """Which rule admitted the issuer (reported in the verdict): ``trust_file`` or ``any_issuer``."""

    def admits_types(self, types: Iterable[str]) -> bool:
        """True when the issuer is trusted for at least one of the credential's types."""
        return self.credential_types is None or not self.credential_types.isdisjoint(types)

    def admits_vct(self, vct: str) -> bool:
        """True when the issuer is trusted for this SD-JWT VC type."""
        return self.vct is None or vct in self.vct


@dataclass(frozen=True, slots=True)
class TrustDecision:
    """Why an issuer was accepted, as the verdict reports it."""

    rule: str
    """``trust_file`` or ``any_issuer``."""
    key_source: str
    """Where the issuer key came from: ``did``, ``jwks`` (pinned), ``x5c`` or ``metadata``."""
    narrowed_by_definition: bool
    """The definition's own ``trusted_issuers`` list applied as well."""


@dataclass(frozen=True, slots=True)
class TrustList:
    """The configured trusted issuers, by id; ``any_issuer`` admits every DID issuer on purpose."""

    issuers: Mapping[str, TrustedIssuer]
    any_issuer: bool = False

    def lookup(self, issuer_id: str, *, narrowed_to: frozenset[str] | None = None) -> TrustedIssuer | None:
        """The trust entry for ``issuer_id``, if trusted (and inside a definition's narrower list)."""
        if narrowed_to is not None and issuer_id not in narrowed_to:
            return None
        entry = self.issuers.get(issuer_id)
        if entry is None and self.any_issuer and issuer_id.startswith("did:"):
            # "Any issuer" still needs a key bound to the issuer's identity: only a DID provides one.
            return TrustedIssuer(
                id=issuer_id, name=None, pinned_keys=None, credential_types=None, rule="any_issuer"
            )
        return entry


def _pinned_keys(entry: _IssuerEntry) -> tuple[tuple[str | None, PublicJwk], ...] | None:
    if entry.jwks is None:
        if not entry.id.startswith("did:") and not (entry.x509_anchors or entry.metadata or entry.jwks_uri):
            raise ConfigurationError(
                "config.trust",
                "A non-DID issuer needs a key source: jwks, jwks_uri, x509_anchors or metadata",
            )
        return None
    keys = entry.jwks.get("keys")
    if not keys:
        raise ConfigurationError("config.trust", "An issuer's jwks has no keys")
    try:
        return tuple((key.get("kid"), parse_public_jwk(key)) for key in keys)
    except MalformedKey as exc:
        raise ConfigurationError("config.trust", f"An issuer key is not usable: {exc.reason}") from exc


def _anchors(entry: _IssuerEntry, base: Path) -> tuple[x509.Certificate, ...]:
    anchors: list[x509.Certificate] = []
    for item in entry.x509_anchors or ():
        try:
            pem = item.encode() if item.lstrip().startswith("-----BEGIN") else (base / item).read_bytes()
            anchors.extend(x509.load_pem_x509_certificates(pem))
        except (OSError, ValueError) as exc:
            raise ConfigurationError("config.trust", "An x509 trust anchor cannot be read") from exc
    return tuple(anchors)


def _non_empty(values: list[str] | None, name: str) -> frozenset[str] | None:
    if values is None:
        return None
    if not values:
        # An empty list would read as "no restriction": say what is meant instead.
        raise ConfigurationError("config.trust", f"{name} must list at least one value (or be omitted)")
    return frozenset(values)


def parse_trust_list(data: bytes | str, *, base: Path | None = None) -> TrustList:
    """Parse trust-file JSON (relative anchor paths resolve against ``base``); any error fails start-up."""
    try:
        parsed = msgspec.json.decode(data, type=_TrustFile)
    except msgspec.DecodeError as exc:
        raise ConfigurationError("config.trust", f"The trust file is not valid: {exc}") from exc
    issuers: dict[str, TrustedIssuer] = {}
    for entry in parsed.issuers:
        if entry.id in issuers:
            raise ConfigurationError("config.trust", "An issuer is listed twice in the trust file")
        if entry.metadata and not entry.id.startswith(("https://", "http://")):
            # http is only ever fetched where the outbound policy allows it (development).
            raise ConfigurationError("config.trust", "Issuer metadata needs an https issuer id")
        issuers[entry.id] = TrustedIssuer(
            id=entry.id,
            name=entry.name,
            pinned_keys=_pinned_keys(entry),
            credential_types=_non_empty(entry.credential_types, "credential_types"),
            vct=_non_empty(entry.vct, "vct"),
            x509_anchors=_anchors(entry, base or Path()),
            metadata=entry.metadata,
            jwks_uri=entry.jwks_uri,
        )
    return TrustList(issuers=issuers)


def load_trust_file(path: Path | None, *, any_issuer: bool = False) -> TrustList:
    """Read the trust file; no file means an empty list (nothing is trusted unless ``any_issuer``)."""
    if path is None:
        return TrustList(issuers={}, any_issuer=any_issuer)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError("config.trust", f"Cannot read the trust file {path.name}") from exc
    if len(data) > _MAX_TRUST_FILE:
        raise ConfigurationError("config.trust", "The trust file is too large")
    trust = parse_trust_list(data, base=path.parent)
    return TrustList(issuers=trust.issuers, any_issuer=any_issuer)
