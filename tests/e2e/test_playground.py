"""The development playground: served only in development, locked down by its CSP, and usable in a real
browser (headless Chromium driven by Selenium) from picking a definition to a signature-checked verdict.

The browser test skips when Chromium or chromedriver is missing, unless REQUIRE_BROWSER=1 (CI), where a
missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.keys import Keyring, dump_keyring, generate_keyring, load_keyring
from tests.e2e.actors import Wallet, WebhookReceiver

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # a venv installed before selenium joined the dev extra: the browser test says so
    webdriver = None
from tests.e2e.conftest import Issuers, RunningService, start_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,1800",
)


@pytest.fixture(scope="module")
def playground(
    tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver, issuers: Issuers
) -> Iterator[RunningService]:
    """A development service without a default webhook and without a store: the page names its own sink,
    and the playground feed (an in-memory record) lets it follow the transaction."""
    running = start_service(
        tmp_path_factory.mktemp("playground"), receiver, issuers.trust_file(), webhook_url=None
    )
    yield running
    running.stop()


# --- served in development only, under a strict CSP --- #


def test_page_and_assets_under_a_strict_policy(playground: RunningService) -> None:
    page = playground.backend.get("/playground")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    # Nothing inline that the policy would have to allow: scripts and styles come from files.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert "<style" not in page.text
    assert " style=" not in page.text
    assert not re.search(r" on[a-z]+=", page.text)
    for path, media_type in (
        ("/playground/playground.js", "text/javascript"),
        ("/playground/playground.css", "text/css"),
    ):
        asset = playground.backend.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["content-type"].startswith(media_type)
        assert asset.headers["x-content-type-options"] == "nosniff"
    # Every value from the service reaches the DOM as text, never as markup.
    script = playground.backend.get("/playground/playground.js").text
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert "document.write" not in script
    assert "eval(" not in script


def test_page_names_its_own_sink_when_no_webhook_is_configured(playground: RunningService) -> None:
    """The sink is on loopback at the port the page was served from; it only acknowledges."""
    page = playground.backend.get("/playground").text
    port = httpx.URL(playground.url).port
    assert f'content="http://127.0.0.1:{port}/playground/webhook"' in page
    sink = playground.backend.post(
        "/playground/webhook", content=b"a.b.c", headers={"content-type": "application/jwt"}
    )
    assert sink.status_code == 204


def test_the_feed_follows_a_transaction_without_a_store(
    playground: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """Development + playground + no store: polling works (the playground feed), events in order."""
    port = httpx.URL(playground.url).port
    created = playground.create(
        definition_id="age-over-18", webhook_url=f"http://127.0.0.1:{port}/playground/webhook"
    )
    wallet = make_wallet("ed25519")
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert (
        wallet.respond(request, [issuers.trusted.issue(wallet.holder.id, {"ageOver18": True})]).status_code
        == 200
    )
    status = _poll_until_decided(playground, created["transaction_id"])
    assert status["state"] == "verified"
    assert [e["event"] for e in status["events"]] == ["created", "request_retrieved", "response_received"]
    assert status["verdict"].count(".") == 2


def test_production_serves_no_playground_and_keeps_polling_501(
    tmp_path: Path, receiver: WebhookReceiver, issuers: Issuers
) -> None:
    production = start_service(
        tmp_path, receiver, issuers.trust_file(), environment="production", playground=True
    )
    try:
        for path in ("/playground", "/playground/playground.js", "/playground/playground.css"):
            assert production.backend.get(path).status_code == 404, path
        assert production.backend.post("/playground/webhook", content=b"x").status_code in {404, 405}
        polled = production.backend.get("/v1/presentations/AAAAAAAAAAAAAAAAAAAAAA")
        assert polled.status_code == 501
        assert polled.json()["code"] == "store.required"
    finally:
        production.stop()


def test_development_without_the_playground_is_unchanged(
    tmp_path: Path, receiver: WebhookReceiver, issuers: Issuers
) -> None:
    plain = start_service(tmp_path, receiver, issuers.trust_file(), playground=False)
    try:
        assert plain.backend.get("/playground").status_code == 404
        created = plain.create(definition_id="age-over-18")
        assert plain.backend.get(f"/v1/presentations/{created['transaction_id']}").status_code == 501
    finally:
        plain.stop()


def _poll_until_decided(
    service: RunningService, transaction_id: str, timeout: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = service.backend.get(f"/v1/presentations/{transaction_id}")
        assert status.status_code == 200, status.text
        if status.json()["state"] != "pending":
            return dict(status.json())
        time.sleep(0.05)
    raise AssertionError(f"{transaction_id} still pending after {timeout} s")


# --- the page in a real browser --- #


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium through the system chromedriver (Selenium Manager never downloads anything)."""
    required = os.environ.get("REQUIRE_BROWSER") == "1"
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if webdriver is None:
        missing.append("the selenium package (pip install -c constraints.txt -e '.[dev]')")
    if missing:
        message = (
            f"headless browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
        if required:
            pytest.fail(f"REQUIRE_BROWSER=1: {message}")
        pytest.skip(message)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _ed25519_keyring() -> Keyring:
    """A keyring whose verdicts are EdDSA (generated keyrings sign ES256)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    document = json.loads(dump_keyring(generate_keyring()))
    document["signing"] = [{"kid": "ed-1", "private_key_pem": pem.decode()}]
    return load_keyring(json.dumps(document))


@pytest.fixture(params=["ES256", "EdDSA"])
def signing_service(
    request: pytest.FixtureRequest,
    playground: RunningService,
    tmp_path: Path,
    receiver: WebhookReceiver,
    issuers: Issuers,
) -> Iterator[tuple[str, RunningService]]:
    """The playground service (ES256 verdicts), or one whose verdicts are EdDSA."""
    if request.param == "ES256":
        yield request.param, playground
        return
    running = start_service(
        tmp_path, receiver, issuers.trust_file(), webhook_url=None, keyring=_ed25519_keyring()
    )
    yield request.param, running
    running.stop()


def test_playground_in_headless_chromium(
    browser: Any,
    signing_service: tuple[str, RunningService],
    issuers: Issuers,
    make_wallet: Callable[..., Wallet],
    tmp_path: Path,
) -> None:
    """Pick a definition, create, read the link off the page, answer it as a wallet, and see the page show
    the verdict `verified` with its signature checked in the browser (WebCrypto against the JWKS), for
    ES256 and EdDSA verdict keys."""
    alg, playground = signing_service
    assert [key["alg"] for key in playground.jwks()["keys"]] == [alg]
    screenshot = tmp_path / "playground-verdict.png"

    def text(element_id: str) -> str:
        return str(browser.find_element(By.ID, element_id).text)

    def wait_for(condition: Callable[[Any], Any], what: str, timeout: float = 15.0) -> Any:
        try:
            return WebDriverWait(browser, timeout, poll_frequency=0.1).until(condition)
        except TimeoutException:
            browser.save_screenshot(str(screenshot))
            raise AssertionError(f"timed out waiting for {what}; screenshot: {screenshot}") from None

    browser.get(f"{playground.url}/playground")
    wait_for(lambda d: d.find_element(By.ID, "create").is_enabled(), "the definitions to load")
    Select(browser.find_element(By.ID, "definition")).select_by_value("age-over-18")
    browser.find_element(By.ID, "create").click()

    link = wait_for(lambda d: text("deep-link").startswith("openid4vp://") and text("deep-link"), "the link")
    transaction_id = text("transaction-id")
    assert browser.find_element(By.ID, "qr").get_attribute("src").startswith("data:image/svg+xml")
    assert browser.find_element(By.ID, "deep-link-anchor").get_attribute("href") == link
    assert text("demo-command") == f".venv/bin/python -m service demo --link '{link}'"

    wallet = make_wallet("ed25519")
    request = wallet.fetch_request(link)
    wait_for(
        lambda d: "done" in d.find_element(By.ID, "step-request_retrieved").get_attribute("class"),
        "the page to see the request object fetched",
    )
    credential = issuers.trusted.issue(wallet.holder.id, {"ageOver18": True})
    assert wallet.respond(request, [credential]).status_code == 200

    wait_for(lambda d: text("signature") == "signature valid", "the checked verdict")
    browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 0
    shown = f"screenshot: {screenshot}"
    assert text("verdict-result") == "verified", shown
    for step in ("created", "request_retrieved", "response_received", "verdict"):
        assert "done" in browser.find_element(By.ID, f"step-{step}").get_attribute("class"), (step, shown)
    claims = json.loads(text("verdict-claims"))
    assert claims["txn"] == transaction_id, shown
    assert claims["result"] == "verified", shown
    assert claims["correlation_id"] == "playground", shown
    assert claims["holder"]["id"] == wallet.holder.id, shown
    assert [c["claims"] for c in claims["credentials"]] == [{"age_over_18": True}], shown
    # The policy blocked nothing of ours and the script threw nothing.
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, (severe, shown)
