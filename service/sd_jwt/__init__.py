"""Selective Disclosure JWTs (RFC 9901): the format-independent core of a ``dc+sd-jwt`` credential.

The verifier's order (RFC 9901 §7.1, §7.3), one function per step, no I/O:

1. ``split_presentation`` — ``<Issuer-signed JWT>~<Disclosures>~[<KB-JWT>]`` into its components.
2. The caller decodes and verifies ``issuer_jwt`` (``service.jose.jws``) with the issuer's key.
3. ``process_disclosures`` — hash the Disclosures, insert them where their digests are, drop decoys,
   refuse duplicates, unreferenced Disclosures and reserved names; report which paths were disclosed.
4. ``holder_key_from_cnf`` — the holder key from the processed ``cnf`` (or a DID URL to resolve).
5. ``verify_key_binding`` — ``typ``, signature, ``iat``, ``aud``, ``nonce`` and ``sd_hash`` of the KB-JWT.

Structural failures raise ``CredentialInvalid`` with reason ``sd_jwt.*``; KB-JWT failures raise
``KeyBindingInvalid`` with reason ``key_binding.*``.
"""

from __future__ import annotations

from service.sd_jwt.disclosures import (
    DEFAULT_SD_ALG,
    SUPPORTED_SD_ALGS,
    ClaimPath,
    ProcessedSdJwt,
    process_disclosures,
    sd_digest,
)
from service.sd_jwt.key_binding import (
    KB_JWT_TYP,
    KEY_BINDING,
    KeyBindingExpectations,
    holder_key_from_cnf,
    verify_key_binding,
)
from service.sd_jwt.serialization import SD_JWT, SdJwtPresentation, split_presentation

__all__ = [
    "DEFAULT_SD_ALG",
    "KB_JWT_TYP",
    "KEY_BINDING",
    "SD_JWT",
    "SUPPORTED_SD_ALGS",
    "ClaimPath",
    "KeyBindingExpectations",
    "ProcessedSdJwt",
    "SdJwtPresentation",
    "holder_key_from_cnf",
    "process_disclosures",
    "sd_digest",
    "split_presentation",
    "verify_key_binding",
]
