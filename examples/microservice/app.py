"""A service that trusts fastauth's access tokens and holds no keys and no database.

It verifies every request with the auth server's public keys, fetched from its JWKS endpoint:

    JWKS_URL=http://127.0.0.1:8000/.well-known/jwks.json \\
    JWT_ISSUER=fastauth JWT_AUDIENCE=fastauth \\
    uvicorn app:app --app-dir examples/microservice --port 8001

Optional: REVOCATION_URL (the auth server's `/auth/revocations`, served when it runs with
FASTAUTH_REVOCATION_LIST_ENABLED=true), REVOCATION_TOKEN (its FASTAUTH_REVOCATION_LIST_TOKEN,
if set) and REVOCATION_POLL_INTERVAL (seconds, default 5) make a logout reach this service within
that interval; JWT_LEEWAY (seconds of clock skew,
default 5); JWKS_MIN_REFETCH_INTERVAL (seconds between JWKS re-fetches for unknown key ids,
default 10).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from fastauth.verifier import JWKSVerifier

verifier = JWKSVerifier(
    jwks_url=os.environ["JWKS_URL"],
    issuer=os.environ.get("JWT_ISSUER", "fastauth"),
    audience=os.environ.get("JWT_AUDIENCE", "fastauth"),
    leeway=int(os.environ.get("JWT_LEEWAY", "5")),
    min_refetch_interval=float(os.environ.get("JWKS_MIN_REFETCH_INTERVAL", "10")),
    revocation_url=os.environ.get("REVOCATION_URL") or None,
    revocation_poll_interval=float(os.environ.get("REVOCATION_POLL_INTERVAL", "5")),
    revocation_token=os.environ.get("REVOCATION_TOKEN") or None,
)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await verifier.aclose()


app = FastAPI(title="orders (example microservice)", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/orders")
async def orders(claims: dict[str, Any] = Depends(verifier.get_current_claims)) -> dict[str, Any]:
    """Only for a valid, unexpired, unrevoked access token of the auth server."""
    return {"user": claims["sub"], "session": claims["sid"], "orders": []}
