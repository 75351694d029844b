"""parse_dcql_query: the OpenID4VP 1.0 §6 rules, each refusal naming the JSON pointer of the bad member."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from service.dcql import (
    ClaimsQuery,
    CredentialMeta,
    CredentialSetQuery,
    TrustedAuthority,
    check_supported,
    parse_dcql_query,
)
from service.errors import BadBackendRequest
from tests.unit.dcql.fakes import VCT_PID

BASE: dict[str, Any] = {
    "credentials": [
        {
            "id": "pid",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [VCT_PID]},
            "claims": [
                {"id": "a", "path": ["given_name"]},
                {"id": "b", "path": ["address", "postal_code"], "values": ["90210", 90211, True]},
            ],
            "claim_sets": [["a", "b"], ["a"]],
        },
        {
            "id": "diploma",
            "format": "jwt_vc_json",
            "meta": {"type_values": [["VerifiableCredential", "Diploma"]]},
        },
    ],
    "credential_sets": [{"options": [["pid"], ["diploma"]]}, {"options": [["diploma"]], "required": False}],
}


def refusal(raw: object) -> BadBackendRequest:
    with pytest.raises(BadBackendRequest) as caught:
        parse_dcql_query(raw)
    assert caught.value.description.isascii()
    return caught.value


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    change(raw)
    return raw


def cred(raw: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return raw["credentials"][index]


class TestParse:
    def test_full_query(self) -> None:
        """Every member is read into the Structs, with spec defaults."""
        query = parse_dcql_query(BASE)
        pid, diploma = query.credentials
        assert pid.id == "pid"
        assert pid.format == "dc+sd-jwt"
        assert pid.meta == CredentialMeta(vct_values=(VCT_PID,))
        assert pid.multiple is False
        assert pid.require_cryptographic_holder_binding is True
        assert pid.claims == (
            ClaimsQuery(id="a", path=("given_name",)),
            ClaimsQuery(id="b", path=("address", "postal_code"), values=("90210", 90211, True)),
        )
        assert pid.claim_sets == (("a", "b"), ("a",))
        assert pid.claim("b") is pid.claims[1]  # type: ignore[index]
        assert diploma.meta.type_values == (("VerifiableCredential", "Diploma"),)
        assert diploma.claims is None
        assert query.credential_sets == (
            CredentialSetQuery(options=(("pid",), ("diploma",))),
            CredentialSetQuery(options=(("diploma",),), required=False),
        )
        assert query.credential("diploma") is diploma
        assert query.credential("nope") is None

    def test_raw_is_an_independent_copy(self) -> None:
        """raw is what the wallet gets; later changes to the input do not reach it."""
        raw = copy.deepcopy(BASE)
        query = parse_dcql_query(raw)
        raw["credentials"].clear()
        assert query.raw == BASE

    def test_unknown_members_are_ignored_and_kept(self) -> None:
        """§6: unknown properties MUST be ignored; they still reach the wallet through raw."""
        raw = mutated(lambda r: r.update(x_ext={"any": [1]}))
        cred(raw)["purpose"] = "legacy"
        cred(raw)["claims"][0]["x"] = 1
        raw["credential_sets"][0]["purpose"] = "d25"
        query = parse_dcql_query(raw)
        assert query.raw["x_ext"] == {"any": [1]}
        assert query.credentials[0].claims[0] == ClaimsQuery(id="a", path=("given_name",))  # type: ignore[index]

    def test_flags_and_trusted_authorities(self) -> None:
        raw = mutated(
            lambda r: cred(r).update(
                multiple=True,
                require_cryptographic_holder_binding=False,
                trusted_authorities=[{"type": "aki", "values": ["s9tIpPmhxdiuNkHMEWNpYim8S8Y"]}],
            )
        )
        (pid, _) = parse_dcql_query(raw).credentials
        assert pid.multiple is True
        assert pid.require_cryptographic_holder_binding is False
        assert pid.trusted_authorities == (
            TrustedAuthority(type="aki", values=("s9tIpPmhxdiuNkHMEWNpYim8S8Y",)),
        )

    def test_vc_sd_jwt_alias_is_canonical(self) -> None:
        """The pre-draft-23 name reads as dc+sd-jwt; raw keeps the spelling sent."""
        raw = mutated(lambda r: cred(r).update(format="vc+sd-jwt"))
        query = parse_dcql_query(raw)
        assert query.credentials[0].format == "dc+sd-jwt"
        assert query.raw["credentials"][0]["format"] == "vc+sd-jwt"

    def test_wildcard_and_index_paths(self) -> None:
        raw = mutated(lambda r: cred(r)["claims"].append({"id": "c", "path": ["degrees", None, 0]}))
        assert parse_dcql_query(raw).credentials[0].claims[2].path == ("degrees", None, 0)  # type: ignore[index]

    def test_mdoc_query(self) -> None:
        """mso_mdoc parses: doctype_value, two-string paths, intent_to_retain."""
        raw = {
            "credentials": [
                {
                    "id": "mdl",
                    "format": "mso_mdoc",
                    "meta": {"doctype_value": "org.iso.18013.5.1.mDL"},
                    "claims": [{"path": ["org.iso.18013.5.1", "portrait"], "intent_to_retain": True}],
                }
            ]
        }
        (mdl,) = parse_dcql_query(raw).credentials
        assert mdl.meta.doctype_value == "org.iso.18013.5.1.mDL"
        assert mdl.claims[0].intent_to_retain is True  # type: ignore[index]

    def test_intent_to_retain_outside_mdoc_is_an_unknown_member(self) -> None:
        raw = mutated(lambda r: cred(r)["claims"][0].update(intent_to_retain="not even a bool"))
        assert parse_dcql_query(raw).credentials[0].claims[0].intent_to_retain is None  # type: ignore[index]

    def test_required_ids(self) -> None:
        """Without credential sets every query is required; with them, those listed in no set."""
        assert parse_dcql_query(BASE).required_ids() == ()
        raw = mutated(lambda r: r.pop("credential_sets"))
        assert parse_dcql_query(raw).required_ids() == ("pid", "diploma")
        raw = mutated(lambda r: r.update(credential_sets=[{"options": [["diploma"]]}]))
        assert parse_dcql_query(raw).required_ids() == ("pid",)

    def test_limits_are_inclusive(self) -> None:
        """64 credential queries, 64 claims, 32 path components and 64 values are accepted."""
        claims = [
            {"path": ["c", i, *([None] * 30)], "values": list(range(64))} if i == 0 else {"path": ["c", i]}
            for i in range(64)
        ]
        many = [{"id": f"q{i}", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}} for i in range(63)]
        query = parse_dcql_query(
            {
                "credentials": [
                    {"id": "x", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}, "claims": claims},
                    *many,
                ]
            }
        )
        assert len(query.credentials) == 64


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        node: Any = raw
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return change


def _drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        node: Any = raw
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]

    return change


C0 = ["credentials", 0]
CLAIM1 = [*C0, "claims", 1]

# (name, change, reason, description prefix)
MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("credentials missing", _drop(["credentials"]), "dcql.malformed", "credentials: is required"),
    ("credentials empty", _set(["credentials"], []), "dcql.malformed", "credentials: must not be empty"),
    (
        "credentials not array",
        _set(["credentials"], {}),
        "dcql.malformed",
        "credentials: must be a JSON array",
    ),
    ("credential not object", _set(C0, "pid"), "dcql.malformed", "credentials/0: must be a JSON object"),
    ("id missing", _drop([*C0, "id"]), "dcql.malformed", "credentials/0/id: is required"),
    ("id empty", _set([*C0, "id"], ""), "dcql.invalid_id", "credentials/0/id:"),
    ("id bad chars", _set([*C0, "id"], "p id"), "dcql.invalid_id", "credentials/0/id:"),
    ("id not string", _set([*C0, "id"], 7), "dcql.invalid_id", "credentials/0/id:"),
    ("id duplicate", _set(["credentials", 1, "id"], "pid"), "dcql.duplicate_id", "credentials/1/id: repeats"),
    ("format missing", _drop([*C0, "format"]), "dcql.malformed", "credentials/0/format: is required"),
    ("format unknown", _set([*C0, "format"], "jwt_vc"), "dcql.unknown_format", "credentials/0/format:"),
    ("format not string", _set([*C0, "format"], ["dc+sd-jwt"]), "dcql.malformed", "credentials/0/format:"),
    ("multiple not bool", _set([*C0, "multiple"], "yes"), "dcql.malformed", "credentials/0/multiple:"),
    ("multiple null", _set([*C0, "multiple"], None), "dcql.malformed", "credentials/0/multiple:"),
    (
        "holder binding not bool",
        _set([*C0, "require_cryptographic_holder_binding"], 0),
        "dcql.malformed",
        "credentials/0/require_cryptographic_holder_binding:",
    ),
    ("meta missing", _drop([*C0, "meta"]), "dcql.malformed", "credentials/0/meta: is required"),
    ("meta not object", _set([*C0, "meta"], []), "dcql.malformed", "credentials/0/meta: must be"),
    ("meta empty (sd-jwt)", _set([*C0, "meta"], {}), "dcql.invalid_meta", "credentials/0/meta/vct_values:"),
    (
        "vct_values empty",
        _set([*C0, "meta", "vct_values"], []),
        "dcql.malformed",
        "credentials/0/meta/vct_values:",
    ),
    (
        "vct_values entry",
        _set([*C0, "meta", "vct_values"], ["ok", 3]),
        "dcql.malformed",
        "credentials/0/meta/vct_values/1:",
    ),
    (
        "meta empty (jwt vc)",
        _set(["credentials", 1, "meta"], {}),
        "dcql.invalid_meta",
        "credentials/1/meta/type_values:",
    ),
    (
        "type_values not nested",
        _set(["credentials", 1, "meta", "type_values"], ["Diploma"]),
        "dcql.malformed",
        "credentials/1/meta/type_values/0:",
    ),
    (
        "type_values inner empty",
        _set(["credentials", 1, "meta", "type_values"], [[]]),
        "dcql.malformed",
        "credentials/1/meta/type_values/0:",
    ),
    (
        "trusted_authorities empty",
        _set([*C0, "trusted_authorities"], []),
        "dcql.malformed",
        "credentials/0/trusted_authorities:",
    ),
    (
        "trusted authority without values",
        _set([*C0, "trusted_authorities"], [{"type": "aki"}]),
        "dcql.malformed",
        "credentials/0/trusted_authorities/0/values: is required",
    ),
    (
        "trusted authority type not string",
        _set([*C0, "trusted_authorities"], [{"type": 1, "values": ["x"]}]),
        "dcql.malformed",
        "credentials/0/trusted_authorities/0/type:",
    ),
    ("claims empty", _set([*C0, "claims"], []), "dcql.malformed", "credentials/0/claims: must not be empty"),
    ("claims not array", _set([*C0, "claims"], {}), "dcql.malformed", "credentials/0/claims:"),
    ("claim not object", _set(CLAIM1, ["x"]), "dcql.malformed", "credentials/0/claims/1: must be"),
    ("path missing", _drop([*CLAIM1, "path"]), "dcql.malformed", "credentials/0/claims/1/path: is required"),
    ("path empty", _set([*CLAIM1, "path"], []), "dcql.invalid_path", "credentials/0/claims/1/path:"),
    ("path not array", _set([*CLAIM1, "path"], "$.a"), "dcql.invalid_path", "credentials/0/claims/1/path:"),
    (
        "path negative",
        _set([*CLAIM1, "path"], ["a", -1]),
        "dcql.invalid_path",
        "credentials/0/claims/1/path/1:",
    ),
    (
        "path float",
        _set([*CLAIM1, "path"], ["a", 1.0]),
        "dcql.invalid_path",
        "credentials/0/claims/1/path/1:",
    ),
    ("path bool", _set([*CLAIM1, "path"], [True]), "dcql.invalid_path", "credentials/0/claims/1/path/0:"),
    ("path object", _set([*CLAIM1, "path"], [{}]), "dcql.invalid_path", "credentials/0/claims/1/path/0:"),
    ("path too long", _set([*CLAIM1, "path"], ["a"] * 33), "dcql.too_large", "credentials/0/claims/1/path:"),
    ("claim id bad", _set([*CLAIM1, "id"], "b!"), "dcql.invalid_id", "credentials/0/claims/1/id:"),
    (
        "claim id duplicate",
        _set([*CLAIM1, "id"], "a"),
        "dcql.duplicate_id",
        "credentials/0/claims/1/id: repeats",
    ),
    (
        "same claim twice",
        _set([*CLAIM1, "path"], ["given_name"]),
        "dcql.duplicate_claim",
        "credentials/0/claims/1/path: repeats",
    ),
    ("values empty", _set([*CLAIM1, "values"], []), "dcql.malformed", "credentials/0/claims/1/values:"),
    (
        "values not array",
        _set([*CLAIM1, "values"], "90210"),
        "dcql.malformed",
        "credentials/0/claims/1/values:",
    ),
    (
        "values float",
        _set([*CLAIM1, "values"], ["a", 1.5]),
        "dcql.malformed",
        "credentials/0/claims/1/values/1:",
    ),
    ("values null", _set([*CLAIM1, "values"], [None]), "dcql.malformed", "credentials/0/claims/1/values/0:"),
    ("values object", _set([*CLAIM1, "values"], [{}]), "dcql.malformed", "credentials/0/claims/1/values/0:"),
    (
        "values too many",
        _set([*CLAIM1, "values"], list(range(65))),
        "dcql.too_large",
        "credentials/0/claims/1/values:",
    ),
    (
        "claim id missing with claim_sets",
        _drop([*CLAIM1, "id"]),
        "dcql.malformed",
        "credentials/0/claims/1/id: is required when claim_sets",
    ),
    (
        "claim_sets without claims",
        _drop([*C0, "claims"]),
        "dcql.malformed",
        "credentials/0/claim_sets: is only allowed together with claims",
    ),
    ("claim_sets empty", _set([*C0, "claim_sets"], []), "dcql.malformed", "credentials/0/claim_sets:"),
    (
        "claim set empty",
        _set([*C0, "claim_sets"], [["a"], []]),
        "dcql.malformed",
        "credentials/0/claim_sets/1:",
    ),
    (
        "claim set not array",
        _set([*C0, "claim_sets"], ["a"]),
        "dcql.malformed",
        "credentials/0/claim_sets/0:",
    ),
    (
        "claim set unknown id",
        _set([*C0, "claim_sets"], [["a", "zz"]]),
        "dcql.unknown_claim_id",
        "credentials/0/claim_sets/0/1:",
    ),
    (
        "claim set id not string",
        _set([*C0, "claim_sets"], [[1]]),
        "dcql.malformed",
        "credentials/0/claim_sets/0/0:",
    ),
    (
        "credential_sets empty",
        _set(["credential_sets"], []),
        "dcql.malformed",
        "credential_sets: must not be empty",
    ),
    ("credential set not object", _set(["credential_sets", 0], []), "dcql.malformed", "credential_sets/0:"),
    (
        "options missing",
        _drop(["credential_sets", 1, "options"]),
        "dcql.malformed",
        "credential_sets/1/options: is required",
    ),
    (
        "options empty",
        _set(["credential_sets", 0, "options"], []),
        "dcql.malformed",
        "credential_sets/0/options:",
    ),
    (
        "option empty",
        _set(["credential_sets", 0, "options"], [[]]),
        "dcql.malformed",
        "credential_sets/0/options/0:",
    ),
    (
        "option unknown id",
        _set(["credential_sets", 0, "options"], [["pid", "mdl"]]),
        "dcql.unknown_credential_id",
        "credential_sets/0/options/0/1:",
    ),
    (
        "required not bool",
        _set(["credential_sets", 1, "required"], "false"),
        "dcql.malformed",
        "credential_sets/1/required:",
    ),
]


@pytest.mark.parametrize(
    ("change", "reason", "where"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_malformed_query_is_refused_with_its_pointer(
    change: Callable[[dict[str, Any]], None], reason: str, where: str
) -> None:
    """Each §6 rule refuses its member, and the description starts with that member's JSON pointer."""
    error = refusal(mutated(change))
    assert error.reason == reason
    assert error.description.startswith(where), error.description
    assert error.status_code == 400


class TestTopLevel:
    @pytest.mark.parametrize("raw", [None, [], "{}", 1])
    def test_not_an_object(self, raw: object) -> None:
        error = refusal(raw)
        assert (error.reason, error.description) == ("dcql.malformed", "(root): must be a JSON object")

    def test_too_many_credential_queries(self) -> None:
        item = {"format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}}
        error = refusal({"credentials": [{"id": f"q{i}", **item} for i in range(65)]})
        assert (error.reason, error.description) == (
            "dcql.too_large",
            "credentials: must hold at most 64 elements",
        )

    def test_too_many_claims(self) -> None:
        error = refusal(mutated(_set([*C0, "claims"], [{"path": [f"c{i}"]} for i in range(65)])))
        assert error.reason == "dcql.too_large"
        assert error.description.startswith("credentials/0/claims:")

    def test_too_deep(self) -> None:
        """Unknown members are kept in raw, so their nesting is bounded too."""
        deep: Any = 1
        for _ in range(40):
            deep = [deep]
        error = refusal(mutated(lambda r: r.update(ext=deep)))
        assert (error.reason, error.description.split(":")[0]) == ("dcql.too_large", "(root)")


class TestMdocPaths:
    @pytest.mark.parametrize("path", [["org.iso.18013.5.1"], ["ns", "a", "b"], ["ns", 0], ["ns", None]])
    def test_mdoc_path_is_namespace_and_element(self, path: list[Any]) -> None:
        """§7.2.1: an mso_mdoc pointer is exactly [namespace, element identifier]."""
        raw = {
            "credentials": [
                {"id": "m", "format": "mso_mdoc", "meta": {"doctype_value": "x"}, "claims": [{"path": path}]}
            ]
        }
        error = refusal(raw)
        assert error.reason == "dcql.invalid_path"
        assert error.description.startswith("credentials/0/claims/0/path:")

    def test_mdoc_meta_needs_doctype(self) -> None:
        error = refusal({"credentials": [{"id": "m", "format": "mso_mdoc", "meta": {}}]})
        assert error.reason == "dcql.invalid_meta"
        assert error.description.startswith("credentials/0/meta/doctype_value: is required")

    def test_mdoc_intent_to_retain_must_be_bool(self) -> None:
        claims = [{"path": ["ns", "el"], "intent_to_retain": "yes"}]
        error = refusal(
            {
                "credentials": [
                    {"id": "m", "format": "mso_mdoc", "meta": {"doctype_value": "x"}, "claims": claims}
                ]
            }
        )
        assert error.description.startswith("credentials/0/claims/0/intent_to_retain:")


class TestCheckSupported:
    def test_supported_formats_pass(self) -> None:
        check_supported(parse_dcql_query(BASE))

    @pytest.mark.parametrize(
        ("fmt", "meta"), [("mso_mdoc", {"doctype_value": "x"}), ("ldp_vc", {"type_values": [["X"]]})]
    )
    def test_unverifiable_formats_are_refused(self, fmt: str, meta: dict[str, Any]) -> None:
        raw = mutated(lambda r: r["credentials"].append({"id": "other", "format": fmt, "meta": meta}))
        query = parse_dcql_query(raw)
        with pytest.raises(BadBackendRequest) as caught:
            check_supported(query)
        assert caught.value.reason == "dcql.unsupported_format"
        assert caught.value.description.startswith("credentials/2/format:")
