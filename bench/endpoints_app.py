"""The app `bench/endpoints.py` loads: one bare route and routes behind each fastauth dependency."""

from __future__ import annotations

import os
from typing import Any

from fastapi import Depends, FastAPI

from fastauth import FastAuth, FastAuthConfig, User

auth = FastAuth(
    FastAuthConfig(
        secret=os.environ.get("BENCH_SECRET", "bench-secret-" + "x" * 50),
        database_url=os.environ.get("BENCH_DATABASE_URL", "sqlite+aiosqlite:///./bench.db"),
        rate_limit_enabled=False,
    )
)
app = FastAPI()
auth.mount(app)


@app.get("/bare")
async def bare() -> dict[str, Any]:
    return {"ok": True}


@app.get("/claims")
async def claims(claims: dict[str, Any] = Depends(auth.get_current_claims)) -> dict[str, Any]:
    return {"sub": claims["sub"]}


@app.get("/user")
async def user(user: User = Depends(auth.get_current_user)) -> dict[str, Any]:
    return {"id": user.id}
