"""The configuration of `fastauth serve` and of the CLI's database commands: the environment, or
development mode.

With no secret configured anywhere, a random secret is created once and kept in
`.fastauth-dev-secret` in the working folder (so tokens survive a restart), cookies are allowed
over plain HTTP, and mails are printed to the log instead of sent, with links to the address
`fastauth serve` listens on; `fastauth.server.banner` says so loudly. Framework-free, so the CLI can read the
configuration without importing FastAPI.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from fastauth.config import SECRET_ENV_NAMES, FastAuthConfig

__all__ = ["DEV_SECRET_FILE", "SERVE_URL", "issuer_note", "load_config"]

DEV_SECRET_FILE = ".fastauth-dev-secret"
#: Set by `fastauth serve` to the address it listens on, so development-mode mail links point there.
SERVE_URL = "FASTAUTH_SERVE_URL"


def _configured_names() -> set[str]:
    """Upper-cased names set in the environment or (with a value) in `.env`."""
    names = {name.upper() for name in os.environ}
    if Path(".env").is_file():
        names |= {name.upper() for name, value in dotenv_values(".env").items() if value}
    return names


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


def issuer_note(config: FastAuthConfig) -> str | None:
    """What the tokens' issuer means for other software, unless it is an https URL (RFC 8414 §2)."""
    issuer = config.jwt.issuer
    if issuer.startswith("https://"):
        return None
    kind = "a plain-http URL" if issuer.startswith("http://") else "a name, not a URL"
    return (
        f"tokens say iss={issuer!r}, {kind}: verifiers must be given exactly this string, and RFC 8414 "
        "clients (authlib's metadata validation, oauth4webapi's discovery) refuse the metadata of an issuer "
        "that is no https URL. In production set FASTAUTH_PUBLIC_URL=https://... (the issuer follows it) "
        "or FASTAUTH_JWT__ISSUER."
    )


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
    dev_mode = not any(name in configured for name in SECRET_ENV_NAMES)
    if dev_mode:
        overrides["secret"] = _dev_secret()
        if "FASTAUTH_COOKIE_SECURE" not in os.environ:
            overrides["cookie_secure"] = False
        if not any(name.startswith("FASTAUTH_EMAIL") for name in configured):
            overrides["email"] = {"console": True}  # every mail, with its link, printed to the log
        if "FASTAUTH_PUBLIC_URL" not in configured:
            overrides["public_url"] = os.environ.get(SERVE_URL, "http://127.0.0.1:8000")
            if "FASTAUTH_JWT__ISSUER" not in configured:
                # That URL follows the port: keep the issuer the name "fastauth" (the banner says so).
                overrides["jwt"] = {"issuer": "fastauth"}
    if "FASTAUTH_UI_ENABLED" not in configured:
        with warnings.catch_warnings():  # a first look only: the configuration built below warns
            warnings.simplefilter("ignore")
            probe = FastAuthConfig(**overrides)
        if probe.cookie_opt_in or probe.token_delivery == "cookie":
            overrides["ui_enabled"] = True  # the page has a cookie delivery to use
    return FastAuthConfig(**overrides), dev_mode
