"""Issuer keys for credentials: where the key that must verify an issuer's signature comes from.

SD-JWT VC -18 §2.5 allows two mechanisms here, and the caller's policy picks one per issuer (an attacker
must not, §6.2): ``x509_chain.py`` validates an ``x5c`` chain to configured trust anchors (pure), and
``metadata.py`` fetches JWT VC Issuer Metadata for an https ``iss`` through the SSRF guard (the only I/O).
"""

from service.issuer_keys.metadata import (
    IssuerKeys,
    IssuerMetadataResolver,
    IssuerMetadataUnavailable,
    metadata_url,
    parse_jwks,
)
from service.issuer_keys.x509_chain import (
    VerifiedChain,
    check_issuer_matches_leaf,
    load_trust_anchors,
    verify_x5c,
)

__all__ = [
    "IssuerKeys",
    "IssuerMetadataResolver",
    "IssuerMetadataUnavailable",
    "VerifiedChain",
    "check_issuer_matches_leaf",
    "load_trust_anchors",
    "metadata_url",
    "parse_jwks",
    "verify_x5c",
]
