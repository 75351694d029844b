"""The same-device flow's ``response_code`` (OpenID4VP 1.0 §8.2, §13.3): nothing stored but its single use.

The wallet's answer redirects the user to the backend's front end with a fresh 128-bit code; the front end
must present it to read the verdict, so a session fixated by an attacker (who scanned the QR code on their
own device) cannot read someone else's result. The code is an HMAC of the transaction id under a sealing
key: unguessable without our keys, tied to one transaction, and any replica can check it. That it is used
once is kept by the replay guard (``Verifier``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Final

from service.errors import Forbidden, VerifierError
from service.jose.encoding import b64url_decode, b64url_encode

__all__ = ["RESPONSE_CODE_EVENT", "check_response_code", "response_code", "with_response_code"]

RESPONSE_CODE_EVENT: Final = "same_device"
"""Recorded when a same-device transaction is created: polling it needs its code from then on."""
_LABEL = b"openid4vp response_code\x00"
_CODE_BYTES = 16


def response_code(secret: bytes, transaction_id: bytes) -> str:
    """The code of one transaction under one key."""
    return b64url_encode(hmac.new(secret, _LABEL + transaction_id, hashlib.sha256).digest()[:_CODE_BYTES])


def check_response_code(code: str | None, transaction_id: str, secrets: Iterable[bytes]) -> None:
    """Refuse a missing or wrong code; any key we hold may have made it (a rotation may come between)."""
    if code is None:
        raise Forbidden("response_code.required", "This same-device transaction needs its response_code")
    try:
        raw_id = b64url_decode(transaction_id)
    except VerifierError as exc:
        raise Forbidden("response_code.invalid", "The response_code does not match") from exc
    if not any(hmac.compare_digest(code, response_code(secret, raw_id)) for secret in secrets):
        raise Forbidden("response_code.invalid", "The response_code does not match")


def with_response_code(template: str, code: str) -> str:
    """The backend's redirect target with the code: in place of ``{response_code}``, else as a fragment."""
    if "{response_code}" in template:
        return template.replace("{response_code}", code)
    separator = "&" if "#" in template else "#"
    return f"{template}{separator}response_code={code}"
