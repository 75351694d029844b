"""OpenTelemetry traces: a facade that costs nothing while tracing is off.

Tracing is an optional extra (``pip install '.[otel]'``) and stays off unless the standard ``OTEL_*``
environment turns it on (see ``TracingConfig.from_environment``). The service then exports over OTLP/HTTP;
the exporter reads its own variables (endpoint, headers, timeout, certificates, compression).

Span tree of one wallet response (``verifier.`` names)::

    respond                        the use case; also create, request_object
    ├── unseal                     opening the transaction handle
    ├── id_token                   SIOPv2 ID Token and sign-in rules
    ├── holder_binding             which holder each presentation is bound to
    │   └── presentation           one per presentation (a VP's proof of possession)
    ├── credential                 one per credential (trust, signature, its binding to the holder)
    ├── status                     one per credential used (status list)
    └── verdict                    signing and queueing the verdict
        └── delivery               one per webhook attempt, made later by the outbox worker

Attributes carry codes only, under the ``verifier.`` prefix: the transaction id, the profile, formats,
outcomes and reason codes. Never a token, a claim value, a key, a DID (a holder's DID is personal data)
or a URL. A failing step gets status ERROR with its stable reason code (``VerifierError.reason``) and the
exception's class as ``error.type``; no exception message or stack trace is recorded.

Off means: ``span()`` returns one shared no-op context manager after a single attribute lookup, and this
module imports nothing from ``opentelemetry``.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

import structlog

from service.errors import ConfigurationError, VerifierError

if TYPE_CHECKING:
    from types import ModuleType

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "TracingConfig",
    "activate",
    "deactivate",
    "installed",
    "record_reason",
    "set_attribute",
    "span",
    "traceparent",
]

_log = structlog.get_logger(__name__)

DEFAULT_SERVICE_NAME: Final = "siop-verifier"
_PREFIX: Final = "verifier."
_EXPORTERS: Final = frozenset({"otlp", "console"})
_PROTOCOL: Final = "http/protobuf"  # the one OTLP transport the extra ships

Attribute = str | bool | int | float


@dataclass(frozen=True, slots=True)
class _On:
    """An installed provider, its tracer and the API pieces spans need (imported once, at activation)."""

    provider: TracerProvider
    tracer: Tracer
    context: ModuleType
    trace: ModuleType
    error: Any
    """``StatusCode.ERROR``."""
    status: Any
    """``opentelemetry.trace.Status``."""
    propagator: TraceContextTextMapPropagator


class _Active:
    """The one process-wide switch: ``on`` is None while tracing is off."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on: _On | None = None


_active = _Active()


# --- The facade the pipeline calls --- #


class _NoSpan:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


_NO_SPAN: Final = _NoSpan()


class _Span:
    """One live span, current while the ``with`` block runs."""

    __slots__ = ("_attributes", "_name", "_on", "_parent", "_span", "_token")

    def __init__(self, on: _On, name: str, parent: str | None, attributes: Mapping[str, Any]) -> None:
        self._on = on
        self._name = name
        self._parent = parent
        self._attributes = {_PREFIX + key: value for key, value in attributes.items() if value is not None}

    def __enter__(self) -> None:
        on = self._on
        parent = None if self._parent is None else on.propagator.extract({"traceparent": self._parent})
        self._span: Span = on.tracer.start_span(self._name, context=parent, attributes=self._attributes)
        self._token = on.context.attach(on.trace.set_span_in_context(self._span))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if isinstance(exc, Exception):
                _mark_failed(self._on, self._span, exc)
        finally:
            self._on.context.detach(self._token)
            self._span.end()


def span(
    name: str, /, *, parent: str | None = None, **attributes: Attribute | None
) -> AbstractContextManager[None]:
    """A span around a ``with`` block, child of the current one (or of the W3C ``parent``, when given).

    Keyword attributes are recorded as ``verifier.<name>``; None values are left out. Codes only: see the
    module docstring for what must never be an attribute.
    """
    on = _active.on
    if on is None:
        return _NO_SPAN
    return _Span(on, name, parent, attributes)


def set_attribute(name: str, value: Attribute | None) -> None:
    """Set ``verifier.<name>`` on the current span (nothing when off or when ``value`` is None)."""
    on = _active.on
    if on is None or value is None:
        return
    on.trace.get_current_span().set_attribute(_PREFIX + name, value)


def record_reason(reason: str | None, *, failed: bool = False) -> None:
    """Record a stable reason code on the current span; ``failed`` also sets its status to ERROR."""
    on = _active.on
    if on is None or reason is None:
        return
    current = on.trace.get_current_span()
    current.set_attribute(_PREFIX + "reason", reason)
    if failed:
        current.set_status(on.status(on.error, reason))


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, for work that goes on elsewhere (webhook delivery)."""
    on = _active.on
    if on is None:
        return None
    carrier: dict[str, str] = {}
    on.propagator.inject(carrier)
    return carrier.get("traceparent")


def _mark_failed(on: _On, current: Span, exc: Exception) -> None:
    """Status ERROR with the reason code as its description; the message may never be recorded."""
    reason = exc.reason if isinstance(exc, VerifierError) else None
    current.set_attribute("error.type", type(exc).__qualname__)
    if reason is not None:
        current.set_attribute(_PREFIX + "reason", reason)
    current.set_status(on.status(on.error, reason))


# --- Installing a provider --- #


def activate(provider: TracerProvider) -> None:
    """Send spans to ``provider`` from now on (process-wide: the app's lifespan calls this)."""
    from opentelemetry import context, trace  # noqa: PLC0415 - imported only once tracing is on
    from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
        TraceContextTextMapPropagator,
    )

    _active.on = _On(
        provider=provider,
        tracer=provider.get_tracer("service"),
        context=context,
        trace=trace,
        error=trace.StatusCode.ERROR,
        status=trace.Status,
        propagator=TraceContextTextMapPropagator(),
    )


def deactivate(provider: TracerProvider) -> None:
    """Stop tracing, if ``provider`` is still the one installed (another app may have replaced it)."""
    if _active.on is not None and _active.on.provider is provider:
        _active.on = None


@asynccontextmanager
async def installed(provider: TracerProvider | None, *, owned: bool) -> AsyncIterator[None]:
    """Tracing to ``provider`` while the block runs; then flush it, and shut it down when ``owned``."""
    if provider is None:
        yield
        return
    activate(provider)
    try:
        yield
    finally:
        deactivate(provider)
        # Exporting may wait on the network: keep the event loop free while the last batch goes out.
        await asyncio.to_thread(provider.shutdown if owned else provider.force_flush)


# --- Configuration from the standard environment --- #


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """Tracing as the ``OTEL_*`` environment asks for it."""

    exporters: tuple[str, ...]
    """``otlp`` (OTLP over HTTP) and/or ``console`` (spans printed to stdout, for development)."""
    service_name: str = DEFAULT_SERVICE_NAME

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> TracingConfig | None:
        """None (off) unless the environment asks for traces and the ``otel`` extra is installed.

        On when ``OTEL_TRACES_EXPORTER`` names an exporter other than ``none``, or, with it unset, when
        ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; always off with
        ``OTEL_SDK_DISABLED=true``. An exporter or OTLP protocol we cannot honour fails the start.
        """
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        exporters = _exporters(environ)
        if not exporters:
            return None
        _check_protocol(environ)
        needed = ["opentelemetry.sdk"] + (["opentelemetry.exporter.otlp"] if "otlp" in exporters else [])
        if not all(_importable(module) for module in needed):
            _log.warning("tracing.unavailable", hint="install the otel extra: pip install '.[otel]'")
            return None
        name = environ.get("OTEL_SERVICE_NAME", "").strip() or _resource_service_name(environ)
        return cls(exporters=exporters, service_name=name or DEFAULT_SERVICE_NAME)

    def build_provider(self) -> TracerProvider:
        """A provider batching spans to the configured exporters (call it in the serving process)."""
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )

        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: self.service_name}))
        for name in self.exporters:
            exporter: SpanExporter
            if name == "otlp":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                    OTLPSpanExporter,
                )

                exporter = OTLPSpanExporter()
            else:
                exporter = ConsoleSpanExporter()
            provider.add_span_processor(BatchSpanProcessor(exporter))
        return provider


def _exporters(environ: Mapping[str, str]) -> tuple[str, ...]:
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not named:
        endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return ("otlp",) if any(environ.get(key, "").strip() for key in endpoints) else ()
    exporters = tuple(dict.fromkeys(part.strip() for part in named.split(",") if part.strip()))
    unknown = set(exporters) - _EXPORTERS - {"none"}
    if unknown:
        raise ConfigurationError(
            "config.tracing", "OTEL_TRACES_EXPORTER may name otlp, console or none, nothing else"
        )
    return tuple(name for name in exporters if name != "none")


def _check_protocol(environ: Mapping[str, str]) -> None:
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
    )
    if protocol and protocol != _PROTOCOL:
        raise ConfigurationError("config.tracing", "Traces are exported over OTLP http/protobuf only")


def _resource_service_name(environ: Mapping[str, str]) -> str | None:
    """``service.name`` from ``OTEL_RESOURCE_ATTRIBUTES``, which ``OTEL_SERVICE_NAME`` overrides."""
    for item in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = item.partition("=")
        if key.strip() == "service.name" and value.strip():
            return unquote(value.strip())
    return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False
