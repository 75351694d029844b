"""The backend face (problem+json, API keys, webhook choice, definitions, JWKS, health) and the wallet face's
request object and error bodies, all over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.e2e.actors import WebhookReceiver, verify_verdict
from tests.e2e.conftest import Issuers, RunningService, start_service, start_service_at

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code"}
RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def _problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem of `status` (and `code`); return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_MEMBERS
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if code is not None:
        assert body["code"] == code
        assert body["type"].endswith(code)
    return body


def _oauth_error(
    response: httpx.Response, status: int = 400, error: str = "invalid_request"
) -> dict[str, Any]:
    """Assert an OAuth error body (application/json, never problem+json); return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert set(body) <= {"error", "error_description"}
    return body


def _b64json(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _tamper(url: str) -> str:
    """Flip one character in the middle of the handle (the last path segment)."""
    base, _, handle = url.rpartition("/")
    middle = len(handle) // 2
    flipped = "A" if handle[middle] != "A" else "B"
    return f"{base}/{handle[:middle]}{flipped}{handle[middle + 1 :]}"


def _response_uri(created: dict[str, Any]) -> str:
    return created["request_uri"].replace("/wallet/requests/", "/wallet/responses/")


@pytest.fixture
def own_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


# --- POST /v1/presentations --- #


def test_create_with_definition_id(service: RunningService) -> None:
    """A named definition gives 201 with exactly the documented fields, a proper link and a 300 s expiry."""
    before = time.time()
    response = service.backend.post("/v1/presentations", json={"definition_id": "age-over-21"})
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body = response.json()
    assert set(body) == {
        "transaction_id",
        "request_uri",
        "authorization_request_uri",
        "client_id",
        "expires_at",
    }
    assert len(body["transaction_id"]) >= 22
    assert body["request_uri"].startswith(service.url + "/wallet/requests/")
    link = body["authorization_request_uri"]
    assert link.startswith("openid4vp://?client_id=")
    assert "request_uri=" + quote(body["request_uri"], safe="") in link
    query = parse_qs(urlsplit(link).query)
    assert query == {"client_id": [body["client_id"]], "request_uri": [body["request_uri"]]}
    assert body["client_id"].startswith("did:key:")
    assert RFC3339_Z.fullmatch(body["expires_at"]), body["expires_at"]
    expires = (
        dt.datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    )
    assert before + 300 - 2 <= expires <= time.time() + 300 + 1


def test_transaction_ttl_setting(tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers) -> None:
    """transaction_ttl sets expires_at, and the request object's exp is that same instant."""
    service = start_service(tmp_path, own_receiver, issuers.trust_file(), transaction_ttl=60)
    try:
        before = time.time()
        created = service.create()
        expires = dt.datetime.strptime(created["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        assert before + 60 - 2 <= expires.timestamp() <= time.time() + 60 + 1
        payload = _b64json(service.backend.get(created["request_uri"]).text.split(".")[1])
        assert payload["exp"] == int(expires.timestamp())
        service.clock.offset = 61
        _oauth_error(service.backend.get(created["request_uri"]))
    finally:
        service.stop()


def test_create_gives_fresh_transactions(service: RunningService) -> None:
    """Two creations give two different transactions and request URIs."""
    first, second = service.create(), service.create()
    assert first["transaction_id"] != second["transaction_id"]
    assert first["request_uri"] != second["request_uri"]


def test_create_with_inline_definition(service: RunningService) -> None:
    """An inline presentation definition is accepted and served to the wallet unchanged."""
    definition = {
        "id": "inline-membership",
        "input_descriptors": [
            {"id": "member", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.memberId"]}]}}
        ],
    }
    created = service.create(definition_id=None, presentation_definition=definition)
    token = service.backend.get(created["request_uri"]).text
    assert _b64json(token.split(".")[1])["presentation_definition"] == definition


def test_create_with_both_definition_forms(service: RunningService) -> None:
    """definition_id and presentation_definition together are a 400 problem."""
    definition = {"id": "x", "input_descriptors": [{"id": "a", "constraints": {}}]}
    response = service.backend.post(
        "/v1/presentations", json={"definition_id": "age-over-21", "presentation_definition": definition}
    )
    _problem(response, 400, "api.definition_choice")


def test_create_with_neither_definition_form(service: RunningService) -> None:
    """A body naming no definition is a 400 problem."""
    _problem(service.backend.post("/v1/presentations", json={}), 400, "api.definition_choice")


def test_create_with_unknown_definition_id(service: RunningService) -> None:
    """An unknown definition_id is a 404 definition.unknown problem."""
    response = service.backend.post("/v1/presentations", json={"definition_id": "age-over-99"})
    _problem(response, 404, "definition.unknown")


def _nested_not(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"not": schema}
    return schema


INVALID_DEFINITIONS: dict[str, tuple[dict[str, Any], str]] = {
    "missing_input_descriptors": ({"id": "x"}, "definition.malformed"),
    "empty_input_descriptors": ({"id": "x", "input_descriptors": []}, "definition.malformed"),
    "duplicate_descriptor_ids": (
        {"id": "x", "input_descriptors": [{"id": "a", "constraints": {}}, {"id": "a", "constraints": {}}]},
        "definition.duplicate_id",
    ),
    "bad_jsonpath": (
        {"id": "x", "input_descriptors": [{"id": "a", "constraints": {"fields": [{"path": ["$..[[["]}]}}]},
        "definition.invalid_path",
    ),
    "is_holder": (
        {"id": "x", "input_descriptors": [{"id": "a", "constraints": {"is_holder": [{"field_id": ["f"]}]}}]},
        "definition.unsupported_feature",
    ),
    "frame": (
        {"id": "x", "frame": {}, "input_descriptors": [{"id": "a", "constraints": {}}]},
        "definition.unsupported_feature",
    ),
    "too_large": (
        {"id": "x", "purpose": "p" * 70_000, "input_descriptors": [{"id": "a", "constraints": {}}]},
        "definition.too_large",
    ),
    "too_deep": (
        {
            "id": "x",
            "input_descriptors": [
                {"id": "a", "constraints": {"fields": [{"path": ["$.a"], "filter": _nested_not(40)}]}}
            ],
        },
        "definition.too_large",
    ),
    "bad_filter": (
        {
            "id": "x",
            "input_descriptors": [
                {
                    "id": "a",
                    "constraints": {"fields": [{"path": ["$.a"], "filter": {"type": "no-such-type"}}]},
                }
            ],
        },
        "definition.invalid_filter",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_DEFINITIONS))
def test_create_with_invalid_inline_definition(service: RunningService, case: str) -> None:
    """An invalid inline definition is refused at creation with its own definition.* code."""
    definition, code = INVALID_DEFINITIONS[case]
    response = service.backend.post("/v1/presentations", json={"presentation_definition": definition})
    _problem(response, 400, code)


@pytest.mark.parametrize(
    "body",
    [
        {"definition_id": "age-over-21", "unexpected": 1},
        {"definition_id": "age-over-21", "correlation_id": "x" * 201},
        {"definition_id": "age-over-21", "correlation_id": ""},
        {"definition_id": "age-over-21", "correlation_id": "line\nbreak"},
        {"definition_id": "age over 21"},
        {"presentation_definition": "not an object"},
        [],
        None,
    ],
    ids=[
        "unknown_field",
        "long_correlation_id",
        "empty_correlation_id",
        "control_char_correlation_id",
        "bad_definition_id",
        "definition_not_object",
        "array",
        "null",
    ],
)
def test_create_with_bad_body_shape(service: RunningService, body: Any) -> None:
    """Bodies of the wrong shape are 400 problems, never 201 or 500."""
    _problem(service.backend.post("/v1/presentations", json=body), 400)


def test_create_with_malformed_json(service: RunningService) -> None:
    """Malformed JSON is a 400 problem+json."""
    response = service.backend.post(
        "/v1/presentations", content=b'{"definition_id": ', headers={"content-type": "application/json"}
    )
    _problem(response, 400)


def test_create_accepts_longest_correlation_id(service: RunningService) -> None:
    """A correlation_id of exactly 200 printable characters is accepted (the limit is inclusive)."""
    assert service.create(correlation_id="c" * 200)["transaction_id"]


# --- webhook_url --- #


def test_webhook_url_not_in_allow_list(service: RunningService) -> None:
    """A webhook URL outside the allow-list is a 403 webhook.url_not_allowed problem."""
    response = service.backend.post(
        "/v1/presentations",
        json={"definition_id": "age-over-21", "webhook_url": "https://attacker.example/hook"},
    )
    _problem(response, 403, "webhook.url_not_allowed")


def test_webhook_url_from_allow_list_receives_verdict(
    tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers, make_wallet: Callable[..., Any]
) -> None:
    """A webhook URL on the allow-list gets the verdict, the default receiver does not, others are refused."""
    # Production mode: development also lets a request name any loopback URL. Plain-HTTP loopback
    # targets are then allowed explicitly, as a test receiver needs.
    with WebhookReceiver(path="/chosen") as chosen:
        service = start_service(
            tmp_path,
            own_receiver,
            issuers.trust_file(),
            environment="production",
            outbound_allow_http=True,
            outbound_allow_private=True,
            webhook_allow_list=(chosen.url,),
        )
        try:
            other = chosen.url.replace("/chosen", "/other")
            refused = service.backend.post(
                "/v1/presentations", json={"definition_id": "age-over-21", "webhook_url": other}
            )
            _problem(refused, 403, "webhook.url_not_allowed")
            created = service.create(webhook_url=chosen.url)
            wallet = make_wallet()
            request = wallet.fetch_request(created["authorization_request_uri"])
            answer = wallet.respond(request, [issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})])
            assert answer.status_code == 200, answer.text
            [delivery] = chosen.wait_for(1)
            claims = verify_verdict(delivery.body.decode(), service.jwks())
            assert claims["txn"] == created["transaction_id"]
            assert claims["result"] == "verified"
            time.sleep(0.2)
            assert own_receiver.attempts == []
        finally:
            service.stop()


def test_no_webhook_configured_and_none_given(
    tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers
) -> None:
    """Without a default webhook, a request that names none is a 400 webhook.missing problem."""
    service = start_service_at(tmp_path, own_receiver, issuers.trust_file(), "127.0.0.1", webhook_url=None)
    try:
        response = service.backend.post("/v1/presentations", json={"definition_id": "age-over-21"})
        _problem(response, 400, "webhook.missing")
    finally:
        service.stop()


# --- API keys --- #


@pytest.fixture
def keyed_service(
    tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers
) -> Iterator[RunningService]:
    running = start_service(
        tmp_path, own_receiver, issuers.trust_file(), api_keys=("k1",), allow_loopback_without_key=False
    )
    yield running
    running.stop()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer k2", "Bearer", "Basic k1", "k1", "Bearer k1x", "Bearer k"],
    ids=["none", "wrong", "empty", "basic", "bare", "longer", "prefix"],
)
def test_api_key_required(keyed_service: RunningService, authorization: str | None) -> None:
    """Without a valid bearer key the backend API answers 401 problem+json (creation and definitions)."""
    headers = {"authorization": authorization} if authorization is not None else {}
    body = {"definition_id": "age-over-21"}
    _problem(
        keyed_service.backend.post("/v1/presentations", json=body, headers=headers), 401, "api.unauthorized"
    )
    _problem(keyed_service.backend.get("/v1/definitions", headers=headers), 401, "api.unauthorized")
    _problem(
        keyed_service.backend.get("/v1/definitions/age-over-21", headers=headers), 401, "api.unauthorized"
    )


def test_api_key_accepted_and_public_routes_open(
    keyed_service: RunningService, issuers: Issuers, make_wallet: Callable[..., Any]
) -> None:
    """The right key opens the backend API; wallet routes, JWKS and health need none."""
    auth = {"authorization": "Bearer k1"}
    response = keyed_service.backend.post(
        "/v1/presentations", json={"definition_id": "age-over-21"}, headers=auth
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert keyed_service.backend.get("/v1/definitions", headers=auth).status_code == 200
    with httpx.Client(base_url=keyed_service.url, timeout=10) as anonymous:
        assert anonymous.get("/.well-known/jwks.json").status_code == 200
        assert anonymous.get("/health/live").status_code == 200
        assert anonymous.get("/health/ready").status_code == 200
    wallet = make_wallet()  # its HTTP client sends no Authorization header
    request = wallet.fetch_request(created["authorization_request_uri"])
    answer = wallet.respond(request, [issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})])
    assert answer.status_code == 200, answer.text
    assert keyed_service.verdict(created["transaction_id"])["result"] == "verified"


def test_loopback_exemption_not_given_to_forwarded_remote_clients(
    tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers
) -> None:
    """With the loopback exemption on, a remote client forwarded by a local proxy still needs a key."""
    service = start_service(tmp_path, own_receiver, issuers.trust_file(), api_keys=("k1",))
    try:
        assert service.backend.get("/v1/definitions").status_code == 200  # a sidecar on this host
        forwarded = {"x-forwarded-for": "203.0.113.9"}
        _problem(service.backend.get("/v1/definitions", headers=forwarded), 401, "api.unauthorized")
        keyed = service.backend.get("/v1/definitions", headers={**forwarded, "authorization": "Bearer k1"})
        assert keyed.status_code == 200
    finally:
        service.stop()


# --- Definitions, JWKS, health --- #


def test_list_definitions(service: RunningService) -> None:
    """GET /v1/definitions lists both age definitions with a digest each."""
    response = service.backend.get("/v1/definitions")
    assert response.status_code == 200
    by_id = {entry["id"]: entry for entry in response.json()}
    assert {"age-over-18", "age-over-21"} <= set(by_id)
    for entry in by_id.values():
        assert re.fullmatch(r"[0-9a-f]{64}", entry["digest"]), entry
    assert by_id["age-over-18"]["digest"] != by_id["age-over-21"]["digest"]


def test_get_definition(service: RunningService) -> None:
    """GET /v1/definitions/age-over-21 returns its presentation definition, template unfilled."""
    listed = {e["id"]: e for e in service.backend.get("/v1/definitions").json()}
    response = service.backend.get("/v1/definitions/age-over-21")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "age-over-21"
    assert body["digest"] == listed["age-over-21"]["digest"]
    definition = body["presentation_definition"]
    assert definition["id"] == "age-over-21"
    assert [d["id"] for d in definition["input_descriptors"]] == ["age_credential"]
    assert "{{today-21y}}" in json.dumps(definition)


def test_get_unknown_definition(service: RunningService) -> None:
    """An unknown definition id is a 404 definition.unknown problem."""
    _problem(service.backend.get("/v1/definitions/no-such-definition"), 404, "definition.unknown")


def test_jwks_has_public_signing_keys_only(service: RunningService) -> None:
    """The JWKS lists ES256 signing keys with kid and no private members."""
    response = service.backend.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert {"kid", "kty", "alg", "use"} <= set(key)
        assert key["alg"] == "ES256"
        assert key["use"] == "sig"
        assert key["kty"] == "EC"
        assert not PRIVATE_JWK_MEMBERS & set(key), key


def test_health(service: RunningService) -> None:
    """Liveness and readiness answer 200 once the service runs."""
    live = service.backend.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = service.backend.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


# --- The request object --- #


def test_request_object(service: RunningService) -> None:
    """The request object is a signed JAR with every parameter a SIOP + OpenID4VP wallet needs."""
    created = service.create()
    response = service.backend.get(created["request_uri"])
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/oauth-authz-req+jwt"
    assert response.headers["cache-control"] == "no-store"
    token = response.text
    header_b64, payload_b64, signature = token.split(".")
    header, payload = _b64json(header_b64), _b64json(payload_b64)
    assert signature
    assert header["typ"] == "oauth-authz-req+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"].startswith(created["client_id"] + "#")
    assert payload["response_type"] == "vp_token id_token"
    assert payload["scope"] == "openid"
    assert payload["response_mode"] == "direct_post"
    assert payload["client_id_scheme"] == "did"
    assert payload["client_id"] == created["client_id"]
    assert payload["response_uri"] == _response_uri(created)
    assert payload["id_token_type"] == "subject_signed_id_token"
    assert payload["exp"] > payload["iat"]
    for name in ("nonce", "state"):
        assert isinstance(payload[name], str)
        assert len(payload[name]) >= 22
    assert payload["nonce"] != payload["state"]
    definition = payload["presentation_definition"]
    assert definition["id"] == "age-over-21"
    assert "{{" not in json.dumps(definition)
    [field] = definition["input_descriptors"][0]["constraints"]["fields"]
    [date_filter] = [f for f in field["filter"]["anyOf"] if f.get("type") == "string"]
    limit = dt.date.fromisoformat(date_filter["formatMaximum"])
    today = dt.datetime.fromtimestamp(payload["iat"], dt.UTC).date()
    assert limit.year == today.year - 21
    assert (limit.month, limit.day) in {(today.month, today.day), (2, 28), (3, 1)}
    metadata = payload["client_metadata"]
    assert {"jwt_vp_json", "jwt_vc_json"} <= set(metadata["vp_formats"])
    assert {"urn:ietf:params:oauth:jwk-thumbprint", "did:key"} <= set(
        metadata["subject_syntax_types_supported"]
    )


def test_request_object_is_fresh_per_transaction(service: RunningService) -> None:
    """Two transactions get different nonces and states."""
    payloads = [
        _b64json(service.backend.get(service.create()["request_uri"]).text.split(".")[1]) for _ in range(2)
    ]
    assert payloads[0]["nonce"] != payloads[1]["nonce"]
    assert payloads[0]["state"] != payloads[1]["state"]


@pytest.mark.parametrize("mangle", ["flip", "truncate", "garbage"])
def test_request_object_with_tampered_handle(service: RunningService, mangle: str) -> None:
    """A tampered request_uri handle gets a 400 OAuth error body, not problem+json."""
    created = service.create()
    url = {
        "flip": _tamper(created["request_uri"]),
        "truncate": created["request_uri"][:-4],
        "garbage": created["request_uri"].rpartition("/")[0] + "/not-a-handle",
    }[mangle]
    response = service.backend.get(url)
    _oauth_error(response)
    assert response.headers.get("cache-control") == "no-store"


def test_request_object_after_expiry(service: RunningService) -> None:
    """Past the transaction's lifetime the request object is refused with an OAuth error."""
    created = service.create()
    service.clock.offset = 400
    try:
        response = service.backend.get(created["request_uri"])
    finally:
        service.clock.offset = 0
    _oauth_error(response)
    assert service.backend.get(created["request_uri"]).status_code == 200


# --- Wallet endpoint errors --- #


def test_response_to_tampered_handle(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Any]
) -> None:
    """A post to a tampered handle is a 400 OAuth error, gives no verdict, leaves the transaction open."""
    wallet = make_wallet()
    created = service.create()
    request = wallet.fetch_request(created["authorization_request_uri"])
    form = wallet.build_response(request, [issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})])
    answer = wallet.http.post(_tamper(request.response_uri), data=form)
    _oauth_error(answer)
    time.sleep(0.3)
    assert service.verdicts_for(created["transaction_id"]) == []
    assert wallet.post(request, form).status_code == 200
    assert service.verdict(created["transaction_id"])["result"] == "verified"


def test_response_body_over_limit(tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers) -> None:
    """A wallet body over max_body_bytes gets an OAuth error body (413), with or without Content-Length."""
    service = start_service(tmp_path, own_receiver, issuers.trust_file(), max_body_bytes=2048)
    try:
        created = service.create()
        form = {"content-type": "application/x-www-form-urlencoded"}
        sized = service.backend.post(_response_uri(created), content=b"state=" + b"x" * 4096, headers=form)
        _oauth_error(sized, status=413)

        def chunks() -> Iterator[bytes]:
            for _ in range(4):
                yield b"x" * 1024

        streamed = service.backend.post(_response_uri(created), content=chunks(), headers=form)
        _oauth_error(streamed, status=413)
        time.sleep(0.2)
        assert own_receiver.attempts == []
    finally:
        service.stop()


def test_unknown_wallet_route(service: RunningService) -> None:
    """An unknown path under /wallet/ answers in the OAuth error format too."""
    response = service.backend.get("/wallet/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert "error" in response.json()


def test_create_returns_a_qr_code_when_asked(service: RunningService) -> None:
    """`qr: svg|png` adds the link as a QR data URI; without it there is none."""
    plain = service.create()
    assert plain.get("qr_code") is None
    for image, prefix in (("svg", "data:image/svg+xml"), ("png", "data:image/png;base64,")):
        created = service.create(qr=image)
        assert created["qr_code"].startswith(prefix)
