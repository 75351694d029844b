"""The development playground: one page that asks for a presentation and follows it to a checked verdict.

Served only in development with ``playground`` on (``app.py`` leaves the router out otherwise, so production
answers 404). The page is static HTML, a script and a style sheet, all from this package, under a strict
Content-Security-Policy: nothing inline, nothing from another origin. The script talks to the ordinary
backend API (``GET /v1/definitions``, ``POST /v1/presentations``, polling ``GET /v1/presentations/{id}``)
and checks the verdict's signature itself, with WebCrypto and ``/.well-known/jwks.json``, like any receiver.

A transaction needs a webhook target; when none is configured, the page names this service's own sink
(``POST /playground/webhook``, which only acknowledges) on the loopback address, which development allows.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Final

from litestar import Request, Response, Router, get, post

__all__ = ["CONTENT_SECURITY_POLICY", "playground_router"]

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # the QR code is an SVG data: URI
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_WEBHOOK_MARKER: Final = "__PLAYGROUND_WEBHOOK__"
_COMMON_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class _Assets:
    page: str
    script: str
    style: str


def _read(name: str) -> str:
    return (files("service.http") / "playground_assets" / name).read_text(encoding="utf-8")


def _load_assets() -> _Assets:
    return _Assets(page=_read("index.html"), script=_read("playground.js"), style=_read("playground.css"))


def _sink_url(request: Request[Any, Any, Any], fallback_port: int) -> str:
    """This service's own webhook sink on loopback (the port the request came in on)."""
    server = request.scope.get("server")
    host, port = (server[0], server[1]) if server and server[1] else ("127.0.0.1", fallback_port)
    loopback = "[::1]" if ":" in str(host) else "127.0.0.1"
    return f"http://{loopback}:{port}/playground/webhook"


def playground_router(*, default_webhook: str | None, fallback_port: int) -> Router:
    """The playground's routes (left out of the OpenAPI document: they are not part of the API)."""
    assets = _load_assets()

    @get("/", media_type="text/html; charset=utf-8", sync_to_thread=False)
    def page(request: Request[Any, Any, Any]) -> Response[str]:
        """The page; the webhook it will name is the only value rendered into it (escaped)."""
        webhook = "" if default_webhook else _sink_url(request, fallback_port)
        body = assets.page.replace(_WEBHOOK_MARKER, html.escape(webhook, quote=True))
        headers = {**_COMMON_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    @get("/playground.js", media_type="text/javascript; charset=utf-8", sync_to_thread=False)
    def script() -> Response[str]:
        """The page's script."""
        return Response(assets.script, media_type="text/javascript; charset=utf-8", headers=_COMMON_HEADERS)

    @get("/playground.css", media_type="text/css; charset=utf-8", sync_to_thread=False)
    def style() -> Response[str]:
        """The page's style sheet."""
        return Response(assets.style, media_type="text/css; charset=utf-8", headers=_COMMON_HEADERS)

    @post("/webhook", status_code=204, sync_to_thread=False)
    def sink() -> None:
        """Acknowledge a verdict delivery; the page reads the verdict by polling, not from here."""

    return Router(path="/playground", route_handlers=[page, script, style, sink], include_in_schema=False)
