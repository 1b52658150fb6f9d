"""Request bodies the server cannot take: over the 16 KiB cap (declared or streamed), and passwords that
JSON can carry but UTF-8 cannot encode (a lone surrogate), on login, register and change-password."""

from __future__ import annotations

import json
from typing import Any

from support.http import bearer

SURROGATE = "x\ud800yyyyyyyy"  # JSON can carry it (as \\ud800); UTF-8 cannot encode it


def _json(value: Any) -> dict[str, Any]:
    """httpx encodes JSON as UTF-8 text, which cannot carry a lone surrogate: send the escaped form."""
    return {"content": json.dumps(value).encode("ascii"), "headers": {"content-type": "application/json"}}


async def test_unencodable_passwords_never_tell_known_from_unknown_emails(make_app: Any) -> None:
    """M1: a lone surrogate used to give 500 for unknown emails and 401 for known ones."""
    a = await make_app()
    await a.register("known@example.com", "password123")
    known = await a.client.post("/auth/login", **_json({"email": "known@example.com", "password": SURROGATE}))
    unknown = await a.client.post(
        "/auth/login", **_json({"email": "nobody@example.com", "password": SURROGATE})
    )
    assert known.status_code == unknown.status_code == 401
    assert (
        known.json()
        == unknown.json()
        == {"detail": "Invalid email or password", "code": "invalid_credentials"}
    )


async def test_unencodable_passwords_are_a_clear_422_on_register_and_change(make_app: Any) -> None:
    a = await make_app()
    r = await a.client.post("/auth/register", **_json({"email": "u@example.com", "password": SURROGATE}))
    assert r.status_code == 422 and r.json() == {
        "detail": "password must be valid Unicode text",
        "code": "password_policy",
    }
    tokens = await a.register("v@example.com", "password123")
    body = _json({"current_password": "password123", "new_password": SURROGATE})
    body["headers"].update(bearer(tokens["access_token"]))
    r = await a.client.post("/auth/change-password", **body)
    assert r.status_code == 422 and r.json() == {
        "detail": "password must be valid Unicode text",
        "code": "password_policy",
    }
    body = _json({"current_password": SURROGATE, "new_password": "another password"})
    body["headers"].update(bearer(tokens["access_token"]))
    r = await a.client.post("/auth/change-password", **body)
    assert r.status_code == 400


async def test_large_bodies_are_refused_before_being_buffered(make_app: Any) -> None:
    """M3: the 16 KiB cap holds for declared and for streamed bodies."""
    a = await make_app()
    big = b'{"email": "a@example.com", "password": "' + b"p" * 100_000 + b'"}'
    r = await a.client.post("/auth/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413

    sent = 0

    async def stream() -> Any:
        nonlocal sent
        for _ in range(64):
            sent += 1
            yield b"x" * 4096

    r = await a.client.post("/auth/refresh", content=stream(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert sent < 64  # the server stopped reading soon after the cap, instead of buffering it all
