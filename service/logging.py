"""Structured logs (structlog): JSON in production, readable in development, never a secret.

Call sites log ids, reason codes, hashes and ``kid``s. As a second line of defence a processor drops
any field whose name says it holds a token, key or claim, and masks anything that looks like a JWT.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import msgspec
import structlog

__all__ = ["configure_logging", "redact"]

_SENSITIVE_KEY = re.compile(
    r"(token|jwt|jws|secret|password|authorization|api_key|private|nonce|claim|disclosure|vp|vc|sub_jwk|key_material)s?$",
    re.IGNORECASE,
)
# Three base64url segments with the first starting like a JSON object header: a compact JWS/JWT.
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_ALLOWED_KEYS = frozenset({"event", "level", "timestamp", "logger", "exc_info", "transaction_id", "reason"})
# Field names come from the code, so there are few: each is judged once. Bounded all the same.
_KEY_VERDICTS: dict[str, bool] = {}
_MAX_KEY_VERDICTS = 4096


def _sensitive(key: str) -> bool:
    verdict = _KEY_VERDICTS.get(key)
    if verdict is None:
        verdict = key not in _ALLOWED_KEYS and _SENSITIVE_KEY.search(key) is not None
        if len(_KEY_VERDICTS) < _MAX_KEY_VERDICTS:
            _KEY_VERDICTS[key] = verdict
    return verdict


def _mask(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        # Every match starts with "eyJ": a substring test spares the regex for almost every value.
        return _JWT_LIKE.sub("[jwt]", value) if "eyJ" in value else value
    if depth > 8:
        return "[nested]"
    if isinstance(value, dict):
        return {
            key: "[redacted]"
            if isinstance(key, str) and _SENSITIVE_KEY.search(key)
            else _mask(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [_mask(item, depth + 1) for item in value]
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop fields named like secrets; mask JWT-looking strings anywhere else."""
    # Values are replaced in place (the keys stay the same, so iterating while assigning is safe).
    for key, value in event.items():
        if isinstance(key, str) and _sensitive(key):
            event[key] = "[redacted]"
        elif type(value) not in _PLAIN:
            event[key] = _mask(value)
    return event


_PLAIN = frozenset({int, float, bool, type(None)})  # nothing to mask: no text inside


def _fallback(value: Any) -> Any:
    # What structlog's JSONRenderer does for values JSON has no type for: their repr.
    return repr(value)


_JSON = msgspec.json.Encoder(enc_hook=_fallback)


def _dumps(event: Any, **_: Any) -> str:
    """structlog's JSON serializer, written by msgspec (several times faster than json.dumps)."""
    return _JSON.encode(event).decode("utf-8")


def configure_logging(
    *, fmt: str = "json", level: str = "info", stream: TextIO | None = None, final: bool = False
) -> None:
    """Send structlog events and standard-library records (uvicorn, httpx) through one redacting renderer.

    ``final``: this configuration is the process's last (the served process), so each module's logger is
    built once, at its first event; otherwise every event rebuilt it (~5 us, several times per request).
    Tests reconfigure between cases and leave it off.
    """
    out = stream or sys.stdout
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer()
    )
    # Exceptions are rendered to text *before* redaction, so a token quoted in an error message is masked too.
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=final,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric_level)
    # httpx logs every request URL at INFO; outbound URLs are configuration, not events worth a line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
