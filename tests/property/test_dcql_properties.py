"""Property tests: DCQL parsing fails only with BadBackendRequest; pointer selection is total and bounded;
evaluation fails only with the verifier's own errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.dcql import evaluate_dcql, parse_dcql_query, select
from service.dcql.pointer import lies_on
from service.errors import BadBackendRequest, VerifierError

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)

# Fragments that steer random input into the deeper parts of the parser.
NAMES = st.sampled_from(["a", "b", "pid", "x y", ""])
components = st.none() | st.integers(-2, 3) | NAMES | st.sampled_from([True, 1.0, [], {}])
claims = st.fixed_dictionaries(
    {},
    optional={
        "id": NAMES | json_values,
        "path": st.lists(components, max_size=4) | json_values,
        "values": st.lists(st.integers(0, 2) | NAMES | st.booleans() | st.floats(), max_size=3) | json_values,
        "intent_to_retain": st.booleans() | json_values,
    },
)
metas = st.fixed_dictionaries(
    {},
    optional={
        "vct_values": st.lists(NAMES, max_size=2) | json_values,
        "type_values": st.lists(st.lists(NAMES, max_size=2), max_size=2) | json_values,
        "doctype_value": NAMES | json_values,
    },
)
credential_queries = st.fixed_dictionaries(
    {},
    optional={
        "id": NAMES | json_values,
        "format": st.sampled_from(["dc+sd-jwt", "vc+sd-jwt", "jwt_vc_json", "mso_mdoc", "ldp_vc", "jwt_vc"]),
        "meta": metas | json_values,
        "multiple": st.booleans() | json_values,
        "require_cryptographic_holder_binding": st.booleans() | json_values,
        "trusted_authorities": st.lists(
            st.fixed_dictionaries(
                {}, optional={"type": NAMES | json_values, "values": st.lists(NAMES, max_size=2)}
            ),
            max_size=2,
        )
        | json_values,
        "claims": st.lists(claims, max_size=3) | json_values,
        "claim_sets": st.lists(st.lists(NAMES, max_size=2), max_size=2) | json_values,
    },
)
queries = st.fixed_dictionaries(
    {},
    optional={
        "credentials": st.lists(credential_queries, max_size=3) | json_values,
        "credential_sets": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "options": st.lists(st.lists(NAMES, max_size=2), max_size=2) | json_values,
                    "required": st.booleans() | json_values,
                },
            ),
            max_size=2,
        )
        | json_values,
        "unknown": json_values,
    },
)

# Mostly valid queries, so the property also covers what a successful parse yields.
good_claims = st.fixed_dictionaries(
    {"path": st.lists(st.none() | st.integers(0, 3) | NAMES, min_size=1, max_size=4)},
    optional={
        "id": st.sampled_from(["a", "b", "c"]),
        "values": st.lists(st.integers(0, 2) | NAMES, min_size=1, max_size=2),
    },
)
good_credentials = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["p", "q", "r"]),
        "format": st.sampled_from(["dc+sd-jwt", "vc+sd-jwt"]),
        "meta": st.just({"vct_values": ["v"]}),
    },
    optional={
        "claims": st.lists(good_claims, min_size=1, max_size=3),
        "multiple": st.booleans(),
        "claim_sets": st.lists(
            st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2), min_size=1, max_size=2
        ),
        "extension": json_values,
    },
)
good_queries = st.fixed_dictionaries(
    {"credentials": st.lists(good_credentials, min_size=1, max_size=3)},
    optional={
        "credential_sets": st.lists(
            st.fixed_dictionaries(
                {
                    "options": st.lists(
                        st.lists(st.sampled_from(["p", "q"]), min_size=1, max_size=2), min_size=1, max_size=2
                    )
                },
                optional={"required": st.booleans()},
            ),
            min_size=1,
            max_size=2,
        )
    },
)


@settings(max_examples=400)
@given(good_queries | queries | json_values)
def test_parse_fails_only_with_bad_backend_request(raw: Any) -> None:
    """Any JSON either parses or is refused with a dcql.* reason naming a pointer; a parse is stable."""
    try:
        query = parse_dcql_query(raw)
    except BadBackendRequest as exc:
        error = exc
    else:
        assert parse_dcql_query(query.raw) == query
        return
    assert error.reason.startswith("dcql.")
    assert ": " in error.description
    assert error.description.isascii()


def _nodes(document: Any) -> list[Any]:
    found: list[Any] = []
    stack = [document]
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


pointer_paths = st.lists(
    st.none() | st.integers(0, 4) | st.text(max_size=3) | st.sampled_from(["a", "b"]), max_size=6
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c", ""]), children, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=500)
@given(pointer_paths, documents)
def test_select_is_total_and_bounded(path: list[Any], document: Any) -> None:
    """select never raises, returns only nodes of the document, and no more than it holds."""
    selected = select(path, document)
    nodes = _nodes(document)
    assert len(selected) <= len(nodes)
    assert all(any(value is node for node in nodes) for value in selected)
    if None not in path:
        assert len(selected) <= 1


@given(st.lists(components, max_size=6), json_values)
def test_select_never_raises_on_any_components(path: list[Any], document: Any) -> None:
    """Invalid components (negative, float, bool, containers) are an error, reported as no selection."""
    select(path, document)


@dataclass(frozen=True)
class _Credential:
    format: str
    documents: tuple[Mapping[str, Any], ...]
    vct: str
    disclosed_paths: tuple[tuple[str | int, ...], ...]
    alg: str = "ES256"


QUERY = parse_dcql_query(
    {
        "credentials": [
            {
                "id": "a",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": ["v"]},
                "claims": [{"id": "x", "path": ["x"]}, {"id": "y", "path": ["y", None]}],
                "claim_sets": [["x", "y"], ["x"]],
            },
            {"id": "b", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}, "multiple": True},
        ],
        "credential_sets": [{"options": [["a"], ["b"]]}],
    }
)
payloads = st.dictionaries(
    st.sampled_from(["x", "y", "z"]), st.lists(st.integers(0, 2), max_size=2) | st.integers(0, 2), max_size=3
)
disclosures = st.lists(
    st.tuples(st.sampled_from(["x", "y", "z"]))
    | st.tuples(st.sampled_from(["x", "y", "z"]), st.integers(0, 2)),
    max_size=3,
)
credentials = st.builds(
    lambda payload, paths, vct: _Credential("dc+sd-jwt", ({"vct": vct, **payload},), vct, tuple(paths)),
    payloads,
    disclosures,
    st.sampled_from(["v", "w"]),
)
tokens = (
    st.dictionaries(
        st.sampled_from(["a", "b"]),
        st.lists(st.sampled_from(["t0", "t1", "t2"]), min_size=1, max_size=2),
        min_size=1,
    )
    | st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.lists(st.sampled_from(["t0", "t1", "t2"]), max_size=3) | json_values,
        max_size=3,
    )
    | json_values
)


@settings(max_examples=300)
@given(tokens, st.lists(credentials, min_size=3, max_size=3))
def test_evaluate_fails_only_with_verifier_errors(vp_token: Any, wallet: list[_Credential]) -> None:
    """Any vp_token is accepted or refused with a VerifierError; an accepted one discloses nothing unasked."""
    lookup = dict(zip(["t0", "t1", "t2"], wallet, strict=True))

    def resolve(fmt: str, presentation: Any) -> _Credential:
        if not isinstance(presentation, str) or presentation not in lookup:
            raise VerifierError("credential.invalid", "unknown")
        return lookup[presentation]

    try:
        result = evaluate_dcql(QUERY, vp_token, resolve)
    except VerifierError:
        return
    assert result.queries
    # Nothing unasked: each disclosure lies on a claim some query answered by that credential asked for.
    requested: dict[int, list[Any]] = {}
    for item in result.queries:
        for match in item.matches:
            requested.setdefault(id(match.credential), []).extend(claim.path for claim in match.claims)
    for item in result.queries:
        for match in item.matches:
            wanted = requested[id(match.credential)]
            assert all(
                any(lies_on(path, want) for want in wanted) for path in match.credential.disclosed_paths
            )
