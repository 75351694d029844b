"""Sealed transaction handles: AES-256-GCM under the keyring, bound to the kid, tamper-evident."""

from __future__ import annotations

import secrets
import zlib

import msgspec
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import TransactionError
from service.jose.encoding import b64url_decode, b64url_encode
from service.keys import Keyring, SealingKey, generate_keyring
from service.transaction.seal import MAX_HANDLE_LENGTH, deflate, seal, unseal
from service.transaction.state import STATE_VERSION, TransactionState

NOW = 1_700_000_000
WEBHOOK_URL = "https://rp.example.com/hooks/verdict-001"  # 40 characters


def _state(**overrides: object) -> TransactionState:
    """A typical transaction: a named definition and a per-request webhook URL."""
    fields: dict[str, object] = {
        "id_bytes": secrets.token_bytes(16),
        "nonce_bytes": secrets.token_bytes(16),
        "state_bytes": secrets.token_bytes(16),
        "created_at": NOW,
        "expires_at": NOW + 300,
        "client_id_scheme": "did",
        "profile": "d20",
        "definition_id": "age-over-18",
        "definition_digest": secrets.token_bytes(8),
        "webhook_url": WEBHOOK_URL,
        "correlation_id": "order-4711",
    }
    fields.update(overrides)
    return TransactionState(**fields)  # type: ignore[arg-type]


def _with_sealing(keyring: Keyring, *keys: SealingKey) -> Keyring:
    return Keyring(signing=keyring.signing, sealing=keys)


def _reason(handle: str, keyring: Keyring) -> str:
    with pytest.raises(TransactionError) as caught:
        unseal(handle, keyring)
    return caught.value.reason


def _flip(handle: str, index: int) -> str:
    """Flip one bit of the sealed bytes at ``index`` (negative counts from the end)."""
    kid, payload = handle.split(".")
    data = bytearray(b64url_decode(payload))
    data[index] ^= 0x01
    return f"{kid}.{b64url_encode(bytes(data))}"


@pytest.fixture
def keyring() -> Keyring:
    return generate_keyring()


class TestRoundTrip:
    def test_seal_then_unseal_returns_the_state(self, keyring: Keyring) -> None:
        """unseal(seal(state)) gives back an equal state, with the derived string forms intact."""
        state = _state()
        opened = unseal(seal(state, keyring), keyring)
        assert opened == state
        assert opened.id == b64url_encode(state.id_bytes)
        assert opened.nonce == b64url_encode(state.nonce_bytes)

    def test_minimal_state_round_trips(self, keyring: Keyring) -> None:
        """A state with every optional field absent round-trips (the uncompressed branch)."""
        state = _state(definition_digest=None, webhook_url=None, correlation_id=None)
        assert unseal(seal(state, keyring), keyring) == state

    def test_inline_definition_round_trips(self, keyring: Keyring) -> None:
        """A large, compressible inline definition round-trips through the zlib branch."""
        inline = b'{"id":"inline","input_descriptors":[' + b'{"id":"d","constraints":{}},' * 200 + b"{}]}"
        state = _state(definition_id="inline", definition_digest=None, inline_definition=inline)
        handle = seal(state, keyring)
        assert len(handle) < len(inline)
        assert unseal(handle, keyring) == state

    def test_handle_names_the_active_kid(self, keyring: Keyring) -> None:
        """The handle is '<active kid>.<base64url>' and uses only URL-safe characters."""
        handle = seal(_state(), keyring)
        kid, payload = handle.split(".")
        assert kid == keyring.active_sealing.kid
        assert b64url_encode(b64url_decode(payload)) == payload

    def test_two_seals_differ(self, keyring: Keyring) -> None:
        """Sealing the same state twice gives different handles (fresh random IV) that both open."""
        state = _state()
        first, second = seal(state, keyring), seal(state, keyring)
        assert first != second
        assert unseal(first, keyring) == unseal(second, keyring) == state

    def test_typical_handle_is_short(self, keyring: Keyring) -> None:
        """A named definition with a 40-character webhook URL gives a handle under 400 characters."""
        assert len(WEBHOOK_URL) == 40
        handle = seal(_state(), keyring)
        print(f"typical handle length: {len(handle)}")
        assert len(handle) < 400

    def test_handle_compressed_the_former_way_still_opens(self, keyring: Keyring) -> None:
        """A handle sealed before deflate() was sized to its input (``zlib.compress(body, 9)``), as a replica
        of the previous release made it, opens: transactions in flight survive the upgrade."""
        inline = b'{"id":"inline","input_descriptors":[' + b'{"id":"d","constraints":{}},' * 50 + b"{}]}"
        state = _state(definition_id="inline", definition_digest=None, inline_definition=inline)
        body = b"\x01" + zlib.compress(msgspec.msgpack.encode(state), 9)
        iv, key = secrets.token_bytes(12), keyring.active_sealing
        sealed = AESGCM(key.key).encrypt(iv, body, b"siop-verifier/transaction/v1|" + key.kid.encode())
        assert unseal(f"{key.kid}.{b64url_encode(iv + sealed)}", keyring) == state


class TestDeflate:
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=3000) | st.text(alphabet='{}[]":,abc01', max_size=6000).map(str.encode))
    def test_inflates_back_and_is_as_short_as_level_9(self, data: bytes) -> None:
        """Any inflater gives the input back, and the stream is as short as ``zlib.compress(data, 9)`` up to
        deflate's block overhead for incompressible input (which seal() stores raw anyway)."""
        stream = deflate(data)
        assert zlib.decompress(stream) == data
        reference = zlib.compress(data, 9)
        assert len(stream) <= max(len(reference), len(data) + len(data) // 100 + 16)

    def test_structured_input_compresses_exactly_as_level_9(self) -> None:
        """For the JSON-like states sealed here the sized window loses nothing: same length as level 9."""
        for repeat in (1, 5, 40, 400, 4000):
            data = b'{"id":"d","constraints":{"fields":[{"path":["$.age_over_21"]}]}},' * repeat
            assert len(deflate(data)) == len(zlib.compress(data, 9))


class TestTampering:
    @pytest.mark.parametrize("index", [0, 11, 12, 20, -17, -16, -1])
    def test_flipped_bit_is_invalid_handle(self, keyring: Keyring, index: int) -> None:
        """A bit flipped in the IV, ciphertext or tag makes the handle transaction.invalid_handle."""
        handle = seal(_state(), keyring)
        assert _reason(_flip(handle, index), keyring) == "transaction.invalid_handle"

    @pytest.mark.parametrize("keep", [1, 4, 8, 20, 40])
    def test_truncated_handle_is_invalid(self, keyring: Keyring, keep: int) -> None:
        """A handle cut short (at any length) is transaction.invalid_handle."""
        handle = seal(_state(), keyring)
        kid, payload = handle.split(".")
        assert _reason(f"{kid}.{payload[:keep]}", keyring) == "transaction.invalid_handle"

    def test_handle_missing_its_last_characters_is_invalid(self, keyring: Keyring) -> None:
        """Dropping the last four characters (still valid base64url) fails authentication."""
        handle = seal(_state(), keyring)
        assert _reason(handle[:-4], keyring) == "transaction.invalid_handle"

    def test_extended_handle_is_invalid(self, keyring: Keyring) -> None:
        """Appending bytes to a valid handle is transaction.invalid_handle."""
        handle = seal(_state(), keyring)
        kid, payload = handle.split(".")
        longer = b64url_encode(b64url_decode(payload) + b"\x00\x00\x00")
        assert _reason(f"{kid}.{longer}", keyring) == "transaction.invalid_handle"

    @pytest.mark.parametrize("shape", ["", "nodot", "a.b.c", "..", "k.=", "k.!!!!"])
    def test_malformed_shapes_are_invalid(self, keyring: Keyring, shape: str) -> None:
        """Strings that are not '<kid>.<base64url>' are invalid_handle or unknown_key, never a crash."""
        if shape.startswith("k."):
            shape = keyring.active_sealing.kid + shape[1:]
        assert _reason(shape, keyring) in {"transaction.invalid_handle", "transaction.unknown_key"}

    def test_oversized_handle_is_invalid(self, keyring: Keyring) -> None:
        """A handle longer than MAX_HANDLE_LENGTH is refused before any decoding."""
        handle = keyring.active_sealing.kid + "." + "A" * MAX_HANDLE_LENGTH
        assert _reason(handle, keyring) == "transaction.invalid_handle"

    def test_other_state_version_is_invalid(self, keyring: Keyring) -> None:
        """A genuine handle carrying another state version is refused as invalid_handle."""
        handle = seal(_state(version=STATE_VERSION + 1), keyring)
        assert _reason(handle, keyring) == "transaction.invalid_handle"

    def test_authentic_but_undecodable_body_is_invalid(self, keyring: Keyring) -> None:
        """A body sealed under our key that is not a TransactionState is invalid_handle."""
        key = keyring.active_sealing
        iv = secrets.token_bytes(12)
        body = b"\x00" + msgspec.msgpack.encode(["not", "a", "state"])
        sealed = AESGCM(key.key).encrypt(iv, body, b"siop-verifier/transaction/v1|" + key.kid.encode())
        assert _reason(f"{key.kid}.{b64url_encode(iv + sealed)}", keyring) == "transaction.invalid_handle"


class TestKeys:
    def test_unknown_kid_is_unknown_key(self, keyring: Keyring) -> None:
        """A handle naming a kid the keyring does not hold is transaction.unknown_key."""
        handle = seal(_state(), keyring)
        _, payload = handle.split(".")
        assert _reason(f"zz99.{payload}", keyring) == "transaction.unknown_key"

    def test_retired_key_is_unknown_key(self, keyring: Keyring) -> None:
        """A handle sealed by a key since dropped from the ring is transaction.unknown_key."""
        handle = seal(_state(), keyring)
        successor = _with_sealing(keyring, SealingKey(kid="new1", key=secrets.token_bytes(32)))
        assert _reason(handle, successor) == "transaction.unknown_key"

    def test_same_kid_different_key_is_invalid(self, keyring: Keyring) -> None:
        """A handle sealed under key A does not open under a different key that carries the same kid."""
        handle = seal(_state(), keyring)
        impostor = SealingKey(kid=keyring.active_sealing.kid, key=secrets.token_bytes(32))
        assert _reason(handle, _with_sealing(keyring, impostor)) == "transaction.invalid_handle"

    def test_relabelled_to_another_held_kid_is_invalid(self, keyring: Keyring) -> None:
        """Re-labelling a handle with another kid in the ring fails: the kid is bound as associated data."""
        old = keyring.active_sealing
        other = SealingKey(kid="k2", key=secrets.token_bytes(32))
        handle = seal(_state(), keyring)
        _, payload = handle.split(".")
        assert _reason(f"k2.{payload}", _with_sealing(keyring, old, other)) == "transaction.invalid_handle"

    def test_same_key_bytes_under_another_kid_is_invalid(self, keyring: Keyring) -> None:
        """The same key bytes under a different kid do not open the handle (kid bound as AAD)."""
        old = keyring.active_sealing
        alias = SealingKey(kid="alias", key=old.key)
        handle = seal(_state(), keyring)
        _, payload = handle.split(".")
        assert _reason(f"alias.{payload}", _with_sealing(keyring, alias)) == "transaction.invalid_handle"

    def test_older_key_still_in_the_ring_opens(self, keyring: Keyring) -> None:
        """After rotation, a handle sealed by the previous (still held) key opens."""
        state = _state()
        handle = seal(state, keyring)
        rotated = _with_sealing(
            keyring, SealingKey(kid="new1", key=secrets.token_bytes(32)), *keyring.sealing
        )
        assert unseal(handle, rotated) == state
        assert seal(state, rotated).startswith("new1.")
