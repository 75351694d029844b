"""The composition root: settings in, a wired Litestar app out. Nothing else builds objects."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Litestar, Router
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import HTTPScope, LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send

from service import tracing
from service.clock import Clock, SystemClock
from service.did import LocalDidResolver, did_key_from_jwk, resolve_did_key
from service.did.composite import CompositeDidResolver
from service.did.did_web import DidWebResolver
from service.did.resolve import DidResolver
from service.errors import ConfigurationError
from service.fetch import CachedFetcher
from service.http.auth import ApiKeyCheck, api_key_middleware
from service.http.backend_routes import (
    DefinitionController,
    OperatorController,
    PresentationController,
    PublicController,
)
from service.http.create_lane import CreateLane
from service.http.errors import exception_handlers
from service.http.lane import Lane
from service.http.metrics_middleware import RequestRecorder, metrics_middleware
from service.http.playground import playground_router
from service.http.wallet_lane import WalletLane
from service.http.wallet_routes import WalletController
from service.issuer_keys import IssuerMetadataResolver
from service.issuer_keys.jwks import FetchedJwks
from service.keys import Keyring, dump_keyring, generate_keyring, load_keyring
from service.metrics import Metrics
from service.outbound import OutboundPolicy, make_client
from service.presentation_exchange import load_definitions
from service.replay import ReplayGuard
from service.request_object import (
    ClientIdentities,
    ClientIdentity,
    build_client_metadata,
    build_client_metadata_v1,
    subject_syntax_types,
    x509_hash_of,
)
from service.response import ResponseLimits
from service.settings import Settings
from service.status.fetched import FetchedStatusSource
from service.stores import MemoryRecorder, TransactionRecorder, build_stores
from service.transaction.state import PROFILE_DRAFT20, PROFILE_V1
from service.trust import load_trust_file
from service.verification import KeySources, VerificationPolicy
from service.verifier import Verifier, VerifierConfig, WebhookTargets
from service.webhook import HttpWebhookSender, Outbox

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["create_app", "load_or_create_keyring"]

_API_VERSION = "0.1.0"


def load_or_create_keyring(settings: Settings) -> Keyring:
    """Load the keyring; in development, generate and save one when the file is absent."""
    if settings.keyring_json:
        return load_keyring(settings.keyring_json)
    path = Path(settings.keyring_path)
    if path.exists():
        return load_keyring(path.read_bytes())
    if not settings.development:
        raise ConfigurationError(
            "config.keyring", f"No keyring at {path} (generation is for development only)"
        )
    keyring = generate_keyring()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(dump_keyring(keyring))
    return keyring


def _client_identities(settings: Settings, keyring: Keyring) -> ClientIdentities:
    """Every identity this deployment can speak: its DID and redirect_uri always, x509 with a chain."""
    signing = keyring.active_signing
    did = did_key_from_jwk(signing.public)
    kid = resolve_did_key(did).verification_methods[0].id
    identities = {
        "did": ClientIdentity(scheme="did", client_id=did, private_key=signing.private_key, kid=kid),
        "redirect_uri": ClientIdentity(scheme="redirect_uri", client_id="", private_key=None),
    }
    if settings.x509_chain_file or settings.x509_key_file or settings.client_id_scheme.startswith("x509"):
        identities |= _x509_identities(settings)
    return ClientIdentities(default=settings.client_id_scheme, by_scheme=identities)


def _x509_identities(settings: Settings) -> dict[str, ClientIdentity]:
    if not settings.x509_chain_file or not settings.x509_key_file:
        raise ConfigurationError("config.x509", "x509 client ids need x509_chain_file and x509_key_file")
    chain, key = _load_x509_material(Path(settings.x509_chain_file), Path(settings.x509_key_file))
    x5c = tuple(cert.public_bytes(serialization.Encoding.DER) for cert in chain)
    host = urlsplit(settings.public_url).hostname or ""
    identities = {
        "x509_hash": ClientIdentity(
            scheme="x509_hash", client_id=x509_hash_of(x5c[0]), private_key=key, x5c=x5c
        )
    }
    if host in _dns_names(chain[0], required=settings.client_id_scheme == "x509_san_dns"):
        identities["x509_san_dns"] = ClientIdentity(
            scheme="x509_san_dns", client_id=host, private_key=key, x5c=x5c
        )
    elif settings.client_id_scheme == "x509_san_dns":
        # d20 §5.7: the response_uri host must be a dNSName SAN of the leaf, or wallets refuse us.
        raise ConfigurationError("config.x509", "The public_url host is not a DNS SAN of the certificate")
    return identities


def _load_x509_material(
    chain_file: Path, key_file: Path
) -> tuple[list[x509.Certificate], ec.EllipticCurvePrivateKey | Ed25519PrivateKey]:
    try:
        chain = x509.load_pem_x509_certificates(chain_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError("config.x509", "The x509 chain or key file cannot be read") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | Ed25519PrivateKey):
        raise ConfigurationError("config.x509", "The x509 key must be an EC or Ed25519 key")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        # Wallets verify the request object with the leaf's key: a different key would fail every request.
        raise ConfigurationError("config.x509", "The x509 key does not belong to the leaf certificate")
    return chain, key


def _dns_names(certificate: x509.Certificate, *, required: bool) -> list[str]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        if not required:
            return []  # x509_hash names the certificate itself: it needs no DNS name
        raise ConfigurationError("config.x509", "The leaf certificate has no subjectAltName") from exc
    return names.get_values_for_type(x509.DNSName)


def _did_resolver(settings: Settings, fetcher: CachedFetcher, outbound: OutboundPolicy) -> DidResolver:
    methods = frozenset(settings.did_methods)
    local = LocalDidResolver(methods=methods & {"key", "jwk"})
    web = DidWebResolver(fetcher, allow_http=outbound.allow_http) if "web" in methods else None
    return CompositeDidResolver(local=local, web=web, methods=methods)


def _policy(settings: Settings) -> VerificationPolicy:
    for alg in (*settings.holder_algs, *settings.issuer_algs):
        if alg == "none" or alg.startswith("HS"):
            raise ConfigurationError("config.algorithms", "none and HMAC algorithms can never be allowed")
    return VerificationPolicy(
        holder_algs=frozenset(settings.holder_algs),
        issuer_algs=frozenset(settings.issuer_algs),
        clock_skew=settings.clock_skew,
        max_age=settings.id_token_max_age,
        max_token_bytes=settings.max_token_bytes,
        max_presentations=settings.max_presentations,
        max_credentials=settings.max_credentials,
        subject_methods=frozenset(settings.did_methods),
        key_binding_max_age=settings.key_binding_max_age,
        legacy_profiles=frozenset(settings.legacy_profiles),
        credential_clock_skew=settings.credential_clock_skew,
    )


def _outbound_policy(settings: Settings) -> OutboundPolicy:
    # Development may deliver to a receiver on this machine; production needs explicit settings.
    loopback = frozenset({"127.0.0.1", "::1", "localhost"}) if settings.development else frozenset()
    return OutboundPolicy(
        allow_http=settings.outbound_allow_http or settings.development,
        allow_private=settings.outbound_allow_private,
        allowed_private_hosts=loopback | frozenset(settings.outbound_private_hosts),
        read_timeout=settings.webhook_timeout,
    )


def _playground_recorder(
    settings: Settings, recorder: TransactionRecorder, clock: Clock
) -> TransactionRecorder:
    """Development playground without a store: remember the last transactions in memory to follow them."""
    if settings.store_url != "memory" or settings.status_retention <= 0 or recorder.enabled:
        return recorder
    return MemoryRecorder(clock=clock, retention=settings.status_retention, max_transactions=200)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    keyring: Keyring | None = None,
    resolver: DidResolver | None = None,
    replay_guard: ReplayGuard | None = None,
    outbox: Outbox | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Litestar:
    """Build the app; every port may be injected (tests), otherwise the embedded defaults are used.

    Traces go to ``tracer_provider`` when given (flushed, not shut down, at exit), else wherever the
    standard ``OTEL_*`` environment says (``service.tracing``); by default nowhere.
    """
    clock = clock or SystemClock()
    # Read now so a bad tracing environment fails the start; the provider is built in the serving process.
    traces = None if tracer_provider is not None else tracing.TracingConfig.from_environment(os.environ)
    keyring = keyring or load_or_create_keyring(settings)
    policy = _policy(settings)
    outbound = _outbound_policy(settings)
    http_client = make_client(outbound)
    fetcher = CachedFetcher(http_client, outbound, clock=clock)
    stores = build_stores(
        None if settings.store_url == "memory" else settings.store_url,
        sender=HttpWebhookSender(http_client, outbound, secrets=settings.webhook_secrets),
        clock=clock,
        retention=settings.status_retention,
        key_prefix=settings.store_key_prefix,
        base_delay=settings.webhook_base_delay,
        max_delay=settings.webhook_max_delay,
        visibility_timeout=settings.webhook_visibility_timeout,
        poll_interval=settings.webhook_poll_interval,
    )
    active_outbox = outbox or stores.outbox
    playground = settings.development and settings.playground
    recorder = _playground_recorder(settings, stores.recorder, clock) if playground else stores.recorder
    metrics = Metrics.create(outbox_pending=lambda: float(active_outbox.pending()))
    verifier = Verifier(
        config=VerifierConfig(
            public_url=settings.public_url.rstrip("/"),
            transaction_ttl=settings.transaction_ttl,
            webhook_retry_period=settings.webhook_retry_period,
            policy=policy,
            client_metadata=build_client_metadata(
                holder_algs=settings.holder_algs,
                issuer_algs=settings.issuer_algs,
                subject_syntax_types=subject_syntax_types(settings.did_methods),
            ),
            client_metadata_v1=build_client_metadata_v1(
                holder_algs=settings.holder_algs,
                issuer_algs=settings.issuer_algs,
                subject_syntax_types=subject_syntax_types(settings.did_methods),
            ),
            default_protocol=PROFILE_V1 if settings.default_protocol == "1.0" else PROFILE_DRAFT20,
            default_response_mode=settings.default_response_mode,
            response_limits=ResponseLimits(),
            allow_unknown_status=settings.status_allow_unknown,
            webhooks=WebhookTargets(
                default=settings.webhook_url,
                allow_list=settings.webhook_allow_list,
                policy=outbound,
                allow_loopback=settings.development,
            ),
        ),
        keyring=keyring,
        identities=_client_identities(settings, keyring),
        definitions=load_definitions(Path(settings.definitions_dir)),
        trust=load_trust_file(
            Path(settings.trust_file) if settings.trust_file else None, any_issuer=settings.trust_any_issuer
        ),
        keys=KeySources(
            dids=resolver or _did_resolver(settings, fetcher, outbound),
            metadata=IssuerMetadataResolver(http_client, outbound, clock=clock),
            jwks=FetchedJwks(fetcher),
            status=FetchedStatusSource(fetcher, clock=clock),
        ),
        replay_guard=replay_guard or stores.replay_guard,
        outbox=active_outbox,
        metrics=metrics,
        recorder=recorder,
        dead_letters=stores.dead_letters,
        store_ping=stores.ping,
        clock=clock,
    )

    @asynccontextmanager
    async def traced(_: Litestar) -> AsyncIterator[None]:
        provider = tracer_provider or (traces.build_provider() if traces is not None else None)
        async with tracing.installed(provider, owned=tracer_provider is None):
            yield

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await verifier.outbox.start()
        try:
            yield
        finally:
            # Stop taking work, let in-flight sends finish; undelivered verdicts stay in the store.
            await verifier.outbox.stop()
            await stores.close()
            await http_client.aclose()

    api_keys = ApiKeyCheck(settings.api_keys, allow_loopback=settings.allow_loopback_without_key)
    backend = Router(
        path="/",
        route_handlers=[PresentationController, DefinitionController, OperatorController],
        middleware=[api_key_middleware(api_keys)],
    )
    pages = (
        [playground_router(default_webhook=settings.webhook_url, fallback_port=settings.port)]
        if playground
        else []
    )
    http_metrics = RequestRecorder(metrics)
    app = VerifierApp(
        route_handlers=[backend, PublicController, WalletController, *pages],
        dependencies={"verifier": Provide(lambda: verifier, sync_to_thread=False)},
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        lifespan=[traced, lifespan],  # tracing starts first and stops last: the outbox's last sends count
        middleware=[metrics_middleware(http_metrics)],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="SIOP verifier",
            version=_API_VERSION,
            description="SIOPv2 + OpenID4VP verifier: presentation requests in, signed verdict webhooks out.",
            path="/schema",
            components=Components(security_schemes={"ApiKey": SecurityScheme(type="http", scheme="bearer")}),
        ),
        logging_config=None,  # logging is configured once, by the process entry point (service.logging)
        debug=False,
    )
    app.lanes = (
        WalletLane(app, verifier, http_metrics, max_body=settings.max_body_bytes),
        CreateLane(
            app,
            verifier,
            http_metrics,
            api_keys=api_keys,
            max_body=settings.max_body_bytes,
            framework=app.framework,
        ),
    )
    return app


class VerifierApp(Litestar):
    """The app; the hot routes are answered by lanes (``WalletLane``, ``CreateLane``) before the framework
    routes a request, each with the answers of the documented handlers."""

    lanes: tuple[Lane, ...] = ()

    async def framework(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        """The request as the framework alone serves it."""
        await super().__call__(scope, receive, send)

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] == ScopeType.HTTP:
            for lane in self.lanes:
                if await lane.serve(cast(HTTPScope, scope), cast(Receive, receive), cast(Send, send)):
                    return
        await super().__call__(scope, receive, send)
