"""The verifier's inputs and outputs: what a backend asks for, what it gets back, and the static config.

Plain data shared by the use cases (``service.verifier``) and the HTTP adapters (``service.http``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

from service.outbound import OutboundPolicy
from service.response import ResponseLimits
from service.transaction.state import PROFILE_DRAFT20, PROFILE_V1
from service.verification import VerificationPolicy
from service.vocabulary import RESPONSE_MODE_DIRECT_POST_JWT
from service.webhook import choose_webhook_url

__all__ = [
    "MAX_JWE",
    "MAX_PLAINTEXT",
    "PROTOCOLS",
    "SCHEME_NAMES",
    "CreatedTransaction",
    "PresentationRequest",
    "VerifierConfig",
    "WebhookTargets",
]


@dataclass(frozen=True, slots=True)
class PresentationRequest:
    """What a backend asks for (already shape-checked by the HTTP layer)."""

    definition_id: str | None
    presentation_definition: Mapping[str, Any] | None
    webhook_url: str
    """Already resolved against the default and the allow-list."""
    correlation_id: str | None
    sign_in: Mapping[str, Any] | None = None
    """An inline sign-in policy (SIOPv2 authentication), alone or beside a presentation definition."""
    id_token_hint: str | None = None
    """Re-authentication: an earlier ID Token whose subject must sign in again."""
    protocol: str | None = None
    """``draft`` or ``1.0``; None: the configured default."""
    dcql_query: Mapping[str, Any] | None = None
    """An inline DCQL query (1.0 only)."""
    response_mode: str | None = None
    """1.0: ``direct_post`` or ``direct_post.jwt``; None: the configured default."""
    client_id_prefix: str | None = None
    """Client identifier scheme for this transaction; None: the configured default."""
    request_uri_method: str | None = None
    """``post`` lets the wallet post its metadata and a nonce to the request URI (1.0 §5.10)."""
    redirect_uri: str | None = None
    """Same-device flow: where the wallet sends the user after posting (a ``response_code`` is added)."""


@dataclass(frozen=True, slots=True)
class CreatedTransaction:
    """What the backend gets back."""

    transaction_id: str
    request_uri: str
    response_uri: str
    authorization_request_uri: str
    client_id: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class WebhookTargets:
    """Where verdicts may go: the default target and the allow-list a request may choose from."""

    default: str | None
    allow_list: tuple[str, ...]
    policy: OutboundPolicy | None = None
    """SSRF rules a chosen URL must already pass when the transaction is created."""
    allow_loopback: bool = False
    """Development: any http(s) URL on this machine may be named without an allow-list entry."""

    def choose(self, requested: str | None) -> str:
        """The webhook target for a new transaction (the allow-list stops an API key making us a proxy)."""
        return _choose(self, requested)


# A backend names the same few webhook URLs over and over, and the checks are pure functions of the URL
# and the configuration: accepted choices are remembered (a refusal raises, so it is never cached).
@lru_cache(maxsize=256)
def _choose(targets: WebhookTargets, requested: str | None) -> str:
    allow_list = targets.allow_list
    if requested is not None and targets.allow_loopback and _is_loopback_url(requested):
        allow_list = (*allow_list, requested)
    return choose_webhook_url(
        requested, default=targets.default, allow_list=allow_list, policy=targets.policy
    )


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class VerifierConfig:
    """Static configuration of the use cases."""

    public_url: str
    transaction_ttl: int
    webhook_retry_period: float
    policy: VerificationPolicy
    client_metadata: Mapping[str, Any]
    webhooks: WebhookTargets
    response_limits: ResponseLimits = field(default_factory=ResponseLimits)
    allow_unknown_status: bool = False
    default_protocol: str = PROFILE_DRAFT20
    default_response_mode: str = RESPONSE_MODE_DIRECT_POST_JWT
    client_metadata_v1: Mapping[str, Any] = field(default_factory=dict)
    response_enc_values: tuple[str, ...] = ("A128GCM", "A256GCM")
    """Content encryptions offered for ``direct_post.jwt`` (1.0 §8.3; A128GCM is the default)."""


PROTOCOLS: Final = {
    "draft": PROFILE_DRAFT20,
    "1.0": PROFILE_V1,
    PROFILE_DRAFT20: PROFILE_DRAFT20,
    PROFILE_V1: PROFILE_V1,
}
SCHEME_NAMES: Final = {"decentralized_identifier": "did"}
MAX_JWE: Final = 1024 * 1024
MAX_PLAINTEXT: Final = 1024 * 1024
