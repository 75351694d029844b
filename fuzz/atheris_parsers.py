"""Coverage-guided fuzzing with atheris (libFuzzer) of the wallet-facing parsers; an optional complement
to the hypothesis harness in fuzz/test_parsers.py.

    .venv/bin/python -m fuzz.atheris_parsers -atheris_runs=200000 -artifact_prefix=fuzz/.artifacts/
    .venv/bin/python -m fuzz.atheris_parsers -max_total_time=600 -artifact_prefix=fuzz/.artifacts/

The first input byte picks the target, the rest is its input. Only ``VerifierError`` may come out;
anything else is reported by libFuzzer as a crash with the input saved as ``crash-<sha1>``. With no corpus
directory given, the committed seeds are written to fuzz/.corpus/ and fuzzing grows that corpus.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from service.did.resolve import did_of, resolve_local
    from service.errors import IdTokenInvalid, VerifierError
    from service.jose.jwk import parse_key_agreement_jwk, parse_public_jwk
    from service.jose.jws import TokenKind, decode_jws
    from service.presentation_exchange import materialize_definition, parse_definition, parse_submission
    from service.response import ResponseLimits, parse_response
    from service.sd_jwt import process_disclosures, split_presentation
    from service.strict_json import StrictJsonError, loads_strict

KIND = TokenKind("fuzz", IdTokenInvalid)
LIMITS = ResponseLimits()
SEEDS = Path(__file__).resolve().parent / "seeds"


def _json(data: bytes) -> object:
    try:
        return loads_strict(data)
    except StrictJsonError:
        return None


def _definition(data: bytes) -> None:
    raw = _json(data)
    materialize_definition(parse_definition(raw), today=dt.date(2026, 2, 28))


def _jwk(data: bytes) -> None:
    raw = _json(data)
    if isinstance(raw, dict):
        parse_public_jwk(raw)
        parse_key_agreement_jwk(raw)


def _disclosures(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    payload_text, _, rest = text.partition("\n")
    payload = _json(payload_text.encode())
    if isinstance(payload, dict):
        process_disclosures(payload, rest.split("~"))


TARGETS: list[Callable[[bytes], object]] = [
    lambda data: parse_response(data, limits=LIMITS),
    lambda data: decode_jws(data.decode("utf-8", errors="replace"), kind=KIND),
    lambda data: resolve_local(did_of(data.decode("utf-8", errors="replace"))),
    _jwk,
    lambda data: parse_submission(data.decode("utf-8", errors="replace")),
    _definition,
    lambda data: split_presentation(data.decode("utf-8", errors="replace")),
    _disclosures,
]


def one_input(data: bytes) -> None:
    """libFuzzer entry point."""
    if not data:
        return
    target = TARGETS[data[0] % len(TARGETS)]
    with contextlib.suppress(VerifierError):
        target(data[1:])


def _seed_corpus(directory: Path) -> None:
    """Write the committed seeds, prefixed with their target byte, into a corpus directory."""
    directory.mkdir(parents=True, exist_ok=True)
    kinds = {"form": 0, "jws": 1, "did": 2, "jwk": 3, "submission": 4, "definition": 5, "sd_jwt": 6}
    for kind, index in kinds.items():
        for path in sorted((SEEDS / kind).iterdir()):
            content = path.read_bytes()
            if path.suffix == ".json":
                content = json.dumps(json.loads(content)).encode()
            (directory / f"{kind}-{path.stem}").write_bytes(bytes([index]) + content)


def main() -> None:
    args = sys.argv
    if not any(not arg.startswith("-") for arg in args[1:]):
        corpus = Path(__file__).resolve().parent / ".corpus"
        _seed_corpus(corpus)
        args = [*args, str(corpus)]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
