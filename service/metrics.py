"""Prometheus metrics (prometheus-client): what an operator watches at 3 a.m.

Label sets are bounded on purpose: a route name, an outcome, a result, a reason code from the fixed error
taxonomy. Never a DID, a transaction id, a URL or a claim value. Each app owns its registry, so several
apps in one process (tests) do not share counters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics", "route_label"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_ROUTES = (
    ("/wallet/requests/", "wallet_request_object"),
    ("/wallet/responses/", "wallet_response"),
    ("/v1/presentations", "presentations"),
    ("/v1/definitions", "definitions"),
    ("/v1/operator/", "operator"),
    ("/.well-known/jwks.json", "jwks"),
    ("/health/", "health"),
    ("/metrics", "metrics"),
)


_Labelled = TypeVar("_Labelled", Counter, Histogram)


def route_label(path: str) -> str:
    """A bounded route name for a request path (handles and ids never become labels)."""
    return next((label for prefix, label in _ROUTES if path.startswith(prefix)), "other")


@dataclass(frozen=True, slots=True)
class Metrics:
    """The instruments of one app."""

    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    verifications: Counter
    verification_seconds: Histogram
    webhook_queued: Counter
    outbox_pending: Gauge
    _children: dict[tuple[int, tuple[str, ...]], object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def labelled(self, metric: _Labelled, *values: str) -> _Labelled:
        """``metric.labels(*values)``, looked up once per label set and kept: ``labels()`` takes a lock and
        builds a key on every call, and every label set here is bounded."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child  # type: ignore[return-value]  # stored under its own metric's id

    @classmethod
    def create(cls, *, outbox_pending: Callable[[], float]) -> Metrics:
        """Fresh instruments in a fresh registry."""
        registry = CollectorRegistry()
        pending = Gauge(
            "verifier_outbox_pending", "Verdict deliveries waiting in the outbox", registry=registry
        )
        pending.set_function(outbox_pending)
        return cls(
            registry=registry,
            requests=Counter(
                "verifier_http_requests_total",
                "HTTP requests by route and status",
                ["route", "status"],
                registry=registry,
            ),
            request_seconds=Histogram(
                "verifier_http_request_seconds",
                "HTTP request latency by route",
                ["route"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            verifications=Counter(
                "verifier_verifications_total",
                "Decided transactions by result and reason code",
                ["result", "reason"],
                registry=registry,
            ),
            verification_seconds=Histogram(
                "verifier_verification_seconds",
                "Time to verify one wallet response",
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            webhook_queued=Counter(
                "verifier_webhooks_queued_total",
                "Verdict webhooks queued by event type",
                ["event"],
                registry=registry,
            ),
            outbox_pending=pending,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
