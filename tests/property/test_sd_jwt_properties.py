"""SD-JWT properties: a random issuance processes back to exactly what was disclosed; junk fails typed.

The issuer and holder below are written from RFC 9901 §4.2 and §5 with hashlib/json/base64 only, so
they share no code with ``service.sd_jwt``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.errors import CredentialInvalid, KeyBindingInvalid, VerifierError
from service.jose.jwk import PublicJwk, public_jwk_from_key
from service.sd_jwt import (
    KeyBindingExpectations,
    SdJwtPresentation,
    process_disclosures,
    split_presentation,
    verify_key_binding,
)

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
THOROUGH = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HASHES = {"sha-256": hashlib.sha256, "sha-384": hashlib.sha384, "sha-512": hashlib.sha512}
STRUCTURAL = frozenset({"_sd", "...", "_sd_alg"})
NEVER_DISCLOSED = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

Path = tuple[str | int, ...]

claim_names = st.one_of(st.text(max_size=6), st.sampled_from(sorted(NEVER_DISCLOSED))).filter(
    lambda name: name not in STRUCTURAL
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(claim_names, inner, max_size=4),
    max_leaves=24,
)
claim_sets = st.dictionaries(claim_names, json_values, max_size=6)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Issued:
    """One subtree as issued (payload), as the verifier should see it (expected), and what to present."""

    payload: Any
    expected: Any
    presented: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def keep(self, other: Issued) -> None:
        """Take over a presented subtree's Disclosures and disclosed paths."""
        self.presented += other.presented
        self.paths += other.paths


class TinyIssuer:
    """Makes random claims selectively disclosable (with decoys and shuffling) and picks what to show."""

    def __init__(self, rng: random.Random, alg: str, *, p_sd: float = 0.5, p_show: float = 0.7) -> None:
        self.rng, self.alg, self.p_sd, self.p_show = rng, alg, p_sd, p_show
        self.counter = 0

    def issue(self, claims: dict[str, Any]) -> Issued:
        """The issuer payload (with _sd_alg when not the default) for ``claims``."""
        issued = self._object(claims, (), top=True)
        if self.alg != "sha-256" or self.rng.random() < 0.3:
            issued.payload["_sd_alg"] = self.alg
        self.rng.shuffle(issued.presented)
        return issued

    def digest(self, text: str) -> str:
        return _b64(HASHES[self.alg](text.encode("ascii")).digest())

    def _unique(self) -> int:
        # A counter, not only randomness: shrunk random bits repeat, and two equal salts for equal
        # claims would give equal digests, which is a (correctly refused) different situation.
        self.counter += 1
        return self.counter

    def _disclosure(self, *items: Any) -> str:
        salt = f"{self._unique()}-{self.rng.getrandbits(64):016x}"
        separators = self.rng.choice([(",", ":"), (", ", ": ")])  # no canonical form (RFC 9901 §4.2.1)
        text = json.dumps([salt, *items], separators=separators, ensure_ascii=self.rng.random() < 0.5)
        return _b64(text.encode("utf-8"))

    def _decoy(self) -> str:
        return self.digest(f"decoy-{self._unique()}")

    def _value(self, value: Any, path: Path) -> Issued:
        if isinstance(value, dict):
            return self._object(value, path, top=False)
        if isinstance(value, list):
            return self._array(value, path)
        return Issued(value, value)

    def _object(self, claims: dict[str, Any], path: Path, *, top: bool) -> Issued:
        issued = Issued({}, {})
        digests: list[str] = []
        for name, value in claims.items():
            child = self._value(value, (*path, name))
            if (top and name in NEVER_DISCLOSED) or self.rng.random() >= self.p_sd:
                issued.payload[name], issued.expected[name] = child.payload, child.expected
                issued.keep(child)
                continue
            text = self._disclosure(name, child.payload)
            digests.append(self.digest(text))
            if self.rng.random() < self.p_show:
                issued.expected[name] = child.expected
                issued.keep(Issued(None, None, [text], [(*path, name)]))
                issued.keep(child)
        digests += [self._decoy() for _ in range(self.rng.randint(0, 2))]
        if digests or self.rng.random() < 0.1:
            self.rng.shuffle(digests)
            issued.payload["_sd"] = digests
        return issued

    def _array(self, elements: list[Any], path: Path) -> Issued:
        issued = Issued([], [])
        for element in elements:
            if self.rng.random() < 0.2:
                issued.payload.append({"...": self._decoy()})
            index_path = (*path, len(issued.expected))
            child = self._value(element, index_path)
            if self.rng.random() >= self.p_sd:
                issued.payload.append(child.payload)
                issued.expected.append(child.expected)
                issued.keep(child)
                continue
            text = self._disclosure(child.payload)
            issued.payload.append({"...": self.digest(text)})
            if self.rng.random() < self.p_show:
                issued.expected.append(child.expected)
                issued.keep(Issued(None, None, [text], [index_path]))
                issued.keep(child)
        return issued


class TestRoundTrip:
    @THOROUGH
    @given(claim_sets, st.randoms(use_true_random=False), st.sampled_from(sorted(HASHES)))
    def test_processed_equals_what_was_disclosed(
        self, claims: dict[str, Any], rng: random.Random, alg: str
    ) -> None:
        """Random SD choices, decoys and orders: the result is the original minus the withheld claims."""
        issued = TinyIssuer(rng, alg).issue(claims)
        result = process_disclosures(issued.payload, issued.presented)
        assert result.claims == issued.expected
        assert result.sd_alg == alg
        assert len(result.disclosed_paths) == len(issued.presented)
        assert set(result.disclosed_paths) == set(issued.paths)

    @FAST
    @given(claim_sets, st.randoms(use_true_random=False))
    def test_all_disclosed_gives_the_original(self, claims: dict[str, Any], rng: random.Random) -> None:
        """Presenting every Disclosure restores the original claims exactly."""
        issued = TinyIssuer(rng, "sha-256", p_show=1.0).issue(claims)
        assert process_disclosures(issued.payload, issued.presented).claims == claims

    @FAST
    @given(claim_sets, st.randoms(use_true_random=False))
    def test_nothing_disclosed_gives_the_plain_claims(
        self, claims: dict[str, Any], rng: random.Random
    ) -> None:
        """Presenting nothing leaves exactly the permanently disclosed claims."""
        issued = TinyIssuer(rng, "sha-256", p_show=0.0).issue(claims)
        result = process_disclosures(issued.payload, [])
        assert result.claims == issued.expected
        assert result.disclosed_paths == ()

    @FAST
    @given(claim_sets, st.randoms(use_true_random=False), claim_names, json_values)
    def test_extra_disclosure_is_unreferenced(
        self, claims: dict[str, Any], rng: random.Random, name: str, value: Any
    ) -> None:
        """A well-formed Disclosure the issuer never committed to is always refused."""
        issuer = TinyIssuer(rng, "sha-256")
        issued = issuer.issue(claims)
        extra = _b64(json.dumps(["forged-salt", name, value]).encode())
        position = rng.randint(0, len(issued.presented))
        presented = [*issued.presented[:position], extra, *issued.presented[position:]]
        with pytest.raises(CredentialInvalid) as caught:
            process_disclosures(issued.payload, presented)
        assert caught.value.reason == "sd_jwt.disclosure_unreferenced"


@functools.cache
def _holder_key() -> PublicJwk:
    return public_jwk_from_key(Ed25519PrivateKey.generate().public_key())


def _typed(call: Any) -> VerifierError | None:
    """Run ``call``; return the VerifierError it raised, or None. Anything else propagates."""
    try:
        call()
    except VerifierError as exc:
        return exc
    return None


disclosure_texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=B64URL_ALPHABET, max_size=40),
    json_values.map(lambda value: _b64(json.dumps(value).encode())),
    st.tuples(st.text(max_size=4), claim_names | st.sampled_from(sorted(STRUCTURAL)), json_values).map(
        lambda items: _b64(json.dumps(list(items)).encode())
    ),
    st.tuples(st.text(max_size=4), json_values).map(lambda items: _b64(json.dumps(list(items)).encode())),
)


@st.composite
def hostile_inputs(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """Random Disclosures and a payload that references some of their digests in random places."""
    texts = draw(st.lists(disclosure_texts, max_size=5))
    digests = [_b64(hashlib.sha256(text.encode("utf-8")).digest()) for text in texts]
    digest_or_junk = st.sampled_from(digests) | st.text(max_size=6) if digests else st.text(max_size=6)
    structural = st.recursive(
        json_values | st.builds(lambda d: {"...": d}, digest_or_junk),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                claim_names | st.sampled_from(sorted(STRUCTURAL)),
                inner | st.lists(digest_or_junk, max_size=3),
                max_size=3,
            )
        ),
        max_leaves=12,
    )
    payload = draw(st.dictionaries(claim_names | st.sampled_from(sorted(STRUCTURAL)), structural, max_size=4))
    if draw(st.booleans()):
        payload["_sd"] = draw(st.lists(digest_or_junk, max_size=4))
    return payload, texts


class TestOnlyTypedErrors:
    @FAST
    @given(st.text(max_size=300))
    def test_split_arbitrary_text(self, text: str) -> None:
        """split_presentation on any text splits or raises CredentialInvalid sd_jwt.*."""
        error = _typed(lambda: split_presentation(text, max_disclosures=8))
        assert error is None or (isinstance(error, CredentialInvalid) and error.reason.startswith("sd_jwt."))

    @FAST
    @given(st.text(alphabet="~.aB-_", max_size=60))
    def test_split_separator_heavy_text(self, text: str) -> None:
        """Many "~" and "." in odd places: still only typed errors, and a split re-joins to the input."""
        error = _typed(lambda: split_presentation(text))
        if error is None:
            presentation = split_presentation(text)
            assert presentation.sd_jwt + (presentation.kb_jwt or "") == text
            assert "~".join([presentation.issuer_jwt, *presentation.disclosures]) + "~" == presentation.sd_jwt

    @FAST
    @given(hostile_inputs())
    def test_process_hostile_payloads(self, inputs: tuple[dict[str, Any], list[str]]) -> None:
        """process_disclosures on junk payloads and Disclosures raises only CredentialInvalid sd_jwt.*."""
        payload, texts = inputs
        error = _typed(lambda: process_disclosures(payload, texts))
        assert error is None or (isinstance(error, CredentialInvalid) and error.reason.startswith("sd_jwt."))

    @FAST
    @given(st.lists(st.text(max_size=30), max_size=4), json_values)
    def test_process_arbitrary_strings(self, texts: list[str], payload: Any) -> None:
        """Even a non-object payload and arbitrary strings give only typed errors."""
        error = _typed(lambda: process_disclosures(payload, texts))
        assert error is None or error.reason.startswith("sd_jwt.")

    @FAST
    @given(st.text(max_size=200))
    def test_key_binding_arbitrary_kb_jwt(self, kb_jwt: str) -> None:
        """verify_key_binding on any KB-JWT text raises only KeyBindingInvalid key_binding.*."""
        presentation = SdJwtPresentation("a.b.c", (), kb_jwt or None, "a.b.c~")
        expected = KeyBindingExpectations(
            client_id="x", nonce="n", allowed_algs=frozenset({"EdDSA"}), clock_skew=0, max_age=60
        )
        error = _typed(
            lambda: verify_key_binding(
                presentation, holder_key=_holder_key(), sd_alg="sha-256", expected=expected, now=0
            )
        )
        assert isinstance(error, KeyBindingInvalid)
        assert error.reason.startswith("key_binding.")
