"""Names (roles, permissions), fastauth's own permissions, and `Principal`: who a request acts for.

A permission is a string such as `posts:write`; a role is a name with a set of permissions. An access
token carries the user's role names (`roles`) and the union of their permissions (`scope`, space
separated, RFC 9068 §2.2.3); an API key carries the scopes it was given, cut down at each use to what
its owner still holds. Both become a `Principal`, so one check serves a person and a machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastauth.errors import InvalidRole

__all__ = [
    "ADMIN",
    "BUILTIN_PERMISSIONS",
    "INTROSPECT",
    "REVOKE",
    "Principal",
    "check_permission",
    "check_role_name",
]

#: The admin API (`/auth/admin/...`), for anyone but a superuser.
ADMIN = "fastauth:admin"
#: RFC 7662 `POST /auth/introspect`, for an API key of another service.
INTROSPECT = "fastauth:introspect"
#: RFC 7009 `POST /auth/revoke` of other people's tokens, for an API key of another service.
REVOKE = "fastauth:revoke"
BUILTIN_PERMISSIONS = frozenset({ADMIN, INTROSPECT, REVOKE})

#: Role names: what `User.roles` holds, space-separated in its column, so no spaces.
_ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
#: Permissions (and API-key scopes): RFC 6749 §3.3 scope tokens, restricted to a readable set.
_PERMISSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/*-]{0,127}")


def check_role_name(name: object) -> str:
    """`name` if it is a role name (letters, digits, `_ . : -`, at most 64); else `InvalidRole`."""
    if not isinstance(name, str) or not _ROLE.fullmatch(name):
        raise InvalidRole(
            "a role name is 1 to 64 letters, digits or _ . : - (starting with a letter or digit)"
        )
    return name


def check_permission(name: object) -> str:
    """`name` if it is a permission (letters, digits, `_ . : / * -`, at most 128); else `InvalidRole`."""
    if not isinstance(name, str) or not _PERMISSION.fullmatch(name):
        raise InvalidRole(
            "a permission is 1 to 128 letters, digits or _ . : / * - (starting with a letter or digit)"
        )
    return name


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list) and all(type(v) is str for v in value):
        return tuple(value)
    return ()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: a person through an access token (`kind="user"`) or a machine through
    an API key (`kind="api_key"`, `api_key_id` set, on behalf of its owner `user_id`)."""

    kind: Literal["user", "api_key"]
    #: The user (for a key, its owner).
    user_id: str
    #: Role names (a token's `roles` claim; for a key, its owner's roles now).
    roles: tuple[str, ...]
    #: Permissions held (a token's `scope`; for a key, its scopes that the owner still holds).
    scopes: frozenset[str]
    #: The verified token's claims; for a key, the same names describing it (`sub`, `scope`, ...).
    claims: Mapping[str, Any] = field(repr=False)
    #: The session of a token; None for a key.
    session_id: str | None = None
    #: The key's id; None for a token.
    api_key_id: str | None = None
    #: Whether the token said anything about roles at all (tokens from before fastauth wrote them
    #: did not: checks then read the user instead).
    has_authz_claims: bool = True

    @property
    def id(self) -> str:
        """The user's id (as `User.id`)."""
        return self.user_id

    @property
    def is_api_key(self) -> bool:
        """True for a machine client."""
        return self.kind == "api_key"

    @classmethod
    def of_token(cls, claims: Mapping[str, Any]) -> Principal:
        """The principal of verified access-token claims. A malformed `roles` or `scope` (not what
        fastauth writes) grants nothing."""
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if type(scope) is str else frozenset()
        return cls(
            kind="user",
            user_id=str(claims["sub"]),
            roles=_strings(claims.get("roles")),
            scopes=scopes,
            claims=claims,
            session_id=str(claims["sid"]),
            has_authz_claims="roles" in claims or "scope" in claims,
        )

    def holds(self, wanted: Iterable[str], *, any_of: bool = False) -> bool:
        """Whether every permission in `wanted` (or one, `any_of`) is held."""
        held = self.scopes
        wanted = tuple(wanted)
        return any(p in held for p in wanted) if any_of else all(p in held for p in wanted)

    def has_roles(self, wanted: Iterable[str], *, any_of: bool = False) -> bool:
        """Whether every role in `wanted` (or one, `any_of`) is held."""
        held = self.roles
        wanted = tuple(wanted)
        return any(r in held for r in wanted) if any_of else all(r in held for r in wanted)
