"""`GET /auth/admin/audit` on SQLite and PostgreSQL: a superuser reads the audit log newest first, by user,
before a time and up to a limit; a normal user gets 403, no token 401; the answers hold no secret and
are never cached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from support.clock import Clock

ROUTE = "/auth/admin/audit"
PASSWORD = "correct horse battery staple"
ROOT = "root@example.com"
ALICE = "alice@example.com"
UA = "AuditTest/1.0 (+https://example.com)"
#: The peer address httpx's ASGI transport reports.
PEER = "127.0.0.1"


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post(
        "/auth/login", json={"email": email, "password": password}, headers={"User-Agent": UA}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def rows(answer: httpx.Response) -> list[tuple[Any, ...]]:
    """(event, user_id, ip, user_agent, detail) of each record answered, in the answer's order."""
    assert answer.status_code == 200, answer.text
    return [
        (item["event"], item["user_id"], item["ip"], item["user_agent"], item["detail"])
        for item in answer.json()
    ]


async def test_a_superuser_reads_the_audit_log_and_nobody_else_does(make_app: Any, clock: Clock) -> None:
    app = await make_app(clock=clock)
    client = app.client
    service = app.auth.service
    root = await service.create_user(ROOT, PASSWORD, is_superuser=True, is_verified=True)
    admin = await login(client, ROOT)
    start = int(clock())
    clock.advance(10)
    alice_tokens = await login_after_register(client)
    alice = await service.store.get_user_by_email(ALICE)
    assert alice is not None
    # No token: 401; a normal user: 403; neither reads anything.
    anonymous = await client.get(ROUTE)
    assert (anonymous.status_code, anonymous.json()) == (
        401,
        {"detail": "Not authenticated", "code": "not_authenticated"},
    )
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    refused = await client.get(ROUTE, headers=bearer(alice_tokens))
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "Not enough permissions", "code": "permission_denied"},
    )
    clock.advance(10)
    failed = await client.post(
        "/auth/login",
        json={"email": "Alice@Example.com", "password": "wrong password!"},
        headers={"User-Agent": UA},
    )
    assert failed.status_code == 401
    reused = await client.post("/auth/refresh", json={"refresh_token": alice_tokens["refresh_token"]})
    assert reused.status_code == 200
    again = await client.post("/auth/refresh", json={"refresh_token": alice_tokens["refresh_token"]})
    assert again.status_code == 401

    answer = await client.get(ROUTE, headers=bearer(admin))
    assert answer.headers["cache-control"] == "no-store"
    alice_sid = (await service.verify_refresh(alice_tokens["refresh_token"])).sid
    admin_sid = (await service.verify_refresh(admin["refresh_token"])).sid
    assert rows(answer) == [
        ("refresh_reuse", alice.id, PEER, f"python-httpx/{httpx.__version__}", f"session {alice_sid}"),
        ("signin_failed", None, PEER, UA, ALICE),
        ("signin", alice.id, PEER, UA, f"session {alice_sid}"),
        ("signup", alice.id, PEER, UA, None),
        ("signin", root.id, PEER, UA, f"session {admin_sid}"),
        ("signup", root.id, None, None, "created without a sign-in"),
    ]
    ats = [datetime.fromisoformat(item["at"]) for item in answer.json()]
    assert ats == [datetime.fromtimestamp(start + seconds, UTC) for seconds in (20, 20, 10, 10, 0, 0)]
    assert len({item["id"] for item in answer.json()}) == 6
    # Nothing secret in any record: no password, no token.
    for secret in (PASSWORD, "wrong password!", *admin.values(), *alice_tokens.values()):
        if isinstance(secret, str) and len(secret) > 8:
            assert secret not in answer.text

    # Filters: one user's records, those before a time, at most `limit`.
    mine = await client.get(ROUTE, params={"user_id": alice.id}, headers=bearer(admin))
    assert [row[0] for row in rows(mine)] == ["refresh_reuse", "signin", "signup"]
    earlier = await client.get(ROUTE, params={"before": start + 10}, headers=bearer(admin))
    assert [row[:2] for row in rows(earlier)] == [("signin", root.id), ("signup", root.id)]
    both = await client.get(ROUTE, params={"user_id": alice.id, "before": start + 20}, headers=bearer(admin))
    assert [row[0] for row in rows(both)] == ["signin", "signup"]
    newest = await client.get(ROUTE, params={"limit": 2}, headers=bearer(admin))
    assert [row[0] for row in rows(newest)] == ["refresh_reuse", "signin_failed"]
    assert rows(await client.get(ROUTE, params={"user_id": "nobody"}, headers=bearer(admin))) == []
    assert len(rows(await client.get(ROUTE, params={"limit": 500}, headers=bearer(admin)))) == 6
    assert len(rows(await client.get(ROUTE, params={"before": 2**63 - 1}, headers=bearer(admin)))) == 6
    huge = {"before": 2**63}  # past BIGINT: refused, never sent to the database
    for bad in (
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"before": "yesterday"},
        {"before": -1},
        huge,
    ):
        assert (await client.get(ROUTE, params=bad, headers=bearer(admin))).status_code == 422, bad
    # A bad query from someone who may not read is refused as such first.
    assert (await client.get(ROUTE, params={"limit": 0})).status_code == 401


async def login_after_register(client: httpx.AsyncClient) -> dict[str, Any]:
    """Alice registers (her sign-up and first sign-in are recorded, with the user agent)."""
    response = await client.post(
        "/auth/register", json={"email": ALICE, "password": PASSWORD}, headers={"User-Agent": UA}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_the_route_is_in_the_openapi_document(make_app: Any) -> None:
    app = await make_app()
    schema = (await app.client.get("/openapi.json")).json()
    operation = schema["paths"][ROUTE]["get"]
    assert operation["security"] == [{"OAuth2PasswordBearer": []}]
    params = {param["name"]: param for param in operation["parameters"]}
    assert sorted(params) == ["before", "limit", "user_id"]
    assert params["limit"]["schema"]["maximum"] == 500 and params["limit"]["schema"]["minimum"] == 1
    assert params["limit"]["schema"]["default"] == 100
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert (answer["type"], answer["items"]) == ("array", {"$ref": "#/components/schemas/AuditOut"})
    fields = schema["components"]["schemas"]["AuditOut"]["properties"]
    assert sorted(fields) == ["actor_id", "at", "detail", "event", "id", "ip", "user_agent", "user_id"]


async def test_a_deleted_accounts_records_stay_readable(make_app: Any) -> None:
    app = await make_app()
    client = app.client
    await app.auth.service.create_user(ROOT, PASSWORD, is_superuser=True)
    admin = await login(client, ROOT)
    tokens = await login_after_register(client)
    alice = await app.auth.service.store.get_user_by_email(ALICE)
    assert alice is not None
    deleted = await client.request("DELETE", "/auth/me", json={"password": PASSWORD}, headers=bearer(tokens))
    assert deleted.status_code == 204
    answer = await client.get(ROUTE, params={"user_id": alice.id}, headers=bearer(admin))
    assert [row[0] for row in rows(answer)] == ["account_deleted", "signin", "signup"]
    assert rows(answer)[0][2:] == (PEER, f"python-httpx/{httpx.__version__}", ALICE)
