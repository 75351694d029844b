"""The verifier's use cases: create a request, serve its request object, take the wallet's response.

Framework-free: ``http/`` adapts these to routes; ``app.py`` wires the ports (clock, replay guard,
resolver, outbox). A transaction gets exactly one final verdict: the first response posted for it
decides, whatever it contains; later posts are refused and reported once as a non-final notice.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, urlencode

import msgspec
import structlog

from service import tracing
from service.asks import Ask, AskReference, ask_for, hinted_subject, reference_for
from service.clock import Clock
from service.errors import (
    BadBackendRequest,
    ConfigurationError,
    DependencyUnavailable,
    Forbidden,
    StoreRequired,
    TransactionError,
    VerifierError,
)
from service.jose.jwe import ResponseKey, decrypt_response, derive_response_key
from service.keys import Keyring
from service.metrics import Metrics
from service.presentation_exchange import DefinitionRegistry
from service.replay import ReplayGuard
from service.request_object import (
    ClientIdentities,
    ClientIdentity,
    EncryptionOffer,
    build_request_object,
)
from service.response import WalletError, parse_response
from service.response_code import RESPONSE_CODE_EVENT, check_response_code, response_code, with_response_code
from service.stores import DeadLetters, NullRecorder, TransactionRecorder, TransactionStatus
from service.transaction.seal import seal, unseal
from service.transaction.state import PROFILE_V1, PROFILES, TransactionState
from service.trust import TrustList
from service.verdict import (
    Verdict,
    VerdictContext,
    rejected_verdict,
    sign_verdict,
    verified_verdict,
)
from service.verdict_entries import credential_entries, holder_entry
from service.verification import (
    Expectations,
    KeySources,
    verify_response,
)
from service.verifier_model import (
    MAX_JWE,
    MAX_PLAINTEXT,
    PROTOCOLS,
    SCHEME_NAMES,
    CreatedTransaction,
    PresentationRequest,
    VerifierConfig,
    WebhookTargets,
)
from service.vocabulary import RESPONSE_MODE_DIRECT_POST_JWT, RESULT_REJECTED
from service.wallet_metadata import (
    WalletMetadata,
    WalletMetadataUnsupported,
    narrow_enc_values,
    narrow_vp_formats,
)
from service.webhook import Delivery, Outbox

__all__ = ["CreatedTransaction", "PresentationRequest", "Verifier", "VerifierConfig", "WebhookTargets"]

log = structlog.get_logger("service.verifier")
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")  # RFC 3986 §2.3: never percent-encoded


def _random() -> bytes:
    return secrets.token_bytes(16)  # 128 bits (OpenID4VP 1.0 §5.2 nonce/state)


class Verifier:
    """Use cases over the injected ports."""

    def __init__(
        self,
        *,
        config: VerifierConfig,
        keyring: Keyring,
        identities: ClientIdentities,
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
        self.identities = identities
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

    async def transaction_status(
        self, transaction_id: str, *, response_code: str | None = None
    ) -> TransactionStatus | None:
        """What a polling backend may read: pending / verified / rejected / expired, verdict and events.

        A same-device transaction's verdict is only readable with the one-time ``response_code`` the wallet
        carried back to the backend's front end (1.0 §13.3: a fixated session cannot read it).
        """
        if not self.recorder.enabled:
            raise StoreRequired("store.required", "Polling needs a store (set VERIFIER_STORE_URL)")
        status = await self.recorder.status(transaction_id)
        if status is not None and any(e.event == RESPONSE_CODE_EVENT for e in status.events):
            await self._redeem_response_code(transaction_id, response_code)
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

    def _identity(self, state: TransactionState) -> ClientIdentity:
        identity = self.identities.by_scheme.get(state.client_id_scheme)
        if identity is None:
            raise TransactionError(
                "transaction.unknown_client_id_scheme", "This deployment no longer has that identity"
            )
        return identity

    def client_id_for(self, state: TransactionState, handle: str) -> str:
        """Our client_id for this transaction (1.0: prefixed; ``redirect_uri``: the response URI, §5.9)."""
        return self._identity(state).client_id_for(state.profile, self.response_uri(handle))

    # --- 1. create --- #

    async def create(self, request: PresentationRequest) -> CreatedTransaction:
        """Seal a new transaction and hand back the links for the wallet."""
        with tracing.span("verifier.create"):
            return await self._create(request)

    async def _create(self, request: PresentationRequest) -> CreatedTransaction:
        now = int(self.clock())
        profile = self._profile(request.protocol)
        encrypted = self._check_options(request, profile)
        identity = self.identities.get(_scheme_name(request.client_id_prefix), profile=profile)
        reference = reference_for(
            self.definitions,
            definition_id=request.definition_id,
            presentation_definition=request.presentation_definition,
            sign_in=request.sign_in,
            dcql_query=request.dcql_query,
            profile=profile,
        )
        self._check_hint(request, reference)
        state = TransactionState(
            id_bytes=_random(),
            nonce_bytes=_random(),
            state_bytes=_random(),
            created_at=now,
            expires_at=now + self.config.transaction_ttl,
            client_id_scheme=identity.scheme,
            profile=profile,
            definition_id=reference.definition_id,
            definition_digest=reference.digest,
            inline_definition=reference.inline_definition,
            inline_sign_in=reference.inline_sign_in,
            id_token_hint=request.id_token_hint,
            # The default target is not sealed in: it keeps the handle (and the QR code) short.
            webhook_url=None if request.webhook_url == self.config.webhooks.default else request.webhook_url,
            correlation_id=request.correlation_id,
            inline_dcql=reference.inline_dcql,
            encrypted_response=encrypted,
            redirect_uri=request.redirect_uri,
        )
        if profile == PROFILE_V1:
            # The DCQL form of what is asked (given, shipped or translated) must exist before a wallet looks.
            _check_holder_binding(ask_for(state, self.definitions))
        tracing.set_attribute("transaction_id", state.id)
        tracing.set_attribute("profile", profile)
        handle = seal(state, self.keyring)
        client_id = self.client_id_for(state, handle)
        request_uri = self.request_uri(handle)
        params = {"client_id": client_id, "request_uri": request_uri}
        if request.request_uri_method == "post":
            params["request_uri_method"] = "post"
        link = "openid4vp://?" + _urlencode(params, handle)
        log.info(
            "transaction.created",
            transaction_id=state.id,
            definition_id=reference.definition_id,
            profile=profile,
        )
        await self._record(state.id, "created", now, detail=str(state.expires_at))
        if state.redirect_uri is not None:
            # From the start, not from the answer: no poll may read this verdict without the code.
            await self._record(state.id, RESPONSE_CODE_EVENT, now)
        return CreatedTransaction(
            transaction_id=state.id,
            request_uri=request_uri,
            response_uri=self.response_uri(handle),
            authorization_request_uri=link,
            client_id=client_id,
            expires_at=state.expires_at,
        )

    def _profile(self, protocol: str | None) -> str:
        profile = PROTOCOLS.get(protocol or self.config.default_protocol)
        if profile is None:
            raise BadBackendRequest("api.protocol", "protocol must be draft or 1.0")
        return profile

    def _check_options(self, request: PresentationRequest, profile: str) -> bool:
        """Check the 1.0-only options; answer whether the response must be encrypted."""
        if request.redirect_uri is not None and not self.recorder.enabled:
            raise StoreRequired(
                "store.required", "The same-device flow needs a store to keep the verdict for the front end"
            )
        if profile != PROFILE_V1:
            if request.response_mode not in {None, "direct_post"} or request.request_uri_method == "post":
                raise BadBackendRequest(
                    "api.protocol", "direct_post.jwt and request_uri_method post need protocol 1.0"
                )
            return False
        return (request.response_mode or self.config.default_response_mode) == RESPONSE_MODE_DIRECT_POST_JWT

    def _check_hint(self, request: PresentationRequest, reference: AskReference) -> None:
        if request.id_token_hint is None:
            return
        entry = self.definitions.get(reference.definition_id) if reference.inline_sign_in is None else None
        if reference.inline_sign_in is None and (entry is None or entry.sign_in is None):
            raise BadBackendRequest("sign_in.hint_without_sign_in", "id_token_hint needs a sign-in")
        hinted_subject(request.id_token_hint)

    # --- 2. request object --- #

    def _open(self, handle: str) -> TransactionState:
        with tracing.span("verifier.unseal"):
            state = unseal(handle, self.keyring)
            if state.profile not in PROFILES:
                raise TransactionError(
                    "transaction.unknown_profile", "The transaction uses an unknown profile"
                )
            tracing.set_attribute("transaction_id", state.id)
        # The use case's own span: every step of this transaction is found by its id.
        tracing.set_attribute("transaction_id", state.id)
        tracing.set_attribute("profile", state.profile)
        return state

    def _response_key(self, handle: str, state: TransactionState) -> ResponseKey:
        """The transaction's encryption key, derived again from the key that sealed it (nothing stored)."""
        sealing = self.keyring.sealing_key(handle.split(".", 1)[0])
        if sealing is None:  # unseal succeeded, so the key exists; this guards a racing key removal
            raise TransactionError("transaction.unknown_key", "The transaction key is no longer held")
        return derive_response_key(sealing.key, state.id_bytes)

    async def request_object(self, handle: str, *, wallet: WalletMetadata | None = None) -> str:
        """The signed request object for a live transaction (``wallet``: what a request-URI POST said)."""
        with tracing.span("verifier.request_object", wallet_metadata=wallet is not None):
            return await self._request_object(handle, wallet)

    async def _request_object(self, handle: str, wallet: WalletMetadata | None) -> str:
        now = self.clock()
        state = self._open(handle)
        if now >= state.expires_at:
            raise TransactionError("transaction.expired", "The transaction has expired")
        if wallet is not None and state.profile != PROFILE_V1:
            raise TransactionError("transaction.request_uri_method", "This transaction takes GET only")
        await self._record(state.id, "request_retrieved", now)
        ask = ask_for(state, self.definitions)
        identity = self._identity(state)
        client_metadata = self.config.client_metadata
        encryption: EncryptionOffer | None = None
        if state.profile == PROFILE_V1:
            client_metadata = self._fit_to_wallet(ask, identity, wallet)
            if state.encrypted_response:
                enc_values = self.config.response_enc_values
                if wallet is not None:
                    enc_values = narrow_enc_values(enc_values, wallet)
                encryption = EncryptionOffer(
                    jwk=self._response_key(handle, state).public_jwk(), enc_values=enc_values
                )
        return build_request_object(
            state,
            identity=identity,
            client_id=self.client_id_for(state, handle),
            response_uri=self.response_uri(handle),
            ask=ask,
            client_metadata=client_metadata,
            now=now,
            wallet_nonce=wallet.nonce if wallet is not None else None,
            encryption=encryption,
        )

    def _fit_to_wallet(
        self, ask: Ask, identity: ClientIdentity, wallet: WalletMetadata | None
    ) -> Mapping[str, Any]:
        """1.0 metadata, narrowed to what a wallet that posted its metadata supports (§5.10)."""
        metadata = self.config.client_metadata_v1
        if wallet is None:
            return metadata
        if (
            wallet.signing_algs is not None
            and identity.alg is not None
            and identity.alg not in wallet.signing_algs
        ):
            raise WalletMetadataUnsupported(
                "wallet_metadata.signing_alg_unsupported", "The wallet cannot verify our request signature"
            )
        needed = [item.format for item in ask.dcql.credentials] if ask.dcql is not None else []
        formats = narrow_vp_formats(metadata["vp_formats_supported"], needed, wallet)
        return {**metadata, "vp_formats_supported": formats}

    # --- 3. response --- #

    async def respond(self, handle: str, body: bytes) -> dict[str, str]:
        """Take the wallet's response; every outcome except an unopenable handle yields a verdict.

        Answers the JSON body for the wallet: ``{}``, or with a same-device transaction
        ``{"redirect_uri": ...}`` carrying the one-time ``response_code`` (1.0 §8.2).
        """
        with tracing.span("verifier.respond"):
            return await self._respond(handle, body)

    async def _respond(self, handle: str, body: bytes) -> dict[str, str]:
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
            tracing.set_attribute("result", RESULT_REJECTED)
            self._count(RESULT_REJECTED, exc.reason, started)
            await self._deliver_or_release(rejected_verdict(context, now=now, error=exc), state, now)
            raise
        self._count(verdict.result, verdict.errors[0].code if verdict.errors else "none", started)
        tracing.set_attribute("result", verdict.result)
        tracing.record_reason(verdict.errors[0].code if verdict.errors else None)
        await self._deliver_or_release(verdict, state, now)
        if state.redirect_uri is None:
            return {}
        code = response_code(self.keyring.active_sealing.key, state.id_bytes)
        return {"redirect_uri": with_response_code(state.redirect_uri, code)}

    async def _redeem_response_code(self, transaction_id: str, code: str | None) -> None:
        check_response_code(code, transaction_id, (key.key for key in self.keyring.sealing))
        now = self.clock()
        until = now + 2 * self.config.transaction_ttl
        if not await self.replay_guard.consume(transaction_id + ":response_code", expires_at=until, now=now):
            raise Forbidden("response_code.used", "The response_code was already used")

    def _count(self, result: str, reason: str, started: float) -> None:
        if self.metrics is not None:
            self.metrics.labelled(self.metrics.verifications, result, reason).inc()
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
        parsed = parse_response(
            body, limits=self.config.response_limits, decrypt=self._decrypter(handle, state)
        )
        if parsed.state != state.state:
            raise TransactionError("transaction.state_mismatch", "The state does not match the transaction")
        if isinstance(parsed, WalletError):
            log.info("presentation.wallet_error", wallet_error=parsed.error)
            return rejected_verdict(context, now=now, wallet_error=parsed.error)
        ask = ask_for(state, self.definitions)
        verified = await verify_response(
            parsed,
            expected=Expectations(
                client_id=self.client_id_for(state, handle),
                nonce=state.nonce,
                dcql=ask.dcql,
                id_token=state.profile != PROFILE_V1 or ask.sign_in is not None,
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
        credentials = credential_entries(verified)
        log.info("presentation.verified", credentials=len(credentials), sign_in=verified.sign_in is not None)
        return verified_verdict(
            context,
            now=now,
            holder=holder_entry(verified),
            credentials=credentials,
            sign_in=verified.sign_in,
            self_attested=verified.self_attested,
        )

    def _decrypter(self, handle: str, state: TransactionState) -> Callable[[str], bytes] | None:
        if not state.encrypted_response:
            return None
        key = self._response_key(handle, state)
        enc_values = frozenset(self.config.response_enc_values)

        def decrypt(compact: str) -> bytes:
            return decrypt_response(
                compact, key, allowed_enc=enc_values, max_length=MAX_JWE, max_plaintext=MAX_PLAINTEXT
            )

        return decrypt

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
        with tracing.span(
            "verifier.verdict", transaction_id=state.id, result=verdict.result, final=verdict.final
        ):
            await self._sign_and_queue(verdict, state, now)

    async def _sign_and_queue(self, verdict: Verdict, state: TransactionState, now: float) -> None:
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
                trace_parent=tracing.traceparent(),
            )
        )
        log.info("verdict.queued", webhook_id=verdict.jti, result=verdict.result, final=verdict.final)
        if self.metrics is not None:
            self.metrics.labelled(self.metrics.webhook_queued, event).inc()
        if verdict.final:
            try:
                await self.recorder.store_verdict(state.id, result=verdict.result, verdict_jwt=token, at=now)
            except DependencyUnavailable:
                log.warning("transaction.record_failed", event_name="verdict")


def _scheme_name(prefix: str | None) -> str | None:
    """A client identifier prefix as the scheme name identities are kept under."""
    return None if prefix is None else SCHEME_NAMES.get(prefix, prefix)


def _check_holder_binding(ask: Ask) -> None:
    """We always require a holder's proof of possession: refuse a query that would waive it."""
    for item in ask.dcql.credentials if ask.dcql is not None else ():
        if not item.require_cryptographic_holder_binding:
            raise BadBackendRequest(
                "dcql.holder_binding_required",
                f"credential query {item.id}: this verifier always requires cryptographic holder binding",
            )


def _urlencode(params: Mapping[str, str], handle: str) -> str:
    """``urlencode(params)``, quoting only the parts around ``handle`` (cached: they repeat).

    A handle is a key id, a dot and base64url: unreserved characters, which ``quote_plus`` leaves as they
    are, so quoting the text around it gives the same string at a fraction of the cost.
    """
    if _UNRESERVED.fullmatch(handle) is None:
        return urlencode(params)
    return "&".join(f"{_quoted(name)}={_quoted_around(value, handle)}" for name, value in params.items())


def _quoted_around(value: str, handle: str) -> str:
    head, found, tail = value.partition(handle)
    return _quoted(head) + handle + _quoted(tail) if found else _quoted(value)


@lru_cache(maxsize=256)
def _quoted(text: str) -> str:
    return quote_plus(text)
