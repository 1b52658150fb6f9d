"""The last way in survives two removals at once: an account without a password, with two passkeys
(or a passkey and a linked provider), removing both at the same moment keeps one. The check before a
removal cannot see the other request's; the re-count after it can, and the request that finds nothing
left undoes its own removal (409 last_sign_in_method). Real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from fastauth.passwords import NO_PASSWORD
from fastauth.storage.base import IdentityRecord
from support.authenticator import Authenticator
from support.http import bearer

ORIGIN = "http://localhost"
LAST_WAY_IN = {
    "detail": "This is the account's only way to sign in: set a password first",
    "code": "last_sign_in_method",
}


async def passwordless_with_passkeys(a: Any, count: int) -> tuple[str, dict[str, str], list[str]]:
    """(user id, a fresh session's headers, the ids of `count` passkeys) of an account without a
    password."""
    tokens = await a.register("alice@example.com", "correct horse")
    headers = bearer(tokens["access_token"])
    ids = []
    for _ in range(count):
        authenticator = Authenticator()  # one device each: excludeCredentials refuses a second on one
        options = await a.client.post("/auth/passkeys/register/options", headers=headers)
        made = await a.client.post(
            "/auth/passkeys/register/verify",
            headers=headers,
            json={"credential": authenticator.create(options.json())},
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    me = await a.client.get("/auth/me", headers=headers)
    user_id = me.json()["id"]
    await a.auth.service.accounts.update(user_id, hashed_password=NO_PASSWORD)
    return user_id, headers, ids


async def test_two_passkeys_removed_at_once_leave_one(make_app: Any) -> None:
    a = await make_app(public_url=ORIGIN)
    user_id, headers, ids = await passwordless_with_passkeys(a, 2)
    for _ in range(5):  # the race is timing; every round must keep a way in
        answers = await asyncio.gather(
            *(a.client.delete(f"/auth/passkeys/{passkey_id}", headers=headers) for passkey_id in ids)
        )
        left = await a.auth.service.store.list_passkeys(user_id)
        assert left, [r.status_code for r in answers]
        assert sorted(r.status_code for r in answers) in ([204, 409], [409, 409])
        for answer in answers:
            if answer.status_code == 409:
                assert answer.json() == LAST_WAY_IN
        if len(left) == 1:
            return  # one removal won, the other was refused: the account keeps its last passkey
        ids = [p.id for p in left]
    raise AssertionError("both removals kept undoing each other five times")


async def test_a_passkey_and_the_last_provider_removed_at_once_leave_one(make_app: Any) -> None:
    a = await make_app(public_url=ORIGIN)
    user_id, headers, (passkey_id,) = await passwordless_with_passkeys(a, 1)
    identity = IdentityRecord(
        id="i" * 32, user_id=user_id, provider="mock", issuer="https://idp.example", subject="s-1",
        email="alice@example.com", created_at=1, last_used_at=1,
    )  # fmt: skip
    await a.auth.service.store.insert_identity(identity)
    user = await a.auth.service.store.get_user(user_id)
    assert user is not None
    removal, unlink = await asyncio.gather(
        a.client.delete(f"/auth/passkeys/{passkey_id}", headers=headers),
        a.auth.service.unlink_identity(user, identity.id),
        return_exceptions=True,
    )
    ways = len(await a.auth.service.store.list_passkeys(user_id))
    ways += len(await a.auth.service.store.list_identities(user_id))
    assert ways in (1, 2), (removal, unlink)
    removed = getattr(removal, "status_code", None) == 204
    unlinked = unlink is None
    assert ways == 2 - removed - unlinked  # what each answer says is what happened
    assert not (removed and unlinked)
