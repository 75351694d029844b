"""Service settings: one frozen Struct, read once from the environment (``VERIFIER_*``).

Every field documents itself; ``load_settings`` is the only place that reads ``os.environ``. Lists are
given as comma-separated strings (``VERIFIER_API_KEYS=key1,key2``); booleans as ``true``/``false``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from service.errors import ConfigurationError

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "VERIFIER_"

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Configuration of one verifier replica. Replicas that share ``keyring`` serve each other's steps."""

    environment: Literal["development", "production"] = "development"
    """`development` generates keys when absent and allows plain-HTTP loopback webhooks."""

    host: str = "127.0.0.1"
    """Interface the HTTP server binds to."""

    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    """TCP port the HTTP server binds to."""

    public_url: str = "http://127.0.0.1:8080"
    """Base URL wallets reach this service at; request and response URIs are built from it."""

    keyring_path: str = "var/keyring.json"
    """Keyring file (signing and sealing keys). Generated in development when absent."""

    keyring_json: str | None = None
    """The keyring as JSON text (e.g. from a mounted secret); takes precedence over ``keyring_path``."""

    definitions_dir: str = "definitions"
    """Folder of named presentation definitions (``<id>.json``); validated at start-up."""

    trust_file: str | None = None
    """JSON file listing trusted credential issuers; without it no issuer is trusted."""

    status_allow_unknown: bool = False
    """When a credential's status list cannot be fetched, accept it as ``unknown`` (default: reject).
    A definition can allow this for itself with ``allow_unknown_status``."""

    trust_any_issuer: bool = False
    """Accept credentials from ANY issuer whose key a DID provides. Only for demos and tests: the verdict
    then reports ``trust.rule = any_issuer`` so a backend can tell."""

    api_keys: tuple[str, ...] = ()
    """Bearer API keys accepted on the backend API."""

    allow_loopback_without_key: bool = True
    """Let loopback callers use the backend API without a key (sidecar deployments)."""

    client_id_scheme: Literal["did", "redirect_uri", "x509_san_dns", "x509_hash"] = "did"
    """How the service identifies itself to wallets by default: draft 20 ``client_id_scheme``; under
    OpenID4VP 1.0 the matching client identifier prefix (`did` is `decentralized_identifier:`). A request
    may choose another with `client_id_prefix`. `x509_hash` exists in 1.0 only."""

    x509_chain_file: str | None = None
    """PEM certificate chain (leaf first) for ``x509_san_dns``/``x509_hash``. When set, both are available."""

    x509_key_file: str | None = None
    """PEM private key matching the x509 leaf certificate."""

    default_protocol: Literal["draft", "1.0"] = "draft"
    """Protocol of a request that does not choose one: `draft` (OpenID4VP draft 20, Presentation Exchange,
    SIOPv2) or `1.0` (OpenID4VP 1.0 with DCQL). Each request may choose with `protocol`."""

    default_response_mode: Literal["direct_post", "direct_post.jwt"] = "direct_post.jwt"
    """Response mode of a 1.0 request that does not choose one; `direct_post.jwt` encrypts the response
    to a per-transaction key (draft requests always use `direct_post`)."""

    transaction_ttl: PositiveInt = 300
    """Seconds a presentation request stays valid."""

    clock_skew: Annotated[int, msgspec.Meta(ge=0, le=600)] = 60
    """Seconds of clock skew tolerated on ``exp``/``nbf``/``iat``."""

    credential_clock_skew: Annotated[int, msgspec.Meta(ge=0, le=3600)] | None = None
    """Seconds of skew on issuer-side validity (credential nbf/exp, status lists); default: clock_skew.
    Issuers' clocks are not the wallet's: some deployments want more room there than on tokens."""

    id_token_max_age: PositiveInt = 600
    """Oldest ``iat`` accepted on an ID Token or VP, in seconds."""

    key_binding_max_age: PositiveInt = 120
    """Oldest SD-JWT Key Binding JWT ``iat`` accepted, in seconds (it is made when the wallet answers)."""

    did_methods: tuple[Literal["key", "jwk", "web"], ...] = ("key", "jwk", "web")
    """DID methods accepted for holders and issuers. did:web is fetched over the SSRF-guarded client."""

    legacy_profiles: tuple[Literal["siop-v1", "siopv2-early"], ...] = ()
    """Older self-issued ID Tokens to accept on purpose: `siop-v1` (iss https://self-issued.me, OIDC Core
    §7) and `siopv2-early` (iss https://self-issued.me/v2, SIOPv2 drafts up to 07). Off by default."""

    holder_algs: tuple[str, ...] = ("EdDSA", "ES256", "ES256K", "ES384", "ES512")
    """Signature algorithms accepted from holders (ID Token, VP). Never `none` or HMAC."""

    issuer_algs: tuple[str, ...] = ("EdDSA", "ES256", "ES256K", "ES384", "ES512", "PS256", "RS256")
    """Signature algorithms accepted from credential issuers. Never `none` or HMAC."""

    store_url: str = "memory"
    """`memory` (one replica; single use and queued webhooks live in the process) or a Redis/Valkey URL
    (`redis://host:6379/0`): shared single use, a durable webhook outbox with dead letters, and polling.
    May contain a password: it is never logged."""

    store_key_prefix: str = "verifier"
    """Prefix of every store key (several deployments can share one Redis)."""

    status_retention: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    """Seconds a transaction's events and verdict stay readable by polling (0: record nothing)."""

    webhook_visibility_timeout: PositiveFloat = 60.0
    """Seconds before another replica takes over a delivery whose worker died (more than a send may take)."""

    webhook_poll_interval: PositiveFloat = 1.0
    """Seconds between looks at the outbox for due deliveries (Redis store)."""

    webhook_url: str | None = None
    """Default verdict webhook target when a request names none."""

    webhook_allow_list: tuple[str, ...] = ()
    """Webhook URLs a request may name: exact URLs, or prefixes ending in `/`."""

    webhook_secrets: tuple[str, ...] = ()
    """Standard Webhooks `whsec_` secrets; each signs every delivery (rotation: list both)."""

    webhook_retry_period: PositiveFloat = 86400.0
    """Seconds a verdict delivery is retried before it is given up."""

    webhook_base_delay: PositiveFloat = 1.0
    """First retry delay in seconds; doubles per attempt, with full jitter."""

    webhook_max_delay: PositiveFloat = 300.0
    """Ceiling of one retry delay, in seconds."""

    webhook_timeout: PositiveFloat = 15.0
    """Seconds one delivery attempt may take."""

    outbound_allow_http: bool = False
    """Allow plain-HTTP outbound targets (always allowed for loopback in development)."""

    outbound_allow_private: bool = False
    """Allow outbound targets on loopback/private networks (always allowed in development)."""

    outbound_private_hosts: tuple[str, ...] = ()
    """Host names (or IP literals) allowed even though they resolve to private addresses: internal services
    reached on purpose (e.g. a webhook receiver inside the cluster). Everything else stays public-only."""

    max_body_bytes: PositiveInt = 1024 * 1024
    """Largest request body accepted on the wallet face."""

    max_token_bytes: PositiveInt = 256 * 1024
    """Largest single JWT accepted."""

    max_presentations: PositiveInt = 16
    """Most presentations in one `vp_token`."""

    max_credentials: PositiveInt = 32
    """Most credentials in one presentation."""

    log_format: Literal["json", "console"] = "json"
    """Log renderer."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level logged."""

    playground: bool = True
    """Development only (production never serves it, whatever this says): the browser playground at
    `/playground`, and without a store an in-memory, bounded transaction record (the last 200, each kept
    `status_retention` seconds) so the playground and `GET /v1/presentations/{id}` can follow one."""

    @property
    def development(self) -> bool:
        """True in development mode."""
        return self.environment == "development"

    def path(self, value: str) -> Path:
        """Resolve a configured path (relative paths are relative to the working directory)."""
        return Path(value)


def _env_value(name: str, raw: str) -> object:
    field_type = Settings.__annotations__.get(name, "")
    if "tuple" in str(field_type):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``VERIFIER_*`` variables, then keyword overrides (used by tests)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in Settings.__struct_fields__:
        raw = env.get(ENV_PREFIX + field.upper())
        if raw is not None:
            values[field] = _env_value(field, raw)
    values.update(overrides)
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigurationError("config.invalid", f"Invalid setting: {exc}") from exc
