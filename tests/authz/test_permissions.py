"""Names and the principal, without a database: `check_role_name` and `check_permission` accept exactly
their documented alphabets and lengths; `Principal.of_token` reads `roles` and `scope` as fastauth
writes them, and anything else in those claims grants nothing (a malformed claim is never a partial
grant and never an error: the token verified, it just holds nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from fastauth.authz import ADMIN, BUILTIN_PERMISSIONS, INTROSPECT, REVOKE, Principal
from fastauth.authz.permissions import check_permission, check_role_name
from fastauth.errors import InvalidRole

ROLE_RULE = "a role name is 1 to 64 letters, digits or _ . : - (starting with a letter or digit)"
PERMISSION_RULE = "a permission is 1 to 128 letters, digits or _ . : / * - (starting with a letter or digit)"


def test_fastauths_own_permissions() -> None:
    assert (ADMIN, INTROSPECT, REVOKE) == ("fastauth:admin", "fastauth:introspect", "fastauth:revoke")
    assert frozenset({ADMIN, INTROSPECT, REVOKE}) == BUILTIN_PERMISSIONS
    for name in BUILTIN_PERMISSIONS:
        assert check_permission(name) == name


@pytest.mark.parametrize(
    "name", ["a", "A", "0", "editor", "team.lead", "org:admin", "read_only", "x-y", "a" * 64, "9a.B_c:d-e"]
)
def test_a_valid_role_name_is_returned_as_is(name: str) -> None:
    assert check_role_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        "a b",  # a space would split User.roles' column
        " editor",
        "editor ",
        "editor\n",
        "\teditor",
        "_editor",
        ".editor",
        "-editor",
        ":editor",
        "a" * 65,
        "posts/write",  # `/` and `*` are for permissions only
        "posts*",
        "a%b",
        "é",
        "editor\x00",
        "rôle",
    ],
)
def test_an_invalid_role_name_is_invalid_role(name: str) -> None:
    with pytest.raises(InvalidRole) as refused:
        check_role_name(name)
    assert str(refused.value) == ROLE_RULE


@pytest.mark.parametrize("value", [None, 1, 1.5, b"editor", ["editor"], ("editor",), {"editor": 1}, True])
def test_a_role_name_that_is_no_string_is_invalid_role(value: Any) -> None:
    with pytest.raises(InvalidRole):
        check_role_name(value)


@pytest.mark.parametrize(
    "name",
    ["posts:write", "a", "files/*", "api:v2/users.read", "x-y_z", "a*", "A" * 128],
)
def test_a_valid_permission_is_returned_as_is(name: str) -> None:
    assert check_permission(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "*", "/x", "posts write", "posts:write ", "a" * 129, "posts\n", "p\x00", "posts,write", "é", '"a"'],
)
def test_an_invalid_permission_is_invalid_role(name: str) -> None:
    with pytest.raises(InvalidRole) as refused:
        check_permission(name)
    assert str(refused.value) == PERMISSION_RULE


@pytest.mark.parametrize("value", [None, 7, ["posts:write"], b"posts:write"])
def test_a_permission_that_is_no_string_is_invalid_role(value: Any) -> None:
    with pytest.raises(InvalidRole):
        check_permission(value)


# --- Principal.of_token ------------------------------------------------------------------------

BASE = {"sub": "user1", "sid": "session1", "type": "access"}


def test_the_claims_fastauth_writes_become_roles_and_scopes() -> None:
    principal = Principal.of_token({**BASE, "roles": ["editor", "viewer"], "scope": "posts:read posts:write"})
    assert (principal.kind, principal.id, principal.user_id, principal.session_id) == (
        "user",
        "user1",
        "user1",
        "session1",
    )
    assert principal.roles == ("editor", "viewer")
    assert principal.scopes == frozenset({"posts:read", "posts:write"})
    assert principal.has_authz_claims is True
    assert principal.is_api_key is False and principal.api_key_id is None
    assert principal.claims["sub"] == "user1"


def test_roles_without_scope_is_a_principal_with_roles_and_no_permission() -> None:
    principal = Principal.of_token({**BASE, "roles": ["nobody"]})
    assert (principal.roles, principal.scopes, principal.has_authz_claims) == (("nobody",), frozenset(), True)


def test_a_token_without_either_claim_says_so() -> None:
    principal = Principal.of_token(dict(BASE))
    assert (principal.roles, principal.scopes, principal.has_authz_claims) == ((), frozenset(), False)


def test_extra_spaces_in_scope_are_separators() -> None:
    principal = Principal.of_token({**BASE, "roles": [], "scope": "  posts:read \t posts:write  "})
    assert principal.scopes == frozenset({"posts:read", "posts:write"})


@pytest.mark.parametrize(
    "roles",
    [
        "editor",  # a string, not a list: no role (and not the letters of one)
        "editor viewer",
        {"editor": True},
        ("editor",),  # JSON has no tuples: only what a decoder makes counts
        ["editor", 1],  # one bad item spoils the list
        ["editor", None],
        ["editor", ["viewer"]],
        [{"name": "editor"}],
        7,
        True,
        None,
    ],
    ids=repr,
)
def test_malformed_roles_grant_no_role(roles: Any) -> None:
    principal = Principal.of_token({**BASE, "roles": roles, "scope": "posts:read"})
    assert principal.roles == ()
    assert not principal.has_roles(["editor"])
    assert principal.has_authz_claims is True  # it said something: the user is not read instead


@pytest.mark.parametrize(
    "scope",
    [
        ["posts:read", "posts:write"],  # a list, not RFC 6749's space-separated string
        {"posts:write": True},
        7,
        True,
        None,
        b"posts:write",
    ],
    ids=repr,
)
def test_a_malformed_scope_grants_no_permission(scope: Any) -> None:
    principal = Principal.of_token({**BASE, "roles": ["editor"], "scope": scope})
    assert principal.scopes == frozenset()
    assert not principal.holds(["posts:write"])
    assert not principal.holds(["posts:write"], any_of=True)
    assert principal.has_authz_claims is True


def test_a_string_subclass_is_not_a_string_here() -> None:
    class Sneaky(str):
        pass

    principal = Principal.of_token({**BASE, "roles": [Sneaky("editor")], "scope": Sneaky("posts:write")})
    assert (principal.roles, principal.scopes) == ((), frozenset())


def test_holds_needs_every_permission_or_one_with_any_of() -> None:
    principal = Principal.of_token({**BASE, "roles": ["editor"], "scope": "posts:read posts:write"})
    assert principal.holds(["posts:read", "posts:write"])
    assert not principal.holds(["posts:read", "posts:delete"])
    assert principal.holds(["posts:read", "posts:delete"], any_of=True)
    assert not principal.holds(["posts:delete", "users:read"], any_of=True)
    assert principal.holds(iter(["posts:write"]))  # any iterable, read once
    assert not principal.holds(["posts"])  # no prefix matching
    assert not principal.holds(["posts:*"])  # no wildcard matching either: `*` is a literal character


def test_has_roles_needs_every_role_or_one_with_any_of() -> None:
    principal = Principal.of_token({**BASE, "roles": ["editor", "viewer"]})
    assert principal.has_roles(["editor", "viewer"])
    assert not principal.has_roles(["editor", "admin"])
    assert principal.has_roles(["admin", "viewer"], any_of=True)
    assert not principal.has_roles(["admin"], any_of=True)
    assert not principal.has_roles(["Editor"])  # exact names


def test_the_principal_is_frozen_and_its_repr_shows_no_claims() -> None:
    principal = Principal.of_token({**BASE, "roles": ["editor"], "scope": "posts:write", "email": "a@b.c"})
    with pytest.raises(AttributeError):
        principal.roles = ("admin",)  # type: ignore[misc]
    assert "a@b.c" not in repr(principal)
