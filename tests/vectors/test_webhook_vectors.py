"""Standard Webhooks known-answer and verification vectors (../shared/vectors/webhooks).

Our service only signs; the verification-side cases run through a small verifier written here, the way
a backend would follow webhooks.md §3, so that what we send is checked against an independent reading.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from service.webhook import sign_v1, webhook_headers

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "webhooks"
CASES = {path.stem: json.loads(path.read_text()) for path in sorted(VECTORS.glob("*.json"))}


class Rejected(Exception):
    """The receiver-side verification failed."""


def receiver_verify(headers: dict[str, str], body: bytes, secret: str, *, now: int, tolerance: int) -> None:
    """webhooks.md §3: timestamp within tolerance, then any ``v1`` entry matching in constant time."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id, stamp, signatures = (
            lowered[h] for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
        )
    except KeyError as exc:
        raise Rejected("missing header") from exc
    if not stamp.isascii() or not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        raise Rejected("timestamp outside tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise Rejected("no matching signature")


def test_vectors_are_present():
    assert {"v1-hmac-valid", "v1-hmac-multi-signature", "v1-hmac-tampered", "v1-hmac-stale-timestamp"} <= set(
        CASES
    )


@pytest.mark.parametrize("name", list(CASES))
def test_receiver_outcome(name: str):
    """Each vector verifies or is rejected as stated (and for the stated reason, where one is given)."""
    case: dict[str, Any] = CASES[name]
    verify = lambda: receiver_verify(  # noqa: E731
        case["headers"],
        case["body"].encode(),
        case["secret"],
        now=case["now"],
        tolerance=case["tolerance_seconds"],
    )
    if case["expected_result"] == "valid":
        verify()
    else:
        with pytest.raises(Rejected) as caught:
            verify()
        if "expected_reason" in case:
            assert str(caught.value) == case["expected_reason"]


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if "expected_signature" in c])
def test_signer_reproduces_the_known_answer(name: str):
    """Our signer produces the reference signature byte for byte, over the stated signed content."""
    case = CASES[name]
    headers = case["headers"]
    assert f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{case['body']}" == case["signed_content"]
    signature = sign_v1(
        headers["webhook-id"], int(headers["webhook-timestamp"]), case["body"].encode(), case["secret"]
    )
    assert signature == case["expected_signature"] == headers["webhook-signature"]


@pytest.mark.parametrize("name", list(CASES))
def test_our_headers_pass_the_receiver(name: str):
    """Headers we build for each vector's id, timestamp and body verify at the receiver."""
    case = CASES[name]
    msg_id, stamp = case["headers"]["webhook-id"], int(case["headers"]["webhook-timestamp"])
    body = case["body"].encode()
    ours = webhook_headers(msg_id, stamp, body, secrets=[case["secret"]], event_type="presentation.accepted")
    receiver_verify(ours, body, case["secret"], now=stamp, tolerance=case["tolerance_seconds"])


def test_our_signature_is_among_the_multi_signature_entries():
    """Rotation: the reference multi-signature header carries exactly our v1 value among others."""
    case = CASES["v1-hmac-multi-signature"]
    headers = case["headers"]
    ours = sign_v1(
        headers["webhook-id"], int(headers["webhook-timestamp"]), case["body"].encode(), case["secret"]
    )
    assert ours in headers["webhook-signature"].split(" ")


def test_tampered_and_stale_differ_from_ours():
    """The negative vectors are negative for our signer too."""
    tampered = CASES["v1-hmac-tampered"]
    headers = tampered["headers"]
    ours = sign_v1(
        headers["webhook-id"],
        int(headers["webhook-timestamp"]),
        tampered["body"].encode(),
        tampered["secret"],
    )
    assert ours != headers["webhook-signature"]
    stale = CASES["v1-hmac-stale-timestamp"]
    assert stale["now"] - int(stale["headers"]["webhook-timestamp"]) > stale["tolerance_seconds"]
