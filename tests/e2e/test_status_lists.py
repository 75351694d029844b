"""Credential status over HTTP: W3C Bitstring Status Lists (JWT VC ``credentialStatus``) and IETF Token Status
Lists (SD-JWT VC ``status``) served by a real local host, the fetch cache, and the SSRF guard.

The lists are built test-side (tests/e2e/actors/status_lists.py) and signed by the credential's own issuer;
the verdict's credential entry says ``valid``, or ``unknown`` with a ``status_reason`` if a policy allows.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from service.keys import dump_keyring, generate_keyring
from tests.e2e.actors import Holder, Issuer, KeyPair, SdJwtIssuer, Wallet, WebhookReceiver
from tests.e2e.actors.keys import b64url_decode
from tests.e2e.actors.status_lists import (
    VC_JWT_MEDIA_TYPE,
    StatusListHost,
    bitstring_entry,
    bitstring_list_credential,
    pack_lsb,
    status_list_token,
    token_status_reference,
    unused_port,
)
from tests.e2e.conftest import AV_VCT, REPO_ROOT, Issuers, RunningService, start_service

VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "status-list" / "token-status-list"
LENIENT_DEFINITION = "age-over-21-status-optional"


# --- Fixtures and helpers --- #


@pytest.fixture(scope="module")
def host() -> Iterator[StatusListHost]:
    with StatusListHost() as lists:
        yield lists


@pytest.fixture(scope="module")
def definitions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped definitions plus a copy of age-over-21 that allows an unknown status for itself."""
    folder = tmp_path_factory.mktemp("definitions")
    for path in (REPO_ROOT / "definitions").glob("*.json"):
        shutil.copy(path, folder / path.name)
    document = json.loads((REPO_ROOT / "definitions" / "age-over-21.json").read_text())
    document["presentation_definition"]["id"] = LENIENT_DEFINITION
    document["allow_unknown_status"] = True
    (folder / f"{LENIENT_DEFINITION}.json").write_text(json.dumps(document))
    return folder


@pytest.fixture(scope="module")
def svc(
    tmp_path_factory: pytest.TempPathFactory,
    receiver: WebhookReceiver,
    issuers: Issuers,
    definitions_dir: Path,
) -> Iterator[RunningService]:
    """A service with default status settings (unknown rejects) whose clock is never moved."""
    running = start_service(
        tmp_path_factory.mktemp("status-svc"),
        receiver,
        issuers.trust_file(),
        definitions_dir=str(definitions_dir),
    )
    yield running
    running.stop()


def _path(name: str) -> str:
    """A fresh list path: every test gets cold cache entries of its own."""
    return f"/lists/{name}-{uuid.uuid4().hex[:10]}"


def _publish_bitstring(
    host: StatusListHost,
    issuer: Issuer,
    path: str,
    statuses: Mapping[int, int],
    *,
    signer: KeyPair | None = None,
    max_age: int | None = None,
    content_type: str = VC_JWT_MEDIA_TYPE,
    **options: Any,
) -> str:
    url = host.url(path)
    token = bitstring_list_credential(
        signer or issuer.key, issuer.did, url, statuses, kid=issuer.kid, **options
    )
    host.publish(path, token, content_type=content_type, max_age=max_age)
    return url


def _publish_token(
    host: StatusListHost,
    issuer: SdJwtIssuer,
    path: str,
    statuses: Mapping[int, int],
    *,
    max_age: int | None = None,
    **options: Any,
) -> str:
    url = host.url(path)
    host.publish(
        path, status_list_token(issuer.key, url, statuses, kid=issuer.kid, **options), max_age=max_age
    )
    return url


def _codes(verdict: Mapping[str, Any]) -> list[str]:
    return [error["code"] for error in verdict.get("errors", [])]


def _vc_with_status(issuer: Issuer, wallet: Wallet, *entries: dict[str, Any]) -> str:
    status: Any = entries[0] if len(entries) == 1 else list(entries)
    return issuer.issue(wallet.holder.id, {"ageOver21": True}, vc_overrides={"credentialStatus": status})


def _present_vc(
    service: RunningService, wallet: Wallet, credential: str, definition_id: str = "age-over-21"
) -> tuple[int, dict[str, Any]]:
    created = service.create(definition_id=definition_id)
    request = wallet.fetch_request(created["authorization_request_uri"])
    answer = wallet.respond(request, [credential])
    return answer.status_code, service.verdict(created["transaction_id"])


def _present_sd(
    service: RunningService, wallet: Wallet, issuer: SdJwtIssuer, status: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    created = service.create(definition_id="age-attestation-over-18")
    request = wallet.fetch_request(created["authorization_request_uri"])
    issued = issuer.issue(
        {"age_over_18": True},
        vct=AV_VCT,
        holder_jwk=wallet.holder.key.public_jwk(),
        sd=("age_over_18",),
        status=status,
    )
    answer = wallet.respond(request, [], sd_jwt_presentations=[wallet.present_sd_jwt(request, issued)])
    return answer.status_code, service.verdict(created["transaction_id"])


def _assert_status(answer: int, verdict: Mapping[str, Any], status: str, reason: str | None = None) -> None:
    assert answer == 200, _codes(verdict)
    assert verdict["result"] == "verified", verdict
    [credential] = verdict["credentials"]
    assert credential["status"] == status
    assert credential.get("status_reason") == reason


def _assert_rejected(answer: int, verdict: Mapping[str, Any], code: str) -> None:
    assert answer == 400
    assert verdict["result"] == "rejected"
    assert _codes(verdict) == [code]
    assert "credentials" not in verdict or not verdict["credentials"]


# --- The test-side encoders against the specification's vectors --- #


def test_actor_packing_matches_the_token_status_list_vectors() -> None:
    """pack_lsb reproduces TSL §4.1's 16-entry example and the 4-bit appendix list byte for byte."""
    example = json.loads((VECTORS / "tsl-4.1-1bit-16.json").read_text())
    statuses = {int(i): v for i, v in example["expected_statuses"].items()}
    assert pack_lsb(statuses, bits=1, entries=16).hex() == example["uncompressed_hex"]
    appendix = json.loads((VECTORS / "tsl-appendix-4bit.json").read_text())
    raw = zlib.decompress(b64url_decode(appendix["status_list"]["lst"]))
    statuses = {int(i): v for i, v in appendix["expected_statuses"].items()}
    assert pack_lsb(statuses, bits=4, entries=appendix["size_entries"]) == raw


# --- W3C Bitstring Status List --- #


def test_bitstring_valid_entry_is_verified(
    svc: RunningService, host: StatusListHost, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """Entry 41 is 0 while its neighbours are revoked (MSB-first): verified, status "valid"."""
    wallet = make_wallet()
    path = _path("bsl-valid")
    url = _publish_bitstring(host, issuers.trusted, path, {40: 1, 42: 1})
    credential = _vc_with_status(issuers.trusted, wallet, bitstring_entry(url, 41))
    _assert_status(*_present_vc(svc, wallet, credential), "valid")
    assert host.hits[path] == 1
    assert "application/vc+jwt" in host.accept[path]


def test_bitstring_list_served_as_plain_jwt_is_accepted(
    svc: RunningService, host: StatusListHost, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A VCDM 1.1 list served as application/jwt is read; a revocation and a suspension entry both 0."""
    wallet = make_wallet("p256")
    revocation = _publish_bitstring(
        host, issuers.second, _path("bsl-jwt-r"), {}, content_type="application/jwt"
    )
    suspension = _publish_bitstring(
        host, issuers.second, _path("bsl-jwt-s"), {}, purpose="suspension", content_type="application/jwt"
    )
    credential = _vc_with_status(
        issuers.second,
        wallet,
        bitstring_entry(revocation, 7),
        bitstring_entry(suspension, 7, "suspension"),
    )
    _assert_status(*_present_vc(svc, wallet, credential), "valid")


@pytest.mark.parametrize(
    ("purpose", "statuses", "index", "list_options", "code"),
    [
        ("revocation", {5: 1}, 5, {}, "status.revoked"),
        ("suspension", {6: 1}, 6, {}, "status.suspended"),
        ("revocation", {}, 131_072, {}, "status.index_out_of_range"),
        ("revocation", {}, 3, {"signer": "other"}, "status.bad_signature"),
        ("revocation", {}, 3, {"iat": -2 * 86400, "exp": -86400}, "status.expired"),
    ],
    ids=["revoked", "suspended", "out-of-range", "other-key", "expired"],
)
def test_bitstring_rejections(
    svc: RunningService,
    host: StatusListHost,
    issuers: Issuers,
    make_wallet: Callable[..., Wallet],
    purpose: str,
    statuses: dict[int, int],
    index: int,
    list_options: dict[str, Any],
    code: str,
) -> None:
    """Revoked, suspended, an index the list does not hold, a list forged under the issuer's kid, an expired
    list: each rejects the credential with its own status reason."""
    wallet = make_wallet()
    options = dict(list_options)
    if options.pop("signer", None) == "other":
        options["signer"] = KeyPair.generate("ed25519")  # same kid, another key
    for name in ("iat", "exp"):
        if name in options:
            options[name] += int(time.time())
    url = _publish_bitstring(host, issuers.trusted, _path("bsl-bad"), statuses, purpose=purpose, **options)
    credential = _vc_with_status(issuers.trusted, wallet, bitstring_entry(url, index, purpose))
    _assert_rejected(*_present_vc(svc, wallet, credential), code)


@pytest.mark.parametrize("outage", ["503", "connection-refused"])
def test_unreachable_list_rejects_by_default_and_is_unknown_where_the_definition_allows(
    svc: RunningService,
    host: StatusListHost,
    issuers: Issuers,
    make_wallet: Callable[..., Wallet],
    outage: str,
) -> None:
    """An unreachable list rejects (status.unreachable); a definition with allow_unknown_status: true
    accepts the same credential with status "unknown" and the reason."""
    wallet = make_wallet()
    path = _path("bsl-down")
    if outage == "503":
        host.fail(path, 503)
        url = host.url(path)
    else:
        url = f"http://127.0.0.1:{unused_port()}{path}"
    credential = _vc_with_status(issuers.trusted, wallet, bitstring_entry(url, 1))
    _assert_rejected(*_present_vc(svc, wallet, credential), "status.unreachable")
    lenient = _present_vc(svc, wallet, credential, definition_id=LENIENT_DEFINITION)
    _assert_status(*lenient, "unknown", "status.unreachable")


def test_status_allow_unknown_setting_accepts_unreachable_but_never_a_forged_list(
    tmp_path: Path,
    receiver: WebhookReceiver,
    host: StatusListHost,
    issuers: Issuers,
    make_wallet: Callable[..., Wallet],
) -> None:
    """status_allow_unknown=True: an unreachable list gives "unknown"; a revoked entry or a list signed by
    another key still rejects."""
    service = start_service(tmp_path, receiver, issuers.trust_file(), status_allow_unknown=True)
    try:
        wallet = make_wallet()
        path = _path("bsl-down-lenient")
        host.fail(path, 503)
        credential = _vc_with_status(issuers.trusted, wallet, bitstring_entry(host.url(path), 1))
        _assert_status(*_present_vc(service, wallet, credential), "unknown", "status.unreachable")
        revoked = _publish_bitstring(host, issuers.trusted, _path("bsl-rev-lenient"), {2: 1})
        credential = _vc_with_status(issuers.trusted, wallet, bitstring_entry(revoked, 2))
        _assert_rejected(*_present_vc(service, wallet, credential), "status.revoked")
        forged = _publish_bitstring(
            host, issuers.trusted, _path("bsl-forged-lenient"), {}, signer=KeyPair.generate("ed25519")
        )
        credential = _vc_with_status(issuers.trusted, wallet, bitstring_entry(forged, 2))
        _assert_rejected(*_present_vc(service, wallet, credential), "status.bad_signature")
    finally:
        service.stop()


# --- IETF Token Status List (SD-JWT VC) --- #


@pytest.mark.parametrize(
    ("bits", "value", "outcome"),
    [
        (1, 0, "valid"),
        (1, 1, "status.revoked"),
        (2, 0, "valid"),
        (2, 1, "status.revoked"),
        (2, 2, "status.suspended"),
        (2, 3, "status.application_specific"),
    ],
    ids=["1bit-valid", "1bit-revoked", "2bit-valid", "2bit-revoked", "2bit-suspended", "2bit-app-specific"],
)
def test_token_status_list(
    svc: RunningService,
    host: StatusListHost,
    issuers: Issuers,
    make_wallet: Callable[..., Wallet],
    bits: int,
    value: int,
    outcome: str,
) -> None:
    """Entry 13 holds `value`, its neighbours other values (LSB-first packing): valid, revoked (1),
    suspended (2), or application specific (3: unknown, so rejected by default), in 1- and 2-bit lists."""
    wallet = make_wallet("p256", "did:jwk")
    top = (1 << bits) - 1
    statuses = {12: top if value == 0 else 0, 13: value, 14: top if value == 0 else 0}
    path = _path(f"tsl-{bits}")
    url = _publish_token(host, issuers.did_sd, path, statuses, bits=bits)
    result = _present_sd(svc, wallet, issuers.did_sd, token_status_reference(url, 13))
    if outcome == "valid":
        _assert_status(*result, "valid")
    else:
        _assert_rejected(*result, outcome)
    assert host.accept[path] == "application/statuslist+jwt"


def test_token_status_list_for_another_uri_is_refused(
    svc: RunningService, host: StatusListHost, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A validly signed list whose sub names another list cannot answer for this one (status.uri_mismatch)."""
    wallet = make_wallet()
    path = _path("tsl-sub")
    url = _publish_token(
        host, issuers.did_sd, path, {}, claim_overrides={"sub": host.url("/lists/some-other-list")}
    )
    result = _present_sd(svc, wallet, issuers.did_sd, token_status_reference(url, 0))
    _assert_rejected(*result, "status.uri_mismatch")


# --- Caching --- #


def test_two_verifications_within_max_age_fetch_once(
    svc: RunningService, host: StatusListHost, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """Two transactions within the list's max-age: the second is answered from the cache."""
    wallet = make_wallet()
    path = _path("tsl-cached")
    url = _publish_token(host, issuers.did_sd, path, {}, max_age=600)
    for _ in range(2):
        _assert_status(*_present_sd(svc, wallet, issuers.did_sd, token_status_reference(url, 4)), "valid")
    assert host.hits[path] == 1


def test_concurrent_misses_share_one_fetch(
    svc: RunningService, host: StatusListHost, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """Five responses posted at once against a cold cache and a slow list server: one fetch serves all."""
    path = _path("bsl-coalesced")
    url = host.url(path)
    token = bitstring_list_credential(
        issuers.trusted.key, issuers.trusted.did, url, {}, kid=issuers.trusted.kid
    )
    host.publish(path, token, content_type=VC_JWT_MEDIA_TYPE, max_age=600, delay=0.5)
    jobs = []
    for _ in range(5):
        wallet = make_wallet()
        created = svc.create()
        request = wallet.fetch_request(created["authorization_request_uri"])
        credential = _vc_with_status(issuers.trusted, wallet, bitstring_entry(url, 9))
        jobs.append((wallet, request, credential, created["transaction_id"]))
    sent: list[float] = []

    def answer(job: tuple[Wallet, Any, str, str]) -> int:
        sent.append(time.monotonic())
        return job[0].respond(job[1], [job[2]]).status_code

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(answer, jobs))
    assert answers == [200] * 5
    # Every response was in flight before the one fetch was answered: caching alone cannot explain one hit.
    assert max(sent) < host.hit_times[path][0] + 0.5
    for *_, transaction_id in jobs:
        assert svc.verdict(transaction_id)["credentials"][0]["status"] == "valid"
    assert host.hits[path] == 1


def _clocked_wallet(service: RunningService) -> Wallet:
    """A wallet whose clock follows the service's (moved) clock."""
    return Wallet(Holder(KeyPair.generate("ed25519")), now=lambda: int(time.time() + service.clock.offset))


def test_stale_list_is_served_within_stale_if_error_then_refused(
    tmp_path: Path, receiver: WebhookReceiver, host: StatusListHost, issuers: Issuers
) -> None:
    """max-age 600: at +4000 s the refresh meets a 503 and the stale list answers (stale-if-error 3600 s);
    at +8000 s the window is over and the credential is rejected as unreachable."""
    service = start_service(tmp_path, receiver, issuers.trust_file())
    wallet = _clocked_wallet(service)
    try:
        path = _path("tsl-stale")
        url = _publish_token(host, issuers.did_sd, path, {}, max_age=600, exp=int(time.time()) + 3 * 86400)
        reference = token_status_reference(url, 2)
        _assert_status(*_present_sd(service, wallet, issuers.did_sd, reference), "valid")
        assert host.hits[path] == 1
        host.fail(path, 503)
        service.clock.offset += 4000
        _assert_status(*_present_sd(service, wallet, issuers.did_sd, reference), "valid")
        assert host.hits[path] == 2  # the refresh was attempted
        service.clock.offset += 4000
        _assert_rejected(*_present_sd(service, wallet, issuers.did_sd, reference), "status.unreachable")
        assert host.hits[path] == 3
    finally:
        wallet.close()
        service.stop()


def test_list_past_its_exp_is_fetched_again_not_served_from_cache(
    tmp_path: Path, receiver: WebhookReceiver, host: StatusListHost, issuers: Issuers
) -> None:
    """A list token expiring before its HTTP max-age is over: after exp the service fetches the new list."""
    service = start_service(tmp_path, receiver, issuers.trust_file())
    wallet = _clocked_wallet(service)
    try:
        path = _path("tsl-exp")
        now = int(time.time())
        url = _publish_token(host, issuers.did_sd, path, {}, max_age=3600, exp=now + 300, ttl=None)
        reference = token_status_reference(url, 2)
        _assert_status(*_present_sd(service, wallet, issuers.did_sd, reference), "valid")
        _publish_token(host, issuers.did_sd, path, {}, max_age=3600, iat=now + 900, exp=now + 86400)
        service.clock.offset += 1000
        _assert_status(*_present_sd(service, wallet, issuers.did_sd, reference), "valid")
        assert host.hits[path] == 2
    finally:
        wallet.close()
        service.stop()


def test_list_ttl_bounds_the_cache_and_a_later_revocation_is_seen(
    tmp_path: Path, receiver: WebhookReceiver, host: StatusListHost, issuers: Issuers
) -> None:
    """ttl 300 with max-age 3600: at +1000 s the list is fetched again and the new revocation applies."""
    service = start_service(tmp_path, receiver, issuers.trust_file())
    wallet = _clocked_wallet(service)
    try:
        path = _path("tsl-ttl")
        url = _publish_token(host, issuers.did_sd, path, {}, max_age=3600, ttl=300)
        reference = token_status_reference(url, 2)
        _assert_status(*_present_sd(service, wallet, issuers.did_sd, reference), "valid")
        _publish_token(host, issuers.did_sd, path, {2: 1}, max_age=3600, ttl=300)
        service.clock.offset += 1000
        _assert_rejected(*_present_sd(service, wallet, issuers.did_sd, reference), "status.revoked")
        assert host.hits[path] == 2
    finally:
        wallet.close()
        service.stop()


# --- SSRF --- #


def test_status_list_on_a_private_address_is_refused_without_a_request(
    tmp_path: Path, receiver: WebhookReceiver, host: StatusListHost, issuers: Issuers
) -> None:
    """Production outbound rules: a list on localhost (not an allowed private host) is never requested."""
    keyring = tmp_path / "keyring.json"
    keyring.write_text(dump_keyring(generate_keyring()))
    service = start_service(
        tmp_path,
        receiver,
        issuers.trust_file(),
        environment="production",
        keyring_path=str(keyring),
        outbound_allow_http=True,
        outbound_allow_private=False,
        outbound_private_hosts=("127.0.0.1",),  # the webhook receiver, on purpose; "localhost" is not
        webhook_allow_list=(receiver.url,),
    )
    wallet = Wallet(Holder(KeyPair.generate("ed25519")))
    try:
        path = _path("bsl-ssrf")
        _publish_bitstring(host, issuers.trusted, path, {})
        credential = _vc_with_status(issuers.trusted, wallet, bitstring_entry(host.url(path, "localhost"), 1))
        created = service.create(webhook_url=receiver.url)
        request = wallet.fetch_request(created["authorization_request_uri"])
        answer = wallet.respond(request, [credential])
        _assert_rejected(answer.status_code, service.verdict(created["transaction_id"]), "status.uri_refused")
        assert host.hits[path] == 0
    finally:
        wallet.close()
        service.stop()
