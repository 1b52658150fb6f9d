"""The applications `bench/endpoints.py` and `bench/login.py` serve, one uvicorn factory each.

- `plain_app`: FastAPI without fastauth (fastauth is not even imported) and the unrelated route, behind
  a `/before` route as in the fastauth app: the baseline.
- `fastauth_app`: the same FastAPI application with `auth.mount(app)`, then, declared after it, the
  same unrelated route, a route behind FastAPI's own `HTTPBearer`, one behind a hand-written PyJWT
  dependency, one behind each of `auth.get_current_claims` and `auth.get_current_user`, and one behind
  `auth.get_current_principal` that the benchmark calls with an API key. One more
  copy of the unrelated route, `/before`, is declared before the mount: comparing the two tells the
  cost of routing past fastauth's routes from a cost every request pays.
- `login_app`: fastauth with the argon2id parameters given in `BENCH_ARGON2` ("m_kib,t,p").

Only fastauth's public API is used, so the benchmark keeps working while the internals change.
Configuration comes from `BENCH_SECRET` and `BENCH_DATABASE_URL`.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

SECRET = os.environ.get("BENCH_SECRET", "bench-secret-" + "x" * 50)
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "sqlite+aiosqlite:///./bench.db")

bearer = HTTPBearer()


async def unrelated() -> dict[str, Any]:
    """A route that has nothing to do with authentication."""
    return {"ok": True}


async def with_bearer(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> dict[str, Any]:
    """FastAPI's own `HTTPBearer`: the header is parsed, the token is not checked at all."""
    return {"ok": bool(credentials.credentials)}


def plain_app() -> FastAPI:
    app = FastAPI()
    # The same application routes in front of `/unrelated` as the fastauth app has (`/before`), so the
    # two differ in fastauth's mount alone.
    app.get("/before")(unrelated)
    app.get("/unrelated")(unrelated)
    return app


def _config() -> Any:
    from fastauth import FastAuthConfig

    return FastAuthConfig(secret=SECRET, database_url=DATABASE_URL, rate_limit_enabled=False)


def fastauth_app() -> FastAPI:
    from fastauth import FastAuth, User

    config = _config()
    auth = FastAuth(config)
    app = FastAPI()
    app.get("/before")(unrelated)
    auth.mount(app)
    # Everything below is declared after mount(), as an application adds its own routes.
    app.get("/unrelated")(unrelated)
    app.get("/bearer")(with_bearer)

    try:
        import jwt as pyjwt
    except ImportError:  # PyJWT is the bench extra; without it the /pyjwt row is left out
        pyjwt = None
    if pyjwt is not None:
        issuer, audience, leeway = config.jwt.issuer, config.jwt.audience, config.jwt.leeway

        async def pyjwt_claims(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> dict[str, Any]:
            """What an application writes by hand: signature, exp/iat/sub present, iss, aud, type."""
            try:
                claims: dict[str, Any] = pyjwt.decode(
                    credentials.credentials,
                    SECRET,
                    algorithms=["HS256"],
                    audience=audience,
                    issuer=issuer,
                    leeway=leeway,
                    options={"require": ["exp", "iat", "sub"]},
                )
            except pyjwt.PyJWTError:
                raise HTTPException(401, "Invalid token") from None
            if claims.get("type") != "access":
                raise HTTPException(401, "Invalid token")
            return claims

        @app.get("/pyjwt")
        async def with_pyjwt(claims: dict[str, Any] = Depends(pyjwt_claims)) -> dict[str, Any]:
            return {"sub": claims["sub"]}

    @app.get("/claims")
    async def with_claims(claims: dict[str, Any] = Depends(auth.get_current_claims)) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.get("/user")
    async def with_user(user: User = Depends(auth.get_current_user)) -> dict[str, Any]:
        return {"sub": user.id}

    @app.get("/apikey")
    async def with_api_key(principal: Any = Depends(auth.get_current_principal)) -> dict[str, Any]:
        """Called with an API key (`Bearer fa_...`): checksum, cached hash lookup, owner, scopes."""
        return {"sub": principal.user_id, "kind": principal.kind}

    return app


def login_app() -> FastAPI:
    from fastauth import FastAuth
    from fastauth.passwords import Argon2Params, PasswordHasher

    memory, time_cost, parallelism = (int(x) for x in os.environ["BENCH_ARGON2"].split(","))
    params = Argon2Params(time_cost=time_cost, memory_cost=memory, parallelism=parallelism)
    auth = FastAuth(_config(), password_hasher=PasswordHasher(params))
    app = FastAPI()
    auth.mount(app)
    app.get("/unrelated")(unrelated)
    return app
