"""``python -m service [serve|openapi|keys|definitions|verdict] ...``: run the verifier, or operate it.

``serve`` (the default) runs the verifier with settings from the environment; ``openapi`` prints the
OpenAPI document; ``keys``, ``definitions`` and ``verdict`` are in ``service.cli``.
"""

from __future__ import annotations

import gc
import json
import sys

import uvicorn

from service.app import create_app
from service.cli import main as cli_main
from service.errors import ConfigurationError
from service.keys import generate_keyring
from service.logging import configure_logging
from service.settings import load_settings

__all__ = ["freeze_startup_heap", "main", "openapi_document", "serve"]


def openapi_document() -> str:
    """The OpenAPI document generated from the app, as checked in under ``openapi/``."""
    # The document does not depend on keys or the environment: build it from defaults and a throwaway keyring.
    app = create_app(load_settings({}), keyring=generate_keyring())
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True) + "\n"


def freeze_startup_heap() -> None:
    """Move everything built at start-up (modules, the app, its definitions) out of the collector's reach.

    These ~80 000 objects live as long as the process, yet every full collection walked them all: a
    60 ms pause of the event loop each time, every few thousand verifications, seen as p99 steps in the
    benchmark. Frozen (``gc.freeze``), a full collection walks only what was allocated since, and the
    objects are never freed, which they would not be anyway. Collect first so no garbage is frozen.
    """
    gc.collect()
    gc.freeze()


def serve() -> int:
    """Run the verifier with settings from the environment."""
    try:
        settings = load_settings()
        configure_logging(fmt=settings.log_format, level=settings.log_level, final=True)
        app = create_app(settings)
    except ConfigurationError as exc:
        sys.stderr.write(f"configuration error: {exc.reason}: {exc.description}\n")
        return 2
    freeze_startup_heap()
    # uvloop and httptools (both pinned) rather than asyncio's loop and h11: 10 % less CPU per verification
    # in the benchmark, and the lowest tail latency of the servers tried there (bench/README.md).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )
    return 0


def _print_openapi() -> int:
    sys.stdout.write(openapi_document())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    return cli_main(argv, serve=serve, openapi=_print_openapi)


if __name__ == "__main__":
    raise SystemExit(main())
