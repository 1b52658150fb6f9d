"""Sign-in providers for tests/oauth/, every one a real HTTP server on 127.0.0.1 in a thread:

- `mock_issuer()`: oidc-provider-mock, a real OpenID Connect provider (discovery, JWKS, RS256 ID
  tokens). `Issuer.set_user(sub, ...)` sets a subject's claims (`PUT /users/{sub}`) and
  `Issuer.approve(url, sub)` is the person choosing that subject on its authorization form. It does
  not check PKCE (the GitHub stand-in does).
- `github_stand_in()`: a local GitHub, see `GitHub`.
- `serve_asgi(app)`: any Starlette app under uvicorn (the misbehaving providers of
  test_provider_faults.py).
- `Browser`: one browser's trip through fastauth's routes (an `AuthApp` client) and the provider, with
  its fastauth cookies kept by hand from Set-Cookie headers (the client's own jar is never used).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from support.http import cookie_header, set_cookies
from support.servers import free_port

with warnings.catch_warnings():  # authlib's deprecation warnings, raised on import
    warnings.simplefilter("ignore")
    from oidc_provider_mock import run_server_in_thread

#: The origin the ASGI test client speaks to, and so fastauth's `public_url`.
PUBLIC_URL = "http://testserver"
CLIENT_ID, CLIENT_SECRET = "app", "sec"
STATE_COOKIE = "fastauth_oauth_state"
#: A one-time exchange code in a callback's redirect (43 URL-safe characters, like every code).
CODE = re.compile(r"[A-Za-z0-9_-]{43}")


# --- servers in threads ----------------------------------------------------------------------------


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """`app` under uvicorn on 127.0.0.1 in a thread; yields its base URL. Requests still in flight at
    the end (a deliberately slow handler) are not waited for."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = server.force_exit = True
        thread.join(10)


@dataclass
class Issuer:
    """oidc-provider-mock at `url` (its issuer)."""

    url: str

    def set_user(self, sub: str, email: str | None, *, email_verified: bool = True, **claims: Any) -> None:
        """The claims the ID token of `sub` carries from now on."""
        body: dict[str, Any] = {"email_verified": email_verified, **claims}
        if email is not None:
            body["email"] = email
        httpx.put(f"{self.url}/users/{sub}", json=body).raise_for_status()

    def approve(self, authorize_url: str, sub: str) -> str:
        """Submit the authorization form as `sub`; the callback URL the provider redirects to."""
        assert authorize_url.startswith(self.url + "/"), authorize_url
        answer = httpx.post(authorize_url, data={"sub": sub})
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


@contextmanager
def mock_issuer() -> Iterator[Issuer]:
    """A fresh oidc-provider-mock (its users and codes are its own) on 127.0.0.1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with run_server_in_thread() as server:
            yield Issuer(f"http://127.0.0.1:{server.server_port}")


# --- GitHub ----------------------------------------------------------------------------------------


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str | None
    #: `/user/emails` entries: {email, primary, verified, visibility}.
    emails: list[dict[str, Any]]


def email(address: str, *, primary: bool = True, verified: bool = True) -> dict[str, Any]:
    """One `/user/emails` entry, as GitHub writes it."""
    return {
        "email": address,
        "primary": primary,
        "verified": verified,
        "visibility": "private" if primary else None,
    }


@dataclass
class GitHub:
    """A stand-in for github.com, on 127.0.0.1: github.com cannot be reached from CI, so this local
    server speaks GitHub's documented protocol, and fastauth's `github` provider is pointed at it with
    `github_url` (the web flow) and `github_api_url` (the REST API, at `/api/v3` as on GitHub
    Enterprise Server).

    The web flow (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps):

    1. `GET /login/oauth/authorize?client_id&redirect_uri&scope&state&code_challenge&
       code_challenge_method=S256`: the browser's GitHub session (the `user_session` cookie; `Browser`
       sends it, see `sign_in_as`) approves at once, and GitHub redirects to `redirect_uri` with
       `code` and `state`. An unknown client or a redirect_uri other than the registered callback is
       refused with 400 and no redirect.
    2. `POST /login/oauth/access_token` (client_id, client_secret in the body or HTTP Basic, code,
       redirect_uri, code_verifier): JSON with `Accept: application/json`, else form-encoded. As GitHub
       does, a refusal is a 200 whose body is `{"error": "bad_verification_code" | "incorrect_client_credentials"
       | "redirect_uri_mismatch", ...}`; a code works once, and only with the verifier whose S256
       challenge started the flow (and only for the redirect_uri it was issued for).

    The API, with `Authorization: Bearer <token>` (else 401 `{"message": "Bad credentials"}`):
    `GET /api/v3/user` → `{"id", "login", "name", ...}`, and `GET /api/v3/user/emails`
    (https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user) →
    a JSON array of `{"email", "primary", "verified", "visibility"}`.
    """

    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    callback: str = f"{PUBLIC_URL}/auth/oauth/github/callback"
    users: dict[str, GitHubUser] = field(default_factory=dict)
    #: code -> (login, code_challenge, redirect_uri)
    codes: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    #: What the token endpoint refused, in order (the `error` it answered).
    refusals: list[str] = field(default_factory=list)
    url: str = ""

    def add_user(
        self, id: int, login: str, emails: list[dict[str, Any]], name: str | None = None
    ) -> GitHubUser:
        user = GitHubUser(id, login, name if name is not None else login.capitalize(), emails)
        self.users[login] = user
        return user

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/login/oauth/authorize", self._authorize),
                Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/api/v3/user", self._user),
                Route("/api/v3/user/emails", self._emails),
            ]
        )

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client", 400)
        if q.get("redirect_uri", self.callback) != self.callback:
            return PlainTextResponse("The redirect_uri is not associated with this application.", 400)
        login = request.cookies.get("user_session")
        if login not in self.users:
            return PlainTextResponse("sign in to GitHub first", 401)
        challenge = q.get("code_challenge")
        if challenge is not None and q.get("code_challenge_method") != "S256":
            return PlainTextResponse("only S256", 400)
        code = secrets.token_hex(10)
        self.codes[code] = (login, challenge, q.get("redirect_uri", self.callback))
        query = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        return RedirectResponse(f"{self.callback}?{urlencode(query)}", 302)

    def _token_answer(self, request: Request, values: dict[str, str]) -> Response:
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(values)
        return Response(urlencode(values), media_type="application/x-www-form-urlencoded")

    def _refuse(self, request: Request, error: str) -> Response:
        self.refusals.append(error)
        return self._token_answer(request, {"error": error, "error_description": error.replace("_", " ")})

    async def _access_token(self, request: Request) -> Response:
        form = await request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return self._refuse(request, "incorrect_client_credentials")
        issued = self.codes.pop(str(form.get("code")), None)
        if issued is None:
            return self._refuse(request, "bad_verification_code")
        login, challenge, redirect_uri = issued
        if form.get("redirect_uri", redirect_uri) != redirect_uri:
            return self._refuse(request, "redirect_uri_mismatch")
        if challenge is not None:
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                return self._refuse(request, "bad_verification_code")
        token = "gho_" + secrets.token_hex(18)
        self.tokens[token] = login
        return self._token_answer(
            request, {"access_token": token, "scope": "read:user,user:email", "token_type": "bearer"}
        )

    def _caller(self, request: Request) -> GitHubUser | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        login = self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        return self.users.get(login) if login else None

    async def _user(self, request: Request) -> Response:
        user = self._caller(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, 401)
        return JSONResponse({"id": user.id, "login": user.login, "name": user.name, "type": "User"})

    async def _emails(self, request: Request) -> Response:
        user = self._caller(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, 401)
        return JSONResponse(user.emails)

    def provider_config(self, **overrides: Any) -> dict[str, Any]:
        """fastauth's `oauth["github"]` for this stand-in."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "github_url": self.url,
            "github_api_url": f"{self.url}/api/v3",
            **overrides,
        }

    def approve(self, authorize_url: str, login: str) -> str:
        """The browser, signed in at GitHub as `login`, at the authorization URL: the callback URL."""
        assert authorize_url.startswith(self.url + "/login/oauth/authorize?"), authorize_url
        answer = httpx.get(authorize_url, headers={"Cookie": f"user_session={login}"})
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


@contextmanager
def github_stand_in() -> Iterator[GitHub]:
    github = GitHub()
    with serve_asgi(github.app()) as url:
        github.url = url
        yield github


# --- the browser -----------------------------------------------------------------------------------


def query(url: str) -> dict[str, str]:
    """The query of `url`, one value per name."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


class Browser:
    """One browser at fastauth (an `AuthApp`): its cookies, kept by hand, go with every request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """`url`: a path, or an absolute URL at `PUBLIC_URL` (a redirect's Location)."""
        if url.startswith(PUBLIC_URL):
            url = url[len(PUBLIC_URL) :]
        assert url.startswith("/"), url
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = cookie_header(self.cookies)
        self.app.client.cookies.clear()
        response = await self.app.client.request(method, url, headers=headers, **kwargs)
        self.app.client.cookies.clear()
        for name, cookie in set_cookies(response).items():
            if cookie.attr("max-age") == "0" or cookie.value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie.value
        return response

    async def start(self, provider: str = "mock", **params: str) -> str:
        """`GET /auth/oauth/{provider}/authorize`: the provider's authorization URL it redirects to."""
        answer = await self.request("GET", f"/auth/oauth/{provider}/authorize", params=params)
        assert answer.status_code == 302, answer.text
        assert STATE_COOKIE in self.cookies
        return answer.headers["location"]

    async def start_link(self, token: str, provider: str = "mock", **params: str) -> str:
        """`POST /auth/oauth/{provider}/link` signed in with `token`: the authorization URL."""
        answer = await self.request(
            "POST",
            f"/auth/oauth/{provider}/link",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"url"}
        return str(answer.json()["url"])

    async def callback(self, url: str) -> httpx.Response:
        """The provider sent the browser back to `url` (fastauth's callback)."""
        assert url.startswith(PUBLIC_URL + "/auth/oauth/"), url
        return await self.request("GET", url)

    async def exchange(self, code: str) -> httpx.Response:
        return await self.request("POST", "/auth/oauth/token", json={"code": code})


def redirect_code(answer: httpx.Response, redirect_to: str) -> str:
    """The one-time code of a callback's 302 to `redirect_to?code=...` (asserted exactly)."""
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(redirect_to + "?code="), location
    code = location[len(redirect_to) + len("?code=") :]
    assert CODE.fullmatch(code), location
    assert answer.content == b""
    return code


# --- what the store holds --------------------------------------------------------------------------


async def rows(app: Any) -> dict[str, int]:
    """How many users, identities and sessions the app's database holds."""
    from sqlalchemy import text

    counted: dict[str, int] = {}
    async with app.auth.service.store.engine.connect() as conn:
        for table in ("users", "identities", "sessions"):
            result = await conn.execute(text(f"SELECT count(*) FROM fastauth_{table}"))
            counted[table] = int(result.scalar_one())
    return counted


NOTHING = {"users": 0, "identities": 0, "sessions": 0}
