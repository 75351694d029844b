"""Count and time every HTTP request by a bounded route name and status (never the path itself)."""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics, route_label

__all__ = ["RequestRecorder", "metrics_middleware"]


class RequestRecorder:
    """Counts and times requests by a bounded route name and status."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def record(self, route: str, status: int, seconds: float) -> None:
        metrics = self._metrics
        metrics.labelled(metrics.requests, route, str(status)).inc()
        metrics.labelled(metrics.request_seconds, route).observe(seconds)


def metrics_middleware(recorder: RequestRecorder) -> Any:
    """A Litestar middleware factory recording into ``recorder``."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            route = route_label(scope["path"])
            status = 500
            started = time.perf_counter()

            async def recording_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, recording_send)
            finally:
                recorder.record(route, status, time.perf_counter() - started)

        return middleware

    return factory
