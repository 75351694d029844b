"""Error responses as the OpenAPI document states them (the handlers in ``errors.py`` make these)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from service.http.schemas import OAuthErrorBody, ProblemDetails

__all__ = ["AuthorizationResponseOperation", "backend_errors", "wallet_errors"]


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDetails,
        media_type="application/problem+json",
        description=description,
        generate_examples=False,
    )


def _oauth(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=OAuthErrorBody, description=description, generate_examples=False)


def backend_errors(*statuses: int) -> dict[int, ResponseSpec]:
    """Problem-details responses for the given statuses."""
    texts = {
        400: "The request is not valid (RFC 9457 problem details; `code` says why)",
        401: "A valid bearer API key is required",
        403: "Not allowed by the configuration (e.g. webhook URL outside the allow-list)",
        404: "No such resource",
        501: "Needs a store: this deployment runs on the embedded, in-memory one",
        503: "Not ready",
    }
    return {status: _problem(texts[status]) for status in statuses}


def wallet_errors() -> dict[int, ResponseSpec]:
    """OAuth error bodies answered to wallets."""
    return {
        400: _oauth("OAuth error: the request or response was refused (`error`, `error_description`)"),
        413: _oauth("OAuth error: the body is too large"),
    }


def _string(description: str) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description)


@dataclass
class AuthorizationResponseOperation(Operation):
    """Documents the form body the wallet posts (the handler reads it raw, to enforce its own limits)."""

    def __post_init__(self) -> None:
        form = Schema(
            type=OpenAPIType.OBJECT,
            properties={
                "state": _string("The `state` from the request object"),
                "id_token": _string("Self-Issued ID Token (SIOPv2)"),
                "vp_token": _string("A VP JWT, or a JSON array of them"),
                "presentation_submission": _string("JSON presentation submission (DIF PE v2)"),
                "error": _string("OAuth error code, for an error response"),
                "error_description": _string("Human-readable error text, for an error response"),
            },
        )
        self.request_body = RequestBody(
            content={"application/x-www-form-urlencoded": OpenAPIMediaType(schema=form)}, required=True
        )
