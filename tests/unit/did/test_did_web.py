"""did:web: the DID-to-URL mapping, document checks, key formats, and resolution against a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from service.clock import FrozenClock
from service.did import DidDocument, did_key_from_jwk, select_verification_method
from service.did.did_web import (
    MAX_DID_WEB_LENGTH,
    DidWebResolver,
    did_web_url,
    parse_did_document,
)
from service.did.multibase import base58btc_encode
from service.errors import DependencyUnavailable, DidResolutionFailed, MalformedKey
from service.fetch import CachedFetcher, Fetched
from service.jose.encoding import b64url_decode
from service.jose.jwk import PublicJwk, public_jwk_from_key
from service.outbound import OutboundPolicy, Resolver, make_client
from tests.support.routed_server import Reply, RoutedServer, resolve_to
from tests.unit.test_fetch import POLICY, PUBLIC_ONLY

DID = "did:web:example.com"
DID_CONTEXT = "https://www.w3.org/ns/did/v1"
DID_JSON = {"content-type": "application/did+json"}


# --- Keys and documents --- #


def ed25519() -> PublicJwk:
    return public_jwk_from_key(Ed25519PrivateKey.generate().public_key())


def p256() -> PublicJwk:
    return public_jwk_from_key(ec.generate_private_key(ec.SECP256R1()).public_key())


def multibase(jwk: PublicJwk) -> str:
    """The Multikey value of a key: exactly its did:key value."""
    return did_key_from_jwk(jwk).removeprefix("did:key:")


def jwk_method(did: str, fragment: str, jwk: PublicJwk | dict[str, Any], **extra: Any) -> dict[str, Any]:
    members = jwk.to_dict() if isinstance(jwk, PublicJwk) else jwk
    return {
        "id": f"{did}#{fragment}",
        "type": "JsonWebKey2020",
        "controller": did,
        "publicKeyJwk": members,
        **extra,
    }


def multikey_method(did: str, fragment: str, value: str, type_: str = "Multikey") -> dict[str, Any]:
    return {"id": f"{did}#{fragment}", "type": type_, "controller": did, "publicKeyMultibase": value}


def base58_method(did: str, fragment: str, value: str) -> dict[str, Any]:
    return {
        "id": f"{did}#{fragment}",
        "type": "Ed25519VerificationKey2018",
        "controller": did,
        "publicKeyBase58": value,
    }


def document(did: str, methods: Sequence[dict[str, Any]], **relationships: Any) -> dict[str, Any]:
    """A DID document; relationships default to every method by reference."""
    ids = [method["id"] for method in methods]
    return {
        "@context": [DID_CONTEXT, "https://w3id.org/security/suites/jws-2020/v1"],
        "id": did,
        "verificationMethod": list(methods),
        "authentication": relationships.get("authentication", ids),
        "assertionMethod": relationships.get("assertionMethod", ids),
    }


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(DidResolutionFailed) as caught:
        call()
    return caught.value.reason


def key_reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(MalformedKey) as caught:
        call()
    return caught.value.reason


# --- The mapping --- #


class TestDidWebUrl:
    @pytest.mark.parametrize(
        ("did", "url"),
        [
            ("did:web:example.com", "https://example.com/.well-known/did.json"),
            ("did:web:example.com:user:alice", "https://example.com/user/alice/did.json"),
            ("did:web:example.com%3A3000:user:alice", "https://example.com:3000/user/alice/did.json"),
            ("did:web:example.com%3a8443", "https://example.com:8443/.well-known/did.json"),
            ("did:web:sub.example.co.uk:a-b:c_d:e.f", "https://sub.example.co.uk/a-b/c_d/e.f/did.json"),
        ],
    )
    def test_maps_to_the_document_url(self, did: str, url: str) -> None:
        """':' becomes '/', the port escape is decoded, no path means /.well-known (did:web "Read")."""
        assert did_web_url(did) == url

    @pytest.mark.parametrize(
        "did",
        [
            "did:web:127.0.0.1",  # IP literals have no name to check a certificate against
            "did:web:10.0.0.1%3A8080",
            "did:web:2130706433",
            "did:web:0x7f000001",
            "did:web:user@example.com",  # userinfo
            "did:web:user%40example.com",  # any escape but the port's
            "did:web:example.com:%2e%2e:admin",
            "did:web:example.com:user%3Aalice",  # the port escape belongs to the host only
            "did:web:example.com%3A",  # empty port
            "did:web:example.com%3A0",
            "did:web:example.com%3A65536",
            "did:web:example.com%3A080",
            "did:web:example.com%3A1%3A2",
            "did:web:example.com::alice",  # empty segments
            "did:web:example.com:",
            "did:web::alice",
            "did:web:",
            "did:web:example.com:..:admin",  # a normaliser would move these paths
            "did:web:example.com:.",
            "did:web:exa_mple.com",
            "did:web:-example.com",
            "did:web:example.com/path",
            "did:web:example.com#key-1",
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "did:web:" + "a" * MAX_DID_WEB_LENGTH,
        ],
    )
    def test_refuses_what_is_not_a_did_web(self, did: str) -> None:
        """Odd encodings, IP literals, userinfo, empty or dot segments and over-long DIDs are did.invalid."""
        assert reason_of(lambda: did_web_url(did)) == "did.invalid"


# --- The document --- #


class TestDocument:
    def test_jwk_multikey_and_base58_methods_are_read(self) -> None:
        """JsonWebKey2020, Multikey (Ed25519, P-256), Ed25519VerificationKey2020 and 2018 all give JWKs."""
        keys = {
            "jwk": p256(),
            "mk-ed": ed25519(),
            "mk-p256": p256(),
            "ed2020": ed25519(),
            "ed2018": ed25519(),
        }
        methods = [
            jwk_method(DID, "jwk", keys["jwk"]),
            multikey_method(DID, "mk-ed", multibase(keys["mk-ed"])),
            multikey_method(DID, "mk-p256", multibase(keys["mk-p256"])),
            multikey_method(DID, "ed2020", multibase(keys["ed2020"]), "Ed25519VerificationKey2020"),
            base58_method(DID, "ed2018", base58btc_encode(b64url_decode(keys["ed2018"].members["x"]))),
        ]
        parsed = parse_did_document(DID, document(DID, methods))
        assert {method.id: method.public_key for method in parsed.verification_methods} == {
            f"{DID}#{fragment}": key for fragment, key in keys.items()
        }
        assert all(method.controller == DID for method in parsed.verification_methods)
        assert parsed.authentication == parsed.assertion_method == {f"{DID}#{f}" for f in keys}
        assert parsed.key_agreement == frozenset()

    def test_plain_json_without_context_is_accepted(self) -> None:
        """@context is optional: without it the document is plain JSON (did:web "Key Material ...")."""
        raw = document(DID, [jwk_method(DID, "k", p256())])
        del raw["@context"]
        assert len(parse_did_document(DID, raw).verification_methods) == 1

    @pytest.mark.parametrize("context", ["https://www.w3.org/2018/credentials/v1", [], [{"@vocab": "x"}], 5])
    def test_context_without_did_core_is_refused(self, context: object) -> None:
        """A present @context must list https://www.w3.org/ns/did/v1."""
        raw = {**document(DID, [jwk_method(DID, "k", p256())]), "@context": context}
        assert reason_of(lambda: parse_did_document(DID, raw)) == "did.invalid_document"

    @pytest.mark.parametrize("document_id", ["did:web:evil.com", "did:web:EXAMPLE.com", None, 5])
    def test_wrong_document_id_is_refused(self, document_id: object) -> None:
        """The document's id must equal the DID being resolved, exactly (did:web "Read" step 7)."""
        raw = {**document(DID, [jwk_method(DID, "k", p256())]), "id": document_id}
        assert reason_of(lambda: parse_did_document(DID, raw)) == "did.wrong_document_id"

    def test_a_non_object_is_refused(self) -> None:
        """The document must be a JSON object."""
        assert reason_of(lambda: parse_did_document(DID, [DID])) == "did.invalid_document"

    def test_authentication_only_key_cannot_assert(self) -> None:
        """A key referenced only from authentication is not selectable for assertionMethod."""
        method = jwk_method(DID, "auth", p256())
        parsed = parse_did_document(DID, document(DID, [method], assertionMethod=[]))
        kid = f"{DID}#auth"
        assert select_verification_method(parsed, kid, relationship="authentication").id == kid
        assert (
            reason_of(lambda: select_verification_method(parsed, kid, relationship="assertionMethod"))
            == "did.wrong_relationship"
        )

    def test_unreferenced_key_serves_no_purpose(self) -> None:
        """A listed key that no relationship references cannot be selected."""
        parsed = parse_did_document(
            DID, document(DID, [jwk_method(DID, "k", p256())], authentication=[], assertionMethod=[])
        )
        reason = reason_of(lambda: select_verification_method(parsed, "#k", relationship="authentication"))
        assert reason == "did.wrong_relationship"

    def test_embedded_methods_serve_their_relationship_only(self) -> None:
        """An embedded method is for the relationship that embeds it, even if another references its id."""
        embedded = jwk_method(DID, "emb", ed25519())
        raw = document(DID, [], authentication=[embedded], assertionMethod=[f"{DID}#emb"])
        parsed = parse_did_document(DID, raw)
        assert parsed.authentication == {f"{DID}#emb"}
        assert parsed.assertion_method == frozenset()

    def test_references_to_unknown_ids_are_dropped(self) -> None:
        """A reference to a method the document does not list makes nothing selectable."""
        raw = document(DID, [jwk_method(DID, "k", p256())], authentication=[f"{DID}#other"])
        assert parse_did_document(DID, raw).authentication == frozenset()

    @pytest.mark.parametrize(
        "mutate",
        [
            pytest.param(lambda m: m.update(id="#k"), id="relative-method-id"),
            pytest.param(lambda m: m.update(id="did:web:evil.com#k"), id="method-of-another-did"),
            pytest.param(lambda m: m.update(id=DID), id="no-fragment"),
            pytest.param(lambda m: m.update(id=f"{DID}#"), id="empty-fragment"),
            pytest.param(lambda m: m.update(id=f"{DID}/path#k"), id="did-url-with-path"),
            pytest.param(lambda m: m.update(id=f"{DID}#a b"), id="space-in-fragment"),
            pytest.param(lambda m: m.update(controller="did:web:evil.com"), id="another-controller"),
            pytest.param(lambda m: m.pop("controller"), id="no-controller"),
            pytest.param(lambda m: m.pop("type"), id="no-type"),
            pytest.param(lambda m: m.update(id=5), id="id-not-a-string"),
        ],
    )
    def test_methods_must_be_absolute_and_of_this_did(self, mutate: Callable[[dict[str, Any]], None]) -> None:
        """All DID URLs in the document are absolute and name this DID (did:web; did.md §3)."""
        method = jwk_method(DID, "k", p256())
        mutate(method)
        raw = document(DID, [method], authentication=[], assertionMethod=[])
        assert reason_of(lambda: parse_did_document(DID, raw)) == "did.invalid_document"

    def test_relative_references_are_refused(self) -> None:
        """A relationship entry "#k" is relative: refused, not resolved against the DID."""
        raw = document(DID, [jwk_method(DID, "k", p256())], authentication=["#k"])
        assert reason_of(lambda: parse_did_document(DID, raw)) == "did.invalid_document"

    def test_relative_embedded_ids_are_refused(self) -> None:
        """An embedded method with a relative id is refused too."""
        embedded = {**jwk_method(DID, "k", p256()), "id": "#k"}
        raw = document(DID, [], authentication=[embedded])
        assert reason_of(lambda: parse_did_document(DID, raw)) == "did.invalid_document"

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param(
                lambda m: document(DID, [m, m], authentication=[], assertionMethod=[]), id="listed-twice"
            ),
            pytest.param(lambda m: document(DID, [m], authentication=[m]), id="listed-and-embedded"),
            pytest.param(
                lambda m: document(DID, [], authentication=[m], assertionMethod=[m]), id="embedded-twice"
            ),
            pytest.param(lambda m: {**document(DID, [m]), "verificationMethod": m}, id="not-a-list"),
            pytest.param(
                lambda m: {**document(DID, [m]), "authentication": f"{DID}#k"}, id="relationship-not-a-list"
            ),
            pytest.param(
                lambda m: document(DID, [m], authentication=[5]), id="relationship-entry-not-a-method"
            ),
            pytest.param(lambda m: document(DID, [m] * 65), id="too-many-methods"),
        ],
    )
    def test_structural_errors_are_refused(self, raw: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Repeated ids, wrong shapes and oversized lists are did.invalid_document."""
        method = jwk_method(DID, "k", p256())
        assert reason_of(lambda: parse_did_document(DID, raw(method))) == "did.invalid_document"


class TestKeyMaterial:
    def test_unsupported_suites_are_skipped_even_when_referenced(self) -> None:
        """A method of a suite we do not verify with is skipped, the rest of the document is used."""
        other = {
            "id": f"{DID}#chain",
            "type": "EcdsaSecp256k1RecoveryMethod2020",
            "controller": DID,
            "blockchainAccountId": "eip155:1:0x89a932207c485f85226d86f7cd486a89a24fcc12",
        }
        x25519 = X25519PrivateKey.generate().public_key().public_bytes_raw()
        skipped = [
            other,
            multikey_method(DID, "x25519", "z" + base58btc_encode(b"\xec\x01" + x25519)),
            jwk_method(DID, "enc", p256(), type="JsonWebKey2020")
            | {"publicKeyJwk": {**p256().to_dict(), "use": "enc"}},
            jwk_method(DID, "ec2019", p256()) | {"type": "EcdsaSecp256k1VerificationKey2019"},
            base58_method(DID, "b58-in-2020", "abc") | {"type": "Ed25519VerificationKey2020"},
            jwk_method(DID, "ed448", {"kty": "OKP", "crv": "Ed448", "x": "AAAA"}),
        ]
        good = jwk_method(DID, "good", p256())
        parsed = parse_did_document(DID, document(DID, [*skipped, good]))
        assert [method.id for method in parsed.verification_methods] == [f"{DID}#good"]
        assert parsed.authentication == {f"{DID}#good"}
        reason = reason_of(
            lambda: select_verification_method(parsed, f"{DID}#chain", relationship="authentication")
        )
        assert reason == "did.key_not_found"

    @pytest.mark.parametrize(
        "broken",
        [
            pytest.param(
                jwk_method(DID, "bad", {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}), id="jwk"
            ),
            pytest.param(jwk_method(DID, "bad", "not-an-object"), id="jwk-not-object"),
            pytest.param(
                multikey_method(DID, "bad", "z" + base58btc_encode(b"\xed\x01" + bytes(10))),
                id="multikey-too-short",
            ),
            pytest.param(multikey_method(DID, "bad", "uAAAA"), id="multikey-not-base58btc"),
            pytest.param(multikey_method(DID, "bad", "z6Mk0OIl"), id="multikey-bad-alphabet"),
            pytest.param(base58_method(DID, "bad", "1111"), id="base58-wrong-length"),
            pytest.param(base58_method(DID, "bad", "0OIl"), id="base58-bad-alphabet"),
            pytest.param(base58_method(DID, "bad", 5), id="base58-not-a-string"),
            pytest.param(
                jwk_method(DID, "bad", p256()) | {"publicKeyMultibase": "z6Mk"}, id="two-key-formats"
            ),
            pytest.param(
                multikey_method(DID, "bad", multibase(p256()), "Ed25519VerificationKey2020"),
                id="ed2020-holding-p256",
            ),
        ],
    )
    def test_broken_keys_are_skipped_unless_referenced(self, broken: dict[str, Any]) -> None:
        """Unparseable material is skipped when unused, refuses the document when referenced."""
        good = jwk_method(DID, "good", p256())
        unused = document(DID, [broken, good], authentication=[good["id"]], assertionMethod=[])
        assert [m.id for m in parse_did_document(DID, unused).verification_methods] == [good["id"]]
        used = document(DID, [broken, good], authentication=[good["id"]], assertionMethod=[broken["id"]])
        assert key_reason_of(lambda: parse_did_document(DID, used)).startswith("key.")

    def test_private_key_material_always_refuses(self) -> None:
        """A published private key is a broken controller, referenced or not."""
        private = {**p256().to_dict(), "d": "AAAA"}
        raw = document(
            DID,
            [jwk_method(DID, "leak", private), jwk_method(DID, "good", p256())],
            authentication=[],
            assertionMethod=[],
        )
        assert key_reason_of(lambda: parse_did_document(DID, raw)) == "key.private_material"

    def test_a_kid_selects_a_multikey_method(self) -> None:
        """Selection by absolute and by relative kid finds a Multikey method."""
        key = ed25519()
        parsed = parse_did_document(DID, document(DID, [multikey_method(DID, "key-1", multibase(key))]))
        for kid in (f"{DID}#key-1", "#key-1", None):
            assert select_verification_method(parsed, kid, relationship="assertionMethod").public_key == key


# --- The resolver against a real server --- #


def did_for(server: RoutedServer, *path: str, host: str = "localhost") -> str:
    return ":".join([f"did:web:{host}%3A{server.port}", *path])


def resolve(
    did: str,
    *,
    times: int = 1,
    outbound: OutboundPolicy = POLICY,
    resolver: Resolver | None = None,
    allow_http: bool = True,
) -> DidDocument:
    """Resolve ``did`` ``times`` times through one fetcher (one cache) on a fresh client."""

    async def main() -> DidDocument:
        async with make_client(outbound) as client:
            fetcher = CachedFetcher(
                client, outbound, clock=FrozenClock(1_000_000.0), resolver=resolver or resolve_to("127.0.0.1")
            )
            web = DidWebResolver(fetcher, allow_http=allow_http)
            documents = [await web.resolve(did) for _ in range(times)]
            return documents[-1]

    return asyncio.run(main())


def serve(did: str, raw: object, **headers: str) -> Reply:
    body = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    return Reply(headers={**DID_JSON, **headers}, body=body)


class TestResolver:
    def test_path_and_port_against_a_real_server(self) -> None:
        """did:web:localhost%3A<port>:users:alice is fetched from http://localhost:<port>/users/alice/did.json."""
        with RoutedServer() as server:
            did = did_for(server, "users", "alice")
            key = p256()
            server.routes["/users/alice/did.json"] = serve(did, document(did, [jwk_method(did, "k", key)]))
            parsed = resolve(did)
            assert parsed.id == did
            assert parsed.verification_methods[0].public_key == key
            assert server.hits["/users/alice/did.json"] == 1
            assert server.headers[0]["host"] == f"localhost:{server.port}"

    def test_no_path_uses_the_well_known_location(self) -> None:
        """A bare domain resolves at /.well-known/did.json; application/json is accepted too."""
        with RoutedServer() as server:
            did = did_for(server)
            raw = document(did, [jwk_method(did, "k", ed25519())])
            server.routes["/.well-known/did.json"] = serve(did, raw, **{"content-type": "application/json"})
            assert resolve(did).id == did
            assert "application/did+json" in server.headers[0]["accept"]

    def test_the_fetcher_caches_the_document(self) -> None:
        """Resolving twice within the lifetime makes one request."""
        with RoutedServer() as server:
            did = did_for(server, "alice")
            server.routes["/alice/did.json"] = serve(did, document(did, [jwk_method(did, "k", p256())]))
            resolve(did, times=3)
            assert server.hits["/alice/did.json"] == 1

    def test_a_document_for_another_did_is_refused(self) -> None:
        """A server answering with another DID's document is did.wrong_document_id."""
        with RoutedServer() as server:
            did = did_for(server, "alice")
            other = did_for(server, "bob")
            server.routes["/alice/did.json"] = serve(did, document(other, [jwk_method(other, "k", p256())]))
            assert reason_of(lambda: resolve(did)) == "did.wrong_document_id"

    @pytest.mark.parametrize(
        ("reply", "reason"),
        [
            (Reply(404, body=b""), "did.not_found"),
            (Reply(410, body=b""), "did.not_found"),
            (Reply(403, body=b""), "did.bad_status"),
            (Reply(302, headers={"location": "/elsewhere/did.json"}), "did.bad_status"),
            (Reply(headers={"content-type": "text/html"}, body=b"<html>"), "did.invalid_document"),
            (Reply(headers=DID_JSON, body=b"{not json"), "did.invalid_document"),
            (Reply(headers=DID_JSON, body=b'{"id": "a", "id": "b"}'), "did.invalid_document"),
            (Reply(headers=DID_JSON, body=b"\xef\xbb\xbf{}"), "did.invalid_document"),
            (Reply(headers=DID_JSON, body=b"[" * 100 + b"]" * 100), "did.invalid_document"),
            (Reply(headers=DID_JSON, body=b" " * 5000), "did.too_large"),
        ],
    )
    def test_unusable_answers_are_refused(self, reply: Reply, reason: str) -> None:
        """Permanent problems of the document are did.* refusals (400-class)."""
        with RoutedServer({"/alice/did.json": reply, "/elsewhere/did.json": Reply()}) as server:
            assert reason_of(lambda: resolve(did_for(server, "alice"))) == reason
            assert server.hits["/elsewhere/did.json"] == 0

    def test_server_failure_is_unavailable(self) -> None:
        """A 5xx is did.unreachable (503-class): the caller may retry."""
        with RoutedServer({"/alice/did.json": Reply(500)}) as server:
            with pytest.raises(DependencyUnavailable) as caught:
                resolve(did_for(server, "alice"))
            assert caught.value.reason == "did.unreachable"
            assert caught.value.status_code == 503

    def test_an_unreachable_host_is_unavailable(self) -> None:
        """No server listening is did.unreachable."""
        with RoutedServer() as server:
            did = did_for(server, "alice")
        with pytest.raises(DependencyUnavailable) as caught:
            resolve(did)
        assert caught.value.reason == "did.unreachable"

    def test_a_name_pointing_inside_is_refused(self) -> None:
        """Without private access a did:web whose host resolves to loopback is did.refused; no request."""
        with RoutedServer({"/alice/did.json": Reply()}) as server:
            did = did_for(server, "alice", host="innocent.example")
            assert reason_of(lambda: resolve(did, outbound=PUBLIC_ONLY)) == "did.refused"
            assert server.total == 0

    def test_https_is_used_unless_http_is_allowed(self) -> None:
        """The resolver asks for https:// by default and http:// only with allow_http."""
        urls: list[str] = []

        class Recording:
            async def get(self, url: str, *, accept: Sequence[str], ttl_hint: float | None = None) -> Fetched:
                urls.append(url)
                return Fetched(
                    json.dumps(document(DID, [])).encode(), "application/did+json", 0.0, stale=False
                )

        for allow_http in (False, True):
            asyncio.run(DidWebResolver(Recording(), allow_http=allow_http).resolve(DID))  # type: ignore[arg-type]
        assert urls == ["https://example.com/.well-known/did.json", "http://example.com/.well-known/did.json"]

    def test_an_invalid_did_makes_no_request(self) -> None:
        """A DID that does not map to a URL is did.invalid before any fetch."""
        with RoutedServer() as server:
            assert reason_of(lambda: resolve("did:web:127.0.0.1%3A" + str(server.port))) == "did.invalid"
            assert server.total == 0
