"""Hostile wallets, part 4: handles, sizes and counts (security.md §1 single use, §3, §7 input limits).

A handle that cannot be opened names no transaction, so it yields no verdict: the wallet gets a 4xx OAuth
error and nothing is decided (a genuine response can still follow). Everything else is decided by the
first post, so it also yields a `rejected` verdict with its reason.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.keys import Keyring, SealingKey, generate_keyring
from tests.adversarial.conftest import start_service_with_keyring
from tests.adversarial.forge import (
    age_credential,
    assert_oauth_error,
    begin,
    expect_no_verdict,
    expect_rejected,
    post_raw,
)
from tests.e2e.actors import Wallet, WebhookReceiver, make_disclosure
from tests.e2e.conftest import PID_VCT, Issuers, RunningService

Factory = Callable[..., Wallet]


def _handle(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def _with_handle(uri: str, handle: str) -> str:
    return uri.rsplit("/", 1)[0] + "/" + handle


def _flip(handle: str, index: int) -> str:
    kid, payload = handle.split(".")
    char = "A" if payload[index] != "A" else "B"
    return f"{kid}.{payload[:index]}{char}{payload[index + 1 :]}"


# --- Handles (§1, §3: sealed, single use, unforgeable) --- #


@pytest.mark.parametrize(
    "mangle",
    ["flip-iv", "flip-ciphertext", "flip-tag", "truncate-tail", "truncate-to-kid", "two-dots", "huge"],
)
def test_tampered_or_truncated_handle(
    service: RunningService, issuers: Issuers, make_wallet: Factory, mangle: str
) -> None:
    """§1/§3: a handle altered anywhere (AES-GCM tag), truncated or padded out opens nothing; the genuine
    response still decides the transaction afterwards."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    handle = _handle(request.response_uri)
    bad = {
        "flip-iv": lambda h: _flip(h, 2),
        "flip-ciphertext": lambda h: _flip(h, 30),
        "flip-tag": lambda h: _flip(h, len(h.split(".")[1]) - 3),
        "truncate-tail": lambda h: h[:-6],
        "truncate-to-kid": lambda h: h.split(".")[0] + ".",
        "two-dots": lambda h: h + ".x",
        "huge": lambda h: h + "A" * 10_000,
    }[mangle](handle)
    fetched = wallet.http.get(_with_handle(request.request_uri, bad))
    assert_oauth_error(fetched)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    posted = wallet.http.post(_with_handle(request.response_uri, bad), data=form)
    assert_oauth_error(posted, injected=[form["id_token"], form["vp_token"]])
    expect_no_verdict(service, created["transaction_id"])
    assert wallet.post(request, form).status_code == 200
    assert service.verdict(created["transaction_id"])["result"] == "verified"


@pytest.fixture
def rotation(tmp_path: Path, receiver: WebhookReceiver, issuers: Issuers) -> Iterator[dict[str, Any]]:
    """Three replicas sharing one signing key: `old` seals with k-old; `both` holds k-new then k-old;
    `retired` holds only k-new."""
    signing = generate_keyring().signing
    old, new = SealingKey("kold", secrets.token_bytes(32)), SealingKey("knew", secrets.token_bytes(32))
    trust = issuers.trust_file()
    services = {
        "old": start_service_with_keyring(
            tmp_path, receiver, trust, Keyring(signing=signing, sealing=(old,))
        ),
        "both": start_service_with_keyring(
            tmp_path, receiver, trust, Keyring(signing=signing, sealing=(new, old))
        ),
        "retired": start_service_with_keyring(
            tmp_path, receiver, trust, Keyring(signing=signing, sealing=(new,))
        ),
    }
    try:
        yield services
    finally:
        for running in services.values():
            running.stop()


def test_handle_sealed_with_a_retired_key(
    rotation: dict[str, RunningService], issuers: Issuers, make_wallet: Factory
) -> None:
    """§1/§3 (rotation): a replica that still holds the old sealing key opens the old handle; one that
    dropped it refuses (transaction.unknown_key) without deciding anything."""
    wallet = make_wallet()
    created, request = begin(rotation["old"], wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    on = {
        name: request.response_uri.replace(rotation["old"].url, running.url)
        for name, running in rotation.items()
    }
    refused = wallet.http.post(on["retired"], data=form)
    body = assert_oauth_error(refused, injected=[form["id_token"]])
    assert body["error"] == "invalid_request"
    assert "retired" in body["error_description"]
    fetched = wallet.http.get(request.request_uri.replace(rotation["old"].url, rotation["retired"].url))
    assert_oauth_error(fetched)
    expect_no_verdict(rotation["old"], created["transaction_id"])
    accepted = wallet.http.post(on["both"], data=form)
    assert accepted.status_code == 200, accepted.text
    assert rotation["both"].verdict(created["transaction_id"])["result"] == "verified"


def test_handle_relabelled_to_another_sealing_key(
    rotation: dict[str, RunningService], issuers: Issuers, make_wallet: Factory
) -> None:
    """§3: the kid is bound as associated data: the same ciphertext under the other kid opens nothing."""
    wallet = make_wallet()
    created, request = begin(rotation["both"], wallet)
    handle = _handle(request.response_uri)
    assert handle.startswith("knew.")
    relabelled = _with_handle(request.response_uri, "kold." + handle.split(".", 1)[1])
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    assert_oauth_error(wallet.http.post(relabelled, data=form))
    expect_no_verdict(rotation["both"], created["transaction_id"])


# --- Sizes and counts (§7) --- #


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body(service: RunningService, make_wallet: Factory, chunked: bool) -> None:
    """§7 (body size cap, 1 MiB): a 2 MiB response is refused with 413 as an OAuth error, never read whole,
    with or without a Content-Length."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    body = f"state={request.state}&id_token=".encode() + b"A" * (2 * 1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    answer = wallet.http.post(
        request.response_uri,
        content=chunks() if chunked else body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413, answer.status_code
    assert_oauth_error(answer, injected=["A" * 64])
    expect_no_verdict(service, created["transaction_id"])


def test_thousands_of_form_fields(service: RunningService, make_wallet: Factory) -> None:
    """§7 (form field cap): 5000 parameters are refused before they are collected."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    body = f"state={request.state}&" + "&".join(f"f{i}=x" for i in range(5000))
    expect_rejected(service, created, post_raw(wallet, request, body.encode()), "limits.form_fields")


def test_vp_token_array_of_a_thousand_entries(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§7 (presentation count cap): a vp_token array of 1000 entries is refused before any is decoded."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    form["vp_token"] = json.dumps([form["vp_token"][:40] + f".{i}" for i in range(1000)])
    expect_rejected(service, created, wallet.post(request, form), "presentation.too_many")


@pytest.mark.parametrize("field", ["presentation_submission", "vp_token"])
def test_deeply_nested_json_parameter(
    service: RunningService, issuers: Issuers, make_wallet: Factory, field: str
) -> None:
    """§7 (JSON depth cap): a JSON parameter nested 10 000 levels is refused, with no recursion error."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    form[field] = "[" * 10_000 + "]" * 10_000
    expect_rejected(service, created, wallet.post(request, form), "limits.json_depth")


def _pid_holder(issuers: Issuers, wallet: Wallet, claims: dict[str, Any], sd: tuple[str, ...]) -> Any:
    return issuers.pid.issue(claims, vct=PID_VCT, holder_jwk=wallet.holder.key.public_jwk(), sd=sd)


def test_sd_jwt_with_ten_thousand_tildes(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§7 (disclosure count cap): `jwt~~~…` with 10 000 separators is refused before it is split."""
    wallet = make_wallet()
    created, request = begin(service, wallet, definition_id="age-over-18-sd-jwt")
    issued = _pid_holder(issuers, wallet, {"age_over_18": True}, ("age_over_18",))
    token = issued.jwt + "~" * 10_000
    answer = wallet.respond(request, [], sd_jwt_presentations=[token])
    expect_rejected(service, created, answer, "sd_jwt.too_many_disclosures")


def test_sd_jwt_with_thousands_of_disclosures(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§7: an issuer-signed SD-JWT with 1000 genuine Disclosures, all presented, is over the count cap."""
    wallet = make_wallet()
    created, request = begin(service, wallet, definition_id="age-over-18-sd-jwt")
    claims: dict[str, Any] = {"age_over_18": True, **{f"c{i}": i for i in range(1000)}}
    issued = _pid_holder(issuers, wallet, claims, tuple(claims))
    answer = wallet.respond(request, [], sd_jwt_presentations=[wallet.present_sd_jwt(request, issued)])
    expect_rejected(service, created, answer, "sd_jwt.too_many_disclosures")


def test_sd_jwt_with_unreferenced_disclosures(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§5 (RFC 9901 §9.2): 100 Disclosures the issuer never signed (under the count cap) are refused."""
    wallet = make_wallet()
    created, request = begin(service, wallet, definition_id="age-over-18-sd-jwt")
    issued = _pid_holder(issuers, wallet, {"age_over_18": True}, ("age_over_18",))
    extra = [make_disclosure(f"x{i}", True) for i in range(100)]
    presentation = wallet.present_sd_jwt(request, issued, extra_disclosures=extra)
    answer = wallet.respond(request, [], sd_jwt_presentations=[presentation])
    expect_rejected(service, created, answer, "sd_jwt.disclosure_unreferenced")


# --- The request line and Host header themselves --- #


def _raw_exchange(service: RunningService, head: str) -> tuple[int, bytes]:
    """Send ``head`` as is (httpx would refuse to) and return the status and body of the answer."""
    host, port = service.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.encode("latin-1"))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("host", ["127.0.0.1:8080http:", "a:b:c", "x:99999999999999999999", "[::1"])
@pytest.mark.parametrize(
    ("method", "path", "oauth"),
    [
        ("GET", "/wallet/requests/not-a-handle", True),
        ("POST", "/wallet/responses/not-a-handle", True),
        ("GET", "/v1/presentations/none", False),
        ("GET", "/no/such/route", False),
    ],
)
def test_malformed_host_header_gets_a_client_error(
    service: RunningService, host: str, method: str, path: str, oauth: bool
) -> None:
    """A Host the URL parser cannot read must not turn the error answer into a 500 (it did: the error
    handler built the request URL to tell wallet routes from backend ones)."""
    length = "content-length: 0\r\n" if method == "POST" else ""
    status, body = _raw_exchange(
        service, f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n{length}connection: close\r\n\r\n"
    )
    assert 400 <= status < 500
    assert ("error" in json.loads(body)) is oauth
