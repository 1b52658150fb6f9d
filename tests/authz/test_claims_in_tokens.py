"""What an access token says about authorization, on SQLite and PostgreSQL: `roles` (the user's role
names) and `scope` (their permissions, space-separated, sorted; absent when they grant none) at sign-in
and at every refresh, so a change of roles reaches the session at its next refresh. With
`authz.roles_in_token` off fastauth writes neither and the checks read the user. `roles` and `scope`
are reserved for `modify_jwt` while fastauth writes them (the refusal names the setting that frees
them); with the setting off a hook may write them, and they are then what the checks read."""

from __future__ import annotations

from typing import Any

import pytest
from authz_app import FORBIDDEN, ROLES, access_claims, get, grant, member, root, start

from fastauth.errors import HookError
from fastauth.hooks import EventHooks
from support.http import PASSWORD, post_refresh


async def test_sign_in_writes_roles_and_their_permissions(make_app: Any) -> None:
    a = await start(make_app)
    _, tokens = await member(a, "ed@example.com", "editor", "moderator")
    claims = access_claims(tokens)
    assert claims["roles"] == ["editor", "moderator"]
    assert claims["scope"] == "posts:delete posts:read posts:write"  # the union, each once, sorted


async def test_a_user_without_roles_gets_an_empty_list_and_no_scope(make_app: Any) -> None:
    a = await start(make_app)
    _, tokens = await member(a, "alice@example.com")
    claims = access_claims(tokens)
    assert claims["roles"] == []
    assert "scope" not in claims


async def test_a_role_granting_nothing_is_named_but_gives_no_scope(make_app: Any) -> None:
    a = await start(make_app, roles={**ROLES, "member": []})
    _, tokens = await member(a, "m@example.com", "member")
    claims = access_claims(tokens)
    assert (claims["roles"], "scope" in claims) == (["member"], False)


async def test_registration_writes_them_too(make_app: Any) -> None:
    a = await start(make_app)
    answer = await a.register("new@example.com", PASSWORD)
    assert access_claims(answer)["roles"] == []


async def test_the_refresh_after_a_change_of_roles_carries_the_new_ones(make_app: Any) -> None:
    a = await start(make_app)
    user, tokens = await member(a, "ed@example.com", "viewer")
    assert access_claims(tokens)["scope"] == "posts:read"
    await grant(a, user.id, "editor")
    assert access_claims(tokens)["roles"] == ["viewer"]  # the live token says what it said
    refreshed = await post_refresh(a, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    claims = access_claims(refreshed.json())
    assert (claims["roles"], claims["scope"]) == (["editor"], "posts:read posts:write")
    await grant(a, user.id)
    again = await post_refresh(a, refreshed.json()["refresh_token"])
    claims = access_claims(again.json())
    assert (claims["roles"], "scope" in claims) == ([], False)


async def test_the_refresh_after_a_change_of_a_roles_permissions_carries_them(make_app: Any) -> None:
    a = await start(make_app, roles={})  # roles made at run time can change
    service = a.auth.service
    user, _ = await member(a, "ed@example.com")
    boss = await root(a)
    await service.create_role(boss, None, "writer", ["posts:write"], "")
    await grant(a, user.id, "writer")
    tokens = (
        await a.client.post("/auth/login", json={"email": "ed@example.com", "password": PASSWORD})
    ).json()
    assert access_claims(tokens)["scope"] == "posts:write"
    await service.update_role(boss, None, "writer", permissions=["posts:write", "media:upload"])
    refreshed = (await post_refresh(a, tokens["refresh_token"])).json()
    assert access_claims(refreshed)["scope"] == "media:upload posts:write"


async def test_roles_in_token_off_writes_neither_and_the_checks_read_the_user(make_app: Any) -> None:
    a = await start(make_app, roles_in_token=False)
    user, tokens = await member(a, "ed@example.com", "editor")
    claims = access_claims(tokens)
    assert "roles" not in claims and "scope" not in claims
    token = tokens["access_token"]
    answer = await get(a, "/perm/write", token)
    assert (answer.status_code, answer.json()["roles"], answer.json()["scopes"]) == (
        200,
        ["editor"],
        ["posts:read", "posts:write"],
    )
    assert (await get(a, "/role/editor", token)).status_code == 200
    # read now: a change of roles is seen by the very same token
    await grant(a, user.id, "viewer")
    refused = await get(a, "/perm/write", token)
    assert (refused.status_code, refused.json()) == (403, FORBIDDEN)
    assert (await get(a, "/role/editor", token)).status_code == 403
    assert (await get(a, "/scope/write", token)).status_code == 403
    assert (await get(a, "/perm/write-or-delete", token)).status_code == 403


class Rewriter(EventHooks):
    """A `modify_jwt` that sets (or drops) `roles` and `scope`."""

    def __init__(self, **changes: Any) -> None:
        self.changes = changes

    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        changed = dict(token)
        for name, value in self.changes.items():
            if value is None:
                changed.pop(name, None)
            else:
                changed[name] = value
        return changed


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        ({"roles": ["admin"]}, "roles"),
        ({"roles": None}, "roles"),  # dropped
        ({"scope": "posts:write"}, "scope"),
        ({"scope": "fastauth:admin posts:read"}, "scope"),
        ({"scope": None}, "scope"),
    ],
    ids=["roles changed", "roles dropped", "scope replaced", "scope widened", "scope dropped"],
)
async def test_a_hook_changing_roles_or_scope_is_a_hook_error_naming_the_setting(
    make_app: Any, changes: dict[str, Any], claim: str
) -> None:
    a = await start(make_app, hooks=Rewriter(**changes))
    service = a.auth.service
    user = await service.create_user("v@example.com", PASSWORD, is_verified=True)
    await grant(a, user.id, "viewer")
    with pytest.raises(HookError) as refused:
        await service.sign_in("v@example.com", PASSWORD)
    message = str(refused.value)
    assert f"reserved claim {claim!r}" in message
    assert "FASTAUTH_AUTHZ__ROLES_IN_TOKEN=false" in message
    # over HTTP: the one hook answer, and no token
    answer = await a.client.post("/auth/login", json={"email": "v@example.com", "password": PASSWORD})
    assert (answer.status_code, answer.json()) == (
        500,
        {"detail": "Internal error in an authentication hook", "code": "hook_error"},
    )
    assert "access_token" not in answer.text


async def test_a_hook_adding_scope_where_fastauth_wrote_none_is_a_hook_error(make_app: Any) -> None:
    a = await start(make_app, hooks=Rewriter(scope="fastauth:admin"))
    await a.auth.service.create_user("nobody@example.com", PASSWORD, is_verified=True)  # no role: no scope
    with pytest.raises(HookError) as refused:
        await a.auth.service.sign_in("nobody@example.com", PASSWORD)
    assert "reserved claim 'scope'" in str(refused.value)


async def test_a_hook_repeating_the_same_values_is_fine(make_app: Any) -> None:
    a = await start(make_app, hooks=Rewriter(roles=["viewer"], scope="posts:read", tenant="t1"))
    _, tokens = await member(a, "v@example.com", "viewer")
    claims = access_claims(tokens)
    assert (claims["roles"], claims["scope"], claims["tenant"]) == (["viewer"], "posts:read", "t1")


async def test_an_other_reserved_claim_keeps_its_own_message(make_app: Any) -> None:
    a = await start(make_app, hooks=Rewriter(sub="someone-else"))
    await a.auth.service.create_user("v@example.com", PASSWORD, is_verified=True)
    with pytest.raises(HookError) as refused:
        await a.auth.service.sign_in("v@example.com", PASSWORD)
    assert "'sub'" in str(refused.value) and "ROLES_IN_TOKEN" not in str(refused.value)


async def test_with_roles_in_token_off_a_hook_may_write_them_and_they_are_read(make_app: Any) -> None:
    hook = Rewriter(roles=["editor"], scope="posts:write reports:read")
    a = await start(make_app, hooks=hook, roles_in_token=False)
    _, tokens = await member(a, "h@example.com")  # holds no role in the database
    claims = access_claims(tokens)
    assert (claims["roles"], claims["scope"]) == (["editor"], "posts:write reports:read")
    token = tokens["access_token"]
    answer = await get(a, "/perm/write", token)
    assert (answer.status_code, answer.json()["scopes"]) == (200, ["posts:write", "reports:read"])
    assert (await get(a, "/scope/write", token)).status_code == 200
    assert (await get(a, "/role/editor", token)).status_code == 200
    # the hook's claims are the token's word; fresh=True still reads the user
    assert (await get(a, "/role/editor/fresh", token)).status_code == 403
