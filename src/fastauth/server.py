"""The app behind `fastauth serve`: a complete auth server configured from the environment.

With no secret configured anywhere it runs in development mode (see `fastauth.devmode`), and a
banner says so loudly.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import make_url

from fastauth.config import FastAuthConfig
from fastauth.devmode import DEV_SECRET_FILE, issuer_note, load_config
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

#: The package that ships the Swagger UI and ReDoc files (with their licences) that `/docs` and `/redoc` load.
_ASSETS = "fastapi_standalone_docs"


def create_app(config: FastAuthConfig | None = None, *, dev_mode: bool = False) -> FastAPI:
    """The auth server application: fastauth mounted on FastAPI, plus `/health` and the API docs
    (`/docs`, `/redoc`) served without any CDN."""
    config = config if config is not None else FastAuthConfig()
    app = FastAPI(
        title="fastauth",
        description="Authentication server: register, login, refresh rotation, sessions, logout.",
        version=_version(),
        docs_url=None,
        redoc_url=None,
    )
    _offline_docs(app, docs_url="/docs", redoc_url="/redoc")
    auth = FastAuth(config)
    auth.mount(app)
    app.state.dev_mode = dev_mode

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _offline_docs(app: FastAPI, *, docs_url: str, redoc_url: str) -> None:
    """FastAPI's `/docs` (with its OAuth2 redirect) and `/redoc` pages, loading Swagger UI and ReDoc from
    the files the fastapi-standalone-docs package ships (`{docs_url}/static/`, `{redoc_url}/`) instead of a
    CDN, so they work on a machine without internet. (Its own `StandaloneDocs` is not used: it patches
    FastAPI for every application in the process.)"""
    swagger = StaticFiles(packages=[(_ASSETS, "static/swagger"), (_ASSETS, "static/fastapi")])
    redoc_files = StaticFiles(packages=[(_ASSETS, "static/redoc"), (_ASSETS, "static/fastapi")])
    # Set after FastAPI's own set-up (which added no route for them): the sign-in page links to docs_url.
    app.docs_url, app.redoc_url = docs_url, redoc_url
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{docs_url}/oauth2-redirect"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{docs_url}/static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{docs_url}/static/swagger-ui.css",
            swagger_favicon_url=f"{root}{docs_url}/static/favicon.png",
            oauth2_redirect_url=root + redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{redoc_url}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{redoc_url}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route(docs_url, swagger_ui, include_in_schema=False)
    app.add_route(redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_route(redoc_url, redoc, include_in_schema=False)
    app.mount(f"{docs_url}/static", swagger, name="swagger-ui-static")
    # At the page's own path: its ReDoc bundle loads the Redocly logo from `{redoc_url}/logo-mini.svg`.
    app.mount(redoc_url, redoc_files, name="redoc-static")


class RedactCodes(logging.Filter):
    """Keeps codes out of uvicorn's access log: the mailed ones (`?token=...` in the links) and a
    provider's at the sign-in callback (`?code=...&state=...`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the value of every `token`, `code` and `state` query parameter in the logged path."""
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "=" in a for a in record.args):
            record.args = tuple(
                _TOKEN_PARAM.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


_TOKEN_PARAM = re.compile(r"([?&](?:token|code|state)=)[^&#\s]*")


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
    note = issuer_note(config)
    issuer = f" - {note}\n" if note else ""
    mail = " - mails are printed here, with their links, instead of sent\n" if config.email.console else ""
    passkeys = (
        " - passkeys are off: an IP address cannot be their RP ID; set FASTAUTH_PUBLIC_URL=http://localhost:PORT"
        " and open the page there\n"
        if config.passkeys.rp_id is None
        else f" - passkeys work on {', '.join(config.passkeys.origins)}\n"
    )
    print(
        f"{line}\n fastauth is running in DEVELOPMENT MODE\n"
        f" - no FASTAUTH_SECRET set: using a random secret kept in ./{DEV_SECRET_FILE}\n"
        f" - database: {make_url(config.database_url).render_as_string(hide_password=True)}\n"
        " - cookies are sent over plain HTTP (cookie_secure=False)\n"
        f"{mail}"
        f"{page}"
        f"{passkeys}"
        f"{issuer}"
        " Set FASTAUTH_SECRET (see `fastauth generate-secret`) before using this anywhere real.\n"
        f"{line}",
        file=sys.stderr,
        flush=True,
    )


def _version() -> str:
    from fastauth import __version__

    return __version__
