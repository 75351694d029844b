"""The create lane answers exactly what the framework's documented handler answers.

``service.http.create_lane`` serves plain ``POST /v1/presentations`` requests outside Litestar's
per-request machinery and replays every other one to the framework. Each case goes once through the app
as served and once through the framework alone; status, headers, body and the request metrics must match.
A created transaction has fresh ids, so a 201 is compared by its fields and the values that do not vary.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from service.app import VerifierApp, create_app
from service.http.create_lane import CreateLane
from service.keys import generate_keyring
from service.settings import load_settings
from tests.support.asgi import Answer, Exchange

NOW = 1_790_000_000.0
MAX_BODY = 4096
KEY = [(b"authorization", b"Bearer k-1")]
JSON = [(b"content-type", b"application/json")]
PATH = "/v1/presentations"


@pytest.fixture(scope="module")
def app() -> VerifierApp:
    settings = load_settings(
        {},
        definitions_dir=str(Path(__file__).resolve().parents[2] / "definitions"),
        webhook_url="http://127.0.0.1:9/hook",
        webhook_allow_list=("http://127.0.0.1:9/allowed/",),
        public_url="http://verifier.test",
        api_keys=("k-1",),
        allow_loopback_without_key=False,
        max_body_bytes=MAX_BODY,
    )
    built = create_app(settings, clock=lambda: NOW, keyring=generate_keyring())
    assert isinstance(built, VerifierApp)
    return built


def _framework(app: VerifierApp) -> Any:
    return app.framework


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def _metrics(app: VerifierApp) -> dict[str, float]:
    text = asyncio.run(Exchange("GET", "/metrics", headers=KEY).send_to(app)).body.decode()
    return {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("verifier_http_requests_total{") and 'route="metrics"' not in line
    }


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key)}


def _comparable(answer: Answer) -> Any:
    if answer.status != 201:
        return answer.comparable()
    created = json.loads(answer.body)
    fixed = {key: created[key] for key in ("client_id", "expires_at")}
    lengths = sorted((name, value) for name, value in answer.headers if name != b"content-length")
    return answer.status, lengths, sorted(created), fixed


CASES: dict[str, Exchange] = {
    "named-definition": Exchange("POST", PATH, [_json({"definition_id": "age-over-18"})], [*KEY, *JSON]),
    "with-qr": Exchange("POST", PATH, [_json({"definition_id": "age-over-21", "qr": "svg"})], [*KEY, *JSON]),
    "allowed-webhook": Exchange(
        "POST",
        PATH,
        [_json({"definition_id": "age-over-18", "webhook_url": "http://127.0.0.1:9/allowed/x"})],
        [*KEY, *JSON],
    ),
    "in-pieces": Exchange("POST", PATH, [b'{"definition_id":', b' "age-over-18"}'], [*KEY, *JSON]),
    "no-content-type": Exchange("POST", PATH, [_json({"definition_id": "age-over-18"})], KEY),
    "unknown-definition": Exchange("POST", PATH, [_json({"definition_id": "nope"})], [*KEY, *JSON]),
    "webhook-not-allowed": Exchange(
        "POST",
        PATH,
        [_json({"definition_id": "age-over-18", "webhook_url": "https://evil.example/h"})],
        [*KEY, *JSON],
    ),
    "nothing-asked": Exchange("POST", PATH, [b"{}"], [*KEY, *JSON]),
    "not-json": Exchange("POST", PATH, [b"{not json"], [*KEY, *JSON]),
    "empty-body": Exchange("POST", PATH, [b""], [*KEY, *JSON]),
    "unknown-field": Exchange("POST", PATH, [_json({"definition_id": "age-over-18", "x": 1})], [*KEY, *JSON]),
    "wrong-type": Exchange("POST", PATH, [_json({"definition_id": 18})], [*KEY, *JSON]),
    "bad-pattern": Exchange("POST", PATH, [_json({"definition_id": "a b"})], [*KEY, *JSON]),
    "too-deep": Exchange("POST", PATH, [b'{"sign_in":' + b"[" * 2000 + b"]" * 2000 + b"}"], [*KEY, *JSON]),
    "no-key": Exchange("POST", PATH, [_json({"definition_id": "age-over-18"})], JSON),
    "wrong-key": Exchange(
        "POST", PATH, [_json({"definition_id": "age-over-18"})], [(b"authorization", b"Bearer k-2"), *JSON]
    ),
    "too-big-announced": Exchange(
        "POST", PATH, [b"{}"], [*KEY, *JSON, (b"content-length", str(MAX_BODY + 1).encode())]
    ),
    "too-big-streamed": Exchange("POST", PATH, [b"{" + b" " * 3000, b" " * 3000 + b"}"], [*KEY, *JSON]),
    "bad-content-length": Exchange("POST", PATH, [b"{}"], [*KEY, *JSON, (b"content-length", b"2x")]),
    "client-gone": Exchange("POST", PATH, [b'{"definition_id":'], [*KEY, *JSON], disconnect=True),
    "trailing-slash": Exchange("POST", PATH + "/", [_json({"definition_id": "age-over-18"})], [*KEY, *JSON]),
    "get": Exchange("GET", PATH, headers=KEY),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lane_answers_as_the_documented_handler(app: VerifierApp, case: str) -> None:
    exchange = CASES[case]
    before = _metrics(app)
    through_lane = asyncio.run(exchange.send_to(app))
    middle = _metrics(app)
    through_framework = asyncio.run(exchange.send_to(_framework(app)))
    after = _metrics(app)
    assert _comparable(through_lane) == _comparable(through_framework)
    assert _delta(before, middle) == _delta(middle, after)


def test_the_lane_takes_plain_creations_only(app: VerifierApp) -> None:
    """The lane must serve the plain cases itself (else the comparison compares the framework with itself)
    and hand the rest over."""
    [lane] = [lane for lane in app.lanes if isinstance(lane, CreateLane)]
    served: list[str] = []
    original = lane._create

    async def spy(scope: Any, receive: Any, send: Any, data: Any) -> None:
        served.append(data.definition_id)
        await original(scope, receive, send, data)

    lane._create = spy  # type: ignore[method-assign]
    try:
        for name in ("named-definition", "unknown-definition", "not-json", "no-key", "too-big-streamed"):
            asyncio.run(CASES[name].send_to(app))
    finally:
        del lane._create
    assert served == ["age-over-18", "nope"]
