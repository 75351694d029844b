"""The service keyring: generation, the file format, the JWKS, and rotation of sealing keys."""

from __future__ import annotations

import json
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.errors import ConfigurationError, TransactionError
from service.jose.encoding import b64url_decode, b64url_encode
from service.jose.jwk import jwk_thumbprint, parse_public_jwk
from service.keys import Keyring, SealingKey, dump_keyring, generate_keyring, load_keyring
from service.transaction.seal import seal, unseal
from service.transaction.state import TransactionState

NOW = 1_700_000_000


def _state() -> TransactionState:
    return TransactionState(
        id_bytes=secrets.token_bytes(16),
        nonce_bytes=secrets.token_bytes(16),
        state_bytes=secrets.token_bytes(16),
        created_at=NOW,
        expires_at=NOW + 300,
        client_id_scheme="did",
        profile="d20",
        definition_id="age-over-18",
    )


def _pem(private_key: object) -> str:
    return private_key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _file(*, signing: list[dict[str, str]] | None = None, sealing: list[dict[str, str]] | None = None) -> str:
    if signing is None:
        signing = [{"kid": "sig1", "private_key_pem": _pem(ec.generate_private_key(ec.SECP256R1()))}]
    if sealing is None:
        sealing = [{"kid": "k1", "key": b64url_encode(secrets.token_bytes(32))}]
    return json.dumps({"signing": signing, "sealing": sealing})


def _load_reason(text: str | bytes) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_keyring(text)
    return caught.value.reason


class TestGenerateKeyring:
    def test_one_p256_signing_key_named_by_thumbprint(self) -> None:
        """A generated keyring has one ES256 signing key whose kid is its RFC 7638 thumbprint."""
        keyring = generate_keyring()
        assert len(keyring.signing) == 1
        key = keyring.active_signing
        assert key.alg == "ES256"
        assert key.public.crv == "P-256"
        assert key.kid == jwk_thumbprint(key.public)

    def test_one_32_byte_sealing_key_with_short_kid(self) -> None:
        """The generated sealing key is 32 random bytes under a short alphanumeric kid."""
        keyring = generate_keyring()
        assert len(keyring.sealing) == 1
        sealing = keyring.active_sealing
        assert len(sealing.key) == 32
        assert sealing.kid.isalnum()
        assert len(sealing.kid) <= 8

    def test_each_keyring_is_fresh(self) -> None:
        """Two generated keyrings share no key material."""
        first, second = generate_keyring(), generate_keyring()
        assert first.active_sealing.key != second.active_sealing.key
        assert first.active_signing.public != second.active_signing.public


class TestKeyringInvariants:
    def test_empty_signing_or_sealing_refused(self) -> None:
        """A keyring without a signing key or without a sealing key is a ConfigurationError."""
        keyring = generate_keyring()
        with pytest.raises(ConfigurationError):
            Keyring(signing=(), sealing=keyring.sealing)
        with pytest.raises(ConfigurationError):
            Keyring(signing=keyring.signing, sealing=())

    def test_duplicate_sealing_kids_refused(self) -> None:
        """Two sealing keys with one kid would make handles ambiguous: ConfigurationError."""
        keyring = generate_keyring()
        twins = (SealingKey("k1", secrets.token_bytes(32)), SealingKey("k1", secrets.token_bytes(32)))
        with pytest.raises(ConfigurationError):
            Keyring(signing=keyring.signing, sealing=twins)

    def test_sealing_key_lookup(self) -> None:
        """sealing_key finds a held kid and returns None for any other."""
        keyring = generate_keyring()
        assert keyring.sealing_key(keyring.active_sealing.kid) is keyring.active_sealing
        assert keyring.sealing_key("nope") is None


class TestJwks:
    def test_jwks_publishes_public_keys_only(self) -> None:
        """The JWKS lists each signing key's public members, kid, alg and use; never 'd'."""
        keyring = generate_keyring()
        (jwk,) = keyring.jwks()["keys"]
        assert "d" not in jwk
        assert jwk["kid"] == keyring.active_signing.kid
        assert jwk["alg"] == "ES256"
        assert jwk["use"] == "sig"
        assert parse_public_jwk(jwk) == keyring.active_signing.public

    def test_jwks_lists_every_signing_key(self) -> None:
        """After a signing-key rotation both keys are published, the new one first."""
        old, new = load_keyring(_file()), generate_keyring()
        rotated = Keyring(signing=(new.active_signing, old.active_signing), sealing=old.sealing)
        kids = [jwk["kid"] for jwk in rotated.jwks()["keys"]]
        assert kids == [new.active_signing.kid, "sig1"]


class TestFileFormat:
    def test_dump_then_load_round_trips(self) -> None:
        """load_keyring(dump_keyring(k)) has the same kids, public keys and sealing bytes."""
        keyring = generate_keyring()
        loaded = load_keyring(dump_keyring(keyring))
        assert [key.kid for key in loaded.signing] == [key.kid for key in keyring.signing]
        assert loaded.active_signing.public == keyring.active_signing.public
        assert loaded.sealing == keyring.sealing

    def test_loaded_keyring_opens_handles_of_the_original(self) -> None:
        """A replica loading the dumped keyring opens handles the original sealed."""
        keyring = generate_keyring()
        state = _state()
        assert unseal(seal(state, keyring), load_keyring(dump_keyring(keyring))) == state

    def test_dump_format(self) -> None:
        """The dump is the documented JSON: PKCS#8 PEM signing keys, base64url sealing keys."""
        keyring = generate_keyring()
        data = json.loads(dump_keyring(keyring))
        assert set(data) == {"signing", "sealing"}
        assert data["signing"][0]["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
        assert b64url_decode(data["sealing"][0]["key"]) == keyring.active_sealing.key

    def test_explicit_kids_and_order_kept(self) -> None:
        """The file's kids are used as given and its first entries are the active keys."""
        text = _file(
            signing=[
                {"kid": "a", "private_key_pem": _pem(Ed25519PrivateKey.generate())},
                {"kid": "b", "private_key_pem": _pem(ec.generate_private_key(ec.SECP384R1()))},
            ],
            sealing=[
                {"kid": "n2", "key": b64url_encode(bytes(32))},
                {"kid": "n1", "key": b64url_encode(bytes([1]) * 32)},
            ],
        )
        keyring = load_keyring(text)
        assert [(key.kid, key.alg) for key in keyring.signing] == [("a", "EdDSA"), ("b", "ES384")]
        assert keyring.active_sealing.kid == "n2"

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "not json",
            "[]",
            '{"signing": []}',
            '{"signing": [], "sealing": [], "extra": 1}',
            '{"signing": [{"kid": "a"}], "sealing": []}',
        ],
    )
    def test_malformed_file_refused(self, text: str) -> None:
        """Text that is not the keyring shape (or has unknown members) is config.keyring."""
        assert _load_reason(text) == "config.keyring"

    def test_empty_lists_refused(self) -> None:
        """A file with no signing or no sealing keys fails to load."""
        assert _load_reason(_file(signing=[])) == "config.keyring"
        assert _load_reason(_file(sealing=[])) == "config.keyring"

    @pytest.mark.parametrize(
        "pem", ["", "garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"]
    )
    def test_bad_pem_refused(self, pem: str) -> None:
        """A signing entry that is not a PEM private key is config.keyring."""
        assert _load_reason(_file(signing=[{"kid": "s", "private_key_pem": pem}])) == "config.keyring"

    def test_non_ascii_pem_refused(self) -> None:
        """A PEM with non-ASCII characters is config.keyring, not a UnicodeEncodeError."""
        assert _load_reason(_file(signing=[{"kid": "s", "private_key_pem": "ключ"}])) == "config.keyring"

    def test_rsa_signing_key_refused(self) -> None:
        """Signing keys must be Ed25519 or EC; an RSA key is config.keyring."""
        pem = _pem(rsa.generate_private_key(65537, 2048))
        assert _load_reason(_file(signing=[{"kid": "s", "private_key_pem": pem}])) == "config.keyring"

    def test_unsupported_ec_curve_refused_as_configuration_error(self) -> None:
        """An EC signing key on a curve JOSE cannot name (P-224) is a ConfigurationError at load."""
        pem = _pem(ec.generate_private_key(ec.SECP224R1()))
        assert _load_reason(_file(signing=[{"kid": "s", "private_key_pem": pem}])) == "config.keyring"

    @pytest.mark.parametrize(
        "entry",
        [
            {"kid": "k1", "key": b64url_encode(secrets.token_bytes(16))},
            {"kid": "k1", "key": b64url_encode(secrets.token_bytes(33))},
            {"kid": "k1", "key": "not base64url!"},
            {"kid": "k1", "key": b64url_encode(secrets.token_bytes(32)) + "="},
            {"kid": "k.1", "key": b64url_encode(secrets.token_bytes(32))},
            {"kid": "", "key": b64url_encode(secrets.token_bytes(32))},
            {"kid": "k123456789", "key": b64url_encode(secrets.token_bytes(32))},
        ],
    )
    def test_bad_sealing_entry_refused(self, entry: dict[str, str]) -> None:
        """Sealing keys are exactly 32 base64url bytes under a non-empty alphanumeric kid of <= 8 chars."""
        assert _load_reason(_file(sealing=[entry])) == "config.keyring"

    def test_duplicate_sealing_kid_in_file_refused(self) -> None:
        """A file listing one sealing kid twice fails to load."""
        entry = {"kid": "k1", "key": b64url_encode(secrets.token_bytes(32))}
        assert _load_reason(_file(sealing=[entry, dict(entry)])) == "config.keyring"


class TestRotation:
    def test_handle_opens_while_its_key_is_in_the_ring(self) -> None:
        """A handle sealed with the old key opens after a new key is put in front of it."""
        old = load_keyring(_file())
        state = _state()
        handle = seal(state, old)
        data = json.loads(dump_keyring(old))
        data["sealing"].insert(0, {"kid": "k2", "key": b64url_encode(secrets.token_bytes(32))})
        rotated = load_keyring(json.dumps(data))
        assert rotated.active_sealing.kid == "k2"
        assert unseal(handle, rotated) == state
        assert seal(state, rotated).startswith("k2.")

    def test_handle_fails_with_unknown_key_once_its_key_is_dropped(self) -> None:
        """After the old key is dropped, its handles fail with transaction.unknown_key."""
        old = load_keyring(_file())
        handle = seal(_state(), old)
        data = json.loads(dump_keyring(old))
        data["sealing"] = [{"kid": "k2", "key": b64url_encode(secrets.token_bytes(32))}]
        with pytest.raises(TransactionError) as caught:
            unseal(handle, load_keyring(json.dumps(data)))
        assert caught.value.reason == "transaction.unknown_key"
