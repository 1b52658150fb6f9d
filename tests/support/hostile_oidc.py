"""A real OpenID Connect provider the test controls, on 127.0.0.1 over real HTTP, built to lie.

Starlette served by uvicorn in a thread (`hostile_oidc()` starts it and stops it). It speaks the code
flow honestly unless told otherwise:

- discovery (`/.well-known/openid-configuration`) naming its own issuer, with
  `id_token_signing_alg_values_supported` = `HostileOIDC.announced_algs` (and `discovery_override`'s
  members instead of the honest ones);
- `/jwks`: the public half of its RS256 key (`kid` = `HostileOIDC.kid`), or `jwks_override`;
  `/attacker-jwks` (counted in `attacker_jwks_reads`) the key it never published, for `jku` forgeries;
- `/authorize` records every query (`authorizations`: `state`, `nonce`, `code_challenge`, ...) and
  redirects straight back to `redirect_uri` with a fresh code and the same `state` (or with
  `authorize_error` as `error=`) on behalf of `HostileOIDC.user` (its `sub`, `email`, ...);
- `/token` checks the client (HTTP Basic or form), `grant_type`, that the code exists and is unspent
  (`allow_code_reuse` lets an old one through again), the same `redirect_uri` and client as at
  `/authorize`, and the PKCE S256 `code_verifier` against the recorded challenge (or against
  `challenge_override`, to play a verifier that does not match; `check_pkce=False` skips it, a
  sloppy provider); `invalid_grant` otherwise. Every
  request and its answer's status is in `token_requests`.

The ID token starts as honest claims and an honest header (`default_header`, `default_claims`) and
then goes through `HostileOIDC.id_token`: `(provider, header, claims) -> str`, by default `sign` with
the provider's key. A scenario replaces it to tamper with claims, header or signature; `sign`,
`other_key`, `public_pem` and `support.forge` are the tools. Nothing here uses fastauth's code.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from support.b64 import b64
from support.forge import forge

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "Grant", "HostileOIDC", "IdTokenMaker", "hostile_oidc", "rsa_jwk"]

CLIENT_ID = "fastauth-app"
CLIENT_SECRET = "hostile-client-secret"

#: `(provider, header, claims) -> compact token`: how an ID token is made from its honest parts (None:
#: the token answer has no `id_token`).
IdTokenMaker = Callable[["HostileOIDC", dict[str, Any], dict[str, Any]], str | None]


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str = "RS256") -> dict[str, str]:
    """The public JWK of `key` (RFC 7518 §6.3.1), by hand."""
    numbers = key.public_key().public_numbers()

    def encode(value: int) -> str:
        return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {
        "kty": "RSA",
        "use": "sig",
        "alg": alg,
        "kid": kid,
        "n": encode(numbers.n),
        "e": encode(numbers.e),
    }


def _s256(verifier: str) -> str:
    return b64(hashlib.sha256(verifier.encode("ascii")).digest())


def _honest(provider: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return provider.sign(header, claims)


@dataclass
class Grant:
    """One code the provider handed out, and what `/authorize` was asked."""

    code: str
    client_id: str
    redirect_uri: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: dict[str, Any]
    spent: int = 0


@dataclass
class HostileOIDC:
    """The provider's behaviour (change it between requests) and what it saw."""

    issuer: str = ""
    clock: Callable[[], float] = time.time
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = "hostile-key-1"
    #: Who signs in at the next `/authorize` (`sub` and the profile claims of the ID token).
    user: dict[str, Any] = field(default_factory=dict)
    announced_algs: list[str] = field(default_factory=lambda: ["RS256"])
    id_token: IdTokenMaker = _honest
    jwks_override: dict[str, Any] | None = None
    #: Members of the discovery document replaced (another issuer, plain-http endpoints, ...).
    discovery_override: dict[str, Any] = field(default_factory=dict)
    authorize_error: str | None = None
    allow_code_reuse: bool = False
    check_pkce: bool = True
    challenge_override: str | None = None
    authorizations: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[tuple[dict[str, str], int]] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)
    jwks_reads: int = 0
    #: Reads of `/attacker-jwks`, the other key's JWKS (what a token's `jku` may point at).
    attacker_jwks_reads: int = 0
    _other_key: rsa.RSAPrivateKey | None = None
    _small_key: rsa.RSAPrivateKey | None = None

    def reset(self, *, clock: Callable[[], float] = time.time) -> None:
        """Honest again, with nothing recorded (the keys stay)."""
        self.clock = clock
        self.user = {
            "sub": "victim-sub",
            "email": "victim@example.com",
            "email_verified": True,
            "name": "Vic",
        }
        self.announced_algs = ["RS256"]
        self.id_token = _honest
        self.jwks_override = None
        self.discovery_override = {}
        self.authorize_error = None
        self.allow_code_reuse = False
        self.check_pkce = True
        self.challenge_override = None
        self.authorizations.clear()
        self.token_requests.clear()
        self.grants.clear()
        self.jwks_reads = 0
        self.attacker_jwks_reads = 0

    # --- the tools of a tampering scenario ------------------------------------------------------

    @property
    def other_key(self) -> rsa.RSAPrivateKey:
        """An RSA key the provider never published (made once)."""
        if self._other_key is None:
            self._other_key = rsa.generate_private_key(65537, 2048)
        return self._other_key

    @property
    def small_key(self) -> rsa.RSAPrivateKey:
        """A 1024-bit RSA key the provider never published: small enough to embed as a header `jwk`."""
        if self._small_key is None:
            self._small_key = rsa.generate_private_key(65537, 1024)
        return self._small_key

    @property
    def attacker_jwks_url(self) -> str:
        """A JWKS with `other_key` (kid `attacker`), served here but named by no discovery document."""
        return f"{self.issuer}/attacker-jwks"

    def public_pem(self) -> bytes:
        """The published key as SPKI PEM: the "secret" of an algorithm-confusion forgery."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(
        self, header: dict[str, Any], claims: dict[str, Any], *, key: Any = None, alg: str | None = None
    ) -> str:
        """A compact JWS with exactly `header` and `claims`, signed under `alg` (default the header's)
        with `key` (default the published one)."""
        return forge(header, claims, alg or str(header["alg"]), self.key if key is None else key)

    def default_header(self) -> dict[str, Any]:
        return {"alg": "RS256", "kid": self.kid, "typ": "JWT"}

    def default_claims(self, grant: Grant) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            **grant.user,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return claims

    def jwks(self) -> dict[str, Any]:
        return (
            self.jwks_override if self.jwks_override is not None else {"keys": [rsa_jwk(self.key, self.kid)]}
        )

    # --- the endpoints -------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": list(self.announced_algs),
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    **self.discovery_override,
                }
            )

        async def jwks(request: Request) -> Response:
            self.jwks_reads += 1
            return JSONResponse(self.jwks())

        async def attacker_jwks(request: Request) -> Response:
            self.attacker_jwks_reads += 1
            return JSONResponse({"keys": [rsa_jwk(self.other_key, "attacker")]})

        async def authorize(request: Request) -> Response:
            query = dict(request.query_params)
            self.authorizations.append(query)
            redirect_uri = query.get("redirect_uri", "")
            if query.get("client_id") != CLIENT_ID or not redirect_uri:
                return JSONResponse({"error": "invalid_request"}, 400)
            back: dict[str, str] = {}
            if self.authorize_error is not None:
                back["error"] = self.authorize_error
            else:
                code = secrets.token_urlsafe(24)
                self.grants[code] = Grant(
                    code=code,
                    client_id=query["client_id"],
                    redirect_uri=redirect_uri,
                    state=query.get("state"),
                    nonce=query.get("nonce"),
                    code_challenge=query.get("code_challenge"),
                    code_challenge_method=query.get("code_challenge_method"),
                    user=dict(self.user),
                )
                back["code"] = code
            if "state" in query:
                back["state"] = query["state"]
            parts = urlsplit(redirect_uri)
            query_back = "&".join(q for q in (parts.query, urlencode(back)) if q)
            return RedirectResponse(urlunsplit(parts._replace(query=query_back)), 302)

        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
            status, body = self._token_answer(request, form)
            self.token_requests.append((form, status))
            return JSONResponse(body, status, headers={"Cache-Control": "no-store"})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
                Route("/attacker-jwks", attacker_jwks),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
            ]
        )

    def _client(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode("utf-8")
            except ValueError:
                return None, None
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
        return form.get("client_id"), form.get("client_secret")

    def _token_answer(self, request: Request, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        client_id, secret = self._client(request, form)
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        grant = self.grants.get(form.get("code", ""))
        if grant is None or (grant.spent and not self.allow_code_reuse):
            return 400, {"error": "invalid_grant", "error_description": "unknown or spent code"}
        grant.spent += 1
        if form.get("redirect_uri") != grant.redirect_uri or grant.client_id != client_id:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri or client differs"}
        challenge = self.challenge_override or grant.code_challenge
        verifier = form.get("code_verifier")
        if self.check_pkce and (
            grant.code_challenge_method != "S256" or not verifier or _s256(verifier) != challenge
        ):
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        id_token = self.id_token(self, self.default_header(), self.default_claims(grant))
        answer: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        if id_token is not None:
            answer["id_token"] = id_token
        return 200, answer


@contextmanager
def hostile_oidc() -> Iterator[HostileOIDC]:
    """A `HostileOIDC` serving on 127.0.0.1 (a port of its own) until the block ends."""
    provider = HostileOIDC()
    provider.reset()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    provider.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hostile provider did not start")
        time.sleep(0.01)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
