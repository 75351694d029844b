"""Wire shapes of the backend API (msgspec Structs: decoded, validated and documented in one place)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "CreatePresentationBody",
    "CreatedPresentation",
    "DeadLetterBody",
    "DefinitionDetail",
    "DefinitionSummary",
    "Health",
    "JsonWebKeySet",
    "OAuthErrorBody",
    "ProblemDetails",
    "TransactionEventBody",
    "TransactionStatusBody",
]

CorrelationId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[\x20-\x7e]+$")]
HttpUrl = Annotated[str, msgspec.Meta(min_length=8, max_length=2048, pattern=r"^https?://")]
DefinitionId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")]


class CreatePresentationBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Ask for a presentation: name a definition from `definitions/`, or give one inline."""

    definition_id: DefinitionId | None = None
    """Id of a definition in `definitions/` (see `GET /v1/definitions`)."""
    presentation_definition: dict[str, Any] | None = None
    """An inline DIF Presentation Exchange v2 definition."""
    sign_in: dict[str, Any] | None = None
    """Inline sign-in (SIOPv2): `{"subject_syntax_types": [...], "self_attested_claims": [...]}`; alone,
    or beside `presentation_definition` to authenticate and prove in one transaction."""
    qr: Literal["svg", "png"] | None = None
    """Also return `authorization_request_uri` as a QR code (a `data:` URI) in this image format."""
    id_token_hint: Annotated[str, msgspec.Meta(max_length=16384)] | None = None
    """Re-authentication: an ID Token from an earlier sign-in; only its subject may sign in."""
    webhook_url: HttpUrl | None = None
    """Where the verdict goes; must match the configured allow-list. Default: the configured webhook."""
    correlation_id: CorrelationId | None = None
    """Your own reference, echoed in the verdict."""
    protocol: Literal["draft", "1.0"] | None = None
    """`draft`: OpenID4VP draft 20 with Presentation Exchange and SIOPv2 (wallets of the draft era).
    `1.0`: OpenID4VP 1.0 with DCQL (a presentation definition is translated, or a named definition's own
    `dcql_query` is used). Default: the configured `default_protocol`."""
    dcql_query: dict[str, Any] | None = None
    """An inline DCQL query (OpenID4VP 1.0 §6); needs `protocol: "1.0"`."""
    response_mode: Literal["direct_post", "direct_post.jwt"] | None = None
    """1.0 only: `direct_post.jwt` makes the wallet encrypt its response to a per-transaction key.
    Default: the configured `default_response_mode`."""
    client_id_prefix: (
        Literal["did", "decentralized_identifier", "redirect_uri", "x509_san_dns", "x509_hash"] | None
    ) = None
    """How we identify ourselves to the wallet in this transaction (`x509_*` need a configured certificate
    chain; `x509_hash` is 1.0 only). Default: the configured `client_id_scheme`."""
    request_uri_method: Literal["get", "post"] | None = None
    """1.0 only: `post` lets the wallet post its metadata and a nonce before we sign the request."""
    redirect_uri: HttpUrl | None = None
    """Same-device flow: after posting, the wallet sends the user here with a one-time `response_code`
    (in place of `{response_code}`, else as a `#response_code=` fragment); reading the verdict by polling
    then needs that code. Needs a store."""


class CreatedPresentation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A pending presentation request: give `authorization_request_uri` to the wallet (link or QR code)."""

    transaction_id: str
    request_uri: str
    authorization_request_uri: str
    client_id: str
    expires_at: str
    """RFC 3339 UTC time after which the wallet's response is refused."""
    qr_code: str | None = None
    """The link as a QR code `data:` URI (SVG or PNG), when asked for with `qr`."""


class DefinitionSummary(msgspec.Struct, kw_only=True):
    """A named definition: a presentation to ask for, a sign-in, or both."""

    id: str
    name: str | None
    purpose: str | None
    description: str | None
    digest: str
    sign_in: bool
    """The transaction authenticates the holder (SIOPv2) and reports the subject."""
    presentation: bool
    """The transaction asks for credentials."""


class DefinitionDetail(DefinitionSummary, kw_only=True):
    """A named definition with its presentation definition and sign-in policy."""

    presentation_definition: dict[str, Any] | None
    sign_in_policy: dict[str, Any] | None
    trusted_issuers: list[str] | None


class TransactionEventBody(msgspec.Struct):
    """Something that happened to a transaction."""

    event: str
    """`created`, `same_device` (polling needs the response_code), `request_retrieved`,
    `response_received`, `verdict_delivered`, `verdict_dead_lettered`."""
    at: int


class TransactionStatusBody(msgspec.Struct, kw_only=True):
    """A polled transaction: the verdict, once decided, is the same signed JWT the webhook carries."""

    transaction_id: str
    state: str
    """`pending`, `verified`, `rejected`, or `expired` (no answer came in time)."""
    verdict: str | None
    decided_at: int | None
    events: list[TransactionEventBody]


class DeadLetterBody(msgspec.Struct, kw_only=True):
    """A verdict delivery that was given up."""

    webhook_id: str
    transaction_id: str
    url: str
    reason: str | None
    status: int | None
    failed_at: int


class JsonWebKeySet(msgspec.Struct):
    """RFC 7517 JWK Set of the keys that sign request objects and verdicts."""

    keys: list[dict[str, str]]


class Health(msgspec.Struct):
    """Liveness or readiness."""

    status: str


class ProblemDetails(msgspec.Struct, omit_defaults=True, kw_only=True):
    """RFC 9457 problem details (backend API errors)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    """The stable reason code, e.g. `definition.unknown`."""


class OAuthErrorBody(msgspec.Struct, omit_defaults=True, kw_only=True):
    """OAuth 2.0 error response (wallet-facing errors; OpenID4VP §8.5)."""

    error: str
    error_description: str | None = None
