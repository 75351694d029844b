"""/metrics over HTTP: bounded labels, verifications by result and reason, request counts per route."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.actors import Wallet
from tests.e2e.conftest import Issuers, RunningService


def _scrape(service: RunningService) -> str:
    answer = service.backend.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_verifications_and_never_label_with_ids(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A verified and a rejected response move their counters; no transaction id, DID or handle is a label."""
    before = _scrape(service)
    verified_key = 'verifier_verifications_total{reason="none",result="verified"}'
    rejected_key = 'verifier_verifications_total{reason="credential.untrusted_issuer",result="rejected"}'
    seen = []
    for issuer in (issuers.trusted, issuers.untrusted):
        wallet = make_wallet()
        created = service.create()
        request = wallet.fetch_request(created["authorization_request_uri"])
        wallet.respond(request, [issuer.issue(wallet.holder.id, {"ageOver21": True})])
        seen.append((created["transaction_id"], wallet.holder.id, request.response_uri))
    after = _scrape(service)
    assert _value(after, verified_key) == _value(before, verified_key) + 1
    assert _value(after, rejected_key) == _value(before, rejected_key) + 1
    assert 'verifier_http_requests_total{route="wallet_response",status="200"}' in after
    assert "verifier_outbox_pending" in after
    for transaction_id, holder, response_uri in seen:
        assert transaction_id not in after
        assert holder not in after
        assert response_uri.rsplit("/", 1)[1] not in after
