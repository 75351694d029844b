"""The wallet lane answers exactly what the framework's documented handlers answer.

``service.http.wallet_lane`` serves the wallet routes outside Litestar's per-request machinery. Each case
below goes once through the app as served (the lane) and once through the framework alone (the handlers
of ``WalletController``), each on a transaction of its own, and the two answers must be the same: status,
headers, body (a request object compared without its signature, which ES256 randomises) and the request
metrics recorded. The cases cover success, every error path (a bad handle, a bad form, a body over the
limit announced or streamed, an unreadable Content-Length, a client gone mid-body) and requests the lane
must leave to the framework.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from litestar import Litestar

from service.app import VerifierApp, create_app
from service.http.wallet_lane import WalletLane
from service.jose.encoding import b64url_decode
from service.keys import generate_keyring
from service.settings import load_settings
from tests.support.asgi import Exchange

NOW = 1_790_000_000.0
MAX_BODY = 4096


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> VerifierApp:
    folder: Path = tmp_path_factory.mktemp("lane")
    settings = load_settings(
        {},
        definitions_dir=str(Path(__file__).resolve().parents[2] / "definitions"),
        webhook_url="http://127.0.0.1:9/hook",
        public_url="http://verifier.test",
        keyring_path=str(folder / "keyring.json"),
        max_body_bytes=MAX_BODY,
    )
    built = create_app(settings, clock=lambda: NOW, keyring=generate_keyring())
    assert isinstance(built, VerifierApp)
    return built


def _framework(app: VerifierApp) -> Callable[..., Any]:
    """The same app with the lane skipped: every request routed by Litestar to WalletController."""
    return lambda scope, receive, send: Litestar.__call__(app, scope, receive, send)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _handle(app: VerifierApp) -> str:
    body = json.dumps({"definition_id": "age-over-18"}).encode()
    created = _run(
        Exchange("POST", "/v1/presentations", [body], [(b"content-type", b"application/json")]).send_to(app)
    )
    assert created.status == 201, created.body
    return urlsplit(json.loads(created.body)["request_uri"]).path.rsplit("/", 1)[1]


def _state(app: VerifierApp, handle: str) -> str:
    token = _run(Exchange("GET", f"/wallet/requests/{handle}").send_to(app)).body.decode()
    return json.loads(b64url_decode(token.split(".")[1]))["state"]


def _metrics(app: VerifierApp) -> dict[str, float]:
    text = _run(Exchange("GET", "/metrics").send_to(app)).body.decode()
    return {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("verifier_http_requests_total{")
        and "/metrics" not in line
        and "metrics" not in line
    }


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {
        key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)
    }


FORM = [(b"content-type", b"application/x-www-form-urlencoded")]
TOO_BIG = b"x=" + b"a" * MAX_BODY


def _cases(app: VerifierApp) -> dict[str, Callable[[], Exchange]]:
    """Each case builds its exchange on a fresh transaction (responses consume theirs)."""

    def fresh(make: Callable[[str], Exchange]) -> Callable[[], Exchange]:
        return lambda: make(_handle(app))

    def wallet_error(handle: str) -> Exchange:
        form = urlencode({"error": "access_denied", "state": _state(app, handle)}).encode()
        return Exchange("POST", f"/wallet/responses/{handle}", [form], FORM)

    return {
        "request-object": fresh(lambda h: Exchange("GET", f"/wallet/requests/{h}")),
        "request-object-bad-handle": lambda: Exchange("GET", "/wallet/requests/abc.def"),
        "request-object-post": fresh(
            lambda h: Exchange(
                "POST", f"/wallet/requests/{h}", [b"wallet_nonce=n-1&wallet_metadata=%7B%7D"], FORM
            )
        ),
        "request-object-post-bad-metadata": fresh(
            lambda h: Exchange("POST", f"/wallet/requests/{h}", [b"wallet_metadata=%7Bnot"], FORM)
        ),
        "request-object-post-too-big": fresh(
            lambda h: Exchange("POST", f"/wallet/requests/{h}", [TOO_BIG], FORM)
        ),
        "response-wallet-error": fresh(wallet_error),
        "response-wrong-state": fresh(
            lambda h: Exchange("POST", f"/wallet/responses/{h}", [b"state=wrong&vp_token=x"], FORM)
        ),
        "response-bad-handle": lambda: Exchange("POST", "/wallet/responses/nope", [b"state=x"], FORM),
        "response-too-big-announced": fresh(
            lambda h: Exchange(
                "POST",
                f"/wallet/responses/{h}",
                [b""],
                [*FORM, (b"content-length", str(MAX_BODY + 1).encode())],
            )
        ),
        "response-too-big-streamed": fresh(
            lambda h: Exchange("POST", f"/wallet/responses/{h}", [b"a" * 3000, b"b" * 3000], FORM)
        ),
        "response-bad-content-length": fresh(
            lambda h: Exchange("POST", f"/wallet/responses/{h}", [b"state=x"], [(b"content-length", b"1x")])
        ),
        "response-client-gone": fresh(
            lambda h: Exchange("POST", f"/wallet/responses/{h}", [b"state="], FORM, disconnect=True)
        ),
        "response-wrong-method": fresh(lambda h: Exchange("PUT", f"/wallet/responses/{h}", [b""])),
        "response-trailing-slash": fresh(
            lambda h: Exchange("POST", f"/wallet/responses/{h}/", [b"state=x"], FORM)
        ),
        "response-extra-segment": lambda: Exchange("POST", "/wallet/responses/a/b", [b"state=x"], FORM),
    }


CASES = [
    "request-object",
    "request-object-bad-handle",
    "request-object-post",
    "request-object-post-bad-metadata",
    "request-object-post-too-big",
    "response-wallet-error",
    "response-wrong-state",
    "response-bad-handle",
    "response-too-big-announced",
    "response-too-big-streamed",
    "response-bad-content-length",
    "response-client-gone",
    "response-wrong-method",
    "response-trailing-slash",
    "response-extra-segment",
]


@pytest.mark.parametrize("case", CASES)
def test_lane_answers_as_the_documented_handlers(app: VerifierApp, case: str) -> None:
    make = _cases(app)[case]
    # A response consumes its transaction, so each path gets its own; a request object is fetched twice.
    first = make()
    second = make() if case.startswith("response") else first
    before = _metrics(app)
    through_lane = _run(first.send_to(app))
    middle = _metrics(app)
    through_framework = _run(second.send_to(_framework(app)))
    after = _metrics(app)
    assert through_lane.comparable() == through_framework.comparable()
    assert _delta(before, middle) == _delta(middle, after)


def test_case_list_is_complete(app: VerifierApp) -> None:
    assert sorted(_cases(app)) == sorted(CASES)


def test_the_lane_takes_the_wallet_routes_and_nothing_else(app: VerifierApp) -> None:
    """The lane must actually serve the wallet routes (else the comparison above compares the framework
    with itself), and leave every other route alone."""
    [lane] = [lane for lane in app.lanes if isinstance(lane, WalletLane)]
    served: list[str] = []
    original = lane.serve

    async def spy(scope: Any, receive: Any, send: Any) -> bool:
        taken = await original(scope, receive, send)
        if taken:
            served.append(f"{scope['method']} {scope['path']}")
        return taken

    handle = _handle(app)
    lane.serve = spy  # type: ignore[method-assign]
    try:
        _run(Exchange("GET", f"/wallet/requests/{handle}").send_to(app))
        _run(Exchange("POST", f"/wallet/requests/{handle}", [b""], FORM).send_to(app))
        _run(Exchange("POST", f"/wallet/responses/{handle}", [b"state=x"], FORM).send_to(app))
        _run(Exchange("GET", "/health/live").send_to(app))
        _run(Exchange("PUT", f"/wallet/responses/{handle}").send_to(app))
        _run(Exchange("POST", f"/wallet/responses/{handle}/", [b""], FORM).send_to(app))
    finally:
        del lane.serve
    assert served == [
        f"GET /wallet/requests/{handle}",
        f"POST /wallet/requests/{handle}",
        f"POST /wallet/responses/{handle}",
    ]
