"""The app behind `fastauth serve`: a complete auth server configured from the environment.

With no secret configured anywhere it runs in development mode: a random secret is created once and
kept in `.fastauth-dev-secret` in the working folder (so tokens survive a restart), cookies are
allowed over plain HTTP, and a banner says so loudly.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from fastauth.config import FastAuthConfig
from fastauth.web.auth import FastAuth

__all__ = ["BANNER_SHOWN", "DEV_SECRET_FILE", "create_app", "create_app_from_env", "load_config"]

DEV_SECRET_FILE = ".fastauth-dev-secret"
#: Set by `fastauth serve` after printing the banner, so worker processes do not repeat it.
BANNER_SHOWN = "FASTAUTH_SERVE_BANNER_SHOWN"
_SECRET_NAMES = ("FASTAUTH_SECRET", "SECRET_KEY")


def _configured_names() -> set[str]:
    """Upper-cased names set in the environment or (with a value) in `.env`."""
    names = {name.upper() for name in os.environ}
    if Path(".env").is_file():
        names |= {name.upper() for name, value in dotenv_values(".env").items() if value}
    return names


def _secret_configured() -> bool:
    names = _configured_names()
    return any(name in names for name in _SECRET_NAMES)


def _dev_secret() -> str:
    path = Path(DEV_SECRET_FILE)
    if path.is_file():
        secret = path.read_text().strip()
        if len(secret) >= 64:
            return secret
    secret = secrets.token_urlsafe(64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def load_config() -> tuple[FastAuthConfig, bool]:
    """(config, development mode?) from FASTAUTH_* variables and .env.

    Unlike the library, the server answers browsers too: per-request cookie delivery
    (`cookie_opt_in`) and the sign-in page at `/` (`ui_enabled`) are on unless configured. The page
    stays off when the configuration leaves it no cookie delivery to use.
    """
    configured = _configured_names()
    overrides: dict[str, Any] = {}
    if "FASTAUTH_COOKIE_OPT_IN" not in configured:
        overrides["cookie_opt_in"] = True
    dev_mode = not any(name in configured for name in _SECRET_NAMES)
    if dev_mode:
        overrides["secret"] = _dev_secret()
        if "FASTAUTH_COOKIE_SECURE" not in os.environ:
            overrides["cookie_secure"] = False
    config = FastAuthConfig(**overrides)
    page_works = config.cookie_opt_in or config.token_delivery == "cookie"
    if "FASTAUTH_UI_ENABLED" not in configured and page_works:
        config = config.model_copy(update={"ui_enabled": True})  # built once, so warnings show once
    return config, dev_mode


def create_app(config: FastAuthConfig | None = None, *, dev_mode: bool = False) -> FastAPI:
    config = config if config is not None else FastAuthConfig()
    app = FastAPI(
        title="fastauth",
        description="Authentication server: register, login, refresh rotation, sessions, logout.",
        version=_version(),
    )
    auth = FastAuth(config)
    auth.mount(app)
    app.state.fastauth = auth
    app.state.dev_mode = dev_mode

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_app_from_env() -> FastAPI:
    """uvicorn factory (`fastauth.server:create_app_from_env`), one call per worker process."""
    config, dev_mode = load_config()
    if dev_mode and not os.environ.get(BANNER_SHOWN):
        banner(config)
    return create_app(config, dev_mode=dev_mode)


def banner(config: FastAuthConfig) -> None:
    line = "=" * 78
    page = " - a sign-in page is served at / (FASTAUTH_UI_ENABLED=false turns it off)\n"
    page = page if config.ui_enabled else ""
    print(
        f"{line}\n fastauth is running in DEVELOPMENT MODE\n"
        f" - no FASTAUTH_SECRET set: using a random secret kept in ./{DEV_SECRET_FILE}\n"
        f" - database: {make_url(config.database_url).render_as_string(hide_password=True)}\n"
        " - cookies are sent over plain HTTP (cookie_secure=False)\n"
        f"{page}"
        " Set FASTAUTH_SECRET (see `fastauth generate-secret`) before using this anywhere real.\n"
        f"{line}",
        file=sys.stderr,
        flush=True,
    )


def _version() -> str:
    from fastauth import __version__

    return __version__
