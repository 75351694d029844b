"""JWT VC Issuer Metadata against a real local HTTP server: documents, failures, cache, sharing, SSRF."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from service.clock import FrozenClock
from service.errors import ConfigurationError, CredentialInvalid, DependencyUnavailable
from service.issuer_keys.metadata import (
    IssuerKeys,
    IssuerMetadataResolver,
    IssuerMetadataUnavailable,
    metadata_url,
    parse_jwks,
)
from service.jose.jwk import public_jwk_from_key
from service.outbound import OutboundPolicy, OutboundRefused, Resolver, make_client
from tests.support.routed_server import Reply, RoutedServer, resolve_to

T = TypeVar("T")

METADATA_PATH = "/.well-known/jwt-vc-issuer/issuer1"
JWKS_PATH = "/keys/jwks.json"
JSON = {"content-type": "application/json"}

# http and 127.0.0.1 are for tests only: in production the policy allows neither.
POLICY = OutboundPolicy(
    allow_http=True,
    allowed_private_hosts=frozenset({"127.0.0.1", "localhost"}),
    connect_timeout=2,
    read_timeout=2,
    max_response_bytes=4096,
)


def json_reply(document: object, **headers: str) -> Reply:
    return Reply(body=json.dumps(document).encode(), headers={**JSON, **headers})


class MetadataServer(RoutedServer):
    """The shared routed server, plus the issuer identifier it serves metadata for."""

    def issuer(self, host: str = "localhost", path: str = "/issuer1") -> str:
        return self.url(path, host)


def to_loopback() -> Resolver:
    """A DNS resolver that sends every name to 127.0.0.1 (so no real lookup, and an SSRF target)."""
    return resolve_to("127.0.0.1")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signing_jwk(kid: str | None = "k1", **extra: object) -> dict[str, object]:
    jwk: dict[str, object] = dict(
        public_jwk_from_key(ec.generate_private_key(ec.SECP256R1()).public_key()).members
    )
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, **extra}


def run_with(
    policy: OutboundPolicy,
    body: Callable[[IssuerMetadataResolver], Awaitable[T]],
    *,
    clock: FrozenClock | None = None,
    **options: Any,
) -> T:
    """Run ``body`` with a resolver on a fresh client, closing the client afterwards."""

    async def main() -> T:
        async with make_client(policy) as client:
            resolver = IssuerMetadataResolver(
                client, policy, clock=clock or FrozenClock(1_000_000.0), resolver=to_loopback(), **options
            )
            return await body(resolver)

    return asyncio.run(main())


def keys_of(iss: str, policy: OutboundPolicy = POLICY, **options: Any) -> IssuerKeys:
    return run_with(policy, lambda resolver: resolver.keys(iss), **options)


def failure_of(
    iss: str, policy: OutboundPolicy = POLICY, **options: Any
) -> CredentialInvalid | DependencyUnavailable:
    with pytest.raises((CredentialInvalid, DependencyUnavailable)) as caught:
        keys_of(iss, policy, **options)
    assert isinstance(caught.value, CredentialInvalid | DependencyUnavailable)
    return caught.value


# --- The well-known URL --- #


class TestMetadataUrl:
    @pytest.mark.parametrize(
        ("iss", "url"),
        [
            ("https://issuer.example", "https://issuer.example/.well-known/jwt-vc-issuer"),
            ("https://issuer.example/", "https://issuer.example/.well-known/jwt-vc-issuer"),
            (
                "https://issuer.example/tenant/1234",
                "https://issuer.example/.well-known/jwt-vc-issuer/tenant/1234",
            ),
            ("https://issuer.example/tenant/", "https://issuer.example/.well-known/jwt-vc-issuer/tenant"),
            ("https://issuer.example:8443/t", "https://issuer.example:8443/.well-known/jwt-vc-issuer/t"),
        ],
    )
    def test_well_known_between_host_and_path(self, iss: str, url: str):
        """The segment goes between host and path, and one trailing slash is dropped (SD-JWT VC -18 §3.1)."""
        assert metadata_url(iss) == url

    @pytest.mark.parametrize("iss", ["http://issuer.example", "did:web:issuer.example", "issuer.example", ""])
    def test_not_https(self, iss: str):
        """Only https issuers have metadata."""
        with pytest.raises(CredentialInvalid) as caught:
            metadata_url(iss)
        assert caught.value.reason == "issuer_metadata.not_https"

    def test_http_only_when_allowed(self):
        """http is accepted only when the caller says so (a development policy)."""
        assert metadata_url("http://localhost:8080/i", allow_http=True) == (
            "http://localhost:8080/.well-known/jwt-vc-issuer/i"
        )

    @pytest.mark.parametrize(
        "iss",
        ["https://issuer.example?x=1", "https://issuer.example/#f", "https://u@issuer.example", "https:///p"],
    )
    def test_extra_parts(self, iss: str):
        """An issuer with a query, a fragment, userinfo or no host is refused."""
        with pytest.raises(CredentialInvalid) as caught:
            metadata_url(iss)
        assert caught.value.reason == "issuer_metadata.invalid_issuer"


# --- Documents --- #


class TestDocuments:
    def test_inline_jwks(self):
        """Inline jwks: one GET with Accept: application/json, keys back as (kid, key) pairs."""
        jwk = signing_jwk("k1")
        with MetadataServer({}) as server:
            server.routes[METADATA_PATH] = [json_reply({"issuer": server.issuer(), "jwks": {"keys": [jwk]}})]
            keys = keys_of(server.issuer())
            assert server.hits == {METADATA_PATH: 1}
            assert server.headers[0]["accept"] == "application/json"
            assert server.headers[0]["host"] == f"localhost:{server.port}"
        assert [(kid, key.to_dict()) for kid, key in keys] == [
            ("k1", {k: jwk[k] for k in ("crv", "kty", "x", "y")})
        ]

    def test_jwks_uri(self):
        """jwks_uri is fetched the same way; a JWK Set media type is accepted."""
        with MetadataServer({}) as server:
            server.routes[METADATA_PATH] = [
                json_reply({"issuer": server.issuer(), "jwks_uri": server.url(JWKS_PATH)})
            ]
            server.routes[JWKS_PATH] = [
                json_reply(
                    {"keys": [signing_jwk("a"), signing_jwk(None)]},
                    **{"content-type": "application/jwk-set+json"},
                )
            ]
            keys = keys_of(server.issuer())
            assert server.hits == {METADATA_PATH: 1, JWKS_PATH: 1}
        assert [kid for kid, _ in keys] == ["a", None]

    def test_issuer_mismatch(self):
        """issuer must equal iss exactly: a trailing slash is another issuer (SD-JWT VC -18 §3.3)."""
        with MetadataServer({}) as server:
            doc = {"issuer": server.issuer() + "/", "jwks": {"keys": [signing_jwk()]}}
            server.routes[METADATA_PATH] = [json_reply(doc)]
            assert failure_of(server.issuer()).reason == "issuer_metadata.issuer_mismatch"

    @pytest.mark.parametrize("which", ["both", "neither"])
    def test_exactly_one_of_jwks_and_jwks_uri(self, which: str):
        """Both jwks and jwks_uri, or neither, is invalid; the jwks_uri is then not fetched."""
        with MetadataServer({}) as server:
            doc: dict[str, object] = {"issuer": server.issuer()}
            if which == "both":
                doc |= {"jwks": {"keys": [signing_jwk()]}, "jwks_uri": server.url(JWKS_PATH)}
            server.routes[METADATA_PATH] = [json_reply(doc)]
            assert failure_of(server.issuer()).reason == "issuer_metadata.invalid"
            assert server.hits == {METADATA_PATH: 1}

    @pytest.mark.parametrize(
        "doc_of",
        [
            lambda iss: {"issuer": iss, "jwks": [{"kty": "EC"}]},
            lambda iss: {"issuer": iss, "jwks": {"keys": {}}},
            lambda iss: {"issuer": iss, "jwks_uri": 7},
            lambda iss: {"issuer": iss, "jwks_uri": "ftp://issuer.example/jwks"},
            lambda iss: [iss],
        ],
        ids=["jwks-list", "keys-object", "uri-number", "uri-ftp", "array"],
    )
    def test_malformed_documents(self, doc_of: Callable[[str], object]):
        """Wrong shapes are invalid."""
        with MetadataServer({}) as server:
            server.routes[METADATA_PATH] = [json_reply(doc_of(server.issuer()))]
            assert failure_of(server.issuer()).reason == "issuer_metadata.invalid"

    def test_duplicate_members(self):
        """The JSON is decoded strictly: a duplicated member is refused."""
        with MetadataServer({}) as server:
            body = f'{{"issuer": "{server.issuer()}", "issuer": "x", "jwks": {{"keys": []}}}}'.encode()
            server.routes[METADATA_PATH] = [Reply(body=body)]
            assert failure_of(server.issuer()).reason == "issuer_metadata.invalid"

    @pytest.mark.parametrize("content_type", ["text/html", "application/jwk-set+json", "application/jsonx"])
    def test_wrong_content_type(self, content_type: str):
        """The metadata must be application/json (parameters such as charset are fine, others not)."""
        with MetadataServer({}) as server:
            doc = {"issuer": server.issuer(), "jwks": {"keys": [signing_jwk()]}}
            server.routes[METADATA_PATH] = [json_reply(doc, **{"content-type": content_type})]
            assert failure_of(server.issuer()).reason == "issuer_metadata.invalid"

    def test_charset_parameter_is_fine(self):
        """application/json; charset=utf-8 is JSON."""
        with MetadataServer({}) as server:
            doc = {"issuer": server.issuer(), "jwks": {"keys": [signing_jwk()]}}
            server.routes[METADATA_PATH] = [
                json_reply(doc, **{"content-type": "Application/JSON; charset=utf-8"})
            ]
            assert len(keys_of(server.issuer())) == 1

    def test_wrong_content_type_on_jwks_uri(self):
        """The JWK Set must be application/json or application/jwk-set+json."""
        with MetadataServer({}) as server:
            server.routes[METADATA_PATH] = [
                json_reply({"issuer": server.issuer(), "jwks_uri": server.url(JWKS_PATH)})
            ]
            server.routes[JWKS_PATH] = [
                json_reply({"keys": [signing_jwk()]}, **{"content-type": "text/plain"})
            ]
            assert failure_of(server.issuer()).reason == "issuer_metadata.invalid"

    def test_redirect_is_not_followed(self):
        """A 302 is a failure, and its Location is never requested."""
        with MetadataServer({}) as server:
            doc = {"issuer": server.issuer(), "jwks": {"keys": [signing_jwk()]}}
            server.routes["/elsewhere"] = [json_reply(doc)]
            server.routes[METADATA_PATH] = [Reply(302, headers={"location": server.url("/elsewhere")})]
            assert failure_of(server.issuer()).reason == "issuer_metadata.bad_status"
            assert server.hits == {METADATA_PATH: 1}

    def test_not_found(self):
        """A 404 means the issuer publishes no metadata: the credential cannot be verified this way."""
        with MetadataServer({}) as server:
            error = failure_of(server.issuer())
            assert isinstance(error, CredentialInvalid)
            assert error.reason == "issuer_metadata.bad_status"

    def test_oversized_body(self):
        """A body over the policy's size cap is refused, not parsed from a prefix."""
        with MetadataServer({}) as server:
            doc = {"issuer": server.issuer(), "jwks": {"keys": [signing_jwk()]}, "pad": "x" * 5000}
            server.routes[METADATA_PATH] = [json_reply(doc)]
            assert failure_of(server.issuer()).reason == "issuer_metadata.too_large"

    def test_server_error_is_unavailable(self):
        """A 5xx is the issuer's outage: retryable, 503."""
        with MetadataServer({METADATA_PATH: Reply(503)}) as server:
            error = failure_of(server.issuer())
        assert isinstance(error, IssuerMetadataUnavailable)
        assert (error.reason, error.status_code) == ("issuer_metadata.unreachable", 503)

    def test_server_down(self):
        """Nothing listening: unreachable, retryable."""
        error = failure_of(f"http://localhost:{closed_port()}/issuer1")
        assert isinstance(error, IssuerMetadataUnavailable)
        assert error.reason == "issuer_metadata.unreachable"


class TestJwks:
    def test_encryption_and_unsupported_keys_are_skipped(self):
        """use=enc, key_ops without verify, unsupported types and non-string kids are skipped."""
        keys = parse_jwks(
            {
                "keys": [
                    signing_jwk("enc", use="enc"),
                    signing_jwk("wrap", key_ops=["wrapKey"]),
                    signing_jwk(None) | {"kid": 7},
                    {"kty": "OKP", "crv": "Ed448", "x": "AAAA", "kid": "ed448"},
                    "not an object",
                    signing_jwk("sig", use="sig", key_ops=["verify"]),
                ]
            }
        )
        assert [kid for kid, _ in keys] == ["sig"]

    def test_ed25519_key(self):
        """An Ed25519 key in the set is usable."""
        jwk = dict(public_jwk_from_key(ed25519.Ed25519PrivateKey.generate().public_key()).members) | {
            "kid": "ed"
        }
        ((kid, key),) = parse_jwks({"keys": [jwk]})
        assert (kid, key.kty, key.crv) == ("ed", "OKP", "Ed25519")

    @pytest.mark.parametrize(
        "jwks",
        [
            {"keys": []},
            {"keys": [signing_jwk("enc", use="enc")]},
            {"keys": [signing_jwk() for _ in range(33)]},
            {"keys": [signing_jwk("ok"), {"kty": "oct", "k": "c2VjcmV0"}]},
            {},
        ],
        ids=["empty", "only-enc", "too-many", "secret-key", "no-keys"],
    )
    def test_no_usable_key(self, jwks: dict[str, object]):
        """No usable signing key, too many keys, or any private material makes the set invalid."""
        with pytest.raises(CredentialInvalid) as caught:
            parse_jwks(jwks)
        assert caught.value.reason == "issuer_metadata.invalid"


# --- Cache --- #


class TestCache:
    def test_hit_within_ttl(self):
        """A second call within ttl is answered from the cache; after ttl the issuer is asked again."""
        clock = FrozenClock(1_000.0)
        with MetadataServer({}) as server:
            iss = server.issuer()
            server.routes[METADATA_PATH] = [json_reply({"issuer": iss, "jwks": {"keys": [signing_jwk()]}})]

            async def body(resolver: IssuerMetadataResolver) -> None:
                first = await resolver.keys(iss)
                clock.advance(299)
                assert await resolver.keys(iss) == first
                assert server.total == 1
                clock.advance(2)
                await resolver.keys(iss)
                assert server.total == 2

            run_with(POLICY, body, clock=clock, ttl=300)

    @pytest.mark.parametrize(
        ("cache_control", "kept_for"),
        [("public, max-age=1000", 1000), ("max-age=5", 60), ("max-age=99999", 3600), ("no-store", 60)],
    )
    def test_cache_control_within_bounds(self, cache_control: str, kept_for: int):
        """max-age is honoured within [60 s, 3600 s], past the default ttl too; no-store counts as 60 s."""
        clock = FrozenClock(1_000.0)
        with MetadataServer({}) as server:
            iss = server.issuer()
            doc = {"issuer": iss, "jwks": {"keys": [signing_jwk()]}}
            server.routes[METADATA_PATH] = [json_reply(doc, **{"cache-control": cache_control})]

            async def body(resolver: IssuerMetadataResolver) -> list[int]:
                counts = []
                for step in (0, kept_for - 1, 2):
                    clock.advance(step)
                    await resolver.keys(iss)
                    counts.append(server.total)
                return counts

            assert run_with(POLICY, body, clock=clock, ttl=300) == [1, 1, 2]

    def test_failure_is_cached_for_negative_ttl(self):
        """A failure is remembered for negative_ttl, then the issuer is asked again."""
        clock = FrozenClock(1_000.0)
        with MetadataServer({}) as server:
            iss = server.issuer()
            good = json_reply({"issuer": iss, "jwks": {"keys": [signing_jwk()]}})
            server.routes[METADATA_PATH] = [Reply(500), good]

            async def body(resolver: IssuerMetadataResolver) -> IssuerKeys:
                for _ in range(2):
                    with pytest.raises(IssuerMetadataUnavailable):
                        await resolver.keys(iss)
                    clock.advance(29)
                assert server.total == 1
                clock.advance(2)
                return await resolver.keys(iss)

            assert len(run_with(POLICY, body, clock=clock, negative_ttl=30)) == 1
            assert server.total == 2

    def test_concurrent_misses_share_one_fetch(self):
        """Ten concurrent calls for one issuer make one request and all get the keys."""
        with MetadataServer({}) as server:
            iss = server.issuer()
            server.routes[METADATA_PATH] = [
                Reply(body=json.dumps({"issuer": iss, "jwks": {"keys": [signing_jwk()]}}).encode(), delay=0.2)
            ]

            async def body(resolver: IssuerMetadataResolver) -> list[IssuerKeys]:
                return list(await asyncio.gather(*(resolver.keys(iss) for _ in range(10))))

            results = run_with(POLICY, body)
            assert server.total == 1
        assert len(set(results)) == 1

    def test_concurrent_failures_share_one_fetch(self):
        """Concurrent callers of a failing issuer each get the error, from one request."""
        with MetadataServer({METADATA_PATH: Reply(503, delay=0.1)}) as server:
            iss = server.issuer()

            async def body(resolver: IssuerMetadataResolver) -> list[BaseException | IssuerKeys]:
                return list(
                    await asyncio.gather(*(resolver.keys(iss) for _ in range(5)), return_exceptions=True)
                )

            results = run_with(POLICY, body)
            assert server.total == 1
        assert all(isinstance(r, IssuerMetadataUnavailable) for r in results)

    def test_a_cancelled_caller_does_not_cancel_the_fetch(self):
        """One waiter giving up leaves the shared fetch running for the others."""
        with MetadataServer({}) as server:
            iss = server.issuer()
            doc = {"issuer": iss, "jwks": {"keys": [signing_jwk()]}}
            server.routes[METADATA_PATH] = [Reply(body=json.dumps(doc).encode(), delay=0.2)]

            async def body(resolver: IssuerMetadataResolver) -> IssuerKeys:
                quitter = asyncio.create_task(resolver.keys(iss))
                stayer = asyncio.create_task(resolver.keys(iss))
                await asyncio.sleep(0.05)
                quitter.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await quitter
                return await stayer

            assert len(run_with(POLICY, body)) == 1
            assert server.total == 1

    def test_lru_is_bounded(self):
        """Past max_entries the least recently used issuer is dropped and fetched again."""
        with MetadataServer({}) as server:
            issuers = [server.issuer(path=f"/i{n}") for n in range(3)]
            for n, iss in enumerate(issuers):
                doc = {"issuer": iss, "jwks": {"keys": [signing_jwk()]}}
                server.routes[f"/.well-known/jwt-vc-issuer/i{n}"] = [json_reply(doc)]

            async def body(resolver: IssuerMetadataResolver) -> None:
                for iss in (issuers[0], issuers[1], issuers[0], issuers[2]):  # i1 is now the oldest
                    await resolver.keys(iss)
                assert server.total == 3
                await resolver.keys(issuers[0])
                assert server.total == 3
                await resolver.keys(issuers[1])
                assert server.total == 4

            run_with(POLICY, body, max_entries=2)

    @pytest.mark.parametrize("options", [{"ttl": 0}, {"negative_ttl": -1}, {"max_entries": 0}])
    def test_bad_settings(self, options: dict[str, float]):
        """Nonsense cache settings stop start-up."""
        with pytest.raises(ConfigurationError):
            run_with(POLICY, lambda resolver: asyncio.sleep(0), **options)


# --- SSRF --- #


class TestSsrf:
    def test_issuer_resolving_to_a_private_address(self):
        """A name that resolves to loopback is refused before any byte is sent."""
        strict = OutboundPolicy(allow_http=True, connect_timeout=2, read_timeout=2)
        with MetadataServer({}) as server:
            iss = server.issuer(host="issuer.attacker.example")
            server.routes[METADATA_PATH] = [json_reply({"issuer": iss, "jwks": {"keys": [signing_jwk()]}})]
            error = failure_of(iss, strict)
            assert isinstance(error, CredentialInvalid)
            assert error.reason == "issuer_metadata.refused"
            assert server.total == 0
        # The guard's own reason stays in the chain for the logs, without pinned frames.
        cause = error.__cause__
        assert isinstance(cause, CredentialInvalid)
        assert isinstance(cause.__cause__, OutboundRefused)
        assert cause.__cause__.reason == "outbound.private_address"
        assert cause.__traceback__ is None

    def test_jwks_uri_resolving_to_a_private_address(self):
        """An allowed metadata host cannot point jwks_uri at an internal one."""
        with MetadataServer({}) as server:
            iss = server.issuer()
            internal = server.url(JWKS_PATH, host="internal.example")
            server.routes[METADATA_PATH] = [json_reply({"issuer": iss, "jwks_uri": internal})]
            server.routes[JWKS_PATH] = [json_reply({"keys": [signing_jwk()]})]
            assert failure_of(iss).reason == "issuer_metadata.refused"
            assert server.hits == {METADATA_PATH: 1}

    def test_http_issuer_without_http_policy(self):
        """With the production policy an http issuer is not even looked up."""
        with MetadataServer({}) as server:
            assert failure_of(server.issuer(), OutboundPolicy()).reason == "issuer_metadata.not_https"
            assert server.total == 0
