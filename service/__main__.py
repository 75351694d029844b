"""``python -m service [serve|openapi|keys|definitions|verdict] ...``: run the verifier, or operate it.

``serve`` (the default) runs the verifier with settings from the environment; ``openapi`` prints the
OpenAPI document; ``keys``, ``definitions`` and ``verdict`` are in ``service.cli``.
"""

from __future__ import annotations

import json
import os
import sys

from litestar import Litestar

from service.app import create_app
from service.cli import main as cli_main
from service.errors import ConfigurationError
from service.keys import generate_keyring
from service.logging import configure_logging
from service.settings import Settings, load_settings

__all__ = ["main", "openapi_document", "serve"]


def openapi_document() -> str:
    """The OpenAPI document generated from the app, as checked in under ``openapi/``."""
    # The document does not depend on keys or the environment: build it from defaults and a throwaway keyring.
    app = create_app(load_settings({}), keyring=generate_keyring())
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True) + "\n"


def serve() -> int:
    """Run the verifier with settings from the environment."""
    try:
        settings = load_settings()
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        # Built before the server starts, so a bad configuration exits 2 here whichever server runs it.
        app = create_app(settings)
    except ConfigurationError as exc:
        sys.stderr.write(f"configuration error: {exc.reason}: {exc.description}\n")
        return 2
    if settings.server == "uvicorn":
        return _serve_uvicorn(app, settings)
    return _serve_granian(app, settings)


def _serve_uvicorn(app: Litestar, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 - only the server in use is imported

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop=os.environ.get("XX_LOOP", "asyncio"),
        http=os.environ.get("XX_HTTP", "h11"),
    )
    return 0


# Granian's own records go to the root logger, i.e. through service.logging's redacting renderer.
_GRANIAN_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {},
    "handlers": {},
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    },
}


def _serve_granian(app: Litestar, settings: Settings) -> int:
    from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes  # noqa: PLC0415
    from granian.log import LogLevels  # noqa: PLC0415
    from granian.server import Server  # noqa: PLC0415

    def load_app() -> Litestar:
        # Runs in the forked worker, after granian configured logging there: put ours back first.
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        return app

    server = Server(
        "service.app:create_app",  # a label only: the worker gets the app from load_app
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=1,
        runtime_mode=RuntimeModes.st,
        loop=Loops(os.environ.get("XX_LOOP", "asyncio")),
        http=HTTPModes.http1,
        websockets=False,
        backpressure=settings.max_in_flight,
        log_level=LogLevels(settings.log_level),
        log_dictconfig=_GRANIAN_LOGGING,
    )
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    server.serve(target_loader=load_app, wrap_loader=False)
    return 0


def _print_openapi() -> int:
    sys.stdout.write(openapi_document())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    return cli_main(argv, serve=serve, openapi=_print_openapi)


if __name__ == "__main__":
    raise SystemExit(main())
