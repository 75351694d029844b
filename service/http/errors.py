"""The one place that turns exceptions into HTTP answers.

Wallet routes (``/wallet/...``) answer with the OAuth error body; everything else with
``application/problem+json`` (RFC 9457). Unexpected exceptions become ``server_error`` and are logged
with their traceback, never with request data.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException

from service.errors import BackendError, VerifierError, safe_description
from service.http.schemas import OAuthErrorBody, ProblemDetails

__all__ = ["exception_handlers", "render_exception"]

log = structlog.get_logger("service.http")
_PROBLEM_TYPE = "https://siop-verifier.dev/problems/"
_NO_STORE = {"Cache-Control": "no-store"}
_HTTP_ERROR_CODES = {
    401: "invalid_client",
    404: "not_found",
    405: "invalid_request",
    413: "invalid_request",
    429: "temporarily_unavailable",
}


def _is_wallet_route(request: Request[Any, Any, Any]) -> bool:
    # The path as routed, not ``request.url``: building the URL parses the client's Host header, and a
    # malformed one ("a:b:c") would turn this error answer into a 500.
    path: str = request.scope["path"]
    return path.startswith("/wallet/")


def _oauth(status: int, error: str, description: str) -> Response[bytes]:
    body = OAuthErrorBody(error=error, error_description=safe_description(description))
    return Response(
        msgspec.json.encode(body), status_code=status, media_type="application/json", headers=_NO_STORE
    )


def _problem(status: int, *, code: str, title: str, detail: str) -> Response[bytes]:
    body = ProblemDetails(type=_PROBLEM_TYPE + code, title=title, status=status, detail=detail, code=code)
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/problem+json")


def _render(
    request: Request[Any, Any, Any], status: int, *, error: str, code: str, title: str, detail: str
) -> Response[bytes]:
    if _is_wallet_route(request):
        return _oauth(status, error, detail)
    return _problem(status, code=code, title=title, detail=detail)


def handle_verifier_error(request: Request[Any, Any, Any], exc: VerifierError) -> Response[bytes]:
    """Our own errors: codes come from the class, the reason from the instance."""
    if exc.status_code >= 500:
        log.error("request.failed", reason=exc.reason, exc_info=exc)
    else:
        log.info("request.refused", reason=exc.reason, status=exc.status_code)
    title = exc.title if isinstance(exc, BackendError) else exc.error.replace("_", " ").capitalize()
    return _render(
        request, exc.status_code, error=exc.error, code=exc.reason, title=title, detail=exc.description
    )


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Framework errors (validation, 404, 405, 413) in our two formats."""
    status = exc.status_code
    if status >= 500:
        return handle_unexpected(request, exc)
    error = _HTTP_ERROR_CODES.get(status, "invalid_request")
    code = f"http.{status}"
    # Litestar's validation messages name the field and the rule, never echo the value: safe to pass on.
    detail = safe_description(str(exc.detail)) if exc.detail else "The request is not valid"
    extra = getattr(exc, "extra", None)
    if isinstance(extra, list) and extra:
        detail = safe_description(f"{detail}: {extra[0].get('message', '')} ({extra[0].get('key', '')})")
    return _render(request, status, error=error, code=code, title="Bad request", detail=detail)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug: answer server_error, log the traceback."""
    log.error("request.crashed", error_type=type(exc).__name__, exc_info=exc)
    return _render(
        request,
        500,
        error="server_error",
        code="internal.error",
        title="Internal error",
        detail="The verifier could not complete the request",
    )


def handle_too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[bytes]:
    """A body nested deeper than the decoder can follow: the caller's input, not our bug."""
    log.info("request.refused", reason="limits.json_depth", status=400)
    return _render(
        request,
        400,
        error="invalid_request",
        code="limits.json_depth",
        title="Bad request",
        detail="The request body is nested too deeply",
    )


exception_handlers = {
    VerifierError: handle_verifier_error,
    HTTPException: handle_http_exception,
    RecursionError: handle_too_deep,
    Exception: handle_unexpected,
}


def render_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The answer the app's exception handlers give for ``exc`` (the most specific class wins), for code
    that serves requests outside the framework's handler chain."""
    for kind in type(exc).__mro__:
        handler = exception_handlers.get(kind)
        if handler is not None:
            return cast(Response[bytes], handler(request, exc))  # type: ignore[operator]
    return handle_unexpected(request, exc)
