"""Traces over a real flow: one span per step, linked by the transaction id, and no personal data in them.

The service gets an in-memory exporter through ``create_app(tracer_provider=...)``; a span is exported as
soon as it ends, so the test reads the tree right after the wallet's answer (and waits for the delivery).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.e2e.actors import Holder, KeyPair, Wallet, WalletV1, WebhookReceiver
from tests.e2e.conftest import Issuers, RunningService, start_service_at

TWO_DESCRIPTORS = {
    "id": "age-and-membership",
    "input_descriptors": [
        {"id": "age", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.ageOver21"]}]}},
        {"id": "membership", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.memberId"]}]}},
    ],
}
AGE_QUERY = {
    "credentials": [
        {
            "id": "age",
            "format": "jwt_vc_json",
            "meta": {"type_values": [["AgeCredential"]]},
            "claims": [{"id": "over_21", "path": ["credentialSubject", "ageOver21"], "values": [True]}],
        }
    ]
}
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.")


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def traced(
    tmp_path_factory: pytest.TempPathFactory,
    receiver: WebhookReceiver,
    issuers: Issuers,
    exporter: InMemorySpanExporter,
) -> Iterator[RunningService]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    running = start_service_at(
        tmp_path_factory.mktemp("traced"),
        receiver,
        issuers.trust_file(),
        host="127.0.0.1",
        tracer_provider=provider,
    )
    yield running
    running.stop()
    provider.shutdown()


def _spans_of(exporter: InMemorySpanExporter, transaction_id: str, name: str) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.name == name and (span.attributes or {}).get("verifier.transaction_id") == transaction_id
    ]


def _trace(exporter: InMemorySpanExporter, root: ReadableSpan) -> list[ReadableSpan]:
    assert root.context is not None
    return [
        s for s in exporter.get_finished_spans() if s.context and s.context.trace_id == root.context.trace_id
    ]


def _wait_for(predicate: Callable[[], list[ReadableSpan]], timeout: float = 10.0) -> list[ReadableSpan]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.02)
    raise AssertionError("span never ended")


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[str]:
    assert parent.context is not None
    return sorted(
        s.name for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id
    )


def _assert_no_personal_data(spans: list[ReadableSpan], *secrets: str) -> None:
    """No attribute, event or status text carries a token, a DID or another value the flow exchanged."""
    for span in spans:
        texts = [str(v) for v in (span.attributes or {}).values()]
        texts += [str(v) for event in span.events for v in (event.attributes or {}).values()]
        texts.append(span.status.description or "")
        for text in texts:
            assert not _JWT.search(text), (span.name, text)
            assert "did:" not in text, (span.name, text)
            for secret in secrets:
                assert secret not in text, (span.name, text)


def test_a_verified_flow_is_one_tree_per_use_case(
    traced: RunningService,
    exporter: InMemorySpanExporter,
    issuers: Issuers,
    make_wallet: Callable[..., Wallet],
) -> None:
    """create / request_object / respond each trace their steps; the delivery joins the verdict's tree."""
    wallet = make_wallet("p256")
    created = traced.create(definition_id=None, presentation_definition=TWO_DESCRIPTORS)
    txn = created["transaction_id"]
    request = wallet.fetch_request(created["authorization_request_uri"])
    age = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
    member = issuers.second.issue(wallet.holder.id, {"memberId": "M-7"})
    form = wallet.build_response(request, [age, member])
    assert wallet.post(request, form).status_code == 200
    assert traced.verdict(txn)["result"] == "verified"

    [create] = _spans_of(exporter, txn, "verifier.create")
    [fetch] = _spans_of(exporter, txn, "verifier.request_object")
    [respond] = _spans_of(exporter, txn, "verifier.respond")
    assert [create.parent, fetch.parent, respond.parent] == [None, None, None]
    assert _children(_trace(exporter, fetch), fetch) == ["verifier.unseal"]
    assert (respond.attributes or {})["verifier.result"] == "verified"

    [delivery] = _wait_for(lambda: _spans_of(exporter, txn, "verifier.delivery"))
    spans = _trace(exporter, respond)
    assert _children(spans, respond) == [
        "verifier.credential",
        "verifier.credential",
        "verifier.holder_binding",
        "verifier.id_token",
        "verifier.status",
        "verifier.status",
        "verifier.unseal",
        "verifier.verdict",
    ]
    [binding] = [s for s in spans if s.name == "verifier.holder_binding"]
    assert _children(spans, binding) == ["verifier.presentation"]
    assert (binding.attributes or {})["verifier.source"] == "id_token"
    [verdict] = [s for s in spans if s.name == "verifier.verdict"]
    assert _children(spans, verdict) == ["verifier.delivery"]
    assert (delivery.attributes or {})["verifier.delivered"] is True
    statuses = [s for s in spans if s.name == "verifier.status"]
    assert {(s.attributes or {}).get("verifier.descriptor_id") for s in statuses} == {"age", "membership"}
    for span in [*spans, create, fetch]:
        assert span.status.status_code is not StatusCode.ERROR, span.name
    for span in (create, fetch, respond, verdict, delivery):
        assert (span.attributes or {})["verifier.transaction_id"] == txn

    everything = [*spans, create, *_trace(exporter, create), *_trace(exporter, fetch)]
    _assert_no_personal_data(
        everything, wallet.holder.id, request.nonce, form["id_token"], form["vp_token"], age, member
    )


def test_a_failed_step_carries_its_reason_code_only(
    traced: RunningService,
    exporter: InMemorySpanExporter,
    issuers: Issuers,
    make_wallet: Callable[..., Wallet],
) -> None:
    """An untrusted issuer fails the credential span (status ERROR, reason code) and the use case above it."""
    wallet = make_wallet()
    created = traced.create()
    txn = created["transaction_id"]
    request = wallet.fetch_request(created["authorization_request_uri"])
    form = wallet.build_response(request, [issuers.untrusted.issue(wallet.holder.id, {"ageOver21": True})])
    assert wallet.post(request, form).status_code == 400

    [respond] = _spans_of(exporter, txn, "verifier.respond")
    spans = _trace(exporter, respond)
    [credential] = [s for s in spans if s.name == "verifier.credential"]
    for span in (credential, respond):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "credential.untrusted_issuer"
        assert (span.attributes or {})["verifier.reason"] == "credential.untrusted_issuer"
        assert (span.attributes or {})["error.type"] == "CredentialInvalid"
        assert not span.events  # no exception event: its message is not ours to export
    assert (respond.attributes or {})["verifier.result"] == "rejected"
    assert [s.name for s in spans if s.name == "verifier.verdict"] == ["verifier.verdict"]
    _assert_no_personal_data(spans, wallet.holder.id, request.nonce, form["id_token"], form["vp_token"])


def test_a_1_0_response_binds_each_presentation_to_its_own_key(
    traced: RunningService, exporter: InMemorySpanExporter, issuers: Issuers
) -> None:
    """Without an ID Token (1.0 vp_token only) the holder comes from the presentation."""
    with WalletV1(Holder(KeyPair.generate("ed25519"))) as wallet:
        created = traced.backend.post(
            "/v1/presentations", json={"protocol": "1.0", "dcql_query": AGE_QUERY}
        ).json()
        txn = created["transaction_id"]
        request = wallet.fetch_request(created["authorization_request_uri"])
        vp = wallet.vp_for(request, issuers.trusted.issue(wallet.holder.id, {"ageOver21": True}))
        assert wallet.respond_v1(request, {"age": vp}).status_code == 200
        [respond] = _spans_of(exporter, txn, "verifier.respond")
        spans = _trace(exporter, respond)
        assert "verifier.id_token" not in {s.name for s in spans}
        [binding] = [s for s in spans if s.name == "verifier.holder_binding"]
        assert (binding.attributes or {})["verifier.source"] == "presentation"
        assert [s.name for s in spans if s.name == "verifier.credential"] == ["verifier.credential"]
        _assert_no_personal_data(spans, wallet.holder.id, request.nonce, vp)
