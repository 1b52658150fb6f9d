"""The app behind `fastauth serve`: a complete auth server configured from the environment.

With no secret configured anywhere it runs in development mode (see `fastauth.devmode`), and a
banner says so loudly.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from fastauth.config import FastAuthConfig
from fastauth.devmode import DEV_SECRET_FILE, load_config
from fastauth.web.auth import FastAuth

__all__ = [
    "BANNER_SHOWN",
    "DEV_SECRET_FILE",
    "RedactCodes",
    "banner",
    "create_app",
    "create_app_from_env",
    "load_config",
]

#: Set by `fastauth serve` after printing the banner, so worker processes do not repeat it.
BANNER_SHOWN = "FASTAUTH_SERVE_BANNER_SHOWN"


def create_app(config: FastAuthConfig | None = None, *, dev_mode: bool = False) -> FastAPI:
    """The auth server application: fastauth mounted on FastAPI, plus `/health`."""
    config = config if config is not None else FastAuthConfig()
    app = FastAPI(
        title="fastauth",
        description="Authentication server: register, login, refresh rotation, sessions, logout.",
        version=_version(),
    )
    auth = FastAuth(config)
    auth.mount(app)
    app.state.dev_mode = dev_mode

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class RedactCodes(logging.Filter):
    """Keeps the mailed codes (`?token=...` in the links) out of uvicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the value of every `token` query parameter in the logged path by `***`."""
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "token=" in a for a in record.args):
            record.args = tuple(
                _TOKEN_PARAM.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


_TOKEN_PARAM = re.compile(r"([?&]token=)[^&#\s]*")


def create_app_from_env() -> FastAPI:
    """uvicorn factory (`fastauth.server:create_app_from_env`), one call per worker process."""
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactCodes) for f in access_log.filters):
        access_log.addFilter(RedactCodes())
    config, dev_mode = load_config()
    if dev_mode and not os.environ.get(BANNER_SHOWN):
        banner(config)
    return create_app(config, dev_mode=dev_mode)


def banner(config: FastAuthConfig) -> None:
    """Say loudly on stderr that the server runs in development mode (never the secret)."""
    line = "=" * 78
    page = " - a sign-in page is served at / (FASTAUTH_UI_ENABLED=false turns it off)\n"
    page = page if config.ui_enabled else ""
    mail = " - mails are printed here, with their links, instead of sent\n" if config.email.console else ""
    print(
        f"{line}\n fastauth is running in DEVELOPMENT MODE\n"
        f" - no FASTAUTH_SECRET set: using a random secret kept in ./{DEV_SECRET_FILE}\n"
        f" - database: {make_url(config.database_url).render_as_string(hide_password=True)}\n"
        " - cookies are sent over plain HTTP (cookie_secure=False)\n"
        f"{mail}"
        f"{page}"
        " Set FASTAUTH_SECRET (see `fastauth generate-secret`) before using this anywhere real.\n"
        f"{line}",
        file=sys.stderr,
        flush=True,
    )


def _version() -> str:
    from fastauth import __version__

    return __version__
