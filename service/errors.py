"""One typed error tree for the whole verifier.

Every error carries two codes: the OAuth ``error`` (a class attribute, what a wallet sees on the wire)
and a stable ``reason`` (``<step>.<check>``, what the verdict, the logs and the webhook carry).
Backend-facing errors render as ``application/problem+json`` (RFC 9457) with the reason as ``type``
suffix; wallet-facing errors render as the OAuth error body (RFC 6749 §5.2 / OpenID4VP §8.5).

::

    VerifierError                      server_error              500
    ├── InvalidRequest                 invalid_request           400
    │   ├── MalformedResponse          response.*                    (form / JSON / token decode)
    │   ├── TransactionError           transaction.*                 (unknown, expired, replayed, state)
    │   ├── LimitExceeded              limits.*                      (size, count, depth caps)
    │   ├── MalformedKey               key.*                         (JWK / DID key material)
    │   └── PresentationRejected       <step>.<check>
    │       ├── IdTokenInvalid         id_token.*
    │       ├── PresentationInvalid    presentation.*                (VP proof, nonce, audience)
    │       ├── CredentialInvalid      credential.*                  (issuer signature, validity, trust)
    │       ├── SubmissionMismatch     submission.*                  (Presentation Exchange)
    │       ├── HolderBindingFailed    holder_binding.*
    │       ├── KeyBindingInvalid      key_binding.*                 (SD-JWT KB-JWT)
    │       └── DidResolutionFailed    did.*
    ├── BackendError                   (problem+json for the backend API)
    │   ├── BadBackendRequest          invalid_request           400
    │   ├── Unauthorized               invalid_client            401
    │   ├── Forbidden                  access_denied             403
    │   ├── NotFound                   not_found                 404
    │   └── StoreRequired              not_supported             501  (needs VERIFIER_STORE_URL)
    ├── DependencyUnavailable          temporarily_unavailable   503
    └── ConfigurationError             server_error              500  (start-up only)

``error_description`` is ASCII only (RFC 6749 §4.1.2.1) and never echoes a token, a claim value or a key.
"""

from __future__ import annotations

import re
from typing import ClassVar

__all__ = [
    "BackendError",
    "BadBackendRequest",
    "ConfigurationError",
    "CredentialInvalid",
    "DependencyUnavailable",
    "DidResolutionFailed",
    "Forbidden",
    "HolderBindingFailed",
    "IdTokenInvalid",
    "InvalidRequest",
    "KeyBindingInvalid",
    "LimitExceeded",
    "MalformedKey",
    "MalformedResponse",
    "NotFound",
    "PresentationInvalid",
    "PresentationRejected",
    "StoreRequired",
    "SubmissionMismatch",
    "TransactionError",
    "Unauthorized",
    "VerifierError",
    "safe_description",
]

# RFC 6749 §4.1.2.1: error_description uses %x20-21 / %x23-5B / %x5D-7E (no '"' and no '\').
_UNSAFE_DESCRIPTION_CHARS = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_MAX_DESCRIPTION = 300


def safe_description(text: str) -> str:
    """Fold a message into the character set RFC 6749 allows for ``error_description``."""
    return _UNSAFE_DESCRIPTION_CHARS.sub("?", text)[:_MAX_DESCRIPTION]


class VerifierError(Exception):
    """Root of every error the service raises on purpose."""

    error: ClassVar[str] = "server_error"
    status_code: ClassVar[int] = 500
    default_reason: ClassVar[str] = "internal.error"
    default_description: ClassVar[str] = "The verifier could not complete the request"

    def __init__(
        self,
        reason: str | None = None,
        description: str | None = None,
        *,
        descriptor_id: str | None = None,
    ) -> None:
        self.reason = reason or self.default_reason
        self.description = safe_description(description or self.default_description)
        self.descriptor_id = descriptor_id
        super().__init__(f"{self.reason}: {self.description}")


# --- Wallet-facing: the OAuth error body --- #


class InvalidRequest(VerifierError):
    """The wallet's request or response is not acceptable (RFC 6749 §5.2 ``invalid_request``)."""

    error = "invalid_request"
    status_code = 400
    default_reason = "request.invalid"
    default_description = "The request is not valid"


class MalformedResponse(InvalidRequest):
    """The authorization response could not be decoded (form, JSON, compact token)."""

    default_reason = "response.malformed"
    default_description = "The authorization response could not be decoded"


class TransactionError(InvalidRequest):
    """The response does not belong to a live, unused transaction (OpenID4VP §14.3.2)."""

    default_reason = "transaction.invalid"
    default_description = "The transaction is unknown, expired or already used"


class LimitExceeded(InvalidRequest):
    """An input went over one of the configured size, count or depth limits."""

    default_reason = "limits.exceeded"
    default_description = "The input exceeds a configured limit"


class MalformedKey(InvalidRequest):
    """Key material (a JWK, a DID's public key) is malformed, private, or not on its curve."""

    default_reason = "key.invalid"
    default_description = "The key material is not valid"


class PresentationRejected(InvalidRequest):
    """The response was decoded but a verification rule failed (OpenID4VP §8.6)."""

    default_reason = "presentation.rejected"
    default_description = "The presentation was rejected"


class IdTokenInvalid(PresentationRejected):
    """The Self-Issued ID Token failed validation (SIOPv2 §11.1)."""

    default_reason = "id_token.invalid"
    default_description = "The ID Token is not valid"


class PresentationInvalid(PresentationRejected):
    """A verifiable presentation failed its proof, nonce or audience checks (OpenID4VP §8.6)."""

    default_reason = "presentation.invalid"
    default_description = "A presentation is not valid"


class CredentialInvalid(PresentationRejected):
    """A credential failed its issuer signature, validity window or trust checks."""

    default_reason = "credential.invalid"
    default_description = "A credential is not valid"


class SubmissionMismatch(PresentationRejected):
    """The presentation submission does not satisfy the presentation definition (DIF PE v2)."""

    default_reason = "submission.invalid"
    default_description = "The presentation submission does not satisfy the definition"


class HolderBindingFailed(PresentationRejected):
    """The ID Token subject, the presentation signer and the credential subject are not one holder."""

    default_reason = "holder_binding.mismatch"
    default_description = "The holder binding could not be established"


class KeyBindingInvalid(PresentationRejected):
    """An SD-JWT Key Binding JWT is missing or fails its checks (RFC 9901 §7.3)."""

    default_reason = "key_binding.invalid"
    default_description = "The key binding proof is not valid"


class DidResolutionFailed(PresentationRejected):
    """A DID could not be resolved to a usable verification method (DID Core §7)."""

    default_reason = "did.unresolvable"
    default_description = "A DID could not be resolved"


# --- Backend-facing: application/problem+json --- #


class BackendError(VerifierError):
    """An error answered to a backend caller as problem+json (RFC 9457)."""

    title: ClassVar[str] = "Request failed"


class BadBackendRequest(BackendError):
    """The backend's request is malformed or names something unusable."""

    error = "invalid_request"
    status_code = 400
    title = "Bad request"
    default_reason = "api.bad_request"
    default_description = "The request is not valid"


class Unauthorized(BackendError):
    """The backend did not present a valid API key."""

    error = "invalid_client"
    status_code = 401
    title = "Unauthorized"
    default_reason = "api.unauthorized"
    default_description = "A valid API key is required"


class Forbidden(BackendError):
    """The backend asked for something its configuration does not allow (e.g. a webhook URL)."""

    error = "access_denied"
    status_code = 403
    title = "Forbidden"
    default_reason = "api.forbidden"
    default_description = "The request is not allowed by the configuration"


class NotFound(BackendError):
    """The named resource does not exist."""

    error = "not_found"
    status_code = 404
    title = "Not found"
    default_reason = "api.not_found"
    default_description = "No such resource"


class StoreRequired(BackendError):
    """The feature needs a shared store (Redis), and this deployment runs on the embedded one."""

    error = "not_supported"
    status_code = 501
    title = "Not supported without a store"
    default_reason = "store.required"
    default_description = "This needs a store (set VERIFIER_STORE_URL)"


# --- Operational --- #


class DependencyUnavailable(VerifierError):
    """A dependency (store, resolver, status list) is unreachable; the caller may retry."""

    error = "temporarily_unavailable"
    status_code = 503
    default_reason = "dependency.unavailable"
    default_description = "A dependency is temporarily unavailable"


class ConfigurationError(VerifierError):
    """The service configuration is unusable; raised at start-up so a bad deployment fails to boot."""

    error = "server_error"
    status_code = 500
    default_reason = "config.invalid"
    default_description = "The service configuration is not valid"
