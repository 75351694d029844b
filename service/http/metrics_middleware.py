"""Count and time every HTTP request by a bounded route name and status (never the path itself)."""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics, route_label

__all__ = ["metrics_middleware"]


def metrics_middleware(metrics: Metrics) -> Any:
    """A Litestar middleware factory recording into ``metrics``."""
    # Labels are bounded (route names x statuses), so their children are looked up once and kept:
    # prometheus_client's labels() takes a lock and builds a key on every call.
    counters: dict[tuple[str, int], Any] = {}
    timers: dict[str, Any] = {}

    def record(route: str, status: int, seconds: float) -> None:
        counter = counters.get((route, status))
        if counter is None:
            counter = counters[route, status] = metrics.requests.labels(route=route, status=str(status))
        timer = timers.get(route)
        if timer is None:
            timer = timers[route] = metrics.request_seconds.labels(route=route)
        counter.inc()
        timer.observe(seconds)

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
                record(route, status, time.perf_counter() - started)

        return middleware

    return factory
