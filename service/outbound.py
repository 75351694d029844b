"""SSRF-safe outbound HTTP: the one way the verifier talks to hosts it does not control.

Every outbound call (webhook delivery now; did:web, status lists and issuer metadata later) takes the same
three steps, so no caller can skip one (did.md §5, security.md §7, Standard Webhooks "SSRF"):

1. ``parse_outbound_url``: static checks on the URL (scheme, userinfo, fragment, host syntax, IP literals,
   port allow-list, length).
2. ``resolve_target``: resolve DNS ourselves and refuse any address that is not public
   (``is_public_address``), unless the policy allows private destinations.
3. ``request`` / ``post``: connect to the vetted IP itself, sending the original ``Host`` header and TLS
   SNI / certificate name. A second DNS answer cannot swap in an internal address (DNS rebinding).
   Redirects are never followed, timeouts are enforced, and at most ``max_response_bytes`` are read.

Refusals raise ``OutboundRefused`` (403 ``access_denied``: the destination is forbidden). Network failures
raise ``OutboundUnavailable`` (503, retryable).

The guard builds each request itself, so client cookies, auth and default headers are never sent.

Connections are reused only where reuse cannot skip a check. ``make_client`` returns an ``OutboundClient``
that keeps idle connections per origin *name* (scheme, host name as sent in TLS SNI and ``Host``, port),
for at most ``max_origins`` names (the least recently used is evicted and its connections closed), and
under each name per vetted IP, the address the request is pinned to; an idle connection is closed after
``keepalive_expiry`` seconds. A connection is therefore reused only for the host name whose certificate it
verified, and only when this request's own DNS answer, vetted again just now, contains the IP it is
connected to. DNS rebinding gains nothing: the reused peer is an address this very request accepted for
this very name. (A pool keyed by IP alone would hand a connection verified for name A to a request for
name B resolving to the same IP, skipping B's certificate check.) A response that is not read to its end
(over ``max_response_bytes``, an error or a timeout mid-body) closes its connection instead of returning
it. The protocol itself is a lean HTTP/1.1 client (``service.outbound_http11``): webhook delivery is on
every verification's path, and a general-purpose client cost more CPU than the verification's signatures.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, TypeAlias
from urllib.parse import urlsplit

from service.errors import ConfigurationError, DependencyUnavailable, Forbidden
from service.outbound_http11 import ProtocolFailure, encode_request
from service.outbound_pool import ConnectFailure, Destination, OriginPools, PoolTimeout

__all__ = [
    "IPAddress",
    "OutboundClient",
    "OutboundPolicy",
    "OutboundRefused",
    "OutboundResponse",
    "OutboundTarget",
    "OutboundUnavailable",
    "Resolver",
    "is_public_address",
    "make_client",
    "parse_outbound_url",
    "post",
    "request",
    "resolve_target",
    "system_resolver",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver: TypeAlias = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""``(host, port) -> addresses``; the default is the event loop's ``getaddrinfo``."""

_MAX_URL_LENGTH: Final = 2048
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}
_MAX_ADDRESSES_TRIED: Final = 3  # enough to step over a dead AAAA record without stacking timeouts
_USER_AGENT: Final = "siop-verifier"
_MAX_ORIGINS: Final = 64  # host names with connections kept open
# Below the 5 s idle timeout common to servers (uvicorn, Apache, Node), so a request rarely picks a
# connection the server is closing at that very moment.
_KEEPALIVE_EXPIRY: Final = 4.0

# RFC 3986 unreserved + reserved + "%". Anything else (spaces, controls, backslashes, non-ASCII) is an
# "odd encoding" that parsers disagree on, so it is refused outright rather than normalised.
_URL_CHARS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A last label that inet_aton would read as a number ("127.1", "2130706433", "0x7f000001") is an IPv4
# address in disguise: refuse it rather than hand it to getaddrinfo.
_NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")

# Not reachable on the public Internet, or not meant to be (IANA special-purpose registries).
_BLOCKED_V4: Final = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
    )
)
# IPv6 is checked the other way round: only global unicast (2000::/3) can be public, which already
# excludes ::, ::1, fc00::/7, fe80::/10, fec0::/10, ff00::/8, 100::/64 and 64:ff9b:1::/48.
_GLOBAL_UNICAST_V6: Final = ipaddress.IPv6Network("2000::/3")
_BLOCKED_V6: Final = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments, incl. Teredo 2001::/32 and benchmarking
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix


# --- Errors --- #


class OutboundRefused(Forbidden):
    """The destination is not allowed: bad URL, forbidden scheme or port, or a non-public address."""

    default_reason = "outbound.refused"
    default_description = "The destination URL is not allowed"


class OutboundUnavailable(DependencyUnavailable):
    """The destination could not be reached in time (DNS, connect, timeout, protocol error)."""

    default_reason = "outbound.unavailable"
    default_description = "The destination could not be reached"


# --- Policy and parsed target --- #


@dataclass(frozen=True)
class OutboundPolicy:
    """Which destinations are acceptable, and how long and how much we wait for them."""

    allow_http: bool = False
    """Permit ``http://``: local development only, since without TLS the endpoint is not authenticated."""
    allow_private: bool = False
    """Permit IP-literal hosts and non-public addresses: local development and tests only."""
    allowed_private_hosts: frozenset[str] = frozenset()
    """Host names or IP literals (IPv6 without brackets) exempt from the public-address rule, e.g. a sink."""
    allowed_ports: frozenset[int] | None = None
    """If set, the only ports allowed, after the scheme default is applied. ``None`` allows any port."""
    connect_timeout: float = 5
    """Seconds for DNS and for each TCP+TLS connect."""
    read_timeout: float = 10
    """Seconds for the whole answer once the request is sent. The whole exchange (DNS, connecting, the
    answer) is capped at connect_timeout + read_timeout."""
    max_response_bytes: int = 64 * 1024
    """Bytes of response body read at most; the rest is dropped and the response marked truncated."""

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigurationError("config.outbound", "Outbound timeouts must be positive")
        if self.max_response_bytes < 0:
            raise ConfigurationError("config.outbound", "max_response_bytes must not be negative")
        if self.allowed_ports is not None and not all(0 < port < 65536 for port in self.allowed_ports):
            raise ConfigurationError("config.outbound", "Allowed ports must be within 1-65535")
        # Host names compare case-insensitively; normalise once here instead of at every request.
        object.__setattr__(
            self, "allowed_private_hosts", frozenset(h.lower() for h in self.allowed_private_hosts)
        )

    def private_allowed(self, host: str) -> bool:
        """Whether ``host`` may reach non-public addresses under this policy."""
        return self.allow_private or host in self.allowed_private_hosts


@dataclass(frozen=True)
class OutboundTarget:
    """A URL that passed the static checks, split into the parts the pinned request needs."""

    scheme: str
    host: str
    """Lower case; an IPv6 literal without brackets."""
    port: int
    """The explicit port or the scheme default."""
    path: str
    """Path and query exactly as given, ``/`` if empty."""
    ip: IPAddress | None = None
    """Set when the host is an IP literal."""

    @property
    def host_header(self) -> str:
        """``Host`` as the origin server expects it (RFC 9110 §7.2): the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    def pinned_to(self, address: IPAddress) -> Destination:
        """The connection this URL needs, pinned to a vetted address: TLS still names the original host."""
        tls_name = self.host if self.scheme == "https" else None
        return Destination(self.scheme, tls_name, self.host_header, self.port, str(address))


@dataclass(frozen=True)
class OutboundResponse:
    """What the guard hands back: status, headers (lower-case names) and a bounded body prefix."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool
    """True when the body was longer than ``max_response_bytes`` and was cut."""

    @property
    def ok(self) -> bool:
        """Only 2xx is success; a 3xx is a failure because redirects are never followed."""
        return 200 <= self.status < 300


# --- Step 1: static URL checks --- #


# Every webhook delivery parses the same few URLs again; the checks are pure, and a refusal raises, so only
# accepted URLs are remembered (bounded; keyed by the policy too).
@lru_cache(maxsize=512)
def parse_outbound_url(url: str, policy: OutboundPolicy) -> OutboundTarget:
    """Apply every check that needs no network; raise ``OutboundRefused`` with the failing rule."""
    _check_url_text(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced "[" in the host
        raise OutboundRefused("outbound.url_syntax", "The URL cannot be parsed") from exc
    if parts.scheme != "https" and not (parts.scheme == "http" and policy.allow_http):
        raise OutboundRefused("outbound.scheme", "Only https URLs are allowed")
    if "@" in parts.netloc:
        raise OutboundRefused("outbound.userinfo", "URLs with credentials are not allowed")
    if "#" in url:
        raise OutboundRefused("outbound.fragment", "URLs with a fragment are not allowed")
    host, port_text = _split_netloc(parts.netloc)
    ip = _parse_host(host, policy)
    port = _parse_port(port_text, parts.scheme, policy)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # An IP literal is kept in canonical form, so "0:0::1" and "::1" meet the same policy entry.
    return OutboundTarget(
        scheme=parts.scheme, host=host if ip is None else str(ip), port=port, path=path, ip=ip
    )


def _check_url_text(url: str) -> None:
    if len(url) > _MAX_URL_LENGTH:
        raise OutboundRefused("outbound.url_too_long", "The URL is longer than 2048 characters")
    if _URL_CHARS.fullmatch(url) is None or _BAD_PERCENT.search(url) is not None:
        raise OutboundRefused("outbound.url_syntax", "The URL contains characters that are not allowed")


def _split_netloc(netloc: str) -> tuple[str, str]:
    """``host[:port]`` or ``[v6][:port]`` -> (lower-case host without brackets, port text or "")."""
    if netloc.startswith("["):
        host, bracket, rest = netloc[1:].partition("]")
        # Brackets are for IPv6 only (RFC 3986 §3.2.2): "[1.2.3.4]" is not a host.
        if not bracket or ":" not in host or (rest and not rest.startswith(":")):
            raise OutboundRefused("outbound.host", "The URL host is not valid")
        return host.lower(), rest[1:]
    host, _, port_text = netloc.partition(":")
    return host.lower(), port_text


def _parse_host(host: str, policy: OutboundPolicy) -> IPAddress | None:
    """Return the address for an IP literal, None for a valid DNS name; refuse anything else."""
    if not host:
        raise OutboundRefused("outbound.host", "The URL has no host")
    ip = _ip_literal(host)
    if ip is None:
        _check_dns_name(host)
        return None
    if policy.private_allowed(str(ip)):
        return ip
    if not is_public_address(ip):
        raise OutboundRefused("outbound.private_address", "The destination address is not public")
    # did.md §5: a public IP literal has no name to check a certificate against.
    raise OutboundRefused("outbound.ip_literal", "IP-literal hosts are not allowed")


def _ip_literal(host: str) -> IPAddress | None:
    if "%" in host:  # an IPv6 zone id ("fe80::1%eth0") names a local interface
        raise OutboundRefused("outbound.host", "The URL host is not valid")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        if ":" in host:
            raise OutboundRefused("outbound.host", "The URL host is not valid") from None
        return None


def _check_dns_name(host: str) -> None:
    labels = host.split(".")
    if (
        len(host) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or _NUMERIC_LABEL.fullmatch(labels[-1]) is not None
    ):
        raise OutboundRefused("outbound.host", "The URL host is not a valid DNS name")


def _parse_port(port_text: str, scheme: str, policy: OutboundPolicy) -> int:
    if not port_text:
        port = _DEFAULT_PORTS[scheme]
    elif port_text.isascii() and port_text.isdigit() and len(port_text) <= 5 and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise OutboundRefused("outbound.port", "The URL port is not valid")
    if policy.allowed_ports is not None and port not in policy.allowed_ports:
        raise OutboundRefused("outbound.port", "The URL port is not allowed")
    return port


# --- Step 2: resolution and the public-address rule --- #


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (IPv4 embedded in IPv6 is judged as IPv4)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_public_address(embedded)
    if isinstance(address, ipaddress.IPv4Address):
        return not any(address in net for net in _BLOCKED_V4)
    return address in _GLOBAL_UNICAST_V6 and not any(address in net for net in _BLOCKED_V6)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4 or NAT64 address reaches, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve with the event loop's ``getaddrinfo`` (TCP only)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise OutboundUnavailable("outbound.dns", "The host name could not be resolved") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        text = sockaddr[0]
        if isinstance(text, str):
            addresses.append(ipaddress.ip_address(text.partition("%")[0]))
    return addresses


async def resolve_target(
    target: OutboundTarget, policy: OutboundPolicy, *, resolver: Resolver | None = None
) -> list[IPAddress]:
    """Resolve the host; every address must be public unless the policy allows private ones."""
    if target.ip is not None:
        addresses = [target.ip]
    else:
        try:
            async with asyncio.timeout(policy.connect_timeout):
                found = await (resolver or system_resolver)(target.host, target.port)
        except TimeoutError as exc:
            raise OutboundUnavailable("outbound.dns", "The host name could not be resolved in time") from exc
        addresses = list(dict.fromkeys(found))  # de-duplicate, keep the resolver's preference order
    if not addresses:
        raise OutboundUnavailable("outbound.dns", "The host name has no address")
    # All, not any: an attacker controls the order of the records, and a retry may use another one.
    if not policy.private_allowed(target.host) and not all(map(is_public_address, addresses)):
        raise OutboundRefused("outbound.private_address", "The destination address is not public")
    return addresses


# --- Step 3: the pinned request --- #


def make_client(
    policy: OutboundPolicy,
    *,
    verify: ssl.SSLContext | bool = True,
    max_origins: int = _MAX_ORIGINS,
    keepalive_expiry: float = _KEEPALIVE_EXPIRY,
) -> OutboundClient:
    """A client for outbound calls only: no redirects, no environment proxies or certs, connections kept
    alive per origin name and vetted IP (see the module docstring). Close it (``aclose`` or ``async with``)
    to close them all."""
    return OutboundClient(policy, verify=verify, max_origins=max_origins, keepalive_expiry=keepalive_expiry)


class OutboundClient:
    """The connections of outbound calls, kept per origin name and vetted IP; ``request`` and ``post`` use it.

    It has no defaults of its own to leak (no cookies, auth or extra headers), never follows a redirect and
    ignores the environment (proxies, certificate paths). ``policy`` is the one it was made for; each call
    still passes the policy it applies.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        verify: ssl.SSLContext | bool = True,
        max_origins: int = _MAX_ORIGINS,
        keepalive_expiry: float = _KEEPALIVE_EXPIRY,
    ) -> None:
        if max_origins < 1 or keepalive_expiry <= 0:
            raise ConfigurationError(
                "config.outbound",
                "An outbound client needs max_origins >= 1 and a positive keep-alive expiry",
            )
        self.policy = policy
        self.pools = OriginPools(verify=verify, max_origins=max_origins, keepalive_expiry=keepalive_expiry)

    async def aclose(self) -> None:
        await self.pools.aclose()

    async def __aenter__(self) -> OutboundClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def post(
    client: OutboundClient,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    policy: OutboundPolicy,
    resolver: Resolver | None = None,
) -> OutboundResponse:
    """POST ``body`` to ``url`` through the guard. A 3xx comes back as a response, never followed."""
    return await request(client, "POST", url, body=body, headers=headers, policy=policy, resolver=resolver)


async def request(
    client: OutboundClient,
    method: str,
    url: str,
    *,
    policy: OutboundPolicy,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    resolver: Resolver | None = None,
) -> OutboundResponse:
    """Check, resolve and send; the whole exchange is bounded by connect_timeout + read_timeout."""
    target = parse_outbound_url(url, policy)
    outgoing = _encode(target, method, body, headers or {})
    try:
        # One bound over everything: several slow DNS answers and connection attempts add up otherwise.
        async with asyncio.timeout(policy.connect_timeout + policy.read_timeout):
            addresses = await resolve_target(target, policy, resolver=resolver)
            return await _send_pinned(client.pools, target, addresses, outgoing, policy)
    except TimeoutError as exc:
        raise OutboundUnavailable("outbound.timeout", "The destination did not answer in time") from exc


def _encode(target: OutboundTarget, method: str, body: bytes | None, headers: Mapping[str, str]) -> bytes:
    merged = {
        "user-agent": _USER_AGENT,
        "accept-encoding": "identity",  # a compressed body could inflate far past the size cap
        **{name.lower(): value for name, value in headers.items()},
    }
    try:
        # Host, Connection and the body's framing are always ours: the caller cannot steer the request.
        return encode_request(method, target.path, target.host_header, merged.items(), body)
    except (ValueError, UnicodeError) as exc:
        raise OutboundRefused("outbound.header", "A request header is not allowed") from exc


async def _send_pinned(
    pools: OriginPools,
    target: OutboundTarget,
    addresses: Sequence[IPAddress],
    outgoing: bytes,
    policy: OutboundPolicy,
) -> OutboundResponse:
    last_error: ConnectFailure | None = None
    for address in addresses[:_MAX_ADDRESSES_TRIED]:
        try:
            answer = await pools.exchange(
                target.pinned_to(address),
                outgoing,
                limit=policy.max_response_bytes,
                connect_timeout=policy.connect_timeout,
                read_timeout=policy.read_timeout,
            )
        except ConnectFailure as exc:
            last_error = exc  # nothing was sent yet, so the next address is safe to try
            continue
        except (TimeoutError, PoolTimeout) as exc:
            raise OutboundUnavailable("outbound.timeout", "The destination did not answer in time") from exc
        except ProtocolFailure as exc:
            raise OutboundUnavailable("outbound.transport", "The exchange with the server failed") from exc
        return OutboundResponse(
            status=answer.status, headers=answer.headers, body=answer.body, truncated=answer.truncated
        )
    raise OutboundUnavailable("outbound.connect", "Could not connect to the destination") from last_error
