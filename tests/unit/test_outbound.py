"""The SSRF guard: static URL checks, the public-address rule, pinned requests against a real server."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.errors import DependencyUnavailable, Forbidden
from service.outbound import (
    IPAddress,
    OutboundPolicy,
    OutboundRefused,
    OutboundTarget,
    OutboundUnavailable,
    is_public_address,
    make_client,
    parse_outbound_url,
    post,
    request,
    resolve_target,
    system_resolver,
)
from tests.support.event_loops import each_event_loop, run  # noqa: F401 (a fixture, used by name)

LOCAL = OutboundPolicy(allow_http=True, allow_private=True, connect_timeout=2, read_timeout=2)


# --- A real local HTTP(S) server (also used by test_webhook.py) --- #


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LocalServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, size cap) is expected here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.owner.record(Seen(self.command, self.path, headers, body))
        if reply.delay:
            time.sleep(reply.delay)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


class LocalServer:
    """A real HTTP server on 127.0.0.1 (an ephemeral port) in a thread, answering from a script.

    Replies are used in order; the last one repeats. ``tls`` wraps the listening socket.
    """

    def __init__(self, *replies: Reply, tls: ssl.SSLContext | None = None) -> None:
        self._replies = list(replies) or [Reply()]
        self._tls = tls
        self._lock = threading.Lock()
        self.seen: list[Seen] = []

    def record(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            return self._replies[min(len(self.seen), len(self._replies)) - 1]

    def __enter__(self) -> LocalServer:
        self._server = _Server(self)
        if self._tls is not None:
            self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", *, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def resolver_for(*addresses: str):
    """A resolver that answers every name with ``addresses`` and records what it was asked."""
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[IPAddress]:
        asked.append((host, port))
        return [ipaddress.ip_address(a) for a in addresses]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Step 1: static checks --- #


class TestParseOutboundUrl:
    def test_accepts_https_with_a_dns_name(self):
        """A plain https URL parses into host, default port and path with query."""
        target = parse_outbound_url("https://RP.Example.com/hooks/v1?tenant=7", OutboundPolicy())
        assert target == OutboundTarget(
            scheme="https", host="rp.example.com", port=443, path="/hooks/v1?tenant=7"
        )
        assert target.host_header == "rp.example.com"

    def test_explicit_port_appears_in_host_header(self):
        """A non-default port is kept for the Host header; the default one is not."""
        assert (
            parse_outbound_url("https://rp.example:8443", OutboundPolicy()).host_header == "rp.example:8443"
        )
        assert parse_outbound_url("https://rp.example:443/", OutboundPolicy()).host_header == "rp.example"

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://rp.example/", "outbound.scheme"),
            ("ftp://rp.example/", "outbound.scheme"),
            ("file:///etc/passwd", "outbound.scheme"),
            ("https://user:pw@rp.example/", "outbound.userinfo"),
            ("https://user@rp.example/", "outbound.userinfo"),
            ("https://rp.example/#fragment", "outbound.fragment"),
            ("https:///path", "outbound.host"),
            ("https:rp.example", "outbound.host"),
            ("https://127.0.0.1/", "outbound.private_address"),
            ("https://10.0.0.1/", "outbound.private_address"),
            ("https://169.254.169.254/latest/meta-data/", "outbound.private_address"),
            ("https://[::1]/", "outbound.private_address"),
            ("https://[::ffff:127.0.0.1]/", "outbound.private_address"),
            ("https://[fe80::1%25eth0]/", "outbound.host"),
            ("https://8.8.8.8/", "outbound.ip_literal"),
            ("https://[2606:4700::1111]/", "outbound.ip_literal"),
            ("https://[1.2.3.4]/", "outbound.url_syntax"),  # urlsplit itself refuses it
            ("https://2130706433/", "outbound.host"),
            ("https://0x7f000001/", "outbound.host"),
            ("https://127.1/", "outbound.host"),
            ("https://rp_example.com/", "outbound.host"),
            ("https://-rp.example/", "outbound.host"),
            ("https://rp..example/", "outbound.host"),
            ("https://rp.example./", "outbound.host"),
            ("https://rp example/", "outbound.url_syntax"),
            ("https://rp.example\t/", "outbound.url_syntax"),
            ("https://rp.example\\@evil.example/", "outbound.url_syntax"),
            ("https://rëp.example/", "outbound.url_syntax"),
            ("https://rp.example/%zz", "outbound.url_syntax"),
            ("https://[::1/", "outbound.url_syntax"),
            ("https://rp.example:0/", "outbound.port"),
            ("https://rp.example:65536/", "outbound.port"),
            ("https://rp.example:https/", "outbound.port"),
            ("https://rp.example/" + "a" * 2048, "outbound.url_too_long"),
        ],
    )
    def test_refuses(self, url, reason):
        """Each rule refuses with its own reason and a 403 access_denied."""
        with pytest.raises(OutboundRefused) as caught:
            parse_outbound_url(url, OutboundPolicy())
        assert caught.value.reason == reason
        assert isinstance(caught.value, Forbidden)
        assert caught.value.status_code == 403

    def test_allow_http(self):
        """http is accepted only when the policy says so."""
        target = parse_outbound_url("http://rp.example/hook", OutboundPolicy(allow_http=True))
        assert (target.scheme, target.port) == ("http", 80)

    @pytest.mark.parametrize(
        "url",
        [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://169.254.169.254/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://8.8.8.8/",
        ],
    )
    def test_allow_private_accepts_ip_literals(self, url):
        """With allow_private an IP literal parses and carries its address."""
        target = parse_outbound_url(url, OutboundPolicy(allow_private=True))
        assert target.ip is not None
        assert target.host == str(target.ip)

    def test_allowed_private_hosts_accepts_only_the_listed_literal(self):
        """One exempt literal does not open the others."""
        policy = OutboundPolicy(allowed_private_hosts=frozenset({"127.0.0.1"}))
        assert parse_outbound_url("https://127.0.0.1:9000/", policy).ip == ipaddress.ip_address("127.0.0.1")
        with pytest.raises(OutboundRefused):
            parse_outbound_url("https://127.0.0.2/", policy)

    def test_port_allow_list(self):
        """With an allow-list the default port must be listed too."""
        policy = OutboundPolicy(allowed_ports=frozenset({443}))
        assert parse_outbound_url("https://rp.example/", policy).port == 443
        with pytest.raises(OutboundRefused) as caught:
            parse_outbound_url("https://rp.example:8443/", policy)
        assert caught.value.reason == "outbound.port"


class TestIsPublicAddress:
    @pytest.mark.parametrize(
        "address",
        [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
        ],
    )
    def test_not_public(self, address):
        """Loopback, private, link-local, CGNAT, multicast, reserved, documentation and embedded forms."""
        assert not is_public_address(ipaddress.ip_address(address))

    @pytest.mark.parametrize(
        "address",
        ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
    )
    def test_public(self, address):
        """Global unicast, directly or through IPv4-mapped, NAT64 and 6to4 forms."""
        assert is_public_address(ipaddress.ip_address(address))


# --- Step 2: resolution --- #


class TestResolveTarget:
    @pytest.mark.parametrize(
        "answer",
        [("127.0.0.1",), ("::ffff:127.0.0.1",), ("169.254.169.254",), ("fd00::1",), ("8.8.8.8", "10.0.0.1")],
    )
    def test_refuses_a_name_resolving_to_a_private_address(self, answer):
        """Every answer must be public; one private record is enough to refuse."""
        target = parse_outbound_url("https://rp.example/", OutboundPolicy())
        with pytest.raises(OutboundRefused) as caught:
            run(resolve_target(target, OutboundPolicy(), resolver=resolver_for(*answer)))
        assert caught.value.reason == "outbound.private_address"

    def test_returns_public_answers_in_order_without_duplicates(self):
        """The resolver's order is kept (it encodes address preference)."""
        target = parse_outbound_url("https://rp.example/", OutboundPolicy())
        resolver = resolver_for("2606:4700::1111", "8.8.8.8", "2606:4700::1111")
        found = run(resolve_target(target, OutboundPolicy(), resolver=resolver))
        assert found == [ipaddress.ip_address("2606:4700::1111"), ipaddress.ip_address("8.8.8.8")]
        assert resolver.asked == [("rp.example", 443)]

    @pytest.mark.parametrize(
        "policy",
        [
            OutboundPolicy(allow_private=True),
            OutboundPolicy(allowed_private_hosts=frozenset({"SINK.example"})),
        ],
    )
    def test_policy_may_allow_private_answers(self, policy):
        """allow_private, or the host in allowed_private_hosts (case-insensitive), lifts the rule."""
        target = parse_outbound_url("https://sink.example/", policy)
        assert run(resolve_target(target, policy, resolver=resolver_for("127.0.0.1"))) == [
            ipaddress.ip_address("127.0.0.1")
        ]

    def test_no_answer_is_unavailable(self):
        """An empty answer is a DNS failure (503), not a refusal."""
        target = parse_outbound_url("https://rp.example/", OutboundPolicy())
        with pytest.raises(OutboundUnavailable) as caught:
            run(resolve_target(target, OutboundPolicy(), resolver=resolver_for()))
        assert caught.value.reason == "outbound.dns"
        assert isinstance(caught.value, DependencyUnavailable)

    def test_slow_resolver_times_out(self):
        """DNS is bounded by connect_timeout."""

        async def slow(host: str, port: int) -> list[IPAddress]:
            await asyncio.sleep(5)
            return []

        policy = OutboundPolicy(connect_timeout=0.05)
        target = parse_outbound_url("https://rp.example/", policy)
        with pytest.raises(OutboundUnavailable) as caught:
            run(resolve_target(target, policy, resolver=slow))
        assert caught.value.reason == "outbound.dns"

    def test_system_resolver_refuses_localhost(self):
        """The default resolver is the real getaddrinfo; localhost is loopback."""
        target = parse_outbound_url("https://localhost/", OutboundPolicy())
        with pytest.raises(OutboundRefused):
            run(resolve_target(target, OutboundPolicy()))
        assert ipaddress.ip_address("127.0.0.1") in run(system_resolver("localhost", 443))

    def test_ip_literal_needs_no_resolver(self):
        """An allowed IP literal is its own answer."""
        target = parse_outbound_url("http://127.0.0.1:8080/", LOCAL)
        assert run(resolve_target(target, LOCAL, resolver=resolver_for("8.8.8.8"))) == [
            ipaddress.ip_address("127.0.0.1")
        ]


# --- Step 3: requests against a real server --- #


async def _post(
    url: str, policy: OutboundPolicy = LOCAL, headers: Mapping[str, str] | None = None, **kwargs: Any
):
    async with make_client(policy) as client:
        headers = {"x-test": "1"} if headers is None else headers
        return await post(client, url, body=b'{"a":1}', headers=headers, policy=policy, **kwargs)


@pytest.mark.usefixtures("each_event_loop")
class TestPost:
    def test_returns_status_headers_and_body(self):
        """A 2xx comes back with lower-case headers and the body; the server saw our POST."""
        with LocalServer(Reply(202, {"X-Reply": "yes"}, b"accepted")) as server:
            response = run(_post(server.url("/hook?x=1")))
        assert (response.status, response.ok, response.body, response.truncated) == (
            202,
            True,
            b"accepted",
            False,
        )
        assert response.headers["x-reply"] == "yes"
        [seen] = server.seen
        assert (seen.method, seen.path, seen.body, seen.headers["x-test"]) == (
            "POST",
            "/hook?x=1",
            b'{"a":1}',
            "1",
        )
        assert seen.headers["connection"] == "keep-alive"  # make_client pools per host name

    def test_reads_at_most_max_response_bytes(self):
        """A long body is cut at the cap and marked truncated."""
        policy = OutboundPolicy(allow_http=True, allow_private=True, max_response_bytes=1000)
        with LocalServer(Reply(200, body=b"x" * 100_000)) as server:
            response = run(_post(server.url(), policy))
        assert (len(response.body), response.truncated) == (1000, True)

    def test_redirect_is_not_followed(self):
        """A 302 is returned as a failure and its Location is never requested."""
        with LocalServer(Reply(302, {"Location": "/elsewhere"}), Reply(200)) as server:
            response = run(_post(server.url()))
        assert (response.status, response.ok) == (302, False)
        assert [seen.path for seen in server.seen] == ["/hook"]

    def test_default_policy_refuses_the_local_server(self):
        """Without allow_http/allow_private nothing reaches a loopback server."""
        with LocalServer() as server:
            with pytest.raises(OutboundRefused):
                run(_post(server.url(), OutboundPolicy()))
            with pytest.raises(OutboundRefused):
                run(_post(server.url(scheme="https"), OutboundPolicy()))
        assert server.seen == []

    def test_name_resolving_to_loopback_is_refused_before_connecting(self):
        """The injected resolver answers 127.0.0.1: refused, and the server sees nothing."""
        policy = OutboundPolicy(allow_http=True)
        with LocalServer() as server, pytest.raises(OutboundRefused) as caught:
            run(_post(server.url(host="sink.example"), policy, resolver=resolver_for("127.0.0.1")))
        assert caught.value.reason == "outbound.private_address"
        assert server.seen == []

    def test_connects_to_the_vetted_address_with_the_original_host(self):
        """Pinning: the connection goes to the resolved IP, the Host header names the original host."""
        policy = OutboundPolicy(allow_http=True, allowed_private_hosts=frozenset({"sink.example"}))
        resolver = resolver_for("127.0.0.1")
        with LocalServer() as server:
            response = run(_post(server.url("/h", host="sink.example"), policy, resolver=resolver))
        assert response.ok
        assert server.seen[0].headers["host"] == f"sink.example:{server.port}"
        assert resolver.asked == [("sink.example", server.port)]

    def test_tries_the_next_address_when_one_refuses(self):
        """A dead address (nothing listens on 127.0.0.2) is skipped; nothing was sent to it."""
        policy = OutboundPolicy(allow_http=True, allowed_private_hosts=frozenset({"sink.example"}))
        with LocalServer() as server:
            response = run(
                _post(
                    server.url(host="sink.example"), policy, resolver=resolver_for("127.0.0.2", "127.0.0.1")
                )
            )
        assert response.ok
        assert len(server.seen) == 1

    def test_only_the_guards_headers_are_sent(self):
        """The client has no defaults to leak (cookies, auth, proxies): the request carries the caller's
        headers and the guard's own, nothing else; Host and the framing are always the guard's."""
        with LocalServer() as server:
            run(_post(server.url()))
        assert set(server.seen[0].headers) == {
            "host",
            "user-agent",
            "accept-encoding",
            "x-test",
            "content-length",
            "connection",
        }
        assert server.seen[0].headers["accept-encoding"] == "identity"

    @pytest.mark.parametrize(
        "headers",
        [
            {"host": "elsewhere.example"},
            {"connection": "close"},
            {"content-length": "0"},
            {"transfer-encoding": "chunked"},
            {"x-a": "1\r\nx-injected: 1"},
            {"x-a": "1\nx-injected: 1"},
            {"x-a": "nul\x00"},
            {"bad name": "1"},
            {"x-a": "caf\u00e9\u20ac"},
        ],
    )
    def test_header_injection_and_framing_headers_are_refused(self, headers):
        """A header cannot split the request, smuggle a second one or override Host and framing."""
        with LocalServer() as server, pytest.raises(OutboundRefused) as caught:
            run(_post(server.url(), headers=headers))
        assert caught.value.reason == "outbound.header"
        assert server.seen == []

    def test_connection_refused_is_unavailable(self):
        """No listener: a retryable 503-class failure."""
        with pytest.raises(OutboundUnavailable) as caught:
            run(_post(f"http://127.0.0.1:{closed_port()}/hook"))
        assert caught.value.reason == "outbound.connect"

    def test_slow_server_times_out(self):
        """The read timeout applies."""
        policy = OutboundPolicy(allow_http=True, allow_private=True, connect_timeout=1, read_timeout=0.1)
        with LocalServer(Reply(200, delay=0.5)) as server, pytest.raises(OutboundUnavailable) as caught:
            run(_post(server.url(), policy))
        assert caught.value.reason == "outbound.timeout"

    def test_generic_request_can_get(self):
        """``request`` serves other methods (did:web will GET)."""

        async def go(url: str):
            async with make_client(LOCAL) as client:
                return await request(client, "GET", url, policy=LOCAL)

        with LocalServer(Reply(200, body=b"{}")) as server:
            response = run(go(server.url("/.well-known/did.json")))
        assert (response.body, server.seen[0].method, server.seen[0].body) == (b"{}", "GET", b"")


# --- TLS: the pinned connection still verifies the original name --- #


def certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``name`` (its own CA) and its key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for ``sink.example`` and a client context trusting only that certificate."""
    cert_pem, key_pem = certificate("sink.example")
    directory = tmp_path_factory.mktemp("tls")
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(key_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


@pytest.mark.usefixtures("each_event_loop")
class TestTlsPinning:
    @staticmethod
    async def _post_tls(url: str, host: str, client_context: ssl.SSLContext) -> Any:
        policy = OutboundPolicy(allowed_private_hosts=frozenset({host}), connect_timeout=2, read_timeout=2)
        async with make_client(policy, verify=client_context) as client:
            return await post(
                client, url, body=b"x", headers={}, policy=policy, resolver=resolver_for("127.0.0.1")
            )

    def test_certificate_is_checked_against_the_original_name(self, tls_pair: Sequence[ssl.SSLContext]):
        """Connecting to 127.0.0.1 with SNI sink.example verifies the sink.example certificate."""
        server_context, client_context = tls_pair
        with LocalServer(tls=server_context) as server:
            url = server.url(host="sink.example", scheme="https")
            response = run(self._post_tls(url, "sink.example", client_context))
        assert response.ok
        assert server.seen[0].headers["host"] == f"sink.example:{server.port}"

    def test_certificate_for_another_name_fails(self, tls_pair: Sequence[ssl.SSLContext]):
        """The same server under another name fails the TLS check: the IP alone is never trusted."""
        server_context, client_context = tls_pair
        with LocalServer(tls=server_context) as server:
            url = server.url(host="other.example", scheme="https")
            with pytest.raises(OutboundUnavailable) as caught:
                run(self._post_tls(url, "other.example", client_context))
        assert caught.value.reason == "outbound.connect"
        assert server.seen == []
