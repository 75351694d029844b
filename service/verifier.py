"""The verifier's use cases: create a request, serve its request object, take the wallet's response.

Framework-free: ``http/`` adapts these to routes; ``app.py`` wires the ports (clock, replay guard,
resolver, outbox). A transaction gets exactly one final verdict: the first response posted for it
decides, whatever it contains; later posts are refused and reported once as a non-final notice.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
import structlog

from service.asks import AskReference, ask_for, hinted_subject, reference_for
from service.clock import Clock
from service.errors import (
    BadBackendRequest,
    ConfigurationError,
    DependencyUnavailable,
    StoreRequired,
    TransactionError,
    VerifierError,
)
from service.keys import Keyring
from service.metrics import Metrics
from service.outbound import OutboundPolicy
from service.presentation_exchange import DefinitionRegistry, disclosed_claims
from service.replay import ReplayGuard
from service.request_object import ClientIdentity, build_request_object
from service.response import ResponseLimits, WalletError, parse_response
from service.status import StatusOutcome
from service.stores import DeadLetters, NullRecorder, TransactionRecorder, TransactionStatus
from service.transaction.seal import seal, unseal
from service.transaction.state import PROFILE_DRAFT20, TransactionState
from service.trust import TrustDecision, TrustList
from service.verdict import (
    CredentialEntry,
    HolderEntry,
    Verdict,
    VerdictContext,
    rejected_verdict,
    sign_verdict,
    verified_verdict,
)
from service.verification import (
    Expectations,
    KeySources,
    VerificationPolicy,
    VerifiedResponse,
    verify_response,
)
from service.vocabulary import RESULT_REJECTED
from service.webhook import Delivery, Outbox, choose_webhook_url

__all__ = ["CreatedTransaction", "PresentationRequest", "Verifier", "VerifierConfig", "WebhookTargets"]

log = structlog.get_logger("service.verifier")


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
        allow_list = self.allow_list
        if requested is not None and self.allow_loopback and _is_loopback_url(requested):
            allow_list = (*allow_list, requested)
        return choose_webhook_url(requested, default=self.default, allow_list=allow_list, policy=self.policy)


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


def _random() -> bytes:
    return secrets.token_bytes(16)  # 128 bits (OpenID4VP 1.0 §5.2 nonce/state)


class Verifier:
    """Use cases over the injected ports."""

    def __init__(
        self,
        *,
        config: VerifierConfig,
        keyring: Keyring,
        identity: ClientIdentity,
        definitions: DefinitionRegistry,
        trust: TrustList,
        keys: KeySources,
        replay_guard: ReplayGuard,
        outbox: Outbox,
        clock: Clock,
        recorder: TransactionRecorder | None = None,
        dead_letters: DeadLetters | None = None,
        store_ping: Callable[[], Awaitable[bool]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.keyring = keyring
        self.identity = identity
        self.definitions = definitions
        self.trust = trust
        self.keys = keys
        self.replay_guard = replay_guard
        self.outbox = outbox
        self.clock = clock
        self.recorder = recorder or NullRecorder()
        self.dead_letters = dead_letters
        self._store_ping = store_ping
        self.metrics = metrics

    @property
    def webhooks(self) -> WebhookTargets:
        """Configured webhook targets."""
        return self.config.webhooks

    async def ready(self) -> bool:
        """True once the delivery worker runs and the store answers (keys and definitions loaded at start)."""
        if not self.outbox.running:
            return False
        return True if self._store_ping is None else await self._store_ping()

    async def transaction_status(self, transaction_id: str) -> TransactionStatus | None:
        """What a polling backend may read: pending / verified / rejected / expired, verdict and events."""
        if not self.recorder.enabled:
            raise StoreRequired("store.required", "Polling needs a store (set VERIFIER_STORE_URL)")
        status = await self.recorder.status(transaction_id)
        if status is None or status.state != "pending":
            return status
        created = next((e for e in status.events if e.event == "created" and e.detail), None)
        if created is not None and created.detail is not None and float(created.detail) <= self.clock():
            return msgspec.structs.replace(status, state="expired")
        return status

    async def _record(self, transaction_id: str, event: str, now: float, detail: str | None = None) -> None:
        # Events serve polling and operators; a store hiccup here must not fail the wallet's request.
        try:
            await self.recorder.record_event(transaction_id, event, at=now, detail=detail)
        except DependencyUnavailable:
            log.warning("transaction.record_failed", event_name=event)

    # --- URLs --- #

    def request_uri(self, handle: str) -> str:
        """Where the wallet fetches the request object."""
        return f"{self.config.public_url}/wallet/requests/{handle}"

    def response_uri(self, handle: str) -> str:
        """Where the wallet posts its response."""
        return f"{self.config.public_url}/wallet/responses/{handle}"

    def client_id_for(self, handle: str) -> str:
        """Our client_id for this transaction (``redirect_uri``: the response URI itself, d20 §5.7)."""
        return self.identity.client_id or self.response_uri(handle)

    # --- 1. create --- #

    async def create(self, request: PresentationRequest) -> CreatedTransaction:
        """Seal a new transaction and hand back the links for the wallet."""
        now = int(self.clock())
        reference = reference_for(
            self.definitions,
            definition_id=request.definition_id,
            presentation_definition=request.presentation_definition,
            sign_in=request.sign_in,
        )
        self._check_hint(request, reference)
        state = TransactionState(
            id_bytes=_random(),
            nonce_bytes=_random(),
            state_bytes=_random(),
            created_at=now,
            expires_at=now + self.config.transaction_ttl,
            client_id_scheme=self.identity.scheme,
            profile=PROFILE_DRAFT20,
            definition_id=reference.definition_id,
            definition_digest=reference.digest,
            inline_definition=reference.inline_definition,
            inline_sign_in=reference.inline_sign_in,
            id_token_hint=request.id_token_hint,
            # The default target is not sealed in: it keeps the handle (and the QR code) short.
            webhook_url=None if request.webhook_url == self.config.webhooks.default else request.webhook_url,
            correlation_id=request.correlation_id,
        )
        handle = seal(state, self.keyring)
        client_id = self.client_id_for(handle)
        request_uri = self.request_uri(handle)
        link = "openid4vp://?" + _urlencode({"client_id": client_id, "request_uri": request_uri})
        log.info("transaction.created", transaction_id=state.id, definition_id=reference.definition_id)
        await self._record(state.id, "created", now, detail=str(state.expires_at))
        return CreatedTransaction(
            transaction_id=state.id,
            request_uri=request_uri,
            response_uri=self.response_uri(handle),
            authorization_request_uri=link,
            client_id=client_id,
            expires_at=state.expires_at,
        )

    def _check_hint(self, request: PresentationRequest, reference: AskReference) -> None:
        if request.id_token_hint is None:
            return
        entry = self.definitions.get(reference.definition_id) if reference.inline_sign_in is None else None
        if reference.inline_sign_in is None and (entry is None or entry.sign_in is None):
            raise BadBackendRequest("sign_in.hint_without_sign_in", "id_token_hint needs a sign-in")
        hinted_subject(request.id_token_hint)

    # --- 2. request object --- #

    def _open(self, handle: str) -> TransactionState:
        state = unseal(handle, self.keyring)
        if state.profile != PROFILE_DRAFT20:
            raise TransactionError("transaction.unknown_profile", "The transaction uses an unknown profile")
        return state

    async def request_object(self, handle: str) -> str:
        """The signed request object for a live transaction."""
        now = self.clock()
        state = self._open(handle)
        if now >= state.expires_at:
            raise TransactionError("transaction.expired", "The transaction has expired")
        await self._record(state.id, "request_retrieved", now)
        ask = ask_for(state, self.definitions)
        return build_request_object(
            state,
            identity=self.identity,
            client_id=self.client_id_for(handle),
            response_uri=self.response_uri(handle),
            ask=ask,
            client_metadata=self.config.client_metadata,
            now=now,
        )

    # --- 3. response --- #

    async def respond(self, handle: str, body: bytes) -> None:
        """Take the wallet's response; every outcome except an unopenable handle yields a verdict."""
        now = self.clock()
        state = self._open(handle)
        structlog.contextvars.bind_contextvars(transaction_id=state.id)
        context = VerdictContext(
            issuer=self.config.public_url,
            transaction_id=state.id,
            definition_id=state.definition_id,
            correlation_id=state.correlation_id,
        )
        # Remember the transaction for as long again as it lived, so a late replay is still recognised.
        remember_until = state.expires_at + self.config.transaction_ttl
        if now >= remember_until:
            raise TransactionError("transaction.expired", "The transaction has expired")
        if not await self.replay_guard.consume(state.id, expires_at=remember_until, now=now):
            await self._notice_replay(state, context, remember_until, now)
            raise TransactionError(
                "transaction.replayed", "A response was already received for this transaction"
            )
        await self._record(state.id, "response_received", now)
        started = time.perf_counter()
        try:
            verdict = await self._decide(state, handle, body, context, now)
        except VerifierError as exc:
            log.info("presentation.rejected", reason=exc.reason)
            self._count(RESULT_REJECTED, exc.reason, started)
            await self._deliver_or_release(rejected_verdict(context, now=now, error=exc), state, now)
            raise
        self._count(verdict.result, verdict.errors[0].code if verdict.errors else "none", started)
        await self._deliver_or_release(verdict, state, now)

    def _count(self, result: str, reason: str, started: float) -> None:
        if self.metrics is not None:
            self.metrics.verifications.labels(result=result, reason=reason).inc()
            self.metrics.verification_seconds.observe(time.perf_counter() - started)

    async def _deliver_or_release(self, verdict: Verdict, state: TransactionState, now: float) -> None:
        """Queue the verdict; if it cannot be queued, give the transaction back so the wallet may retry."""
        try:
            await self._deliver(verdict, state, now)
        except DependencyUnavailable:
            # Nothing accepted may be lost: without a queued verdict, this response was not accepted.
            await self.replay_guard.release(state.id)
            raise

    async def _decide(
        self, state: TransactionState, handle: str, body: bytes, context: VerdictContext, now: float
    ) -> Verdict:
        if now >= state.expires_at:
            raise TransactionError("transaction.expired", "The transaction has expired")
        parsed = parse_response(body, limits=self.config.response_limits)
        if parsed.state != state.state:
            raise TransactionError("transaction.state_mismatch", "The state does not match the transaction")
        if isinstance(parsed, WalletError):
            log.info("presentation.wallet_error", wallet_error=parsed.error)
            return rejected_verdict(context, now=now, wallet_error=parsed.error)
        ask = ask_for(state, self.definitions)
        verified = await verify_response(
            parsed,
            expected=Expectations(
                client_id=self.client_id_for(handle),
                nonce=state.nonce,
                definition=ask.definition,
                trusted_issuers=ask.trusted_issuers,
                allow_unknown_status=ask.allow_unknown_status or self.config.allow_unknown_status,
                sign_in=ask.sign_in,
                expected_subject=hinted_subject(ask.id_token_hint),
            ),
            policy=self.config.policy,
            trust=self.trust,
            keys=self.keys,
            now=now,
        )
        credentials = _credentials(verified)
        log.info("presentation.verified", credentials=len(credentials), sign_in=verified.sign_in is not None)
        return verified_verdict(
            context,
            now=now,
            holder=_holder_entry(verified),
            credentials=credentials,
            sign_in=verified.sign_in,
            self_attested=verified.self_attested,
        )

    async def _notice_replay(
        self, state: TransactionState, context: VerdictContext, remember_until: float, now: float
    ) -> None:
        # One notice per transaction at most: a flood of replays must not become a flood of webhooks.
        if await self.replay_guard.consume(state.id + ":replay", expires_at=remember_until, now=now):
            error = TransactionError(
                "transaction.replayed", "A response was already received for this transaction"
            )
            await self._deliver(rejected_verdict(context, now=now, error=error, final=False), state, now)

    async def _deliver(self, verdict: Verdict, state: TransactionState, now: float) -> None:
        token = sign_verdict(verdict, self.keyring)
        event = f"presentation.{verdict.result}" if verdict.final else "presentation.attempt_rejected"
        url = state.webhook_url or self.config.webhooks.default
        if url is None:
            raise ConfigurationError("config.webhook", "No webhook target for this transaction")
        await self.outbox.enqueue(
            Delivery(
                id=verdict.jti,
                url=url,
                body=token.encode("ascii"),
                event_type=event,
                transaction_id=state.id,
                created_at=now,
                deadline=now + self.config.webhook_retry_period,
            )
        )
        log.info("verdict.queued", webhook_id=verdict.jti, result=verdict.result, final=verdict.final)
        if self.metrics is not None:
            self.metrics.webhook_queued.labels(event=event).inc()
        if verdict.final:
            try:
                await self.recorder.store_verdict(state.id, result=verdict.result, verdict_jwt=token, at=now)
            except DependencyUnavailable:
                log.warning("transaction.record_failed", event_name="verdict")


def _holder_entry(verified: VerifiedResponse) -> HolderEntry:
    return HolderEntry(id=verified.holder.id, method=verified.holder.method)


def _credentials(verified: VerifiedResponse) -> list[CredentialEntry]:
    entries: list[CredentialEntry] = []
    for result in verified.submission.descriptors if verified.submission is not None else ():
        credential = result.credential
        entries.append(
            CredentialEntry(
                descriptor_id=result.descriptor_id,
                format=credential.format,
                issuer=getattr(credential, "issuer", ""),
                types=list(getattr(credential, "types", ())),
                vct=getattr(credential, "vct", None),
                trust=_trust_entry(getattr(credential, "trust", None)),
                claims=disclosed_claims(result),
                **_status_fields(verified.statuses.get(result.descriptor_id)),
            )
        )
    return entries


def _status_fields(outcome: StatusOutcome | None) -> dict[str, Any]:
    """``valid``, ``unknown`` (with why, when the policy allowed it), or ``no_status`` (nothing to check)."""
    if outcome is None:
        return {"status": "no_status"}
    return {"status": outcome.state, "status_reason": outcome.reason}


def _trust_entry(decision: TrustDecision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "rule": decision.rule,
        "key_source": decision.key_source,
        "narrowed_by_definition": decision.narrowed_by_definition,
    }


def _urlencode(params: Mapping[str, str]) -> str:
    return urlencode(params)
