"""The service keyring: signing keys (request objects, verdicts) and sealing keys (transactions).

The first key of each kind is the active one; the others still verify or open what they produced, which
is how rotation works: add the new key in front, keep the old one until the longest transaction
lifetime (and the verdicts' receivers' JWKS caches) have passed, then drop it.

File format (JSON)::

    {"signing": [{"kid": "...", "private_key_pem": "<PKCS#8 PEM>"}],
     "sealing": [{"kid": "k1", "key": "<base64url of 32 random bytes>"}]}
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.errors import ConfigurationError, MalformedKey, MalformedResponse
from service.jose.encoding import b64url_decode, b64url_encode
from service.jose.jwk import PublicJwk, jwk_thumbprint, public_jwk_from_key
from service.jose.jws import PrivateKey, algorithm_for

__all__ = ["Keyring", "SealingKey", "SigningKey", "dump_keyring", "generate_keyring", "load_keyring"]

_SEALING_KEY_BYTES = 32  # AES-256-GCM


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One of our asymmetric signing keys."""

    kid: str
    private_key: PrivateKey
    public: PublicJwk

    @property
    def alg(self) -> str:
        """The JOSE algorithm this key signs with."""
        return algorithm_for(self.private_key)

    def public_jwk(self) -> dict[str, str]:
        """The public JWK as published in our JWKS."""
        return {**self.public.to_dict(), "kid": self.kid, "alg": self.alg, "use": "sig"}


@dataclass(frozen=True, slots=True)
class SealingKey:
    """A symmetric key that seals transactions (AES-256-GCM)."""

    kid: str
    key: bytes
    aead: AESGCM = field(init=False, repr=False, compare=False)
    """The cipher, set up once: every create, request object and response opens or seals a handle."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "aead", AESGCM(self.key))


@dataclass(frozen=True, slots=True)
class Keyring:
    """All keys of a replica; replicas sharing it can serve each other's transactions."""

    signing: tuple[SigningKey, ...]
    sealing: tuple[SealingKey, ...]

    def __post_init__(self) -> None:
        if not self.signing or not self.sealing:
            raise ConfigurationError("config.keyring", "The keyring needs a signing and a sealing key")
        for keys in (self.signing, self.sealing):
            kids = [key.kid for key in keys]
            if len(set(kids)) != len(kids):
                raise ConfigurationError("config.keyring", "Key ids must be unique within the keyring")

    @property
    def active_signing(self) -> SigningKey:
        """The key new signatures are made with."""
        return self.signing[0]

    @property
    def active_sealing(self) -> SealingKey:
        """The key new transactions are sealed with."""
        return self.sealing[0]

    def sealing_key(self, kid: str) -> SealingKey | None:
        """The sealing key named ``kid``, if we still hold it."""
        return next((key for key in self.sealing if key.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWK Set (RFC 7517 §5) receivers verify verdicts with."""
        return {"keys": [key.public_jwk() for key in self.signing]}


class _SigningEntry(msgspec.Struct, forbid_unknown_fields=True):
    kid: str
    private_key_pem: str


class _SealingEntry(msgspec.Struct, forbid_unknown_fields=True):
    kid: str
    key: str


class _KeyringFile(msgspec.Struct, forbid_unknown_fields=True):
    signing: list[_SigningEntry]
    sealing: list[_SealingEntry]


def _make_signing_key(private_key: PrivateKey, kid: str | None = None) -> SigningKey:
    try:
        public = public_jwk_from_key(private_key.public_key())
    except MalformedKey as exc:
        raise ConfigurationError(
            "config.keyring", "Signing keys must be Ed25519, P-256, P-384, P-521 or secp256k1"
        ) from exc
    return SigningKey(kid=kid or jwk_thumbprint(public), private_key=private_key, public=public)


def generate_keyring() -> Keyring:
    """A fresh keyring for development: one P-256 signing key (ES256, what wallets accept most)."""
    signing = _make_signing_key(ec.generate_private_key(ec.SECP256R1()))
    sealing = SealingKey(kid=secrets.token_hex(2), key=secrets.token_bytes(_SEALING_KEY_BYTES))
    return Keyring(signing=(signing,), sealing=(sealing,))


def _load_private_key(pem: str) -> PrivateKey:
    try:
        key: Any = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError("config.keyring", "A signing key is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError("config.keyring", "Signing keys must be Ed25519 or EC keys")
    return key


def _load_sealing_key(entry: _SealingEntry) -> SealingKey:
    try:
        raw = b64url_decode(entry.key)
    except MalformedResponse as exc:
        raise ConfigurationError("config.keyring", "A sealing key is not base64url") from exc
    if len(raw) != _SEALING_KEY_BYTES or not entry.kid.isalnum() or len(entry.kid) > 8:
        raise ConfigurationError("config.keyring", "Sealing keys are 32 bytes with a short alphanumeric kid")
    return SealingKey(kid=entry.kid, key=raw)


def load_keyring(text: str | bytes) -> Keyring:
    """Parse the keyring JSON; any problem is a ConfigurationError (the service must not boot)."""
    try:
        data = msgspec.json.decode(text, type=_KeyringFile)
    except msgspec.DecodeError as exc:
        raise ConfigurationError("config.keyring", f"The keyring is not valid: {exc}") from exc
    signing = tuple(_make_signing_key(_load_private_key(e.private_key_pem), e.kid) for e in data.signing)
    sealing = tuple(_load_sealing_key(entry) for entry in data.sealing)
    return Keyring(signing=signing, sealing=sealing)


def dump_keyring(keyring: Keyring) -> str:
    """Serialise a keyring to the file format (contains private keys: store it as a secret)."""
    signing = [
        _SigningEntry(
            kid=key.kid,
            private_key_pem=key.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode("ascii"),
        )
        for key in keyring.signing
    ]
    sealing = [_SealingEntry(kid=key.kid, key=b64url_encode(key.key)) for key in keyring.sealing]
    return msgspec.json.format(msgspec.json.encode(_KeyringFile(signing=signing, sealing=sealing))).decode()
