"""JWK thumbprints (RFC 7638) and thumbprint URIs (RFC 9278) against the siopv2 vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from service.jose.jwk import jwk_thumbprint, jwk_thumbprint_uri, parse_public_jwk

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "siopv2"


def _load(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return case


def test_rfc7638_rsa_example() -> None:
    """The RFC 7638 §3.1 RSA key has the published canonical members and thumbprint."""
    case = _load("rfc7638-3.1-rsa-thumbprint.json")
    jwk = parse_public_jwk(case["jwk"])
    canonical = json.dumps(dict(sorted(jwk.to_dict().items())), separators=(",", ":"))
    assert canonical == case["expected_canonical_json"]
    assert jwk_thumbprint(jwk) == case["expected_thumbprint_sha256_b64url"]


def test_rfc9278_uri_of_rfc7638_example() -> None:
    """The RFC 9278 §3 URI of the RFC 7638 key is the sha-256 URN of its thumbprint."""
    case = _load("rfc7638-3.1-rsa-thumbprint.json")
    assert jwk_thumbprint_uri(parse_public_jwk(case["jwk"])) == (
        "urn:ietf:params:oauth:jwk-thumbprint:sha-256:NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


def test_ec_thumbprint_ignores_extra_members() -> None:
    """use, alg and kid do not enter the EC thumbprint (OpenID4VP 1.0 App. B.2.6.1)."""
    case = _load("ec-thumbprint-ignores-extra-members.json")
    assert {"use", "alg", "kid"} <= set(case["jwk"])
    jwk = parse_public_jwk(case["jwk"])
    assert set(jwk.members) == {"crv", "kty", "x", "y"}
    thumbprint = jwk_thumbprint(jwk)
    assert thumbprint == case["expected_thumbprint_sha256_b64url"]
    padded = thumbprint + "=" * (-len(thumbprint) % 4)
    assert base64.urlsafe_b64decode(padded).hex() == case["expected_thumbprint_sha256_hex"]
