"""The authorization dependencies over HTTP, on SQLite and PostgreSQL: `require_permissions` (every one,
or `any_of`), `require_scope` (403 with RFC 6750's `insufficient_scope` challenge naming the scopes),
`require_roles` from the token's claim (the `Principal`) or with `fresh=True` from the user as stored
(the `User`); `authz.superuser_bypass` off (the default: a superuser holds what their roles grant) and
on (checked on the user as stored now, never for `require_scope`); a token from before fastauth wrote
`roles` and `scope` gets the user's roles and permissions as stored."""

from __future__ import annotations

from typing import Any

import pytest
from authz_app import FORBIDDEN, access_claims, get, grant, member, root, start

from support.app import TEST_SECRET
from support.forge import decode, forge
from support.http import NOT_AUTHENTICATED_BODY, assert_invalid_token, post_refresh

SCOPE_BODY = {"detail": "The token lacks a scope this needs", "code": "insufficient_scope"}


def insufficient(scope: str) -> str:
    return f'Bearer error="insufficient_scope", scope="{scope}"'


PATHS = [
    "/perm/write",
    "/perm/write-and-delete",
    "/perm/write-or-delete",
    "/scope/write",
    "/scope/read-write",
    "/role/editor",
    "/role/editor-or-moderator",
    "/role/editor-and-viewer",
    "/role/editor/fresh",
]


@pytest.mark.parametrize(
    ("roles", "allowed"),
    [
        ((), set()),
        (("viewer",), set()),
        (("editor",), {"/perm/write", "/perm/write-or-delete", "/scope/write", "/scope/read-write",
                       "/role/editor", "/role/editor-or-moderator", "/role/editor/fresh"}),
        (("moderator",), {"/perm/write-or-delete", "/role/editor-or-moderator"}),
        (("editor", "moderator"), set(PATHS) - {"/role/editor-and-viewer"}),
        (("editor", "viewer"), set(PATHS) - {"/perm/write-and-delete"}),
    ],
    ids=["no role", "viewer", "editor", "moderator", "editor+moderator", "editor+viewer"],
)  # fmt: skip
async def test_who_passes_which_check(make_app: Any, roles: tuple[str, ...], allowed: set[str]) -> None:
    a = await start(make_app)
    _, tokens = await member(a, "u@example.com", *roles)
    token = tokens["access_token"]
    for path in PATHS:
        answer = await get(a, path, token)
        if path in allowed:
            assert answer.status_code == 200, (path, answer.text)
            continue
        if path.startswith("/scope/"):
            wanted = "posts:write" if path == "/scope/write" else "posts:read posts:write"
            assert (answer.status_code, answer.json()) == (403, SCOPE_BODY), path
            assert answer.headers.get_list("www-authenticate") == [insufficient(wanted)], path
        else:
            assert (answer.status_code, answer.json()) == (403, FORBIDDEN), path
            assert "www-authenticate" not in answer.headers, path


async def test_the_claims_based_checks_give_the_principal(make_app: Any) -> None:
    a = await start(make_app)
    user, tokens = await member(a, "ed@example.com", "editor")
    expected = {
        "id": user.id,
        "kind": "user",
        "roles": ["editor"],
        "scopes": ["posts:read", "posts:write"],
    }
    for path in ("/perm/write", "/scope/write", "/role/editor"):
        answer = await get(a, path, tokens["access_token"])
        assert (answer.status_code, answer.json()) == (200, expected), path


async def test_fresh_gives_the_user_as_stored(make_app: Any) -> None:
    a = await start(make_app)
    user, tokens = await member(a, "ed@example.com", "editor")
    answer = await get(a, "/role/editor/fresh", tokens["access_token"])
    assert (answer.status_code, answer.json()) == (
        200,
        {"id": user.id, "email": "ed@example.com", "roles": ["editor"]},
    )


@pytest.mark.parametrize("path", PATHS)
async def test_no_token_is_401_and_a_bad_one_is_invalid_token(make_app: Any, path: str) -> None:
    a = await start(make_app)
    anonymous = await a.client.get(path)
    assert (anonymous.status_code, anonymous.json()) == (401, NOT_AUTHENTICATED_BODY)
    assert_invalid_token(await get(a, path, "not-a-token"))


async def test_a_grant_reaches_fresh_at_once_and_the_claims_at_the_next_refresh(make_app: Any) -> None:
    a = await start(make_app)
    user, tokens = await member(a, "v@example.com", "viewer")
    token = tokens["access_token"]
    await grant(a, user.id, "viewer", "editor")
    assert (await get(a, "/role/editor/fresh", token)).status_code == 200  # read now
    assert (await get(a, "/role/editor", token)).status_code == 403  # the token's word
    assert (await get(a, "/perm/write", token)).status_code == 403
    refreshed = (await post_refresh(a, tokens["refresh_token"])).json()
    for path in ("/role/editor", "/perm/write", "/scope/write", "/role/editor-and-viewer"):
        assert (await get(a, path, refreshed["access_token"])).status_code == 200, path


# --- superusers ----------------------------------------------------------------------------------


async def test_without_the_bypass_a_superuser_holds_only_what_their_roles_grant(make_app: Any) -> None:
    a = await start(make_app)
    _, tokens = await member(a, "root2@example.com", superuser=True)
    token = tokens["access_token"]
    for path in PATHS:
        answer = await get(a, path, token)
        assert answer.status_code == 403, path
    # with a role, like anyone else
    _, viewer = await member(a, "boss@example.com", "viewer", superuser=True)
    assert (await get(a, "/role/editor-or-moderator", viewer["access_token"])).status_code == 403
    _, editor = await member(a, "chief@example.com", "editor", superuser=True)
    assert (await get(a, "/perm/write", editor["access_token"])).status_code == 200


async def test_with_the_bypass_a_superuser_passes_permissions_and_roles_but_not_scope(make_app: Any) -> None:
    a = await start(make_app, superuser_bypass=True)
    user, tokens = await member(a, "root2@example.com", superuser=True)
    token = tokens["access_token"]
    for path in PATHS:
        answer = await get(a, path, token)
        if path.startswith("/scope/"):
            assert (answer.status_code, answer.json()) == (403, SCOPE_BODY), path
        else:
            assert answer.status_code == 200, (path, answer.text)
    # the principal still says what the token says: no invented permission
    answer = await get(a, "/perm/write", token)
    assert answer.json() == {"id": user.id, "kind": "user", "roles": [], "scopes": []}


async def test_the_bypass_does_not_help_anyone_else(make_app: Any) -> None:
    a = await start(make_app, superuser_bypass=True)
    _, tokens = await member(a, "v@example.com", "viewer")
    for path in ("/perm/write", "/role/editor", "/role/editor/fresh"):
        assert (await get(a, path, tokens["access_token"])).status_code == 403, path


async def test_the_bypass_reads_the_user_now_so_a_demotion_ends_it_at_once(make_app: Any) -> None:
    a = await start(make_app, superuser_bypass=True)
    user, tokens = await member(a, "root2@example.com", superuser=True)
    token = tokens["access_token"]
    assert (await get(a, "/perm/write", token)).status_code == 200

    boss = await root(a)
    await a.auth.service.admin_update_user(boss, None, user.id, {"is_superuser": False})
    for path in ("/perm/write", "/role/editor", "/role/editor/fresh"):
        answer = await get(a, path, token)
        assert (answer.status_code, answer.json()) == (403, FORBIDDEN), path


# --- tokens from before fastauth wrote roles -------------------------------------------------------


def without_authz_claims(token: str) -> str:
    """The token as an earlier fastauth issued it: no `roles`, no `scope`, validly signed (the test
    app signs HS256 with its secret)."""
    header, payload = decode(token)
    payload.pop("roles", None)
    payload.pop("scope", None)
    return forge(header, payload, "HS256", TEST_SECRET)


async def test_an_old_token_without_roles_falls_back_to_the_user(make_app: Any) -> None:
    a = await start(make_app)
    user, tokens = await member(a, "ed@example.com", "editor")
    old = without_authz_claims(tokens["access_token"])
    assert "roles" not in decode(old)[1] and decode(old)[1]["sub"] == user.id
    answer = await get(a, "/perm/write", old)
    assert (answer.status_code, answer.json()) == (
        200,
        {"id": user.id, "kind": "user", "roles": ["editor"], "scopes": ["posts:read", "posts:write"]},
    )
    assert (await get(a, "/scope/write", old)).status_code == 200
    assert (await get(a, "/role/editor", old)).status_code == 200
    # read as stored: a change counts at once for such a token
    await grant(a, user.id, "viewer")
    assert (await get(a, "/perm/write", old)).status_code == 403
    assert (await get(a, "/role/editor", old)).status_code == 403
    scope = await get(a, "/scope/write", old)
    assert (scope.status_code, scope.json()) == (403, SCOPE_BODY)
    # and its refresh brings the claims
    assert "roles" in access_claims((await post_refresh(a, tokens["refresh_token"])).json())


async def test_an_old_token_of_a_user_without_roles_holds_nothing(make_app: Any) -> None:
    a = await start(make_app)
    _, tokens = await member(a, "alice@example.com")
    old = without_authz_claims(tokens["access_token"])
    for path in ("/perm/write", "/role/editor", "/perm/write-or-delete"):
        assert (await get(a, path, old)).status_code == 403, path
    assert (await a.client.get("/private", headers={"Authorization": f"Bearer {old}"})).status_code == 200


async def test_a_token_with_roles_but_no_scope_is_not_an_old_token(make_app: Any) -> None:
    # `roles: []` is fastauth's word "no role": the user is not read, even if they hold one now
    a = await start(make_app)
    user, tokens = await member(a, "alice@example.com")
    await grant(a, user.id, "editor")
    assert (await get(a, "/perm/write", tokens["access_token"])).status_code == 403
