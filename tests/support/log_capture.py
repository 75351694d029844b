"""Run the production log pipeline into a stream the test owns, tapping raw events; restore afterwards."""

from __future__ import annotations

import copy
import io
import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

from service.logging import configure_logging

__all__ = ["production_log_capture"]


@contextmanager
def production_log_capture(stream: io.StringIO, events: list[dict[str, Any]]) -> Iterator[None]:
    """JSON logs (structlog and stdlib) rendered into ``stream``; each raw event appended to ``events``.

    configure_logging binds sys.stdout when called, so it is called with ``stream`` in place (pytest's own
    capture files do not outlive the setup phase); structlog and the stdlib root logger are restored after.
    """
    saved = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level

    def tap(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        events.append(copy.deepcopy(dict(event)))
        return event

    real_stdout, sys.stdout = sys.stdout, stream
    try:
        configure_logging(fmt="json", level="info")
    finally:
        sys.stdout = real_stdout
    processors = list(structlog.get_config()["processors"])
    # After merge_contextvars (so bound transaction ids show), before redact (so call sites are judged).
    structlog.configure(processors=[processors[0], tap, *processors[1:]])
    try:
        yield
    finally:
        structlog.configure(**saved)
        structlog.contextvars.clear_contextvars()
        for handler in root.handlers[:]:
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)
