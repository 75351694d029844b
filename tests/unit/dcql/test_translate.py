"""definition_to_dcql: each supported construct gives exact DCQL and the same verdict; the rest is refused.

Every supported row is checked three ways: the translated ``raw`` is the expected dict; a credential meeting
the definition passes both ``evaluate_submission`` and ``evaluate_dcql``; one violating it fails both.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from service.dcql import DcqlQuery, check_supported, definition_to_dcql, evaluate_dcql
from service.dcql.translate import MAX_CLAIM_SETS
from service.errors import BadBackendRequest, SubmissionMismatch
from service.presentation_exchange import evaluate_submission, parse_definition, parse_submission
from tests.unit.dcql.fakes import VCT_PID, FakeWallet, jwt_vc, sd_jwt

VC_IRI = "https://www.w3.org/2018/credentials#VerifiableCredential"
SD = {"dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"]}}
JWT = {"jwt_vc_json": {"alg": ["ES256"]}, "jwt_vp_json": {"alg": ["ES256"]}}
VCT = {"path": ["$.vct"], "filter": {"type": "string", "const": VCT_PID}}
META_PID = {"vct_values": [VCT_PID]}
META_VC = {"type_values": [[VC_IRI]]}
AGE_PATHS = ["$.age_equal_or_over.18", "$.age_over_18"]
TRUE = {"type": "boolean", "const": True}


def pid(*fields: dict[str, Any], descriptor_id: str = "pid", **extra: Any) -> dict[str, Any]:
    """A dc+sd-jwt descriptor constrained to the test vct, plus ``fields``."""
    return {"id": descriptor_id, "format": SD, "constraints": {"fields": [VCT, *fields]}, **extra}


def vc(*fields: dict[str, Any], descriptor_id: str = "vc", **extra: Any) -> dict[str, Any]:
    return {"id": descriptor_id, "format": JWT, "constraints": {"fields": list(fields)}, **extra}


def pd(*descriptors: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "pd", "input_descriptors": list(descriptors), **extra}


def sd_query(*claims: dict[str, Any], query_id: str = "pid", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": query_id, "format": "dc+sd-jwt", "meta": META_PID}
    if claims:
        item["claims"] = list(claims)
    return {**item, **extra}


def vc_query(*claims: dict[str, Any], query_id: str = "vc", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": query_id, "format": "jwt_vc_json", "meta": META_VC}
    if claims:
        item["claims"] = list(claims)
    return {**item, **extra}


def nested(**claims: Any) -> tuple[tuple[str | int, ...], ...]:
    """Disclosure paths of a credential whose object claims are disclosed member by member."""
    paths: list[tuple[str | int, ...]] = []
    for name, value in claims.items():
        paths.append((name,))
        if isinstance(value, dict):
            paths.extend((name, member) for member in value)
    return tuple(paths)


def pid_with(**claims: Any) -> Any:
    return sd_jwt(claims, disclosed=nested(**claims))


@dataclass(frozen=True)
class Row:
    name: str
    definition: dict[str, Any]
    query: dict[str, Any]  # the whole expected DCQL query
    good: dict[str, Any]  # descriptor id -> credential meeting the definition
    bad: dict[str, Any]  # descriptor id -> credentials violating it


ROWS = [
    Row(
        "dot path",
        pd(pid({"path": ["$.given_name"]})),
        {"credentials": [sd_query({"path": ["given_name"]})]},
        {"pid": pid_with(given_name="Alice")},
        {"pid": pid_with(family_name="Doe")},
    ),
    Row(
        "bracket path",
        pd(pid({"path": ["$['address']['locality']"]})),
        {"credentials": [sd_query({"path": ["address", "locality"]})]},
        {"pid": pid_with(address={"locality": "Berlin"})},
        {"pid": pid_with(address={"region": "BE"})},
    ),
    Row(
        "index path",
        pd(pid({"path": ["$.nationalities[0]"]})),
        {"credentials": [sd_query({"path": ["nationalities", 0]})]},
        {"pid": sd_jwt({"nationalities": ["DE"]})},
        {"pid": sd_jwt({"nationalities": []})},
    ),
    Row(
        "wildcard path",
        pd(pid({"path": ["$.nationalities[*]"]})),
        {"credentials": [sd_query({"path": ["nationalities", None]})]},
        {"pid": sd_jwt({"nationalities": ["DE", "FR"]})},
        {"pid": sd_jwt({"given_name": "Alice"})},
    ),
    Row(
        "boolean const",
        pd(pid({"path": ["$.age_over_18"], "filter": TRUE})),
        {"credentials": [sd_query({"path": ["age_over_18"], "values": [True]})]},
        {"pid": sd_jwt({"age_over_18": True})},
        {"pid": sd_jwt({"age_over_18": False})},
    ),
    Row(
        "const without type",
        pd(pid({"path": ["$.nationality"], "filter": {"const": "DE"}})),
        {"credentials": [sd_query({"path": ["nationality"], "values": ["DE"]})]},
        {"pid": sd_jwt({"nationality": "DE"})},
        {"pid": sd_jwt({"nationality": "FR"})},
    ),
    Row(
        "string enum",
        pd(pid({"path": ["$.nationality"], "filter": {"type": "string", "enum": ["DE", "AT"]}})),
        {"credentials": [sd_query({"path": ["nationality"], "values": ["DE", "AT"]})]},
        {"pid": sd_jwt({"nationality": "AT"})},
        {"pid": sd_jwt({"nationality": "FR"})},
    ),
    Row(
        "enum narrowed by type",
        pd(pid({"path": ["$.level"], "filter": {"type": "integer", "enum": [1, "1", True, 2]}})),
        {"credentials": [sd_query({"path": ["level"], "values": [1, 2]})]},
        {"pid": sd_jwt({"level": 2})},
        {"pid": sd_jwt({"level": "1"})},
    ),
    Row(
        "const inside enum",
        pd(pid({"path": ["$.level"], "filter": {"const": 2, "enum": [1, 2], "title": "Level"}})),
        {"credentials": [sd_query({"path": ["level"], "values": [2]})]},
        {"pid": sd_jwt({"level": 2})},
        {"pid": sd_jwt({"level": 1})},
    ),
    Row(
        "type string alone",
        pd(pid({"path": ["$.given_name"], "filter": {"type": "string"}})),
        {"credentials": [sd_query({"path": ["given_name"]})]},
        {"pid": sd_jwt({"given_name": "Alice"})},
        {"pid": sd_jwt({"family_name": "Doe"})},
    ),
    Row(
        "vct enum is vct_values",
        pd(
            {
                "id": "pid",
                "format": {"vc+sd-jwt": {}, "dc+sd-jwt": {}},
                "constraints": {
                    "limit_disclosure": "required",
                    "fields": [{"path": ["$.vct"], "filter": {"type": "string", "enum": ["urn:a", VCT_PID]}}],
                },
            }
        ),
        {"credentials": [{"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:a", VCT_PID]}}]},
        {"pid": sd_jwt({}, vct="urn:a")},
        {"pid": sd_jwt({}, vct="urn:b")},
    ),
    Row(
        "vct with an id is also a claim",
        pd(
            {
                "id": "pid",
                "format": SD,
                "constraints": {"fields": [{"id": "kind", "path": ["$.vct"], "filter": {"const": VCT_PID}}]},
            }
        ),
        {"credentials": [sd_query({"id": "kind", "path": ["vct"], "values": [VCT_PID]})]},
        {"pid": sd_jwt({})},
        {"pid": sd_jwt({}, vct="urn:other")},
    ),
    Row(
        "jwt_vc_json path under vc",
        pd(vc({"path": ["$.vc.credentialSubject.degree"]})),
        {"credentials": [vc_query({"path": ["credentialSubject", "degree"]})]},
        {"vc": jwt_vc({"degree": "MSc"})},
        {"vc": jwt_vc({"name": "Alice"})},
    ),
    Row(
        "jwt_vc_json VCDM path, format on the definition",
        pd(
            {"id": "vc", "constraints": {"fields": [{"path": ["$.credentialSubject.degree"]}]}},
            format={"jwt_vc": {"alg": ["ES256"]}, "jwt_vp": {"alg": ["ES256"]}},
        ),
        {"credentials": [vc_query({"path": ["credentialSubject", "degree"]})]},
        {"vc": jwt_vc({"degree": "MSc"})},
        {"vc": jwt_vc({"name": "Alice"})},
    ),
    Row(
        "type contains is type_values",
        pd(vc({"path": ["$.vc.type"], "filter": {"type": "array", "contains": {"const": "Diploma"}}})),
        {"credentials": [{"id": "vc", "format": "jwt_vc_json", "meta": {"type_values": [["Diploma"]]}}]},
        {"vc": jwt_vc({}, types=("VerifiableCredential", "Diploma"))},
        {"vc": jwt_vc({}, types=("VerifiableCredential", "Transcript"))},
    ),
    Row(
        "two type constraints, one with an id and both spellings",
        pd(
            vc(
                {"path": ["$.vc.type"], "filter": {"contains": {"const": "VerifiableCredential"}}},
                {
                    "id": "diploma",
                    "path": ["$.vc.type", "$.type"],
                    "filter": {"type": "array", "contains": {"type": "string", "const": "Diploma"}},
                },
            )
        ),
        {
            "credentials": [
                {
                    "id": "vc",
                    "format": "jwt_vc_json",
                    "meta": {"type_values": [[VC_IRI, "Diploma"]]},
                    "claims": [{"id": "diploma", "path": ["type", None], "values": ["Diploma"]}],
                }
            ]
        },
        {"vc": jwt_vc({}, types=("VerifiableCredential", "Diploma"))},
        {"vc": jwt_vc({}, types=("VerifiableCredential",))},
    ),
    Row(
        "field id is the claim id",
        pd(pid({"id": "name", "path": ["$.given_name"]})),
        {"credentials": [sd_query({"id": "name", "path": ["given_name"]})]},
        {"pid": sd_jwt({"given_name": "Alice"})},
        {"pid": sd_jwt({})},
    ),
    Row(
        "alternative paths are claim sets",
        pd(pid({"id": "age_over_18", "path": AGE_PATHS, "filter": TRUE})),
        {
            "credentials": [
                sd_query(
                    {"id": "age_over_18", "path": ["age_equal_or_over", "18"], "values": [True]},
                    {"id": "age_over_18_alt1", "path": ["age_over_18"], "values": [True]},
                    claim_sets=[["age_over_18"], ["age_over_18_alt1"]],
                )
            ]
        },
        {"pid": sd_jwt({"age_over_18": True})},
        {"pid": pid_with(age_equal_or_over={"18": False})},
    ),
    Row(
        "alternatives of two fields combine",
        pd(
            pid(
                {"path": ["$.address.locality", "$.address.region"]},
                {"id": "name", "path": ["$.given_name"]},
                {"path": ["$.birthdate", "$.age_over_18"]},
            )
        ),
        {
            "credentials": [
                sd_query(
                    {"id": "field1", "path": ["address", "locality"]},
                    {"id": "field1_alt1", "path": ["address", "region"]},
                    {"id": "name", "path": ["given_name"]},
                    {"id": "field3", "path": ["birthdate"]},
                    {"id": "field3_alt1", "path": ["age_over_18"]},
                    claim_sets=[
                        ["field1", "name", "field3"],
                        ["field1", "name", "field3_alt1"],
                        ["field1_alt1", "name", "field3"],
                        ["field1_alt1", "name", "field3_alt1"],
                    ],
                )
            ]
        },
        {"pid": pid_with(address={"region": "BE"}, given_name="Alice", age_over_18=True)},
        {"pid": pid_with(address={"region": "BE"}, given_name="Alice")},
    ),
    Row(
        "limit_disclosure and explicit defaults change nothing",
        pd(
            {
                "id": "pid",
                "format": SD,
                "constraints": {
                    "limit_disclosure": "required",
                    "fields": [
                        VCT,
                        {
                            "path": ["$.given_name"],
                            "optional": False,
                            "intent_to_retain": False,
                            "purpose": "x",
                        },
                    ],
                },
            }
        ),
        {"credentials": [sd_query({"path": ["given_name"]})]},
        {"pid": sd_jwt({"given_name": "Alice"})},
        {"pid": sd_jwt({"given_name": "Alice", "family_name": "Doe"})},
    ),
    Row(
        "rule all over every group needs no credential sets",
        pd(
            pid({"path": ["$.given_name"]}, group=["A"]),
            vc({"path": ["$.credentialSubject.degree"]}, group=["B"]),
            submission_requirements=[{"rule": "all", "from": "A"}, {"rule": "all", "from": "B"}],
        ),
        {
            "credentials": [
                sd_query({"path": ["given_name"]}),
                vc_query({"path": ["credentialSubject", "degree"]}),
            ]
        },
        {"pid": sd_jwt({"given_name": "Alice"}), "vc": jwt_vc({"degree": "MSc"})},
        {"pid": sd_jwt({"given_name": "Alice"})},
    ),
    Row(
        "pick count 1 is a credential set",
        pd(
            pid({"path": ["$.given_name"]}, group=["A"]),
            vc({"path": ["$.credentialSubject.degree"]}, descriptor_id="diploma", group=["B"]),
            vc({"path": ["$.credentialSubject.grade"]}, descriptor_id="transcript", group=["B"]),
            submission_requirements=[
                {"rule": "all", "from": "A"},
                {"rule": "pick", "count": 1, "from": "B", "name": "education"},
            ],
        ),
        {
            "credentials": [
                sd_query({"path": ["given_name"]}),
                vc_query({"path": ["credentialSubject", "degree"]}, query_id="diploma"),
                vc_query({"path": ["credentialSubject", "grade"]}, query_id="transcript"),
            ],
            "credential_sets": [{"options": [["pid"]]}, {"options": [["diploma"], ["transcript"]]}],
        },
        {"pid": sd_jwt({"given_name": "Alice"}), "transcript": jwt_vc({"grade": "A"})},
        {"pid": sd_jwt({"given_name": "Alice"}), "diploma": jwt_vc({"grade": "A"})},
    ),
]


def by_name(rows: list[Row]) -> Any:
    return pytest.mark.parametrize("row", rows, ids=[row.name for row in rows])


def translate(raw: dict[str, Any]) -> DcqlQuery:
    return definition_to_dcql(parse_definition(raw))


def wallet_for(credentials: dict[str, Any]) -> FakeWallet:
    wallet = FakeWallet()
    for descriptor_id, credential in credentials.items():
        wallet.add(f"token-{descriptor_id}", credential)
    return wallet


def pe_accepts(raw: dict[str, Any], credentials: dict[str, Any]) -> bool:
    wallet = wallet_for(credentials)
    descriptor_map = [
        {"id": descriptor_id, "format": credential.format, "path": f"$[{i}]"}
        for i, (descriptor_id, credential) in enumerate(credentials.items())
    ]
    submission = parse_submission({"id": "s", "definition_id": raw["id"], "descriptor_map": descriptor_map})
    vp_token = [f"token-{descriptor_id}" for descriptor_id in credentials]
    try:
        evaluate_submission(parse_definition(raw), submission, vp_token, wallet.lookup)
    except SubmissionMismatch:
        return False
    return True


def dcql_accepts(query: DcqlQuery, credentials: dict[str, Any]) -> bool:
    wallet = wallet_for(credentials)
    vp_token = {query_id: [f"token-{query_id}"] for query_id in credentials}
    try:
        evaluate_dcql(query, vp_token, wallet.lookup)
    except SubmissionMismatch:
        return False
    return True


class TestSupported:
    @by_name(ROWS)
    def test_translation_is_exact(self, row: Row) -> None:
        """The raw query is the expected DCQL JSON, parsed and supported."""
        query = translate(row.definition)
        assert query.raw == row.query
        check_supported(query)

    @by_name(ROWS)
    def test_satisfying_credentials_pass_both(self, row: Row) -> None:
        """A credential meeting the definition satisfies the definition and the translated query."""
        assert pe_accepts(row.definition, row.good)
        assert dcql_accepts(translate(row.definition), row.good)

    @by_name(ROWS)
    def test_violating_credentials_fail_both(self, row: Row) -> None:
        """A credential violating the definition fails the definition and the translated query."""
        assert not pe_accepts(row.definition, row.bad)
        assert not dcql_accepts(translate(row.definition), row.bad)

    def test_definition_is_not_changed(self) -> None:
        raw = pd(pid({"id": "age_over_18", "path": AGE_PATHS, "filter": TRUE}))
        definition = parse_definition(raw)
        before = copy.deepcopy(definition.raw)
        definition_to_dcql(definition)
        assert definition.raw == before


# --- Refusals --- #


def field_row(name: str, item: dict[str, Any], where: str, says: str, *, jwt: bool = False) -> Any:
    descriptor = vc(item) if jwt else pid(item)
    index = 0 if jwt else 1
    return pytest.param(
        pd(descriptor), f"input_descriptors/0/constraints/fields/{index}{where}", says, id=name
    )


FILTERS = "/filter"
REFUSED = [
    field_row(
        "formatMaximum",
        {
            "path": ["$.birthdate"],
            "filter": {"type": "string", "format": "date", "formatMaximum": "2000-01-01"},
        },
        FILTERS,
        "format, formatMaximum cannot be expressed in DCQL",
    ),
    field_row("anyOf", {"path": ["$.age_over_18"], "filter": {"anyOf": [TRUE]}}, FILTERS, "anyOf cannot"),
    field_row(
        "pattern", {"path": ["$.a"], "filter": {"type": "string", "pattern": "^x"}}, FILTERS, "pattern"
    ),
    field_row("minimum", {"path": ["$.a"], "filter": {"type": "integer", "minimum": 3}}, FILTERS, "minimum"),
    field_row("not", {"path": ["$.a"], "filter": {"not": {"const": 1}}}, FILTERS, "not cannot"),
    field_row(
        "contains elsewhere", {"path": ["$.a"], "filter": {"contains": {"const": 1}}}, FILTERS, "contains"
    ),
    field_row("lone number type", {"path": ["$.a"], "filter": {"type": "number"}}, FILTERS, "type without"),
    field_row("float const", {"path": ["$.a"], "filter": {"const": 1.5}}, FILTERS, "strings, integers"),
    field_row(
        "null in enum", {"path": ["$.a"], "filter": {"enum": ["x", None]}}, FILTERS, "strings, integers"
    ),
    field_row("object const", {"path": ["$.a"], "filter": {"const": {"b": 1}}}, FILTERS, "strings, integers"),
    field_row(
        "no value of the type",
        {"path": ["$.a"], "filter": {"type": "boolean", "enum": ["true", 1]}},
        FILTERS,
        "no value satisfies",
    ),
    field_row("optional", {"path": ["$.a"], "optional": True}, "/optional", "optional field"),
    field_row(
        "intent_to_retain", {"path": ["$.a"], "intent_to_retain": True}, "/intent_to_retain", "mso_mdoc"
    ),
    field_row("bad claim id", {"id": "given name", "path": ["$.a"]}, "/id", "A-Z, a-z"),
    field_row("recursive descent", {"path": ["$..a"]}, "/path/0", "recursive descent"),
    field_row("slice", {"path": ["$.a[0:2]"]}, "/path/0", "array slice"),
    field_row("filter expression", {"path": ["$.a[?(@.b == 1)]"]}, "/path/0", "filter expression"),
    field_row("name union", {"path": ["$['a','b']"]}, "/path/0", "union of member names"),
    field_row("index union", {"path": ["$.a[0,1]"]}, "/path/0", "union of indices"),
    field_row("negative index", {"path": ["$.a[-1]"]}, "/path/0", "negative index"),
    field_row("root", {"path": ["$.a", "$"]}, "/path/1", "starts with a member name"),
    field_row("root wildcard", {"path": ["$[*]"]}, "/path/0", "starts with a member name"),
    field_row("filter on a wildcard", {"path": ["$.a[*]"], "filter": {"const": "x"}}, FILTERS, "[*] path"),
    field_row("JWT claim", {"path": ["$.iss"]}, "/path/0", "JWT claim iss", jwt=True),
    field_row("vc member decoded from a claim", {"path": ["$.vc.issuer"]}, "/path/0", "$.issuer", jwt=True),
    field_row(
        "subject id decoded from sub",
        {"path": ["$.credentialSubject.x", "$.vc.credentialSubject.id"]},
        "/path/1",
        "write $.credentialSubject.id",
        jwt=True,
    ),
    field_row("whole vc", {"path": ["$.vc"]}, "/path/0", "starts with a member name", jwt=True),
    field_row(
        "type contains enum",
        {"path": ["$.vc.type"], "filter": {"contains": {"enum": ["A", "B"]}}},
        "/filter/contains",
        "enum cannot",
        jwt=True,
    ),
    field_row(
        "type contains with minContains",
        {"path": ["$.type"], "filter": {"contains": {"const": "A"}, "minContains": 2}},
        FILTERS,
        "minContains",
        jwt=True,
    ),
    field_row(
        "type of a non-array",
        {"path": ["$.type"], "filter": {"type": "string", "contains": {"const": "A"}}},
        FILTERS,
        "array of types",
        jwt=True,
    ),
    field_row(
        "type with alternatives",
        {"path": ["$.type", "$.credentialSubject.type"], "filter": {"contains": {"const": "A"}}},
        "/path",
        "alternative paths",
        jwt=True,
    ),
    pytest.param(
        pd({**pid(), "id": "pid credential"}), "input_descriptors/0/id", "never renamed", id="bad query id"
    ),
    pytest.param(
        pd({"id": "x", "constraints": {"fields": [VCT]}}),
        "input_descriptors/0",
        "names no format",
        id="no format",
    ),
    pytest.param(
        pd({**pid(), "format": {**SD, **JWT}}), "input_descriptors/0/format", "one format", id="two formats"
    ),
    pytest.param(
        pd({"id": "x", "constraints": {"fields": [VCT]}}, format={**SD, "jwt_vc": {}}),
        "format",
        "one format",
        id="two formats on the definition",
    ),
    pytest.param(
        pd({**pid(), "format": {"ldp_vc": {"proof_type": ["Ed25519Signature2018"]}}}),
        "input_descriptors/0/format",
        "no format this verifier",
        id="only ldp_vc",
    ),
    pytest.param(
        pd({"id": "age", "format": SD, "constraints": {"fields": [{"path": AGE_PATHS, "filter": TRUE}]}}),
        "input_descriptors/0",
        "requires vct_values",
        id="sd-jwt without vct",
    ),
    pytest.param(
        pd(pid({"path": ["$.given_name"]}, {"path": ["$.family_name", "$['given_name']"]})),
        "input_descriptors/0/constraints/fields/2",
        "asks for the same claim as input_descriptors/0/constraints/fields/1",
        id="same claim twice",
    ),
    pytest.param(
        pd(pid({"path": ["$.vct"], "filter": {"enum": [VCT_PID, "urn:x"]}})),
        "input_descriptors/0/constraints/fields/1",
        "second vct constraint",
        id="second vct constraint",
    ),
    pytest.param(
        pd(
            {
                **pid(),
                "constraints": {"fields": [{"path": ["$.vct", "$.type"], "filter": {"const": VCT_PID}}]},
            }
        ),
        "input_descriptors/0/constraints/fields/0/path",
        "alternative paths",
        id="vct with alternatives",
    ),
    pytest.param(
        pd({**pid(), "constraints": {"fields": [{"path": ["$.vct"], "filter": {"const": 7}}]}}),
        "input_descriptors/0/constraints/fields/0/filter",
        "a vct is a string",
        id="vct not a string",
    ),
    pytest.param(
        pd(pid({"id": "x", "path": ["$.a", "$.b"]}, {"id": "x_alt1", "path": ["$.c"]})),
        "input_descriptors/0/constraints/fields/2",
        "claim id x_alt1 is already used",
        id="generated id taken",
    ),
    pytest.param(
        pd(pid(*({"path": [f"$.a{k}", f"$.b{k}"]} for k in range(5)))),
        "input_descriptors/0/constraints/fields",
        f"32 claim sets, more than {MAX_CLAIM_SETS}",
        id="too many claim sets",
    ),
    pytest.param(
        pd(pid(*({"path": [f"$.a{k}_{m}" for m in range(16)]} for k in range(5)))),
        "input_descriptors/0/constraints/fields",
        "more than 64 claims",
        id="too many claims",
    ),
]


def grouped(*requirements: dict[str, Any], groups: tuple[list[str], ...] = (["A"], ["B"])) -> dict[str, Any]:
    descriptors = [pid(descriptor_id=f"d{i}", group=group) for i, group in enumerate(groups)]
    return pd(*descriptors, submission_requirements=list(requirements))


REQUIREMENTS = [
    pytest.param(
        grouped({"rule": "all", "from_nested": [{"rule": "all", "from": "A"}, {"rule": "all", "from": "B"}]}),
        "submission_requirements/0/from_nested",
        "nested",
        id="nested",
    ),
    pytest.param(
        grouped(
            {"rule": "all", "from": "A"},
            {"rule": "pick", "count": 2, "from": "B"},
            groups=(["A"], ["B"], ["B"]),
        ),
        "submission_requirements/1",
        "count 1",
        id="pick count 2",
    ),
    pytest.param(
        grouped({"rule": "all", "from": "A"}, {"rule": "pick", "min": 1, "from": "B"}),
        "submission_requirements/1",
        "count 1",
        id="pick min",
    ),
    pytest.param(
        grouped({"rule": "all", "from": "A"}, {"rule": "pick", "count": 1, "max": 1, "from": "B"}),
        "submission_requirements/1",
        "no min or max",
        id="pick count and max",
    ),
    pytest.param(
        grouped({"rule": "all", "from": "A"}, {"rule": "pick", "from": "B"}),
        "submission_requirements/1",
        "count 1",
        id="pick without count",
    ),
    pytest.param(
        grouped(
            {"rule": "all", "from": "A"},
            {"rule": "pick", "count": 1, "from": "B"},
            groups=(["A", "B"], ["B"]),
        ),
        "submission_requirements/1",
        "input_descriptors/0 is already in submission_requirements/0",
        id="descriptor in two requirements",
    ),
    pytest.param(
        grouped({"rule": "all", "from": "A"}),
        "input_descriptors/1/group",
        "no submission requirement",
        id="descriptor in no requirement",
    ),
]


class TestRefused:
    @pytest.mark.parametrize(("raw", "where", "says"), [*REFUSED, *REQUIREMENTS])
    def test_refusal_names_the_construct_and_where(self, raw: dict[str, Any], where: str, says: str) -> None:
        """Never an approximation: dcql.untranslatable, the pointer into the definition, then why."""
        definition = parse_definition(raw)
        with pytest.raises(BadBackendRequest) as caught:
            definition_to_dcql(definition)
        error = caught.value
        assert error.reason == "dcql.untranslatable"
        assert error.description.isascii()
        pointer, _, message = error.description.partition(": ")
        assert pointer == where
        assert says in message
