"""Settings from the environment: VERIFIER_* variables, comma lists, booleans, and refusals at start-up."""

from __future__ import annotations

import ast
import inspect

import pytest

import service.settings
from service.errors import ConfigurationError
from service.settings import ENV_PREFIX, Settings, load_settings


def _reason(environ: dict[str, str], **overrides: object) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ, **overrides)
    return caught.value.reason


class TestDefaults:
    def test_empty_environment_gives_defaults(self) -> None:
        """With no variables set, load_settings returns the Struct's defaults."""
        settings = load_settings({})
        assert settings == Settings()
        assert settings.environment == "development"
        assert settings.development
        assert settings.port == 8080
        assert settings.api_keys == ()
        assert settings.clock_skew == 60
        assert settings.holder_algs == ("EdDSA", "ES256", "ES256K", "ES384", "ES512")

    def test_defaults_never_allow_weak_algorithms(self) -> None:
        """Neither default allow-list contains none or an HMAC algorithm."""
        settings = load_settings({})
        for alg in (*settings.holder_algs, *settings.issuer_algs):
            assert alg != "none"
            assert not alg.startswith("HS")

    def test_every_field_is_documented(self) -> None:
        """Each Settings field is followed by an attribute docstring in settings.py."""
        tree = ast.parse(inspect.getsource(service.settings))
        cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings")
        documented = set()
        for first, second in zip(cls.body, cls.body[1:], strict=False):
            if (
                isinstance(first, ast.AnnAssign)
                and isinstance(first.target, ast.Name)
                and isinstance(second, ast.Expr)
                and isinstance(second.value, ast.Constant)
                and isinstance(second.value.value, str)
            ):
                documented.add(first.target.id)
        assert set(Settings.__struct_fields__) <= documented


class TestEnvironment:
    def test_scalar_values_converted(self) -> None:
        """Numeric strings become ints and floats; literals are checked."""
        settings = load_settings(
            {
                "VERIFIER_PORT": "9000",
                "VERIFIER_WEBHOOK_TIMEOUT": "2.5",
                "VERIFIER_ENVIRONMENT": "production",
                "VERIFIER_PUBLIC_URL": "https://verifier.example.com",
            }
        )
        assert settings.port == 9000
        assert settings.webhook_timeout == 2.5
        assert settings.environment == "production"
        assert not settings.development
        assert settings.public_url == "https://verifier.example.com"

    def test_comma_lists_become_tuples(self) -> None:
        """Comma lists are split, stripped, and empty items dropped."""
        settings = load_settings(
            {
                "VERIFIER_API_KEYS": " key1, key2 ,,key3,",
                "VERIFIER_HOLDER_ALGS": "ES256",
                "VERIFIER_WEBHOOK_ALLOW_LIST": "https://a.example/hook,https://b.example/",
            }
        )
        assert settings.api_keys == ("key1", "key2", "key3")
        assert settings.holder_algs == ("ES256",)
        assert settings.webhook_allow_list == ("https://a.example/hook", "https://b.example/")

    def test_empty_list_variable(self) -> None:
        """An empty list variable gives an empty tuple (it does not keep the default)."""
        assert load_settings({"VERIFIER_HOLDER_ALGS": ""}).holder_algs == ()

    def test_non_list_value_with_commas_kept_whole(self) -> None:
        """A comma in a string setting is not a list separator."""
        settings = load_settings({"VERIFIER_KEYRING_JSON": '{"a": 1, "b": 2}'})
        assert settings.keyring_json == '{"a": 1, "b": 2}'

    @pytest.mark.parametrize(
        ("raw", "value"), [("true", True), ("false", False), ("True", True), ("FALSE", False)]
    )
    def test_booleans(self, raw: str, value: bool) -> None:
        """true/false (any case) set booleans."""
        settings = load_settings(
            {"VERIFIER_OUTBOUND_ALLOW_HTTP": raw, "VERIFIER_ALLOW_LOOPBACK_WITHOUT_KEY": raw}
        )
        assert settings.outbound_allow_http is value
        assert settings.allow_loopback_without_key is value

    def test_unrelated_variables_ignored(self) -> None:
        """Variables without the prefix, or with the prefix but no matching field, are ignored."""
        settings = load_settings({"PORT": "1", "VERIFIER_NOT_A_SETTING": "x", "verifier_port": "2"})
        assert settings.port == 8080

    def test_overrides_win_over_environment(self) -> None:
        """Keyword overrides replace what the environment says."""
        settings = load_settings({"VERIFIER_PORT": "9000"}, port=9100, api_keys=["a"])
        assert settings.port == 9100
        assert settings.api_keys == ("a",)

    def test_reads_process_environment_by_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without an explicit mapping, os.environ is read."""
        monkeypatch.setenv(ENV_PREFIX + "PORT", "9123")
        assert load_settings().port == 9123

    def test_settings_are_frozen(self) -> None:
        """Settings cannot be changed after loading."""
        settings = load_settings({})
        with pytest.raises(AttributeError):
            settings.port = 1  # type: ignore[misc]


class TestRefusals:
    def test_unknown_override_field(self) -> None:
        """An override naming no setting is a ConfigurationError (typos fail the boot)."""
        assert _reason({}, prot=9000) == "config.invalid"

    @pytest.mark.parametrize("port", ["abc", "70000", "-1", "80.5", ""])
    def test_bad_port(self, port: str) -> None:
        """A port that is not an integer in 0..65535 is a ConfigurationError."""
        assert _reason({"VERIFIER_PORT": port}) == "config.invalid"

    @pytest.mark.parametrize("raw", ["yes", "on", "2", ""])
    def test_bad_boolean(self, raw: str) -> None:
        """A boolean that is not true/false is a ConfigurationError."""
        assert _reason({"VERIFIER_OUTBOUND_ALLOW_HTTP": raw}) == "config.invalid"

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("VERIFIER_ENVIRONMENT", "staging"),
            ("VERIFIER_CLIENT_ID_SCHEME", "entity_id"),
            ("VERIFIER_LOG_LEVEL", "verbose"),
            ("VERIFIER_TRANSACTION_TTL", "0"),
            ("VERIFIER_CLOCK_SKEW", "601"),
            ("VERIFIER_CLOCK_SKEW", "-1"),
            ("VERIFIER_WEBHOOK_TIMEOUT", "0"),
            ("VERIFIER_MAX_BODY_BYTES", "-5"),
        ],
    )
    def test_out_of_range_or_unknown_values(self, name: str, value: str) -> None:
        """Values outside a Literal or a numeric bound are a ConfigurationError."""
        assert _reason({name: value}) == "config.invalid"

    def test_error_names_the_setting(self) -> None:
        """The error description names the bad setting, so the operator can fix it."""
        with pytest.raises(ConfigurationError) as caught:
            load_settings({"VERIFIER_PORT": "abc"})
        assert "port" in caught.value.description
        assert caught.value.status_code == 500
