"""Property fuzzing of every parser a wallet or a backend can reach: only typed errors may come out.

Each target takes inputs three ways: the committed seeds (fuzz/seeds/, real artefacts of real flows) as
explicit examples, seeds mutated at the byte, segment and JSON level, and inputs generated from the
grammar (compact JWS, DIDs, JWKs, form bodies). The property is the same everywhere: the call returns, or
raises a ``service.errors.VerifierError``; anything else (TypeError, OverflowError, RecursionError,
KeyError, a warning turned error...) is a crash — on the wire, a 500 and a transaction left undecided.

Two pipeline targets run the whole verification offline (``parse_response`` + ``verify_response``): one on
mutated real response bodies, one on responses whose tokens are validly signed but carry hostile claims.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import json
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given
from hypothesis import strategies as st

from service.app import _policy
from service.did.resolve import LocalDidResolver, did_of, resolve_local, select_verification_method
from service.errors import IdTokenInvalid, VerifierError
from service.id_token import inspect_id_token
from service.jose.jwk import jwk_thumbprint, parse_key_agreement_jwk, parse_public_jwk, public_jwk_from_key
from service.jose.jws import ALG_KEY_TYPES, TokenKind, decode_jws, verify_jws
from service.keys import generate_keyring
from service.presentation_exchange import materialize_definition, parse_definition, parse_submission
from service.response import AuthorizationResponse, ResponseLimits, parse_response
from service.sd_jwt import holder_key_from_cnf, process_disclosures, split_presentation
from service.settings import load_settings
from service.transaction.seal import unseal
from service.trust import TrustList, parse_trust_list
from service.verification import Expectations, KeySources, VerificationPolicy, verify_response
from service.vp_formats.jwt_vc_json import decode_credential, decode_presentation
from service.vp_formats.sd_jwt_vc import inspect_sd_jwt
from tests.e2e.actors import DELETE, Holder, Issuer, KeyPair, Wallet

from .make_seeds import _request

SEEDS = Path(__file__).resolve().parent / "seeds"
KIND = TokenKind("fuzz", IdTokenInvalid)
LIMITS = ResponseLimits()
MAX_TOKEN = 256 * 1024
B64URL = string.ascii_letters + string.digits + "-_"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
F = TypeVar("F", bound=Callable[..., None])


# --- Seeds --- #


def _texts(kind: str) -> list[str]:
    return [path.read_text() for path in sorted((SEEDS / kind).glob("*.txt"))]


def _jsons(kind: str) -> list[Any]:
    return [json.loads(path.read_text()) for path in sorted((SEEDS / kind).glob("*.json"))]


FORMS = _texts("form")
JWS = _texts("jws")
SD_JWTS = _texts("sd_jwt")
DISCLOSURES = _texts("disclosure")
DIDS = _texts("did")
JWKS = _jsons("jwk")
SUBMISSIONS = _jsons("submission")
DEFINITIONS = _jsons("definition")
FLOWS = _jsons("flows")
TRUST = _jsons("trust")[0]


def with_examples(values: list[Any]) -> Callable[[F], F]:
    """Every seed runs as an explicit example before anything generated."""

    def decorate(test: F) -> F:
        for value in values:
            test = example(value)(test)
        return test

    return decorate


def only_typed_errors(call: Callable[[], object]) -> VerifierError | None:
    """Run ``call``; a VerifierError is an answer, anything else propagates (and fails the property)."""
    try:
        call()
    except VerifierError as exc:
        error = exc
    else:
        return None
    assert error.reason, error
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in error.description), error.description
    return error


# --- Hostile values and mutations --- #

HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=10**400),
    st.sampled_from([4000, 400, 20]).map(lambda digits: 10**digits),
    st.sampled_from([2**64, -(2**64), -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0]),
    st.text(max_size=40),
    st.sampled_from(
        ["", "did:", "did:key:z", "did:jwk:e30", "$", "$..*", "#", "#0", "\x00", "a" * 5000, "eyJ."]
    ),
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


DEEP = st.integers(min_value=30, max_value=900).map(_nested)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def mutated_json(draw: st.DrawFn, seeds: list[Any]) -> Any:
    """A seed with a few nodes replaced, deleted, wrapped or joined by hostile members."""
    value = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(list(_paths(value))))
        op = draw(st.sampled_from(["replace", "delete", "wrap", "add", "deep"]))
        node: Any = value
        for step in path:
            node = node[step]
        if op == "replace":
            value = _replace(value, path, draw(JSON_VALUES))
        elif op == "delete" and path:
            parent_path, last = path[:-1], path[-1]
            parent: Any = value
            for step in parent_path:
                parent = parent[step]
            if isinstance(parent, dict):
                value = _replace(value, parent_path, {k: v for k, v in parent.items() if k != last})
            else:
                value = _replace(value, parent_path, [v for i, v in enumerate(parent) if i != last])
        elif op == "wrap":
            value = _replace(value, path, draw(st.sampled_from([[node], {"": node}, [node, node]])))
        elif op == "add" and isinstance(node, dict):
            name = draw(
                st.sampled_from([*node.keys(), "path_nested", "filter", "_sd", "...", "crit"])
                | st.text(max_size=6)
            )
            value = _replace(value, path, {**node, name: draw(JSON_VALUES)})
        elif op == "deep":
            value = _replace(value, path, draw(DEEP))
    return value


INTERESTING = [
    b"",
    b"~",
    b".",
    b"=",
    b"&",
    b"%",
    b"%C0%AF",
    b"\xc0\xaf",
    b"\xff",
    b"\x00",
    b"[",
    b"{",
    b'"',
    b"+",
]


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with byte flips, insertions, deletions, duplications and splices."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        position = draw(st.integers(min_value=0, max_value=len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "splice", "truncate"]))
        if op == "flip" and position < len(data):
            data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif op == "insert":
            data[position:position] = draw(st.sampled_from(INTERESTING) | st.binary(max_size=8))
        elif op == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=16))]
        elif op == "duplicate":
            chunk = data[position : position + draw(st.integers(min_value=1, max_value=64))]
            data[position:position] = chunk * draw(st.integers(min_value=1, max_value=4))
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(min_value=0, max_value=len(other)))
            data[position:] = other[start:]
        elif op == "truncate":
            del data[position:]
    return bytes(data)


def mutated_text(seeds: list[str]) -> st.SearchStrategy[str]:
    return mutated_bytes([s.encode() for s in seeds]).map(lambda b: b.decode("utf-8", errors="replace"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@st.composite
def resegmented_jws(draw: st.DrawFn, seeds: list[str]) -> str:
    """A seed JWS whose header or payload JSON was mutated and re-encoded (signature left as it was)."""
    token = draw(st.sampled_from(seeds))
    parts = token.split("~")[0].split(".")
    index = draw(st.sampled_from([0, 1]))
    decoded = json.loads(_unb64(parts[index]))
    parts[index] = _b64(json.dumps(draw(mutated_json([decoded]))).encode())
    return ".".join(parts)


SEGMENT = st.one_of(
    st.text(alphabet=B64URL, max_size=80),
    st.binary(max_size=96).map(_b64),
    JSON_VALUES.map(lambda value: _b64(json.dumps(value).encode())),
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jwk", "x5c", "jku"]),
        st.sampled_from([*ALG_KEY_TYPES, "none", "HS256"]) | JSON_VALUES,
    ).map(lambda value: _b64(json.dumps(value).encode())),
    st.binary(max_size=40).map(lambda raw: _b64(b'{"alg":"ES256","x":"' + raw + b'"}')),
)
GENERATED_JWS = st.lists(SEGMENT, min_size=1, max_size=6).map(".".join)


# --- Fixed material --- #


@functools.cache
def _keys() -> list[Any]:
    privates = [
        Ed25519PrivateKey.generate(),
        *(ec.generate_private_key(c) for c in (ec.SECP256R1(), ec.SECP384R1())),
    ]
    return [public_jwk_from_key(key.public_key()) for key in privates]


@functools.cache
def _keyring() -> Any:
    return generate_keyring()


@functools.cache
def _policy_and_trust() -> tuple[VerificationPolicy, Any]:
    return _policy(load_settings({})), parse_trust_list(json.dumps(TRUST))


_LOOP = asyncio.new_event_loop()


def _verify_offline(flow: dict[str, Any], body: bytes, *, trust: TrustList | None = None) -> None:
    """parse_response + verify_response exactly as the service runs them, at the flow's own time."""
    parsed = parse_response(body, limits=LIMITS)
    if not isinstance(parsed, AuthorizationResponse):
        return
    policy, seeds_trust = _policy_and_trust()
    trust = trust or seeds_trust
    now = float(flow["now"])
    definition = materialize_definition(
        parse_definition(flow["definition"]), today=dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
    )
    expected = Expectations(
        client_id=flow["client_id"], nonce=flow["nonce"], definition=definition, trusted_issuers=None
    )
    keys = KeySources(dids=LocalDidResolver(methods=frozenset({"key", "jwk"})))
    _LOOP.run_until_complete(
        verify_response(parsed, expected=expected, policy=policy, trust=trust, keys=keys, now=now)
    )


# --- Targets --- #


def test_seed_flows_verify_offline() -> None:
    """Control: every committed flow verifies offline unchanged (so mutations start from valid inputs)."""
    for flow in FLOWS:
        _verify_offline(flow, flow["body"].encode())


@with_examples([form.encode() for form in FORMS])
@given(
    st.one_of(
        mutated_bytes([form.encode() for form in FORMS]),
        st.binary(max_size=400),
        st.dictionaries(
            st.sampled_from(["state", "id_token", "vp_token", "presentation_submission", "error", "iss"])
            | st.text(max_size=6),
            st.text(max_size=60) | JSON_VALUES.map(json.dumps),
            max_size=20,
        ).map(lambda params: urlencode(params).encode()),
    )
)
def test_form_body_parser(body: bytes) -> None:
    """service.response.parse_response: any body is a response, a wallet error, or a typed error."""
    only_typed_errors(lambda: parse_response(body, limits=LIMITS))


@with_examples(JWS + [s.split("~")[0] for s in SD_JWTS])
@given(st.one_of(mutated_text(JWS), resegmented_jws(JWS), GENERATED_JWS))
def test_compact_jws(token: str) -> None:
    """service.jose.jws.decode_jws (+ verify_jws with every key type) and the token-kind decoders."""

    def run() -> None:
        jws = decode_jws(token, kind=KIND, max_length=MAX_TOKEN)
        for key in _keys():
            only_typed_errors(
                lambda key=key: verify_jws(jws, key, allowed_algs=frozenset(ALG_KEY_TYPES), kind=KIND)
            )

    only_typed_errors(run)
    only_typed_errors(lambda: inspect_id_token(token, max_length=MAX_TOKEN))
    only_typed_errors(lambda: decode_presentation(token, max_length=MAX_TOKEN))
    only_typed_errors(lambda: decode_credential(token, max_length=MAX_TOKEN))


DID_GRAMMAR = st.one_of(
    st.text(alphabet=B58, max_size=120).map(lambda s: "did:key:z" + s),
    st.binary(max_size=80).map(lambda raw: "did:key:z" + _b58(raw)),
    JSON_VALUES.map(lambda value: "did:jwk:" + _b64(json.dumps(value).encode())),
    st.from_regex(r"did:[a-z0-9]{1,5}:[A-Za-z0-9._%:-]{0,40}([#/?][^\n]{0,10})?", fullmatch=True),
)


def _b58(data: bytes) -> str:
    num, out = int.from_bytes(data, "big"), ""
    while num:
        num, rem = divmod(num, 58)
        out = B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


@with_examples(DIDS)
@given(st.one_of(mutated_text(DIDS), DID_GRAMMAR, st.text(max_size=60)))
def test_did_strings(did: str) -> None:
    """service.did.resolve.resolve_local / did_of, then key selection in the resolved document."""

    def run() -> None:
        document = resolve_local(did_of(did))
        for relationship in ("authentication", "assertionMethod"):
            only_typed_errors(
                lambda r=relationship: select_verification_method(document, did, relationship=r)
            )  # type: ignore[arg-type]
            only_typed_errors(
                lambda r=relationship: select_verification_method(document, None, relationship=r)
            )  # type: ignore[arg-type]

    only_typed_errors(run)


JWK_GRAMMAR = st.dictionaries(
    st.sampled_from(["kty", "crv", "x", "y", "n", "e", "d", "k", "use", "alg", "kid"]),
    st.sampled_from(
        ["EC", "OKP", "RSA", "oct", "P-256", "P-384", "P-521", "secp256k1", "Ed25519", "X25519", "Ed448"]
    )
    | st.binary(max_size=70).map(_b64)
    | JSON_VALUES,
)


@with_examples(JWKS)
@given(st.one_of(mutated_json(JWKS), JWK_GRAMMAR))
def test_jwk(jwk: Any) -> None:
    """service.jose.jwk.parse_public_jwk / parse_key_agreement_jwk (+ thumbprint of what parses)."""
    if not isinstance(jwk, dict):
        jwk = {"value": jwk}
    only_typed_errors(lambda: jwk_thumbprint(parse_public_jwk(jwk)))
    only_typed_errors(lambda: parse_key_agreement_jwk(jwk))
    only_typed_errors(lambda: holder_key_from_cnf({"jwk": jwk}))
    only_typed_errors(lambda: holder_key_from_cnf(jwk))


@with_examples(SUBMISSIONS)
@given(st.one_of(mutated_json(SUBMISSIONS), JSON_VALUES))
def test_presentation_submission(raw: Any) -> None:
    """service.presentation_exchange.parse_submission, from the decoded object and from its JSON text."""
    only_typed_errors(lambda: parse_submission(raw))
    only_typed_errors(lambda: parse_submission(json.dumps(raw)))


@given(mutated_text([json.dumps(s) for s in SUBMISSIONS]))
def test_presentation_submission_text(text: str) -> None:
    """parse_submission on mutated JSON text (duplicates, truncation, bad escapes, huge numbers)."""
    only_typed_errors(lambda: parse_submission(text))


@with_examples(DEFINITIONS)
@given(st.one_of(mutated_json(DEFINITIONS), JSON_VALUES))
def test_presentation_definition(raw: Any) -> None:
    """service.presentation_exchange.parse_definition (+ template materialisation) on hostile definitions."""

    def run() -> None:
        definition = parse_definition(raw)
        materialize_definition(definition, today=dt.date(2026, 2, 28))

    only_typed_errors(run)


@st.composite
def reshuffled_sd_jwt(draw: st.DrawFn) -> str:
    """A seed SD-JWT(+KB) with Disclosures dropped, repeated, reordered, swapped in or mutated."""
    token = draw(st.sampled_from(SD_JWTS))
    issuer_jwt, *disclosures, kb = token.split("~")
    disclosures = draw(st.permutations(disclosures)) if disclosures else []
    ops = draw(st.lists(st.sampled_from(["drop", "repeat", "foreign", "mutate", "empty", "kb"]), max_size=4))
    for op in ops:
        if op == "drop" and disclosures:
            disclosures.pop(draw(st.integers(min_value=0, max_value=len(disclosures) - 1)))
        elif op == "repeat" and disclosures:
            disclosures.append(disclosures[0])
        elif op == "foreign":
            disclosures.append(draw(st.sampled_from(DISCLOSURES)))
        elif op == "mutate":
            array = draw(JSON_VALUES | mutated_json([json.loads(_unb64(d)) for d in DISCLOSURES]))
            disclosures.append(_b64(json.dumps(array).encode()))
        elif op == "empty":
            disclosures.append("")
        elif op == "kb":
            kb = draw(st.sampled_from(["", *JWS]))
    return "~".join([issuer_jwt, *disclosures, kb])


@functools.cache
def _sd_payloads() -> list[dict[str, Any]]:
    return [json.loads(_unb64(token.split("~")[0].split(".")[1])) for token in SD_JWTS]


@with_examples(SD_JWTS)
@given(st.one_of(reshuffled_sd_jwt(), mutated_text(SD_JWTS), st.text(alphabet=B64URL + "~.", max_size=200)))
def test_sd_jwt_split_and_inspect(token: str) -> None:
    """service.sd_jwt.split_presentation and the SD-JWT VC inspection on hostile serializations."""
    only_typed_errors(lambda: split_presentation(token))
    only_typed_errors(lambda: inspect_sd_jwt(token, max_length=MAX_TOKEN, max_disclosures=256))


@given(
    st.one_of(st.sampled_from(_sd_payloads()), mutated_json(_sd_payloads())),
    st.lists(
        st.sampled_from(DISCLOSURES)
        | mutated_text(DISCLOSURES)
        | JSON_VALUES.map(lambda value: _b64(json.dumps(value).encode())),
        max_size=8,
    ),
)
def test_sd_jwt_process_disclosures(payload: Any, disclosures: list[str]) -> None:
    """service.sd_jwt.process_disclosures on hostile payloads and Disclosures (digests, nesting, names)."""
    only_typed_errors(lambda: process_disclosures(payload, disclosures))
    only_typed_errors(
        lambda: holder_key_from_cnf(payload.get("cnf") if isinstance(payload, dict) else payload)
    )


@given(st.sampled_from(FLOWS), st.data())
def test_pipeline_mutated_bodies(flow: dict[str, Any], data: st.DataObject) -> None:
    """parse_response + verify_response on a real response body with byte-level mutations."""
    body = data.draw(mutated_bytes([flow["body"].encode()]))
    only_typed_errors(lambda: _verify_offline(flow, body))


@given(st.sampled_from(FLOWS), st.data())
def test_pipeline_mutated_parameters(flow: dict[str, Any], data: st.DataObject) -> None:
    """verify_response on a real response with one parameter's token re-segmented or its JSON mutated."""
    params = dict(parse_qsl(flow["body"], keep_blank_values=True))
    name = data.draw(st.sampled_from(sorted(params)))
    value = params[name]
    if name == "presentation_submission":
        params[name] = json.dumps(data.draw(mutated_json([json.loads(value)])))
    elif value.startswith("["):
        tokens = json.loads(value)
        index = data.draw(st.integers(min_value=0, max_value=len(tokens) - 1))
        tokens[index] = data.draw(resegmented_jws([tokens[index]]) | reshuffled_sd_jwt())
        params[name] = json.dumps(tokens)
    elif "~" in value:
        params[name] = data.draw(reshuffled_sd_jwt())
    elif value.count(".") == 2:
        params[name] = data.draw(resegmented_jws([value]))
    only_typed_errors(lambda: _verify_offline(flow, urlencode(params).encode()))


HANDLE = st.builds(
    lambda kid, body: f"{kid}.{body}",
    st.sampled_from(["k1", "", "x" * 9]) | st.text(max_size=5),
    st.text(alphabet=B64URL, max_size=200) | st.binary(max_size=200).map(_b64),
)


@given(st.one_of(HANDLE, st.text(max_size=80)))
def test_transaction_handles(handle: str) -> None:
    """service.transaction.seal.unseal: any handle is a transaction or a TransactionError."""
    keyring = _keyring()
    real = f"{keyring.active_sealing.kid}.{handle.partition('.')[2]}"
    only_typed_errors(lambda: unseal(handle, keyring))
    only_typed_errors(lambda: unseal(real, keyring))


# --- Validly signed, hostile content: the whole verification past every signature check --- #

NOW = 1_800_000_000
CLAIM = st.sampled_from(
    ["iss", "sub", "aud", "nonce", "iat", "exp", "nbf", "jti", "vp", "vc", "sub_jwk", "azp", "cnf", "status"]
) | st.text(max_size=6)
HEADER = st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jwk", "x5c", "jku", "cty"])
SUBJECT = st.sampled_from(["id", "ageOver21", "birthDate", "ageOver18"]) | st.text(max_size=6)
OVERRIDE_VALUES = JSON_VALUES | st.just(DELETE)


@functools.cache
def _live() -> dict[str, Any]:
    """Keys made once per run: a trusted issuer, two holders, and the flow around them."""
    issuer = Issuer(KeyPair.generate("ed25519"), now=lambda: NOW)
    trust = parse_trust_list(json.dumps({"issuers": [{"id": issuer.did}]}))
    holders = [
        Wallet(Holder(KeyPair.generate("ed25519")), now=lambda: NOW),
        Wallet(Holder(KeyPair.generate("p256"), "jwk_thumbprint"), now=lambda: NOW),
    ]
    definition = next(d for d in DEFINITIONS if d["id"] == "age-over-21")
    client_id = KeyPair.generate("p256").did_key()
    return {
        "issuer": issuer,
        "trust": trust,
        "holders": holders,
        "definition": definition,
        "client_id": client_id,
    }


@given(
    st.integers(min_value=0, max_value=1),
    st.fixed_dictionaries(
        {},
        optional={
            "id_token_claims": st.dictionaries(CLAIM, OVERRIDE_VALUES, max_size=2),
            "id_token_header": st.dictionaries(HEADER, OVERRIDE_VALUES, max_size=2),
            "vp_claims": st.dictionaries(CLAIM, OVERRIDE_VALUES, max_size=2),
            "vp_header": st.dictionaries(HEADER, OVERRIDE_VALUES, max_size=2),
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "claim_overrides": st.dictionaries(CLAIM, OVERRIDE_VALUES, max_size=2),
            "vc_overrides": st.dictionaries(
                st.sampled_from(["@context", "type", "issuer", "credentialSubject", "id", "issuanceDate"])
                | st.text(max_size=5),
                OVERRIDE_VALUES,
                max_size=2,
            ),
            "subject_overrides": st.dictionaries(SUBJECT, OVERRIDE_VALUES, max_size=2),
            "header_overrides": st.dictionaries(HEADER, OVERRIDE_VALUES, max_size=2),
        },
    ),
)
def test_pipeline_signed_hostile_claims(
    holder_index: int, response_options: dict[str, Any], credential_options: dict[str, Any]
) -> None:
    """verify_response on responses whose ID Token, VP and VC are validly signed but carry hostile claims."""
    live = _live()
    wallet: Wallet = live["holders"][holder_index]
    request = _request(live["client_id"], live["definition"], 1)
    credential = live["issuer"].issue(wallet.holder.id, {"ageOver21": True}, **credential_options)
    form = wallet.build_response(request, [credential], **response_options)
    flow = {
        "client_id": live["client_id"],
        "nonce": request.nonce,
        "now": NOW + 1,
        "definition": live["definition"],
    }
    body = urlencode(form).encode()
    only_typed_errors(lambda: _verify_offline(flow, body, trust=live["trust"]))
