"""`FastAuth(service)`: the web layer mounts a service built elsewhere, and adds no state of its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from fastauth import AuthService, FastAuth, FastAuthConfig, User
from fastauth.storage.memory import MemoryStore
from support.http import PASSWORD


async def test_a_service_built_elsewhere_is_mounted_as_is() -> None:
    store = MemoryStore()
    service = AuthService.from_config(FastAuthConfig(secret="m" * 64), store=store)
    auth = FastAuth(service)
    assert auth.service is service and auth.adapter is store and auth.sessions is service.sessions
    app = FastAPI()
    auth.mount(app)

    @app.get("/hello")
    async def hello(user: User = Depends(auth.get_current_user)) -> dict[str, str]:
        return {"hello": user.email}

    await service.startup()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.post("/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
            assert r.status_code == 201
            token = r.json()["access_token"]
            r = await client.get("/hello", headers={"Authorization": f"Bearer {token}"})
            assert (r.status_code, r.json()) == (200, {"hello": "ada@example.com"})
        # the account the HTTP route made is the service's: it signs in without HTTP too
        user, _ = await service.sign_in("ada@example.com", PASSWORD)
        assert user.email == "ada@example.com"
    finally:
        await service.aclose()


def test_a_service_takes_no_other_arguments(tmp_path: Path) -> None:
    service = AuthService.from_config(FastAuthConfig(secret="m" * 64), store=MemoryStore())
    with pytest.raises(TypeError, match="give them to AuthService"):
        FastAuth(service, adapter=MemoryStore())
