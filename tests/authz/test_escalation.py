"""Privilege escalation, attempted, on SQLite and PostgreSQL (issue 15's list):

- a user granting themselves a role or superuser through `PATCH /auth/me`: 422, nothing written;
- an access token whose `roles` or `scope` were edited (payload re-encoded, signature kept): 401;
- a token whose `scope` a client forged without the signing key (another key, `alg: none`): 401;
- a role taken away while a token lives: the token keeps passing until its refresh (the documented
  lag of claims), is refused after it, and at once when an administrator ends the sessions;
- a deleted role's name is taken from its holders, so a new role of that name grants them nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from authz_app import FORBIDDEN, PASSWORD, access_claims, get, grant, member, root, start
from pydantic import Field

from fastauth import UserFields, Writable
from support.forge import alg_none, resign, tampered
from support.http import assert_invalid_token, bearer, post_refresh


class Profile(UserFields):
    nickname: Annotated[str | None, Writable, Field(max_length=50)] = None


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"roles": ["editor"]}, "roles"),
        ({"roles": "editor"}, "roles"),
        ({"is_superuser": True}, "is_superuser"),
        ({"is_superuser": True, "roles": ["editor", "moderator"]}, "is_superuser, roles"),
        ({"nickname": "ed", "roles": ["editor"]}, "roles"),  # one good field does not carry a bad one
        ({"nickname": "ed", "is_superuser": True}, "is_superuser"),
        ({"scope": "posts:write"}, "scope"),
        ({"is_verified": True, "is_active": True}, "is_active, is_verified"),
    ],
    ids=repr,
)
async def test_a_user_cannot_grant_themselves_roles_through_patch_me(
    make_app: Any, body: dict[str, Any], named: str
) -> None:
    a = await start(make_app, config={"user_fields": Profile})
    service = a.auth.service
    user = await service.create_user("v@example.com", PASSWORD)  # unverified, so is_verified is a gain too
    await grant(a, user.id, "viewer")
    tokens = (
        await a.client.post("/auth/login", json={"email": "v@example.com", "password": PASSWORD})
    ).json()
    answer = await a.client.patch("/auth/me", json=body, headers=bearer(tokens["access_token"]))
    assert (answer.status_code, answer.json()) == (
        422,
        {"detail": f"not user fields: {named}", "code": "invalid_user_fields"},
    )
    stored = await service.store.get_user(user.id)
    assert stored is not None
    assert (stored.roles, stored.is_superuser, stored.is_verified) == (("viewer",), False, False)
    assert stored.fields.nickname is None  # type: ignore[attr-defined]
    refreshed = (await post_refresh(a, tokens["refresh_token"])).json()
    assert access_claims(refreshed)["roles"] == ["viewer"]
    assert (await get(a, "/perm/write", refreshed["access_token"])).status_code == 403


@pytest.mark.parametrize(
    "changes",
    [
        {"roles": ["editor"]},
        {"scope": "posts:read posts:write"},
        {"roles": ["editor", "moderator"], "scope": "posts:delete posts:read posts:write"},
        {"scope": "fastauth:admin"},
        {"roles": []},  # even a narrowing: the signature covers every byte
    ],
    ids=repr,
)
async def test_a_token_with_edited_claims_and_its_old_signature_is_401(
    make_app: Any, changes: dict[str, Any]
) -> None:
    a = await start(make_app)
    _, tokens = await member(a, "v@example.com", "viewer")
    edited = tampered(tokens["access_token"], **changes)
    for path in ("/perm/write", "/scope/write", "/role/editor", "/private", "/auth/me"):
        assert_invalid_token(await get(a, path, edited))
    assert (await get(a, "/role/editor-or-moderator", tokens["access_token"])).status_code == 403


@pytest.mark.parametrize(
    "forger",
    [
        lambda token: resign(token, "guessed-secret-" + "g" * 40, scope="posts:write", roles=["editor"]),
        lambda token: resign(token, "", scope="posts:write"),
        lambda token: alg_none(tampered(token, scope="posts:write", roles=["editor"])),
        lambda token: alg_none(tampered(token, scope="posts:write"), alg="None"),
    ],
    ids=["another secret", "empty secret", "alg none", "alg None"],
)
async def test_a_scope_forged_without_the_key_is_401(make_app: Any, forger: Any) -> None:
    a = await start(make_app)
    _, tokens = await member(a, "v@example.com", "viewer")
    forged = forger(tokens["access_token"])
    for path in ("/perm/write", "/scope/write", "/role/editor", "/role/editor/fresh"):
        assert_invalid_token(await get(a, path, forged))


async def test_a_role_taken_away_lasts_until_the_refresh(make_app: Any) -> None:
    a = await start(make_app)
    user, tokens = await member(a, "ed@example.com", "editor")
    token = tokens["access_token"]
    await grant(a, user.id, "viewer")  # editor taken away
    # the documented lag: the live token still carries the role (at most the access-token lifetime)
    assert (await get(a, "/perm/write", token)).status_code == 200
    assert (await get(a, "/role/editor", token)).status_code == 200
    # fresh=True and the user-reading checks see it at once
    assert (await get(a, "/role/editor/fresh", token)).status_code == 403
    refreshed = (await post_refresh(a, tokens["refresh_token"])).json()
    for path in ("/perm/write", "/role/editor", "/scope/write"):
        answer = await get(a, path, refreshed["access_token"])
        assert answer.status_code == 403, path
    assert (await get(a, "/perm/write", refreshed["access_token"])).json() == FORBIDDEN


async def test_an_administrator_ending_the_sessions_refuses_the_old_token_at_once(make_app: Any) -> None:
    a = await start(make_app)
    user, tokens = await member(a, "ed@example.com", "editor")
    await grant(a, user.id, "viewer", end_sessions=True)
    for path in ("/perm/write", "/role/editor", "/private"):
        assert_invalid_token(await get(a, path, tokens["access_token"]))
    refused = await post_refresh(a, tokens["refresh_token"])
    assert refused.status_code == 401
    # signing in again gives the roles as they are now
    fresh = (
        await a.client.post("/auth/login", json={"email": "ed@example.com", "password": PASSWORD})
    ).json()
    assert access_claims(fresh)["roles"] == ["viewer"]


async def test_a_deleted_roles_name_is_taken_from_its_holders(make_app: Any) -> None:
    a = await start(make_app, roles={})
    service = a.auth.service
    boss = await root(a)
    await service.create_role(boss, None, "writer", ["posts:write"], "")
    ed, tokens = await member(a, "ed@example.com", "writer")
    other, _ = await member(a, "other@example.com")
    assert await service.delete_role(boss, None, "writer") == 1
    assert (await service.store.get_user(ed.id)).roles == ()  # type: ignore[union-attr]
    assert (await service.store.get_user(other.id)).roles == ()  # type: ignore[union-attr]
    refreshed = (await post_refresh(a, tokens["refresh_token"])).json()
    assert access_claims(refreshed)["roles"] == []
    # a new role of the old name, with more power, is not inherited by the former holder
    await service.create_role(boss, None, "writer", ["posts:write", "posts:delete"], "")
    again = (await post_refresh(a, refreshed["refresh_token"])).json()
    assert access_claims(again)["roles"] == []
    assert (await get(a, "/perm/write", again["access_token"])).status_code == 403


async def test_a_role_administrator_cannot_hand_out_more_than_they_hold(make_app: Any) -> None:
    from fastauth.authz import ADMIN, Principal
    from fastauth.errors import PermissionDenied

    a = await start(make_app, roles={"moderator": [ADMIN, "posts:read"], "editor": ["posts:write"]})
    service = a.auth.service
    mod, tokens = await member(a, "mod@example.com", "moderator")
    victim, _ = await member(a, "v@example.com")
    actor, held = await service.admin_of(Principal.of_token(access_claims(tokens)))
    assert held == {ADMIN, "posts:read"}
    with pytest.raises(PermissionDenied):
        await service.admin_update_user(actor, held, victim.id, {"roles": ["editor"]})
    with pytest.raises(PermissionDenied):
        await service.admin_update_user(actor, held, mod.id, {"roles": ["moderator", "editor"]})
    with pytest.raises(PermissionDenied):
        await service.admin_update_user(actor, held, victim.id, {"is_superuser": True})
    assert (await service.store.get_user(victim.id)).roles == ()  # type: ignore[union-attr]
    assert (await service.store.get_user(mod.id)).roles == ("moderator",)  # type: ignore[union-attr]
    # within what they hold it works
    await service.admin_update_user(actor, held, victim.id, {"roles": ["moderator"]})
    assert (await service.store.get_user(victim.id)).roles == ("moderator",)  # type: ignore[union-attr]


async def test_a_user_without_the_admin_permission_is_no_administrator(make_app: Any) -> None:
    from fastauth.authz import Principal
    from fastauth.errors import PermissionDenied

    a = await start(make_app)
    _, tokens = await member(a, "ed@example.com", "editor")
    forged_claims = {**access_claims(tokens), "scope": "fastauth:admin"}  # what a tampered token says
    # admin_of reads the user as stored, never the token's scope
    with pytest.raises(PermissionDenied):
        await a.auth.service.admin_of(Principal.of_token(forged_claims))
