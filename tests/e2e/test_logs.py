"""What the service logs during real flows: ids and reason codes, never tokens, claims, keys or secrets.

The service runs in a thread of this process, so its structlog calls go through the global structlog
configuration: the tests install the production pipeline (``configure_logging``) plus a processor that
keeps each event as the call site made it, start a dedicated service, and restore the configuration after.
stdout/stderr are captured too (rendered JSON lines, stdlib loggers such as uvicorn and httpx).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from service.logging import redact
from tests.e2e.actors import Holder, KeyPair, Wallet, WebhookReceiver, b64url
from tests.e2e.conftest import REPO_ROOT, WEBHOOK_SECRET, Issuers, RunningService, start_service
from tests.support.log_capture import production_log_capture

API_KEY = "secret-api-key-123"
WRONG_KEY = "wrong-api-key-456"
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


@dataclass
class Captured:
    """Raw structlog events (before redaction), the rendered log stream, and the process's stdout/stderr."""

    capfd: pytest.CaptureFixture[str]
    stream: io.StringIO = field(default_factory=io.StringIO)
    events: list[dict[str, Any]] = field(default_factory=list)
    _fd_output: str = ""

    def output(self) -> str:
        """Everything rendered so far: the log stream plus whatever reached file descriptors 1 and 2."""
        out, err = self.capfd.readouterr()
        self._fd_output += out + err
        return self.stream.getvalue() + self._fd_output

    def rendered(self) -> list[dict[str, Any]]:
        """The JSON log lines rendered so far."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.startswith("{")]


@pytest.fixture
def captured(capfd: pytest.CaptureFixture[str]) -> Iterator[Captured]:
    """The production log pipeline, writing to a stream we own, with a raw-event tap; restored afterwards.

    configure_logging binds sys.stdout when called, so it is called with our stream in place (pytest's own
    capture files do not outlive the setup phase); structlog and the stdlib root logger are restored after.
    """
    result = Captured(capfd=capfd)
    with production_log_capture(result.stream, result.events):
        yield result


def _private_material(key: KeyPair) -> list[str]:
    """Ways the holder's private key could show up in text: JWK `d`, raw hex, PEM body lines."""
    private = key.private_key
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    else:
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        raw = private.private_numbers().private_value.to_bytes((private.curve.key_size + 7) // 8, "big")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return [b64url(raw), raw.hex(), base64.b64encode(raw).decode(), *body]


def _jwt_parts(token: str) -> list[str]:
    """The token and its payload and signature segments (a partial leak is a leak)."""
    _, payload, signature = token.split(".")
    return [token, payload, *([signature] if signature else [])]


MEMBERSHIP = {
    "id": "logged-membership",
    "input_descriptors": [
        {"id": "age", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.ageOver21"]}]}},
        {
            "id": "membership",
            "constraints": {"fields": [{"id": "member_id", "path": ["$.vc.credentialSubject.memberId"]}]},
        },
    ],
}


@dataclass
class FlowSecrets:
    """Everything one flow handled that must never reach a log."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, *texts: str) -> None:
        for i, text in enumerate(texts):
            assert len(text) >= 8, (label, text)  # short strings would match by accident
            self.values[f"{label}[{i}]"] = text


def _run_flows(
    create: Callable[..., dict[str, Any]], issuers: Issuers, leaks: FlowSecrets
) -> tuple[str, str]:
    """An accepted flow (with claim markers) and a rejected one (bad nonce); return both transaction ids."""
    marker = f"M-7-{secrets.token_hex(6)}"
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=secrets.randbelow(3000))
    given_name = f"Zyx{secrets.token_hex(4)}"
    with (
        Wallet(Holder(KeyPair.generate("p256"))) as accepted,
        Wallet(Holder(KeyPair.generate("ed25519"))) as rejected,
    ):
        created = create(definition_id=None, presentation_definition=MEMBERSHIP, correlation_id="order-1")
        request = accepted.fetch_request(created["authorization_request_uri"])
        age = issuers.trusted.issue(
            accepted.holder.id, {"ageOver21": True, "birthDate": birth.isoformat(), "givenName": given_name}
        )
        member = issuers.second.issue(
            accepted.holder.id, {"memberId": marker}, types=("MembershipCredential",)
        )
        form = accepted.build_response(request, [age, member])
        assert accepted.post(request, form).status_code == 200
        leaks.add("nonce", request.nonce)
        leaks.add("state", str(request.state))
        leaks.add("claim", marker, birth.isoformat(), given_name)
        leaks.add("id_token", *_jwt_parts(form["id_token"]))
        leaks.add("vp", *_jwt_parts(form["vp_token"]))
        leaks.add("vc", *_jwt_parts(age), *_jwt_parts(member))
        leaks.add("holder_key", *_private_material(accepted.holder.key))

        second = create(definition_id="age-over-21")
        request = rejected.fetch_request(second["authorization_request_uri"])
        credential = issuers.trusted.issue(rejected.holder.id, {"ageOver21": True, "memberId": marker})
        form = rejected.build_response(request, [credential], id_token_claims={"nonce": "forged-nonce-value"})
        assert rejected.post(request, form).status_code == 400
        leaks.add("nonce", request.nonce, "forged-nonce-value")
        leaks.add("state", str(request.state))
        leaks.add("id_token", *_jwt_parts(form["id_token"]))
        leaks.add("vp", *_jwt_parts(form["vp_token"]))
        leaks.add("vc", *_jwt_parts(credential))
        leaks.add("holder_key", *_private_material(rejected.holder.key))
    return created["transaction_id"], second["transaction_id"]


def _base_leaks() -> FlowSecrets:
    leaks = FlowSecrets()
    leaks.add("api_key", API_KEY, WRONG_KEY)
    leaks.add("webhook_secret", WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"))
    return leaks


def _add_deliveries(leaks: FlowSecrets, hook: WebhookReceiver, count: int) -> None:
    for attempt in hook.wait_for(count):
        leaks.add("verdict", *_jwt_parts(attempt.body.decode()))
        leaks.add("webhook_signature", *(attempt.header("webhook-signature") or "").split())


def _leaks_in(leaks: FlowSecrets, texts: dict[str, str]) -> dict[str, list[str]]:
    """For each secret found anywhere: the names of the texts it was found in."""
    found: dict[str, list[str]] = {}
    for label, secret in leaks.values.items():
        places = [where for where, text in texts.items() if secret in text]
        if places:
            found[label] = places
    return found


@pytest.fixture
def logged_service(
    captured: Captured, tmp_path: Path, issuers: Issuers
) -> Iterator[tuple[RunningService, WebhookReceiver]]:
    """A service started after the capture is in place, requiring an API key even from loopback."""
    with WebhookReceiver() as hook:
        service = start_service(
            tmp_path, hook, issuers.trust_file(), api_keys=(API_KEY,), allow_loopback_without_key=False
        )
        service.backend.headers["authorization"] = f"Bearer {API_KEY}"
        try:
            yield service, hook
        finally:
            service.stop()


def test_flows_log_no_secrets(
    captured: Captured, logged_service: tuple[RunningService, WebhookReceiver], issuers: Issuers
) -> None:
    """Accepted and rejected flows log neither tokens, nonce, state, claim values, keys nor secrets."""
    service, hook = logged_service
    leaks = _base_leaks()
    refused = service.backend.get("/v1/definitions", headers={"authorization": f"Bearer {WRONG_KEY}"})
    assert refused.status_code == 401
    _run_flows(service.create, issuers, leaks)
    _add_deliveries(leaks, hook, 2)
    service.stop()  # every event of the flows has been emitted

    assert {"transaction.created", "presentation.verified", "presentation.rejected", "webhook.delivered"} <= {
        e["event"] for e in captured.rendered()
    }, "log output not captured"
    raw_events = "\n".join(json.dumps(event, default=repr) for event in captured.events)
    assert _leaks_in(leaks, {"raw events": raw_events, "output": captured.output()}) == {}


def test_flow_events_carry_transaction_id(
    captured: Captured, logged_service: tuple[RunningService, WebhookReceiver], issuers: Issuers
) -> None:
    """Each step of both flows logs an event naming its transaction_id."""
    service, hook = logged_service
    accepted, rejected = _run_flows(service.create, issuers, FlowSecrets())
    hook.wait_for(2)
    service.stop()
    by_transaction: dict[str, set[str]] = {}
    for event in captured.events:
        if "transaction_id" in event:
            by_transaction.setdefault(event["transaction_id"], set()).add(event["event"])
    assert {
        "transaction.created",
        "presentation.verified",
        "verdict.queued",
        "webhook.delivered",
    } <= by_transaction[accepted]
    assert {
        "transaction.created",
        "presentation.rejected",
        "verdict.queued",
        "request.refused",
        "webhook.delivered",
    } <= by_transaction[rejected]
    rejections = [e for e in captured.events if e["event"] == "presentation.rejected"]
    assert [e["reason"] for e in rejections] == ["id_token.nonce_mismatch"]
    assert any(
        e.get("transaction_id") == rejected and e["event"] == "request.refused" for e in captured.rendered()
    )


# --- The real entry point: `python -m service` in a process of its own --- #


@dataclass
class EntryPoint:
    """A `python -m service` process configured through VERIFIER_* variables, and what it wrote."""

    url: str
    hook: WebhookReceiver
    backend: httpx.Client
    process: subprocess.Popen[bytes]
    stdout: str = ""
    stderr: str = ""

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.backend.post("/v1/presentations", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def finish(self) -> None:
        """Stop the process (SIGTERM, graceful) and collect its output."""
        if self.process.poll() is None:
            self.process.terminate()
        out, err = self.process.communicate(timeout=15)
        self.stdout += out.decode(errors="replace")
        self.stderr += err.decode(errors="replace")


@pytest.fixture
def entry_point(tmp_path: Path, issuers: Issuers) -> Iterator[EntryPoint]:
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(issuers.trust_file()))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("VERIFIER_")}
    with WebhookReceiver() as hook:
        env |= {
            "VERIFIER_PORT": str(port),
            "VERIFIER_PUBLIC_URL": url,
            "VERIFIER_DEFINITIONS_DIR": str(REPO_ROOT / "definitions"),
            "VERIFIER_TRUST_FILE": str(trust),
            "VERIFIER_KEYRING_PATH": str(tmp_path / "keyring.json"),
            "VERIFIER_WEBHOOK_URL": hook.url,
            "VERIFIER_WEBHOOK_SECRETS": WEBHOOK_SECRET,
            "VERIFIER_API_KEYS": API_KEY,
            "VERIFIER_ALLOW_LOOPBACK_WITHOUT_KEY": "false",
            "VERIFIER_LOG_FORMAT": "json",
            "VERIFIER_LOG_LEVEL": "info",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        backend = httpx.Client(base_url=url, timeout=10, headers={"authorization": f"Bearer {API_KEY}"})
        running = EntryPoint(url=url, hook=hook, backend=backend, process=process)
        try:
            deadline = time.monotonic() + 20
            while True:
                if process.poll() is not None:
                    running.finish()
                    pytest.fail(f"python -m service exited {process.returncode}: {running.stderr[-2000:]}")
                try:
                    if backend.get("/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "python -m service did not become ready"
                time.sleep(0.05)
            yield running
        finally:
            backend.close()
            running.finish()


def test_entry_point_logs_no_secrets(entry_point: EntryPoint, issuers: Issuers) -> None:
    """`python -m service` logs JSON events with transaction ids and no token, claim, key or secret."""
    leaks = _base_leaks()
    refused = entry_point.backend.get("/v1/definitions", headers={"authorization": f"Bearer {WRONG_KEY}"})
    assert refused.status_code == 401
    accepted, rejected = _run_flows(entry_point.create, issuers, leaks)
    _add_deliveries(leaks, entry_point.hook, 2)
    entry_point.finish()
    events = [json.loads(line) for line in entry_point.stdout.splitlines() if line.startswith("{")]
    by_transaction: dict[str, set[str]] = {}
    for event in events:
        by_transaction.setdefault(event.get("transaction_id", ""), set()).add(event["event"])
    assert {"transaction.created", "presentation.verified", "webhook.delivered"} <= by_transaction[accepted]
    assert {"transaction.created", "presentation.rejected", "webhook.delivered"} <= by_transaction[rejected]
    assert _leaks_in(leaks, {"stdout": entry_point.stdout, "stderr": entry_point.stderr}) == {}


def test_entry_point_writes_only_json_lines(entry_point: EntryPoint) -> None:
    """With log_format json every line `python -m service` writes, on stdout or stderr, is a JSON object."""
    entry_point.create(definition_id="age-over-21")
    entry_point.finish()
    lines = [line for line in (entry_point.stdout + entry_point.stderr).splitlines() if line.strip()]
    assert lines
    not_json = []
    for line in lines:
        try:
            assert isinstance(json.loads(line), dict)
        except (ValueError, AssertionError):
            not_json.append(line)
    assert not_json == []


# --- The redaction processor itself, through the production configuration --- #


def test_configured_logging_masks_jwts_and_sensitive_fields(captured: Captured) -> None:
    """configure_logging(fmt="json") masks JWT-looking strings and drops fields named like secrets."""
    log = structlog.get_logger("tests.logs")
    log.info(
        "seen %s",
        JWT,
        detail=f"token was {JWT}",
        id_token="abc",
        nonce="n-123456",
        api_key="k",
        claims={"a": 1},
    )
    lines = captured.rendered()
    [event] = [line for line in lines if line["event"].startswith("seen")]
    assert event["event"] == "seen [jwt]"
    assert event["detail"] == "token was [jwt]"
    for name in ("id_token", "nonce", "api_key", "claims"):
        assert event[name] == "[redacted]"
    assert event["level"] == "info"
    assert JWT not in json.dumps(lines)


def test_redact_processor_directly() -> None:
    """redact() keeps ids and reason codes, masks JWTs in free text and drops secret-named fields."""
    event = {
        "event": "x",
        "transaction_id": "t-1",
        "reason": "id_token.expired",
        "note": f"a {JWT} b",
        "vp_token": "anything",
        "webhook_secret": "whsec_x",
        "status": 400,
    }
    assert redact(None, "info", event) == {
        "event": "x",
        "transaction_id": "t-1",
        "reason": "id_token.expired",
        "note": "a [jwt] b",
        "vp_token": "[redacted]",
        "webhook_secret": "[redacted]",
        "status": 400,
    }


def test_redact_masks_nested_values() -> None:
    """JWT-looking strings nested in dict or list values are masked too, and nested secret names dropped."""
    event = redact(None, "info", {"event": "x", "detail": {"inner": JWT, "nonce": "n-1"}, "items": [JWT]})
    assert JWT not in json.dumps(event)
    assert "n-1" not in json.dumps(event)


def test_exception_text_is_masked(captured: Captured) -> None:
    """A JWT inside a logged exception's message is masked in the rendered output."""
    log = structlog.get_logger("tests.logs")
    try:
        raise ValueError(f"could not parse {JWT}")
    except ValueError:
        log.exception("request.crashed")
    assert [e["event"] for e in captured.rendered()] == ["request.crashed"]
    assert JWT not in captured.output()
