"""The sign-in page that `fastauth serve` shows at `/` (`ui_enabled`).

One server-rendered Jinja2 page, a stylesheet and a small script, all shipped in the package: no build
step, no CDN, no inline script or style, so a strict Content-Security-Policy holds. The page talks to
the auth routes exactly as a user's browser app would: it opts in to cookie delivery with
`X-Fastauth-Delivery: cookie`, echoes the `csrf_token` cookie in `X-CSRF-Token` on unsafe requests,
and on a 401 refreshes the access token once before showing the signed-out view.

With it come the two pages the account mails link to, `{route_prefix}/verify-email?token=...` and
`{route_prefix}/reset-password?token=...`. Opening one spends nothing (mail scanners fetch links with
GET and HEAD): the page shows a button or a form, and only that POSTs the code to the API. The script
reads the code from the address, removes it from there at once, and keeps it in memory only; the pages
are never stored (`no-store`) and send no `Referer`.

With sign-in providers configured (`oauth`), the sign-in page shows a "Continue with ..." link for each
(`{route_prefix}/oauth/{name}/authorize?delivery=cookie`, which the script points back at the page),
and the account view a "Linked accounts" card (`GET /oauth/accounts`, unlink, "Link ..." buttons).
An account without a password (`has_password: false`, made by a provider) changes its email and
deletes itself without one; when its sign-in is older than `recent_sign_in_window` (a 401 with
`insufficient_user_authentication`), the page asks it to sign in again.

Two-step verification (TOTP): a sign-in that answers `mfa_required` (a password sign-in's body, or a
provider's return with `?mfa_required=1` and the MFA token in its HttpOnly cookie) goes on to a code
form that POSTs `{route_prefix}/mfa/verify`; the account view has a card to set it up (the QR code is
rebuilt as inline SVG paths, so `img-src 'self'` holds), show the recovery codes once, make new ones
and turn it off.

Passkeys (when `auth.service.passkeys` is configured): the page says so in `data-passkey-*` attributes
of `<body>` (the RP ID, the allowed origins, the address they work at). Signed out, "Sign in with a
passkey" runs `{route_prefix}/passkeys/login/*`; the second step of a sign-in offers "Use a passkey"
(`/mfa/passkey/options`, then `/mfa/verify {credential}`); the account view lists, adds, renames and
removes passkeys. On an origin that is not one of the relying party's (e.g. `127.0.0.1` for an RP ID
`localhost`), where the browser would refuse the ceremony, the page names the address that works
instead of offering a broken button.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from fastauth.mail.templates import LINK_PATHS
from fastauth.web.errors import AnsweringRoute
from fastauth.web.etag import etag_of, not_modified

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_PREFIX", "build_ui_router", "page_renderer", "reset_page"]

#: Everything from this origin only; nothing inline, no frames, no plugins, forms post back here only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
STATIC_PREFIX = "/ui/static"
#: The pages, each `templates/{name}.html`: the sign-in page and the two the mails link to.
_PAGES = ("index", "verify-email", "reset-password", "confirm-email-change")
_MEDIA_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class _ProviderButton:
    """A configured sign-in provider, as the page shows it."""

    name: str
    display_name: str


@dataclass(frozen=True, slots=True)
class _PasskeySite:
    """The relying party, as the page needs it: where a ceremony can run."""

    rp_id: str
    #: The origins the server accepts ceremonies from, space-separated.
    origins: str
    #: The origin to send people to from any other one: `public_url`'s, when it is allowed.
    home: str


def _passkey_site(auth: FastAuth) -> _PasskeySite | None:
    """What the page says about passkeys; None when they are off."""
    rp = auth.service.passkeys
    if rp is None or not rp.origins:
        return None
    public = auth.config.public_url
    preferred = urlsplit(public) if public else None
    home = rp.origins[0]
    if preferred is not None and f"{preferred.scheme}://{preferred.netloc}" in rp.origins:
        home = f"{preferred.scheme}://{preferred.netloc}"
    return _PasskeySite(rp.rp_id, " ".join(rp.origins), home)


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    media_type: str
    #: Quoted, as the header carries it.
    etag: str


def _assets() -> dict[str, _Asset]:
    folder = files(__name__).joinpath("static")
    found: dict[str, _Asset] = {}
    for name, media_type in _MEDIA_TYPES.items():
        body = folder.joinpath(name).read_bytes()
        found[name] = _Asset(body, media_type, etag_of(body, 16))
    return found


def page_renderer(auth: FastAuth) -> Callable[[Request, str, str], Response]:
    """`render(request, page, cache_control)`: one of the pages, as HTML with the security headers."""
    cfg = auth.config
    env = Environment(
        loader=PackageLoader(__name__, "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates = {name: env.get_template(f"{name}.html") for name in _PAGES}
    assets = _assets()
    flows = auth.service.oauth
    providers = (
        [_ProviderButton(name, provider.display_name) for name, provider in flows.providers.items()]
        if flows is not None
        else []
    )
    passkeys = _passkey_site(auth)

    def render(request: Request, name: str, cache_control: str) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")

        def static(file: str) -> str:
            return f"{root}{STATIC_PREFIX}/{file}?v={assets[file].etag.strip(chr(34))}"

        html = templates[name].render(
            page=name,
            static=static,
            home=root + "/",
            api_prefix=root + cfg.route_prefix,
            docs_url=f"{root}{request.app.docs_url}" if getattr(request.app, "docs_url", None) else None,
            csrf_cookie=auth.cookies.csrf_name,
            providers=providers,
            passkeys=passkeys,
            password_min=cfg.password_min_length,
            password_max=cfg.password_max_length,
            access_ttl=cfg.jwt.access_token_ttl,
            dev_mode=bool(getattr(request.app.state, "dev_mode", False)),
            version=_version(),
        )
        return HTMLResponse(html, headers={**SECURITY_HEADERS, "Cache-Control": cache_control})

    return render


def reset_page(auth: FastAuth) -> Callable[[Request], Awaitable[Response]]:
    """The page a reset mail's link opens. Served by the API's reset router (its path is also the
    API's `POST`), so the document and a 405's `Allow` show the path's GET and POST together."""
    render = page_renderer(auth)

    async def reset_password_page(request: Request) -> Response:
        """The page a password-reset mail links to (`?token=...`): showing it spends nothing; its form
        sends the code and the new password to `POST` on the same path."""
        return render(request, "reset-password", "no-store")

    return reset_password_page


def build_ui_router(auth: FastAuth) -> APIRouter:
    """`GET /` (the page); `GET {route_prefix}/verify-email` and `/confirm-email-change` (pages the
    mails link to; HEAD too, spending nothing; the reset page is `reset_page`'s); and
    `GET /ui/static/{name}` (the script, stylesheet and icon). None is in the OpenAPI document."""
    cfg = auth.config
    render = page_renderer(auth)
    assets = _assets()
    router = APIRouter(include_in_schema=False, route_class=AnsweringRoute)

    @router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
    async def page(request: Request) -> Response:
        return render(request, "index", "no-cache")

    verify_path = cfg.route_prefix + LINK_PATHS["verify_email"]
    change_path = cfg.route_prefix + LINK_PATHS["email_change_confirm"]

    # The mails' links. A GET or HEAD only shows the page: the code in the address is spent by the POST
    # its button sends. `no-store`: the address (with the code) must not land in a cache.
    @router.api_route(verify_path, methods=["GET", "HEAD"], response_class=HTMLResponse)
    async def verify_email_page(request: Request) -> Response:
        return render(request, "verify-email", "no-store")

    @router.api_route(change_path, methods=["GET", "HEAD"], response_class=HTMLResponse)
    async def confirm_email_change_page(request: Request) -> Response:
        return render(request, "confirm-email-change", "no-store")

    @router.get(STATIC_PREFIX + "/{name}")
    async def static_file(name: str, request: Request) -> Response:
        asset = assets.get(name)
        if asset is None:
            raise HTTPException(404, "Not Found")
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": asset.etag}
        if not_modified(request, asset.etag):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    return router


def _version() -> str:
    from fastauth import __version__

    return __version__
