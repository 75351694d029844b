"""service.tracing: a no-op while off, switched on only by the standard OTEL_* environment, and spans that
carry codes, never personal data."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from service import tracing
from service.errors import ConfigurationError, CredentialInvalid
from service.tracing import TracingConfig

pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.unit.test_verification import (
    BOTH_DEFINITION,
    DID_HOLDER,
    DID_TRUST,
    ISSUER_DID,
    ISSUER_KEY,
    NONCE,
    CountingMetadata,
    CountingResolver,
    Ports,
    _response,
    _sd_issuer,
    _sd_jwt,
    _submission,
    _vc,
    _verify,
    sd_entry,
    vc_entry,
)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on, to memory, for one test."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.activate(provider)
    yield memory
    tracing.deactivate(provider)
    provider.shutdown()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


class TestOff:
    def test_span_is_one_shared_no_op(self) -> None:
        """Off: span() hands back the same do-nothing object, and the helpers do nothing."""
        first, second = tracing.span("a", x=1), tracing.span("b")
        assert first is second
        with first:
            tracing.set_attribute("x", "y")
            tracing.record_reason("r", failed=True)
        assert tracing.traceparent() is None

    def test_errors_pass_through_unchanged(self) -> None:
        """Off: an exception inside a span is neither swallowed nor wrapped."""
        with pytest.raises(CredentialInvalid), tracing.span("a"):
            raise CredentialInvalid("credential.expired", "Credential has expired")

    def test_the_service_never_imports_opentelemetry_while_off(self) -> None:
        """Building the app with tracing off imports neither the SDK nor the tracing API.

        (Litestar probes for the top-level ``opentelemetry`` package by itself; that costs no spans.)
        """
        code = (
            "import sys\n"
            "from service.app import create_app\n"
            "from service.keys import generate_keyring\n"
            "from service.settings import load_settings\n"
            "create_app(load_settings({}), keyring=generate_keyring())\n"
            "used = tuple('opentelemetry.' + m for m in ('sdk', 'trace', 'context', 'exporter'))\n"
            "print(sorted(m for m in sys.modules if m.startswith(used)))\n"
        )
        env = {"PATH": "/usr/bin:/bin"}  # nothing OTEL_* inherited
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=60
        )
        assert result.stdout.strip() == "[]"


class TestFromEnvironment:
    @pytest.mark.parametrize(
        "environ",
        [
            {},
            {"OTEL_TRACES_EXPORTER": "none"},
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
            {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
            {"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
            {"OTEL_SERVICE_NAME": "verifier"},  # a name alone exports nothing
        ],
    )
    def test_off(self, environ: dict[str, str]) -> None:
        """Without an exporter or endpoint, with `none`, or with the SDK disabled: off."""
        assert TracingConfig.from_environment(environ) is None

    @pytest.mark.parametrize(
        ("environ", "exporters"),
        [
            ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
            ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ("otlp",)),
            ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
            ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
            ({"OTEL_TRACES_EXPORTER": " OTLP , console,otlp"}, ("otlp", "console")),
            ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, ("otlp",)),
            ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ("otlp",)),
        ],
    )
    def test_on(self, environ: dict[str, str], exporters: tuple[str, ...]) -> None:
        """An exporter named, or an OTLP endpoint set: on, with those exporters."""
        config = TracingConfig.from_environment(environ)
        assert config is not None
        assert config.exporters == exporters

    @pytest.mark.parametrize(
        "environ",
        [
            {"OTEL_TRACES_EXPORTER": "zipkin"},
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
        ],
    )
    def test_what_cannot_be_honoured_fails_the_start(self, environ: dict[str, str]) -> None:
        """An exporter or transport the extra does not ship is a configuration error, not silence."""
        with pytest.raises(ConfigurationError) as caught:
            TracingConfig.from_environment(environ)
        assert caught.value.reason == "config.tracing"

    @pytest.mark.parametrize(
        ("environ", "name"),
        [
            ({}, "siop-verifier"),
            ({"OTEL_SERVICE_NAME": "verifier-eu"}, "verifier-eu"),
            ({"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=v%20eu"}, "v eu"),
            ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored", "OTEL_SERVICE_NAME": "wins"}, "wins"),
        ],
    )
    def test_service_name(self, environ: dict[str, str], name: str) -> None:
        """OTEL_SERVICE_NAME, else service.name of OTEL_RESOURCE_ATTRIBUTES, else siop-verifier."""
        config = TracingConfig.from_environment({"OTEL_TRACES_EXPORTER": "otlp", **environ})
        assert config is not None
        assert config.service_name == name

    def test_missing_extra_leaves_tracing_off(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Asked for traces without the otel extra installed: a warning, and the service runs untraced."""
        monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
        assert TracingConfig.from_environment({"OTEL_TRACES_EXPORTER": "otlp"}) is None

    def test_provider_batches_to_otlp_under_the_service_name(self) -> None:
        """The built provider names the service and batches spans to the OTLP/HTTP exporter."""
        provider = TracingConfig(exporters=("otlp",), service_name="verifier-eu").build_provider()
        try:
            assert provider.resource.attributes["service.name"] == "verifier-eu"
            [processor] = provider._active_span_processor._span_processors
            assert isinstance(processor, BatchSpanProcessor)
            assert isinstance(processor._batch_processor._exporter, OTLPSpanExporter)
        finally:
            provider.shutdown()


class TestOn:
    def test_spans_nest_and_carry_prefixed_attributes(self, exporter: InMemorySpanExporter) -> None:
        """Attributes are namespaced under verifier.; None values are left out."""
        with tracing.span("verifier.respond", transaction_id="t-1"):
            with tracing.span("verifier.credential", format="jwt_vc_json", missing=None):
                tracing.set_attribute("key_source", "did")
                tracing.set_attribute("nothing", None)
            tracing.record_reason("wallet.access_denied")
        spans = _by_name(exporter)
        respond, credential = spans["verifier.respond"], spans["verifier.credential"]
        assert credential.parent is not None
        assert respond.context is not None
        assert credential.parent.span_id == respond.context.span_id
        assert dict(credential.attributes or {}) == {
            "verifier.format": "jwt_vc_json",
            "verifier.key_source": "did",
        }
        assert dict(respond.attributes or {}) == {
            "verifier.transaction_id": "t-1",
            "verifier.reason": "wallet.access_denied",
        }
        assert respond.status.status_code is StatusCode.UNSET

    def test_a_verifier_error_records_its_reason_not_its_text(self, exporter: InMemorySpanExporter) -> None:
        """Status ERROR described by the reason code; no exception event, so no message or stack trace."""
        with pytest.raises(CredentialInvalid), tracing.span("verifier.credential"):
            raise CredentialInvalid("credential.expired", "did:example:secret eyJhbGciOi.x.y")
        [span] = exporter.get_finished_spans()
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "credential.expired"
        assert dict(span.attributes or {}) == {
            "error.type": "CredentialInvalid",
            "verifier.reason": "credential.expired",
        }
        assert span.events == ()

    def test_any_other_error_records_its_type_only(self, exporter: InMemorySpanExporter) -> None:
        with pytest.raises(KeyError), tracing.span("verifier.status"):
            raise KeyError("did:key:z6Mk-holder")
        [span] = exporter.get_finished_spans()
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None
        assert dict(span.attributes or {}) == {"error.type": "KeyError"}

    def test_a_failed_reason_sets_error(self, exporter: InMemorySpanExporter) -> None:
        with tracing.span("verifier.delivery"):
            tracing.record_reason("webhook.http_5xx", failed=True)
        [span] = exporter.get_finished_spans()
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "webhook.http_5xx"

    def test_traceparent_links_later_work_to_the_span_that_queued_it(
        self, exporter: InMemorySpanExporter
    ) -> None:
        """A delivery made later, elsewhere, becomes a child of the verdict span through traceparent."""
        with tracing.span("verifier.verdict"):
            parent = tracing.traceparent()
        assert parent is not None
        with tracing.span("verifier.delivery", parent=parent):
            pass
        spans = _by_name(exporter)
        verdict, delivery = spans["verifier.verdict"], spans["verifier.delivery"]
        assert verdict.context is not None
        assert delivery.parent is not None
        assert delivery.parent.span_id == verdict.context.span_id
        assert delivery.context is not None
        assert delivery.context.trace_id == verdict.context.trace_id

    def test_deactivate_ignores_a_provider_that_is_not_installed(
        self, exporter: InMemorySpanExporter
    ) -> None:
        """Another app stopping does not switch off the tracing of the one still running."""
        tracing.deactivate(TracerProvider())
        with tracing.span("still-on"):
            pass
        assert [span.name for span in exporter.get_finished_spans()] == ["still-on"]

    def test_installed_flushes_a_borrowed_provider_and_shuts_down_its_own(self) -> None:
        memory = InMemorySpanExporter()
        borrowed = TracerProvider()
        borrowed.add_span_processor(BatchSpanProcessor(memory))

        async def run(provider: TracerProvider, *, owned: bool) -> None:
            async with tracing.installed(provider, owned=owned):
                with tracing.span("inside"):
                    pass
            with tracing.span("after"):
                pass

        asyncio.run(run(borrowed, owned=False))
        assert [span.name for span in memory.get_finished_spans()] == ["inside"]  # flushed at exit
        with borrowed.get_tracer("test").start_as_current_span("still-usable"):
            pass
        borrowed.force_flush()
        assert len(memory.get_finished_spans()) == 2
        asyncio.run(run(borrowed, owned=True))
        assert len(memory.get_finished_spans()) == 3  # "inside" made it out before the shutdown
        with borrowed.get_tracer("test").start_as_current_span("after-shutdown"):
            pass
        borrowed.force_flush()
        assert len(memory.get_finished_spans()) == 3


def test_verification_spans_carry_no_personal_data(exporter: InMemorySpanExporter) -> None:
    """A VP and an SD-JWT verified with tracing on: steps traced; no DID, key, nonce, token or claim."""
    vc = _vc()
    sd = _sd_jwt(_sd_issuer(ISSUER_KEY, ISSUER_DID, kid=ISSUER_KEY.did_key_url()))
    vp = DID_HOLDER.vp([vc])
    response = _response([vp, sd], _submission(vc_entry("age", 0), sd_entry("pid", 1)))
    _verify(
        Ports(CountingResolver(), CountingMetadata()), response, definition=BOTH_DEFINITION, trust=DID_TRUST
    )
    spans = exporter.get_finished_spans()
    names = sorted(span.name for span in spans)
    assert names == [
        "verifier.credential",
        "verifier.credential",
        "verifier.holder_binding",
        "verifier.id_token",
        "verifier.presentation",
        "verifier.presentation",
        "verifier.status",
        "verifier.status",
    ]
    assert {
        (s.attributes or {}).get("verifier.format") for s in spans if s.name == "verifier.credential"
    } == {
        "jwt_vc_json",
        "dc+sd-jwt",
    }
    forbidden = [
        DID_HOLDER.id,
        ISSUER_DID,
        NONCE,
        vc,
        sd,
        vp,
        response.id_token or "",
        "Erika",
        "eyJ",
        "did:",
    ]
    for span in spans:
        for value in (span.attributes or {}).values():
            assert not any(secret in str(value) for secret in forbidden), (span.name, value)
