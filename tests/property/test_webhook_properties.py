"""Properties of the webhook backoff, signatures, URL allow-list and the SSRF address rule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.outbound import OutboundPolicy, OutboundRefused, is_public_address, parse_outbound_url
from service.webhook import backoff_delay, sign_v1, webhook_url_allowed

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
hosts = (
    st.lists(labels, min_size=1, max_size=3).map(".".join).filter(lambda h: not h.split(".")[-1].isdigit())
)
paths = st.lists(st.from_regex(r"[A-Za-z0-9_~-]{1,8}", fullmatch=True), max_size=3).map("/".join)
webhook_ids = st.from_regex(r"[A-Za-z0-9_:-]{1,40}", fullmatch=True)

BLOCKED = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
]


@given(
    attempts=st.integers(min_value=0, max_value=10_000),
    base=st.floats(min_value=1e-3, max_value=60),
    spread=st.floats(min_value=1, max_value=1e5),
    pick=st.floats(min_value=-1, max_value=2),
)
def test_backoff_stays_within_bounds(attempts, base, spread, pick):
    """base/2 <= delay <= min(max_delay, base * 2**attempts), whatever the random source returns."""
    max_delay = base * spread
    delay = backoff_delay(
        attempts, base_delay=base, max_delay=max_delay, uniform=lambda a, b: a + pick * (b - a)
    )
    ceiling = min(max_delay, base * 2.0 ** min(attempts, 64))
    assert base / 2 <= delay <= ceiling


@given(attempts=st.integers(min_value=0, max_value=50), base=st.floats(min_value=1e-3, max_value=10))
def test_backoff_ceiling_grows_then_caps(attempts, base):
    """With the random source at its top, delays double until max_delay."""
    top = lambda a, b: b  # noqa: E731
    max_delay = base * 100
    now = backoff_delay(attempts, base_delay=base, max_delay=max_delay, uniform=top)
    later = backoff_delay(attempts + 1, base_delay=base, max_delay=max_delay, uniform=top)
    assert later == min(max_delay, 2 * now) or now == max_delay


@given(msg_id=webhook_ids, timestamp=st.integers(min_value=0, max_value=2**40), body=st.binary(max_size=256))
def test_signature_covers_id_timestamp_and_body(msg_id, timestamp, body):
    """The signature is HMAC over id.timestamp.body; changing any byte of the body changes it."""
    signature = sign_v1(msg_id, timestamp, body, SECRET)
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(mac).decode()
    assert sign_v1(msg_id, timestamp, body + b"\x00", SECRET) != signature
    assert sign_v1(msg_id, timestamp + 1, body, SECRET) != signature


@given(host=hosts, suffix=hosts, path=paths)
def test_allow_list_never_matches_a_longer_host(host, suffix, path):
    """https://example.com/ allows nothing on example.com.<anything> or <anything>example.com."""
    entry = f"https://{host}/"
    assert not webhook_url_allowed(f"https://{host}.{suffix}/{path}", [entry])
    assert not webhook_url_allowed(f"https://{suffix}{host}/{path}", [entry])
    assert not webhook_url_allowed(f"https://{host}.{suffix}", [f"https://{host}"])


@given(host=hosts, prefix=paths, rest=paths)
def test_allow_list_prefix_matches_everything_below_it(host, prefix, rest):
    """A prefix entry allows every path below it, whatever the case of scheme and host."""
    below = f"{prefix}/" if prefix else ""
    entry = f"https://{host}/{below}"
    assert webhook_url_allowed(entry + rest, [entry])
    assert webhook_url_allowed(f"HTTPS://{host.upper()}:443/{below}{rest}", [entry])


@pytest.mark.parametrize("network", BLOCKED)
@given(data=st.data())
def test_blocked_ranges_and_their_ipv6_forms_are_not_public(network, data):
    """An address in a blocked range is refused directly and as IPv4-mapped, 6to4 or NAT64."""
    v4 = data.draw(st.ip_addresses(network=network))
    n = int(v4)
    forms = [
        v4,
        ipaddress.IPv6Address((0xFFFF << 32) | n),  # ::ffff:a.b.c.d
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80)),  # 2002:aabb:ccdd::
        ipaddress.IPv6Address((0x64FF9B << 96) | n),  # 64:ff9b::a.b.c.d
    ]
    assert not any(is_public_address(form) for form in forms)


@given(address=st.ip_addresses())
def test_default_policy_never_accepts_an_ip_literal(address):
    host = f"[{address}]" if address.version == 6 else str(address)
    with pytest.raises(OutboundRefused):
        parse_outbound_url(f"https://{host}/", OutboundPolicy())


@given(
    url=st.text(max_size=200)
    | st.builds(lambda h, p: f"https://{h}/{p}", st.text(max_size=30), st.text(max_size=30))
)
def test_parse_outbound_url_refuses_or_returns_a_sane_target(url):
    """Arbitrary input either parses to an https target with a DNS name, or raises OutboundRefused."""
    try:
        target = parse_outbound_url(url, OutboundPolicy())
    except OutboundRefused:
        return
    assert target.scheme == "https"
    assert target.ip is None
    assert target.path.startswith("/")
