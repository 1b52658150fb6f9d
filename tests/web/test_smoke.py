from typing import Any

from support.http import bearer


async def test_register_and_me(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register()
    r = await a.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert r.status_code == 200
    assert r.json()["email"] == "alice@example.com"
