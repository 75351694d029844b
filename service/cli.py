"""Operator commands: ``python -m service <command>``.

::

    serve                                   run the verifier (the default)
    openapi                                 print the OpenAPI document
    keys generate [--out PATH] [--force]    write a new keyring (mode 0600)
    keys rotate [--keyring PATH]            put a new signing and sealing key in front, keep the old ones
    keys jwks [--keyring PATH]              print the public JWK Set
    definitions validate [PATH]             load a definitions folder the way start-up does
    verdict verify JWT --jwks URL|FILE      check a verdict's signature and print its claims
    demo [--url URL] [--definition ID]      run the whole flow against a running service (demo wallet)

``serve`` and ``openapi`` live in ``service.__main__`` and are handed in, so this module imports neither the
web framework nor the server. Results go to stdout (JSON where it is data), problems to stderr. Exit codes:
0 success, 1 the thing checked is bad (a definition, a verdict, a demo not verified), 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from service.demo import DemoError, answer_link, demo_trust_file, hint_for, run_demo
from service.errors import ConfigurationError, InvalidRequest, MalformedKey
from service.jose.jwk import parse_public_jwk
from service.jose.jws import TokenKind, decode_jws, verify_jws
from service.keys import Keyring, dump_keyring, generate_keyring, load_keyring
from service.presentation_exchange.registry import load_definitions
from service.settings import load_settings
from service.strict_json import StrictJsonError, loads_strict
from service.vocabulary import VERDICT_TYP

__all__ = ["VERDICT_ALGS", "main"]

VERDICT_ALGS: Final = frozenset({"ES256", "ES384", "EdDSA"})
_VERDICT: Final = TokenKind("verdict", InvalidRequest)
_MAX_JWKS_BYTES: Final = 256 * 1024
_FETCH_TIMEOUT: Final = 10.0

Command = Callable[[], int]


class CommandError(Exception):
    """A problem to report on stderr with an exit code (1: the input is bad, 2: usage/configuration)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _emit(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


# --- keys --- #


def _default_keyring_path() -> Path:
    settings = load_settings()
    return settings.path(settings.keyring_path)


def _write_secret(path: Path, text: str, *, overwrite: bool) -> None:
    """Write ``text`` readable by the owner only; without ``overwrite`` an existing file is refused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise CommandError(f"{path} exists; pass --force to replace it", 2) from exc
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        return
    # Replace atomically: a reader (or a crash) never sees a half-written keyring. mkstemp makes it 0600.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read_keyring(path: Path) -> Keyring:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read keyring {path}: {exc.strerror}", 2) from exc
    return load_keyring(text)


def _kids(keyring: Keyring) -> dict[str, list[str]]:
    return {"signing": [key.kid for key in keyring.signing], "sealing": [key.kid for key in keyring.sealing]}


def _keys_generate(args: argparse.Namespace) -> int:
    path = Path(args.out) if args.out else _default_keyring_path()
    keyring = generate_keyring()
    _write_secret(path, dump_keyring(keyring), overwrite=args.force)
    _emit({"keyring": str(path), **_kids(keyring)})
    return 0


def _rotated(keyring: Keyring) -> Keyring:
    """``keyring`` with a fresh signing and sealing key in front of the existing ones."""
    signing = {key.kid for key in keyring.signing}
    sealing = {key.kid for key in keyring.sealing}
    while True:  # sealing kids are short and random: draw again on the rare collision
        fresh = generate_keyring()
        if fresh.active_signing.kid not in signing and fresh.active_sealing.kid not in sealing:
            break
    return Keyring(
        signing=(fresh.active_signing, *keyring.signing),
        sealing=(fresh.active_sealing, *keyring.sealing),
    )


def _keys_rotate(args: argparse.Namespace) -> int:
    path = Path(args.keyring) if args.keyring else _default_keyring_path()
    keyring = _rotated(_read_keyring(path))
    _write_secret(path, dump_keyring(keyring), overwrite=True)
    _emit(
        {
            "keyring": str(path),
            "new": {"signing": keyring.active_signing.kid, "sealing": keyring.active_sealing.kid},
            **_kids(keyring),
        }
    )
    return 0


def _keys_jwks(args: argparse.Namespace) -> int:
    path = Path(args.keyring) if args.keyring else _default_keyring_path()
    _emit(_read_keyring(path).jwks())
    return 0


# --- definitions --- #


def _definitions_validate(args: argparse.Namespace) -> int:
    directory = Path(args.path) if args.path else Path(load_settings().definitions_dir)
    try:
        registry = load_definitions(directory)
    except ConfigurationError as exc:
        raise CommandError(f"{exc.reason}: {exc.description}") from exc
    for entry in registry.list():
        sys.stdout.write(f"{entry.id}\n")
    return 0


# --- verdict --- #


def _load_jwks(source: str) -> Mapping[str, Any]:
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source, headers={"accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT) as response:  # noqa: S310
                raw: bytes = response.read(_MAX_JWKS_BYTES + 1)
        except OSError as exc:  # URLError, HTTPError, timeouts
            raise CommandError(f"cannot fetch JWKS from {source}: {exc}") from exc
    else:
        try:
            with Path(source).open("rb") as stream:
                raw = stream.read(_MAX_JWKS_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read JWKS {source}: {exc.strerror}") from exc
    if len(raw) > _MAX_JWKS_BYTES:
        raise CommandError(f"JWKS {source} is larger than {_MAX_JWKS_BYTES} bytes")
    try:
        jwks = loads_strict(raw)
    except StrictJsonError as exc:
        raise CommandError(f"JWKS {source} is not JSON") from exc
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise CommandError(f"JWKS {source} has no keys array")
    return jwks


def verify_verdict(token: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Check a verdict JWT against a JWK Set and return its claims; CommandError says why not."""
    try:
        jws = decode_jws(token.strip(), kind=_VERDICT)
    except InvalidRequest as exc:
        raise CommandError(f"{exc.reason}: {exc.description}") from exc
    if jws.header.get("typ") != VERDICT_TYP:
        raise CommandError(f"verdict.wrong_typ: typ is {jws.header.get('typ')!r}, not {VERDICT_TYP!r}")
    if jws.alg not in VERDICT_ALGS:
        raise CommandError(f"verdict.alg_not_allowed: {jws.alg} is not one of {sorted(VERDICT_ALGS)}")
    kid = jws.kid
    matches = [key for key in jwks["keys"] if isinstance(key, dict) and kid and key.get("kid") == kid]
    if len(matches) != 1:
        raise CommandError(f"verdict.unknown_kid: kid {kid!r} matches {len(matches)} keys in the JWKS")
    jwk = matches[0]
    if jwk.get("alg", jws.alg) != jws.alg or jwk.get("use", "sig") != "sig":
        raise CommandError(f"verdict.alg_key_mismatch: the key {kid!r} is not for {jws.alg} signatures")
    try:
        verify_jws(jws, parse_public_jwk(jwk), allowed_algs=VERDICT_ALGS, kind=_VERDICT)
    except (MalformedKey, InvalidRequest) as exc:
        raise CommandError(f"{exc.reason}: {exc.description}") from exc
    return dict(jws.payload)


def _verdict_verify(args: argparse.Namespace) -> int:
    token = sys.stdin.read() if args.jwt == "-" else args.jwt
    _emit(verify_verdict(token, _load_jwks(args.jwks)))
    return 0


# --- demo --- #


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _demo(args: argparse.Namespace) -> int:
    if args.print_trust:
        _emit(demo_trust_file())
        return 0
    try:
        if args.link:
            return 0 if answer_link(args.link, over_age=not args.under_age, say=_say) else 1
        token = run_demo(
            args.url, args.definition, over_age=not args.under_age, timeout=args.timeout, say=_say
        )
    except DemoError as exc:
        raise CommandError(str(exc)) from exc
    jwks_url = args.url.rstrip("/") + "/.well-known/jwks.json"
    claims = verify_verdict(token, _load_jwks(jwks_url))
    _say(f"   the verdict's signature checks out against {jwks_url}:")
    _emit(claims)
    if hint := hint_for(claims):
        sys.stderr.write(f"hint: {hint}\n")
    return 0 if claims.get("result") == "verified" and claims.get("final", True) is True else 1


# --- wiring --- #


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siop-verifier", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="run the verifier (the default)")
    commands.add_parser("openapi", help="print the OpenAPI document")

    keys = commands.add_parser("keys", help="manage the keyring").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    generate = keys.add_parser("generate", help="write a new keyring (mode 0600)")
    generate.add_argument("--out", help="keyring file (default: VERIFIER_KEYRING_PATH)")
    generate.add_argument("--force", action="store_true", help="replace an existing file")
    generate.set_defaults(handler=_keys_generate)
    rotate = keys.add_parser("rotate", help="add a new signing and sealing key in front of the old ones")
    rotate.add_argument("--keyring", help="keyring file (default: VERIFIER_KEYRING_PATH)")
    rotate.set_defaults(handler=_keys_rotate)
    jwks = keys.add_parser("jwks", help="print the public JWK Set")
    jwks.add_argument("--keyring", help="keyring file (default: VERIFIER_KEYRING_PATH)")
    jwks.set_defaults(handler=_keys_jwks)

    definitions = commands.add_parser("definitions", help="presentation definitions").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    validate = definitions.add_parser("validate", help="load a definitions folder as start-up does")
    validate.add_argument("path", nargs="?", help="folder (default: VERIFIER_DEFINITIONS_DIR)")
    validate.set_defaults(handler=_definitions_validate)

    verdict = commands.add_parser("verdict", help="signed verdicts").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    verify = verdict.add_parser("verify", help="check a verdict JWT and print its claims")
    verify.add_argument("jwt", help="the compact verdict JWT, or - to read it from stdin")
    verify.add_argument("--jwks", required=True, help="JWK Set file, or an http(s) URL to fetch it from")
    verify.set_defaults(handler=_verdict_verify)

    demo = commands.add_parser("demo", help="run the whole flow against a running service (demo wallet)")
    demo.add_argument("--url", default="http://127.0.0.1:8080", help="the running verifier")
    demo.add_argument("--definition", default="age-over-18", help="definition id to ask for")
    demo.add_argument("--under-age", action="store_true", help="present a credential that says no")
    demo.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the verdict")
    demo.add_argument(
        "--link", help="only answer this openid4vp:// link as the wallet (e.g. the playground's)"
    )
    demo.add_argument(
        "--print-trust", action="store_true", help="print a trust file admitting the demo issuer"
    )
    demo.set_defaults(handler=_demo)
    return parser


def main(
    argv: list[str] | None = None, *, serve: Command | None = None, openapi: Command | None = None
) -> int:
    """Run one command; returns the exit code. ``serve``/``openapi`` are supplied by ``service.__main__``."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2); argparse has printed the message
        return exc.code if isinstance(exc.code, int) else 2
    command = args.command or "serve"
    if command in ("serve", "openapi"):
        runner = serve if command == "serve" else openapi
        if runner is None:
            sys.stderr.write(f"{command}: not available here; run `python -m service {command}`\n")
            return 2
        return runner()
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CommandError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.code
    except ConfigurationError as exc:
        sys.stderr.write(f"configuration error: {exc.reason}: {exc.description}\n")
        return 2
