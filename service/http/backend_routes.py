"""Backend face: create presentation requests, list definitions, publish keys, report health."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody, Parameter

from service.clock import format_utc
from service.errors import DependencyUnavailable, NotFound, StoreRequired
from service.http.deps import VerifierDep
from service.http.docs import backend_errors
from service.http.qr import qr_code
from service.http.schemas import (
    CreatedPresentation,
    CreatePresentationBody,
    DeadLetterBody,
    DefinitionDetail,
    DefinitionSummary,
    Health,
    JsonWebKeySet,
    TransactionEventBody,
    TransactionStatusBody,
)
from service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from service.presentation_exchange import DefinitionEntry
from service.stores import DeadLetters
from service.verifier import PresentationRequest, Verifier

__all__ = ["DefinitionController", "OperatorController", "PresentationController", "PublicController"]


def _summary(entry: DefinitionEntry) -> DefinitionSummary:
    definition = entry.definition
    return DefinitionSummary(
        id=entry.id,
        name=definition.name if definition is not None else None,
        purpose=definition.purpose if definition is not None else None,
        description=entry.description,
        digest=entry.digest,
        sign_in=entry.sign_in is not None,
        presentation=definition is not None,
    )


class PresentationController(Controller):
    """Presentation requests."""

    path = "/v1/presentations"
    tags = ["presentations"]

    @post(
        operation_id="CreatePresentation",
        status_code=201,
        summary="Create a presentation request",
        responses=backend_errors(400, 401, 403, 404),
        security=[{"ApiKey": []}],
    )
    async def create(
        self, data: JSONBody[CreatePresentationBody], verifier: VerifierDep
    ) -> CreatedPresentation:
        """Seal a new transaction; give `authorization_request_uri` to the wallet as a link or QR code."""
        return await create_presentation(verifier, data)

    @get(
        "/{transaction_id:str}",
        operation_id="GetPresentationStatus",
        summary="Poll a transaction (needs a store)",
        responses=backend_errors(400, 401, 403, 404, 501),
        security=[{"ApiKey": []}],
    )
    async def status(
        self,
        transaction_id: FromPath[str],
        verifier: VerifierDep,
        response_code: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> TransactionStatusBody:
        """`pending`, `verified`/`rejected` (with the signed verdict) or `expired`, and the events so far.

        A same-device transaction (created with `redirect_uri`) answers only with its one-time
        `response_code`, which the wallet brought to your front end."""
        status = await verifier.transaction_status(transaction_id, response_code=response_code)
        if status is None:
            raise NotFound("transaction.unknown", "No such transaction (or its record has expired)")
        return TransactionStatusBody(
            transaction_id=status.transaction_id,
            state=status.state,
            verdict=status.verdict_jwt,
            decided_at=int(status.decided_at) if status.decided_at is not None else None,
            events=[TransactionEventBody(event=e.event, at=int(e.at)) for e in status.events],
        )


class OperatorController(Controller):
    """Operator endpoints: verdict deliveries that were given up (needs a store)."""

    path = "/v1/operator/dead-letters"
    tags = ["operator"]

    @get(
        operation_id="ListDeadLetters",
        summary="Deliveries given up after the retry period",
        responses=backend_errors(401, 501),
        security=[{"ApiKey": []}],
    )
    async def list_dead(self, verifier: VerifierDep) -> list[DeadLetterBody]:
        """Newest first; each can be re-driven."""
        dead = _dead_letters(verifier)
        return [
            DeadLetterBody(
                webhook_id=item.delivery.id,
                transaction_id=item.delivery.transaction_id,
                url=item.delivery.url,
                reason=item.reason,
                status=item.status,
                failed_at=int(item.failed_at),
            )
            for item in await dead.list_dead()
        ]

    @post(
        "/{webhook_id:str}/redrive",
        operation_id="RedriveDeadLetter",
        status_code=202,
        summary="Deliver a dead letter again",
        responses=backend_errors(401, 404, 501),
        security=[{"ApiKey": []}],
    )
    async def redrive(self, webhook_id: FromPath[str], verifier: VerifierDep) -> Health:
        """Put the delivery back in the outbox with a fresh retry period."""
        if not await _dead_letters(verifier).redrive(webhook_id):
            raise NotFound("dead_letter.unknown", "No dead letter has that webhook id")
        return Health(status="queued")


def _dead_letters(verifier: VerifierDep) -> DeadLetters:
    if verifier.dead_letters is None:
        raise StoreRequired("store.required", "Dead letters need a store (set VERIFIER_STORE_URL)")
    return verifier.dead_letters


class DefinitionController(Controller):
    """Named presentation definitions from `definitions/`."""

    path = "/v1/definitions"
    tags = ["definitions"]

    @get(
        operation_id="ListDefinitions",
        summary="List named definitions",
        responses=backend_errors(401),
        security=[{"ApiKey": []}],
    )
    async def list_definitions(self, verifier: VerifierDep) -> list[DefinitionSummary]:
        """Every definition loaded at start-up."""
        return [_summary(entry) for entry in verifier.definitions.list()]

    @get(
        "/{definition_id:str}",
        operation_id="GetDefinition",
        summary="Get one named definition",
        responses=backend_errors(401, 404),
        security=[{"ApiKey": []}],
    )
    async def get_definition(self, definition_id: FromPath[str], verifier: VerifierDep) -> DefinitionDetail:
        """One definition with its presentation definition."""
        entry = verifier.definitions.get(definition_id)
        if entry is None:
            raise NotFound("definition.unknown", "No definition has that id")
        summary = _summary(entry)
        return DefinitionDetail(
            **msgspec.structs.asdict(summary),
            presentation_definition=dict(entry.definition.raw) if entry.definition is not None else None,
            sign_in_policy=msgspec.to_builtins(entry.sign_in) if entry.sign_in is not None else None,
            trusted_issuers=sorted(entry.trusted_issuers) if entry.trusted_issuers is not None else None,
        )


class PublicController(Controller):
    """Unauthenticated endpoints: keys and health."""

    path = "/"
    tags = ["public"]

    @get("/.well-known/jwks.json", operation_id="GetJwks", summary="Verdict and request-object keys")
    async def jwks(self, verifier: VerifierDep) -> JsonWebKeySet:
        """Public keys that verify our verdicts (RFC 7517)."""
        return JsonWebKeySet(keys=verifier.keyring.jwks()["keys"])

    @get("/metrics", operation_id="Metrics", summary="Prometheus metrics", media_type=METRICS_CONTENT_TYPE)
    async def metrics(self, verifier: VerifierDep) -> Response[bytes]:
        """Request rate/latency per route, verifications by result and reason, outbox depth."""
        assert verifier.metrics is not None
        return Response(verifier.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @get("/health/live", operation_id="Liveness", summary="Liveness probe")
    async def live(self) -> Health:
        """The process answers."""
        return Health(status="ok")

    @get("/health/ready", operation_id="Readiness", summary="Readiness probe", responses=backend_errors(503))
    async def ready(self, verifier: VerifierDep) -> Health:
        """Keys and definitions are loaded and the delivery worker runs; otherwise 503."""
        if not await verifier.ready():
            raise DependencyUnavailable("dependency.not_ready", "The verifier is not ready")
        return Health(status="ready")


async def create_presentation(verifier: Verifier, data: CreatePresentationBody) -> CreatedPresentation:
    """The use case behind ``POST /v1/presentations`` (also served by ``service.http.create_lane``)."""
    webhook_url = verifier.webhooks.choose(data.webhook_url)
    created = await verifier.create(
        PresentationRequest(
            definition_id=data.definition_id,
            presentation_definition=data.presentation_definition,
            webhook_url=webhook_url,
            correlation_id=data.correlation_id,
            sign_in=data.sign_in,
            id_token_hint=data.id_token_hint,
            protocol=data.protocol,
            dcql_query=data.dcql_query,
            response_mode=data.response_mode,
            client_id_prefix=data.client_id_prefix,
            request_uri_method=data.request_uri_method,
            redirect_uri=data.redirect_uri,
        )
    )
    return CreatedPresentation(
        transaction_id=created.transaction_id,
        request_uri=created.request_uri,
        authorization_request_uri=created.authorization_request_uri,
        client_id=created.client_id,
        expires_at=format_utc(created.expires_at),
        qr_code=qr_code(created.authorization_request_uri, data.qr) if data.qr else None,
    )
