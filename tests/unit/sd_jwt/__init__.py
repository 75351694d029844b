"""Test helpers for SD-JWT: build Disclosures and digests by hand, independently of service.sd_jwt."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

_HASHES = {"sha-256": hashlib.sha256, "sha-384": hashlib.sha384, "sha-512": hashlib.sha512}


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def disclosure(*items: Any) -> str:
    """A Disclosure: base64url of the JSON array of ``items`` (RFC 9901 §4.2.1 / §4.2.2)."""
    return b64(json.dumps(list(items)).encode("utf-8"))


def digest(text: str, alg: str = "sha-256") -> str:
    """base64url(HASH(ASCII(text))) (RFC 9901 §4.2.3)."""
    return b64(_HASHES[alg](text.encode("ascii")).digest())


def reference(text: str, alg: str = "sha-256") -> dict[str, str]:
    """The ``{"...": digest}`` array placeholder for an array element Disclosure (RFC 9901 §4.2.4.2)."""
    return {"...": digest(text, alg)}
