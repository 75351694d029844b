"""did:jwk decoding and encoding (did:jwk v1, did.md §2)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from service.did.did_jwk import did_jwk_from_jwk, resolve_did_jwk
from service.errors import DidResolutionFailed, MalformedKey
from service.jose.encoding import b64url_decode, b64url_encode
from service.jose.jwk import public_jwk_from_key


def _did(value: object) -> str:
    return "did:jwk:" + b64url_encode(json.dumps(value).encode("utf-8"))


def _p256() -> dict[str, str]:
    return public_jwk_from_key(ec.generate_private_key(ec.SECP256R1()).public_key()).to_dict()


def _x25519() -> dict[str, str]:
    raw = X25519PrivateKey.generate().public_key().public_bytes_raw()
    return {"kty": "OKP", "crv": "X25519", "x": b64url_encode(raw)}


def _failure(did: str) -> tuple[type[Exception], str]:
    with pytest.raises((DidResolutionFailed, MalformedKey)) as caught:
        resolve_did_jwk(did)
    assert isinstance(caught.value, (DidResolutionFailed, MalformedKey))
    return type(caught.value), caught.value.reason


class TestResolveDidJwk:
    def test_p256_document(self) -> None:
        """A P-256 did:jwk has method #0 in authentication, assertionMethod and keyAgreement."""
        jwk = _p256()
        did = _did(jwk)
        document = resolve_did_jwk(did)
        (method,) = document.verification_methods
        assert method.id == did + "#0"
        assert (method.controller, method.type) == (did, "JsonWebKey2020")
        assert method.public_key.to_dict() == jwk
        ids = frozenset({did + "#0"})
        assert (document.authentication, document.assertion_method, document.key_agreement) == (ids, ids, ids)

    def test_use_sig_drops_key_agreement(self) -> None:
        """use=sig keeps authentication and assertionMethod but not keyAgreement."""
        document = resolve_did_jwk(_did({**_p256(), "use": "sig"}))
        assert document.authentication == document.assertion_method != frozenset()
        assert document.key_agreement == frozenset()

    def test_use_enc_is_key_agreement_only(self) -> None:
        """use=enc keeps only keyAgreement: the key can never verify a signature."""
        document = resolve_did_jwk(_did({**_p256(), "use": "enc"}))
        assert document.authentication == document.assertion_method == frozenset()
        assert document.key_agreement == frozenset({document.verification_methods[0].id})

    @pytest.mark.parametrize("use", ["SIG", "", 1, ["sig"]])
    def test_unknown_use_rejected(self, use: object) -> None:
        """A use that is not sig or enc is key.invalid."""
        assert _failure(_did({**_p256(), "use": use})) == (MalformedKey, "key.invalid")

    def test_ed25519_never_key_agreement(self) -> None:
        """An Ed25519 did:jwk without use signs only (RFC 8037: a signature curve)."""
        jwk = public_jwk_from_key(Ed25519PrivateKey.generate().public_key()).to_dict()
        document = resolve_did_jwk(_did(jwk))
        assert document.authentication == frozenset({_did(jwk) + "#0"})
        assert document.key_agreement == frozenset()

    def test_rsa_document(self) -> None:
        """An RSA did:jwk resolves with its e, kty and n."""
        jwk = public_jwk_from_key(rsa.generate_private_key(65537, 2048).public_key()).to_dict()
        assert resolve_did_jwk(_did(jwk)).verification_methods[0].public_key.to_dict() == jwk

    def test_x25519_is_key_agreement_only(self) -> None:
        """An X25519 did:jwk has only a key-agreement method."""
        jwk = _x25519()
        document = resolve_did_jwk(_did(jwk))
        assert document.verification_methods == ()
        assert document.authentication == document.assertion_method == frozenset()
        (method,) = document.key_agreement_methods
        assert method.public_key.to_dict() == jwk
        assert document.key_agreement == frozenset({method.id})

    def test_x25519_with_use_sig_rejected(self) -> None:
        """An X25519 key claiming use=sig is key.invalid."""
        assert _failure(_did({**_x25519(), "use": "sig"})) == (MalformedKey, "key.invalid")

    def test_kid_is_not_the_fragment(self) -> None:
        """A kid inside the JWK does not change the method id, which is always #0."""
        did = _did({**_p256(), "kid": "key-1"})
        assert resolve_did_jwk(did).verification_methods[0].id == did + "#0"

    def test_private_jwk_rejected(self) -> None:
        """A did:jwk carrying d is key.private_material."""
        private = ec.generate_private_key(ec.SECP256R1())
        d = b64url_encode(private.private_numbers().private_value.to_bytes(32, "big"))
        jwk = {**public_jwk_from_key(private.public_key()).to_dict(), "d": d}
        assert _failure(_did(jwk)) == (MalformedKey, "key.private_material")

    def test_private_x25519_rejected(self) -> None:
        """An X25519 did:jwk carrying d is key.private_material."""
        assert _failure(_did({**_x25519(), "d": "AA"})) == (MalformedKey, "key.private_material")

    def test_oct_key_rejected(self) -> None:
        """A symmetric key is key.private_material: its k is a secret."""
        assert _failure(_did({"kty": "oct", "k": "c2VjcmV0"})) == (MalformedKey, "key.private_material")

    def test_no_canonicalization(self) -> None:
        """Two serializations of one key are two DIDs with equal keys."""
        jwk = _p256()
        first, second = _did(jwk), _did(dict(reversed(list(jwk.items()))))
        assert first != second
        key_of = [resolve_did_jwk(did).verification_methods[0] for did in (first, second)]
        assert key_of[0].public_key == key_of[1].public_key
        assert key_of[0].id != key_of[1].id

    @pytest.mark.parametrize(
        "did",
        [
            "did:jwk:",
            "did:key:eyJ9",
            "did:jwk:" + b64url_encode(b"{}") + "=",
            "did:jwk:" + b64url_encode(b'{"kty": "EC"'),
            "did:jwk:" + b64url_encode(b"\xff\xfe"),
            "did:jwk:" + b64url_encode(b'["kty"]'),
            "did:jwk:" + b64url_encode(b'"EC"'),
            "did:jwk:" + b64url_encode(b"[" * 3000),
            "did:jwk:" + b64url_encode(b"[" * 1500 + b"]" * 1500),
            "did:jwk:abc:def",
            "did:jwk:" + b64url_encode(b"{}") + "#0",
        ],
    )
    def test_malformed_rejected(self, did: str) -> None:
        """Anything that is not unpadded base64url of a UTF-8 JSON object is did.invalid."""
        assert _failure(did) == (DidResolutionFailed, "did.invalid")

    def test_duplicate_member_rejected(self) -> None:
        """A JSON object naming a member twice is did.invalid (two parsers could read two keys)."""
        jwk = _p256()
        text = json.dumps(jwk)[:-1] + f', "x": "{_p256()["x"]}"}}'
        assert _failure("did:jwk:" + b64url_encode(text.encode())) == (DidResolutionFailed, "did.invalid")

    def test_too_long_rejected(self) -> None:
        """A did:jwk over 4096 characters is did.invalid before decoding."""
        assert _failure(_did({**_p256(), "pad": "a" * 4000})) == (DidResolutionFailed, "did.invalid")


class TestDidJwkFromJwk:
    def test_round_trip(self) -> None:
        """did_jwk_from_jwk encodes the required members, sorted, and resolves back to the key."""
        jwk = public_jwk_from_key(ec.generate_private_key(ec.SECP384R1()).public_key())
        did = did_jwk_from_jwk(jwk)
        expected = json.dumps(dict(sorted(jwk.members.items())), separators=(",", ":")).encode()
        assert b64url_decode(did.removeprefix("did:jwk:")) == expected
        assert resolve_did_jwk(did).verification_methods[0].public_key == jwk
