"""Step 2: parse a ``direct_post`` authorization response (OpenID4VP d20 §6.2, 1.0 §8.2 and §8.3).

The body is ``application/x-www-form-urlencoded``; JSON-valued parameters (an array ``vp_token``, a 1.0
``vp_token`` object, ``presentation_submission``) arrive as JSON text. With ``direct_post.jwt`` the only
parameter is ``response``, a JWE whose plaintext is a JSON object of the same parameters; a transaction that
asked for encryption refuses a plaintext answer (an error response excepted: a wallet that cannot encrypt
may still say so). A wallet's error response is data, not an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from service.errors import LimitExceeded, MalformedResponse
from service.form import parse_form
from service.strict_json import StrictJsonError, loads_strict, nested_deeper_than

__all__ = ["AuthorizationResponse", "ResponseLimits", "WalletError", "parse_response"]

# RFC 6749 §4.1.2.1: error codes are %x20-21 / %x23-5B / %x5D-7E; we keep a stricter, log-safe subset.
# Error codes a wallet may answer with (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, SIOPv2 §10.3, OpenID4VP
# §8.5). Anything else becomes `other`: verdict reasons and metric labels stay a closed set.
_WALLET_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
        "user_cancelled",
        "client_metadata_value_not_supported",
        "subject_syntax_types_not_supported",
        "invalid_client_metadata_uri",
        "invalid_client_metadata_object",
        "invalid_client",
        "vp_formats_not_supported",
        "invalid_presentation_definition_uri",
        "invalid_presentation_definition_reference",
        "invalid_request_uri_method",
        "invalid_transaction_data",
        "wallet_unavailable",
    }
)
_KNOWN_PARAMS = frozenset(
    {
        "state",
        "id_token",
        "vp_token",
        "presentation_submission",
        "error",
        "error_description",
        "error_uri",
        "iss",
        "response",
    }
)


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    """Caps on what a wallet may send."""

    max_fields: int = 16
    max_json_depth: int = 32


@dataclass(frozen=True, slots=True)
class AuthorizationResponse:
    """A successful authorization response: tokens still undecoded."""

    state: str | None
    id_token: str | None
    vp_token: Any
    """A compact token string, a JSON array of them, or None."""
    presentation_submission: Any
    """The decoded JSON value (validated later by Presentation Exchange), or None."""


@dataclass(frozen=True, slots=True)
class WalletError:
    """An error response from the wallet (e.g. the user declined): it becomes a rejected verdict."""

    state: str | None
    error: str
    """The wallet's error code when it is a registered one, else ``other`` (a closed, log-safe set)."""


def parse_response(
    body: bytes, *, limits: ResponseLimits, decrypt: Callable[[str], bytes] | None = None
) -> AuthorizationResponse | WalletError:
    """Decode the form body; duplicated or oversized parameters are refused (RFC 6749 §3.1).

    ``decrypt`` is given for a ``direct_post.jwt`` transaction: it opens the ``response`` JWE.
    """
    params = _parse_form(body, limits)
    if "error" in params and "response" not in params:
        return _wallet_error(params.get("error"), params.get("state"))
    if decrypt is None:
        if "response" in params:
            raise MalformedResponse(
                "response.unexpected_jwe", "This transaction did not ask for an encrypted response"
            )
        return AuthorizationResponse(
            state=params.get("state"),
            id_token=params.get("id_token"),
            vp_token=_json_or_token(params.get("vp_token"), limits, "vp_token"),
            presentation_submission=_json_value(
                params.get("presentation_submission"), limits, "presentation_submission"
            ),
        )
    if set(params) != {"response"}:
        raise MalformedResponse(
            "response.not_encrypted",
            "This transaction requires an encrypted response (direct_post.jwt) and nothing beside it",
        )
    return _decrypted(decrypt(params["response"]), limits)


def _wallet_error(code: object, state: object) -> WalletError:
    return WalletError(
        state=state if isinstance(state, str) else None,
        error=code if isinstance(code, str) and code in _WALLET_ERRORS else "other",
    )


def _decrypted(plaintext: bytes, limits: ResponseLimits) -> AuthorizationResponse | WalletError:
    """The JWE payload: a JSON object whose members are the response parameters (1.0 §8.3)."""
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedResponse("response.not_utf8", "The decrypted response is not UTF-8") from exc
    payload = _json_value(text, limits, "response")
    if not isinstance(payload, Mapping):
        raise MalformedResponse("response.malformed_json", "The decrypted response is not a JSON object")
    if len(payload) > limits.max_fields:
        raise LimitExceeded("limits.form_fields", "The decrypted response has too many members")
    if "error" in payload:
        return _wallet_error(payload.get("error"), payload.get("state"))
    state, id_token = payload.get("state"), payload.get("id_token")
    if not isinstance(state, str | None) or not isinstance(id_token, str | None):
        raise MalformedResponse("response.malformed_json", "state and id_token must be strings")
    return AuthorizationResponse(
        state=state,
        id_token=id_token,
        vp_token=payload.get("vp_token"),
        presentation_submission=payload.get("presentation_submission"),
    )


def _parse_form(body: bytes, limits: ResponseLimits) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedResponse("response.not_utf8", "The response body is not UTF-8") from exc
    try:
        pairs = parse_form(text, limits.max_fields)
    except ValueError as exc:
        # parse_form raises ValueError both for bad syntax and for too many fields.
        raise LimitExceeded("limits.form_fields", "The response has too many or malformed fields") from exc
    params: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise MalformedResponse("response.duplicate_parameter", "A response parameter appears twice")
        seen.add(name)
        if name in _KNOWN_PARAMS:
            params[name] = value
    return params


def _json_or_token(value: str | None, limits: ResponseLimits, name: str) -> Any:
    if value is None:
        return None
    stripped = value.strip()
    # A single presentation is sent as the token itself; several as a JSON array (d20 §6.1). Some wallets
    # JSON-quote a lone token: accept that spelling too, it decodes to the same string.
    if stripped.startswith(("[", '"', "{")):
        return _json_value(stripped, limits, name)
    return value


def _json_value(value: str | None, limits: ResponseLimits, name: str) -> Any:
    if value is None:
        return None
    if nested_deeper_than(value, limits.max_json_depth):
        raise LimitExceeded("limits.json_depth", f"The {name} parameter is nested too deeply")
    try:
        return loads_strict(value, max_depth=limits.max_json_depth)
    except StrictJsonError as exc:
        raise MalformedResponse("response.malformed_json", f"The {name} parameter is not valid JSON") from exc
