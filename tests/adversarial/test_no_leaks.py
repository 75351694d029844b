"""Hostile wallets, part 5: what attacks leave behind (security.md §8: no tokens, claims or keys in logs;
errors map to a fixed taxonomy and never echo input).

A batch of attacks runs against a service started under the production log pipeline (as in
tests/e2e/test_logs.py); every raw event and every rendered line is searched for the material the attacks
carried: tokens and their segments, Disclosures, claim values, private keys, injected markers, API key.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.adversarial.conftest import start_service
from tests.adversarial.forge import (
    age_credential,
    assert_oauth_error,
    begin,
    expect_rejected,
    id_token_claims,
    id_token_header,
    post_raw,
    sign_raw,
)
from tests.e2e.actors import KeyPair, Wallet, WebhookReceiver, b64url
from tests.e2e.conftest import PID_VCT, Issuers, RunningService
from tests.support.log_capture import production_log_capture

API_KEY = "adversarial-api-key-" + secrets.token_hex(8)
Factory = Callable[..., Wallet]


@dataclass
class Captured:
    """Raw structlog events (before redaction) and everything rendered (log stream, fds 1 and 2)."""

    capfd: pytest.CaptureFixture[str]
    stream: io.StringIO = field(default_factory=io.StringIO)
    events: list[dict[str, Any]] = field(default_factory=list)
    _fd_output: str = ""

    def output(self) -> str:
        out, err = self.capfd.readouterr()
        self._fd_output += out + err
        return self.stream.getvalue() + self._fd_output


@pytest.fixture
def captured(capfd: pytest.CaptureFixture[str]) -> Iterator[Captured]:
    """The production pipeline (configure_logging, JSON) writing to our stream, with a raw-event tap."""
    result = Captured(capfd=capfd)
    with production_log_capture(result.stream, result.events):
        yield result


@pytest.fixture
def logged_service(captured: Captured, tmp_path: Path, issuers: Issuers) -> Iterator[RunningService]:
    """A service started once the capture is in place; the API key is required even from loopback."""
    with WebhookReceiver() as hook:
        running = start_service(
            tmp_path, hook, issuers.trust_file(), api_keys=(API_KEY,), allow_loopback_without_key=False
        )
        running.backend.headers["authorization"] = f"Bearer {API_KEY}"
        try:
            yield running
        finally:
            running.stop()


class Secrets:
    """Everything the attacks carried that must never be written to a log."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, label: str, *texts: str) -> None:
        for i, text in enumerate(texts):
            if len(text) >= 10:  # shorter strings would match by accident
                self.values[f"{label}[{i}]"] = text

    def token(self, label: str, token: str) -> None:
        """A compact token, its payload and its signature (a partial leak is a leak)."""
        parts = token.split("~", maxsplit=1)[0].split(".")
        self.add(label, token, *parts[1:])

    def key(self, label: str, key: KeyPair) -> None:
        private = key.private_key
        if isinstance(private, ed25519.Ed25519PrivateKey):
            raw = private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
        else:
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            raw = private.private_numbers().private_value.to_bytes((private.curve.key_size + 7) // 8, "big")
        self.add(label, b64url(raw), raw.hex(), base64.b64encode(raw).decode())

    def found_in(self, texts: dict[str, str]) -> dict[str, list[str]]:
        return {
            label: places
            for label, secret in self.values.items()
            if (places := [where for where, text in texts.items() if secret in text])
        }


def _marker(name: str) -> str:
    return f"{name}-{secrets.token_hex(6)}"


def _run_attacks(service: RunningService, issuers: Issuers, make_wallet: Factory, leaks: Secrets) -> None:
    """A batch of the catalogue's attacks, each recording what it sent."""
    # 1. alg none with a claim marker in the credential
    wallet = make_wallet()
    created, request = begin(service, wallet)
    nickname = _marker("Nickname")
    credential = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True, "nickname": nickname})
    form = wallet.build_response(request, [credential], id_token_alg_none=True)
    expect_rejected(
        service, created, wallet.post(request, form), "id_token.alg_not_allowed", injected=[nickname]
    )
    leaks.add("claim", nickname)
    leaks.token("vc", credential)
    leaks.token("vp", form["vp_token"])
    leaks.add("id_token", form["id_token"], form["id_token"].split(".")[1])
    leaks.add("nonce", request.nonce)
    leaks.add("state", str(request.state))

    # 2. sub_jwk carrying the private key
    wallet = make_wallet("p256", "jwk_thumbprint")
    created, request = begin(service, wallet)
    private = wallet.holder.key.private_key.private_numbers().private_value  # type: ignore[union-attr]
    d = b64url(private.to_bytes(32, "big"))
    form = wallet.build_response(
        request,
        [age_credential(issuers, wallet)],
        id_token_claims={"sub_jwk": {**wallet.holder.key.public_jwk(), "d": d}},
    )
    expect_rejected(service, created, wallet.post(request, form), "id_token.sub_jwk_invalid", injected=[d])
    leaks.key("holder_key", wallet.holder.key)
    leaks.token("id_token", form["id_token"])

    # 3. header key injection, kid traversal marker
    wallet = make_wallet()
    attacker = KeyPair.generate("ed25519")
    created, request = begin(service, wallet)
    kid = "../../etc/passwd-" + secrets.token_hex(6)
    form = wallet.build_response(
        request,
        [age_credential(issuers, wallet)],
        id_token_signer=attacker,
        id_token_header={"kid": kid, "jwk": attacker.public_jwk(), "jku": "http://127.0.0.1:9/" + kid},
    )
    expect_rejected(service, created, wallet.post(request, form), "did.key_not_found", injected=[kid])
    leaks.add("kid", kid)
    leaks.key("attacker_key", attacker)
    leaks.token("id_token", form["id_token"])

    # 4. duplicate nonce member with a marker
    wallet = make_wallet()
    created, request = begin(service, wallet)
    fake_nonce = _marker("attacker-nonce")
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    text = json.dumps(id_token_claims(wallet, request))[:-1] + f', "nonce": "{fake_nonce}"}}'
    form["id_token"] = sign_raw(wallet.holder.key, id_token_header(wallet), text)
    expect_rejected(service, created, wallet.post(request, form), "id_token.malformed", injected=[fake_nonce])
    leaks.add("nonce", fake_nonce, request.nonce)
    leaks.token("id_token", form["id_token"])

    # 5. state of another transaction
    wallet = make_wallet()
    _, request_a = begin(service, wallet)
    created_b, request_b = begin(service, wallet)
    form = wallet.build_response(request_b, [age_credential(issuers, wallet)], state=str(request_a.state))
    expect_rejected(service, created_b, wallet.post(request_b, form), "transaction.state_mismatch")
    leaks.add("state", str(request_a.state), str(request_b.state))

    # 6. SD-JWT with its Disclosures, a tampered one, claim values inside
    wallet = make_wallet()
    created, request = begin(service, wallet, definition_id="age-over-18-sd-jwt")
    given = _marker("Given")
    issued = issuers.pid.issue(
        {"age_over_18": True, "given_name": given},
        vct=PID_VCT,
        holder_jwk=wallet.holder.key.public_jwk(),
        sd=("age_over_18", "given_name"),
    )
    presentation = wallet.present_sd_jwt(request, issued, tamper_disclosure="given_name")
    answer = wallet.respond(request, [], sd_jwt_presentations=[presentation])
    expect_rejected(service, created, answer, "sd_jwt.disclosure_unreferenced", injected=[given])
    leaks.add("claim", given)
    leaks.add("disclosure", *issued.disclosures.values(), *presentation.split("~")[1:])
    leaks.token("sd_jwt", presentation)

    # 7. a crash path (huge NumericDate) must not leak through the traceback either
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    form["id_token"] = wallet.holder.key.sign_jws(
        id_token_header(wallet), id_token_claims(wallet, request, exp=10**4000)
    )
    assert_oauth_error(wallet.post(request, form), injected=[form["id_token"]])
    leaks.token("id_token", form["id_token"])

    # 8. non-UTF-8 body with a marker, a tampered handle, a wallet error with a hostile description
    wallet = make_wallet()
    created, request = begin(service, wallet)
    body_marker = _marker("BodyMarker")
    answer = post_raw(wallet, request, f"state={request.state}&x={body_marker}&id_token=".encode() + b"\xff")
    expect_rejected(service, created, answer, "response.not_utf8", injected=[body_marker])
    leaks.add("body", body_marker)
    created, request = begin(service, wallet)
    description = _marker("<script>alert(1)</script>")
    code = _marker("evil_code")
    answer = wallet.post(
        request, {"error": code + '\n{"x":1}', "error_description": description, "state": str(request.state)}
    )
    assert answer.status_code == 200
    verdict = service.verdict(created["transaction_id"])
    assert verdict["wallet_error"] == "other"
    assert description not in json.dumps(verdict)
    leaks.add("wallet_error", description, code)
    handle = request.response_uri.rsplit("/", 1)[1]
    kid, sealed = handle.split(".")
    tampered = request.response_uri.replace(handle, f"{kid}.{sealed[:-4]}AAAA")
    assert_oauth_error(wallet.http.post(tampered, data={"state": str(request.state)}))


def test_attacks_log_no_secrets(
    captured: Captured, logged_service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§8 (OID4VP §15, RFC 9901 §10.2): a batch of attacks logs ids and reason codes only — no token,
    token segment, Disclosure, claim value, nonce, state, key material, injected marker or API key."""
    leaks = Secrets()
    leaks.add("api_key", API_KEY)
    _run_attacks(logged_service, issuers, make_wallet, leaks)
    time.sleep(0.2)  # webhook deliveries log too
    logged_service.stop()
    events = {e["event"] for e in captured.events}
    assert {"transaction.created", "presentation.rejected", "request.refused"} <= events, events
    raw_events = "\n".join(json.dumps(event, default=repr) for event in captured.events)
    assert leaks.found_in({"raw events": raw_events, "output": captured.output()}) == {}


INJECTION = "INJ" + secrets.token_hex(8)


@pytest.mark.parametrize(
    "where",
    [
        "id_token-garbage",
        "kid",
        "typ",
        "vp_token-garbage",
        "submission-definition-id",
        "submission-descriptor-id",
        "submission-path",
        "submission-format",
        "submission-not-json",
        "unknown-parameter",
        "state",
    ],
)
def test_error_descriptions_never_echo_input(
    service: RunningService, issuers: Issuers, make_wallet: Factory, where: str
) -> None:
    """§8 (errors.py: error_description never echoes input): a marker injected anywhere in the response
    appears neither in the wallet's error body nor in the backend's verdict."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    submission = json.loads(form["presentation_submission"])
    entry = submission["descriptor_map"][0]
    if where == "id_token-garbage":
        form["id_token"] = INJECTION + "." + INJECTION + "." + INJECTION
    elif where == "kid":
        form["id_token"] = wallet.holder.key.sign_jws(
            id_token_header(wallet, kid=INJECTION + "#" + INJECTION), id_token_claims(wallet, request)
        )
    elif where == "typ":
        form["vp_token"] = wallet.build_response(
            request, [age_credential(issuers, wallet)], vp_header={"typ": INJECTION}
        )["vp_token"]
    elif where == "vp_token-garbage":
        form["vp_token"] = json.dumps([INJECTION])
    elif where == "submission-definition-id":
        submission["definition_id"] = INJECTION
    elif where == "submission-descriptor-id":
        entry["id"] = INJECTION
        entry["path_nested"]["id"] = INJECTION + "-nested"
    elif where == "submission-path":
        entry["path_nested"]["path"] = "$." + INJECTION + "[?(@.x =~ /" + INJECTION + "/)]"
    elif where == "submission-format":
        entry["path_nested"]["format"] = INJECTION
    elif where == "submission-not-json":
        form["presentation_submission"] = "{" + INJECTION
    elif where == "unknown-parameter":
        form[INJECTION] = INJECTION
        form["id_token"] = "x"
    else:
        form["state"] = INJECTION
    if where.startswith("submission-") and where != "submission-not-json":
        form["presentation_submission"] = json.dumps(submission)
    answer = wallet.post(request, form)
    assert_oauth_error(answer, injected=[INJECTION])
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "rejected"
    assert INJECTION not in json.dumps(verdict), verdict["errors"]
