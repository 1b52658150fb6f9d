"""Hostile API keys, each with its exact answer: a key that is not well formed (refused with no
database read), one that is well formed but unknown (one read, then remembered), revoked, expired,
of a deactivated or deleted owner; scopes beyond the owner, and an owner who loses a role after the
key was made; what a key may never do (fastauth's own account routes, the superuser dependency);
and the key never written to a log or the audit."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Awaitable
from typing import Any

import pytest
from fastapi import Depends

from fastauth.authz import Principal
from fastauth.authz.api_keys import checksum, key_hash, new_api_key
from support.clock import Clock
from support.http import (
    INVALID_TOKEN_BODY,
    NOT_AUTHENTICATED_BODY,
    PASSWORD,
    assert_invalid_token,
    bearer,
    login,
)

ROUTE = "/auth/api-keys"
ALICE = "alice@example.com"
ROLES = {"reporter": ["reports:read"], "editor": ["reports:read", "reports:write"]}
FORBIDDEN = {"detail": "Not enough permissions", "code": "permission_denied"}
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class CountingStore:
    """The real store with its calls counted by method name."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            self.calls[name] += 1
            result: Awaitable[Any] = attr(*args, **kwargs)
            return result

        return counted


async def setup(make_app: Any, *, roles: tuple[str, ...] = ("editor",), **overrides: Any) -> Any:
    """An app with a permission route and Alice (holding `roles`) signed in: (app, her headers)."""
    a = await make_app(authz={"roles": ROLES, **overrides.pop("authz", {})}, **overrides)
    auth = a.auth

    @a.app.get("/whoami")
    async def whoami(principal: Principal = Depends(auth.get_current_principal)) -> dict[str, Any]:
        return {"kind": principal.kind, "scopes": sorted(principal.scopes)}

    @a.app.get("/reports")
    async def reports(
        principal: Principal = Depends(auth.require_permissions("reports:read")),
    ) -> dict[str, Any]:
        return {"for": principal.user_id}

    await a.register(ALICE)
    user = await auth.service.store.get_user_by_email(ALICE)
    if roles:
        await auth.service.accounts.update(user.id, roles=roles)
    tokens = await login(a.client, ALICE)
    return a, bearer(tokens["access_token"])


async def new_key(a: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    made = await a.client.post(ROUTE, json={"name": "k", **body}, headers=headers)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _swap_last(key: str) -> str:
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def _same_checksum_other_body(key: str) -> str:
    body = key[3:-6]
    other = ("B" if body[0] != "B" else "C") + body[1:]
    return "fa_" + other + key[-6:]


#: Name -> how to spoil a genuine key: each is refused by format or checksum, before any read.
MALFORMED = {
    "prefix alone": lambda key: "fa_",
    "truncated by one": lambda key: key[:-1],
    "truncated to the shown prefix": lambda key: key[:8],
    "one character more": lambda key: key + "A",
    "wrong checksum": _swap_last,
    "checksum of another body": _same_checksum_other_body,
    "body lowercased": lambda key: key.lower(),
    "body uppercased": lambda key: "fa_" + key[3:].upper(),
    "checksum of the body as hex": lambda key: key[:-6] + "0f0f0f",
    "not base62": lambda key: key[:10] + "-" + key[11:],
    "underscore inside": lambda key: key[:10] + "_" + key[11:],
    "double prefix": lambda key: "fa_" + key,
    "very long": lambda key: key + "A" * 8000,
    "checksum recomputed over the prefix": lambda key: key[:-6] + checksum(key[:-6]),
}


@SQLITE_ONLY
@pytest.mark.parametrize("spoil", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_a_malformed_key_is_401_without_a_database_read(make_app: Any, spoil: Any) -> None:
    a, headers = await setup(make_app)
    key = (await new_key(a, headers))["key"]
    store = CountingStore(a.auth.service.api_keys.store)
    a.auth.service.api_keys.store = store
    bad = spoil(key)
    assert bad != key
    for path in ("/whoami", "/reports", "/private", "/claims"):
        assert_invalid_token(await a.client.get(path, headers=bearer(bad)))
    assert store.calls["get_api_key_by_hash"] == 0
    assert sum(store.calls.values()) == 0


@SQLITE_ONLY
@pytest.mark.parametrize(
    "header",
    [b"Bearer fa_" + "é".encode("latin-1") * 36, b"Bearer fa_\x00" + b"A" * 35, b"Bearer fa_ " + b"A" * 35],
    ids=["latin-1 letters", "NUL", "space inside"],
)
async def test_a_key_of_odd_bytes_is_401_without_a_database_read(make_app: Any, header: bytes) -> None:
    a, _ = await setup(make_app, roles=())
    store = CountingStore(a.auth.service.api_keys.store)
    a.auth.service.api_keys.store = store
    answer = await a.client.get("/whoami", headers=[(b"Authorization", header)])
    assert answer.status_code == 401, answer.text
    assert answer.json() == INVALID_TOKEN_BODY
    assert sum(store.calls.values()) == 0


async def test_a_prefix_in_capitals_is_no_key_and_fails_as_a_token(make_app: Any) -> None:
    """`FA_...` is not meant as a key (the prefix is lower-case): it is checked as a JWT and refused."""
    a, headers = await setup(make_app)
    key = (await new_key(a, headers))["key"]
    store = CountingStore(a.auth.service.api_keys.store)
    a.auth.service.api_keys.store = store
    assert_invalid_token(await a.client.get("/whoami", headers=bearer("FA_" + key[3:])))
    assert_invalid_token(await a.client.get("/whoami", headers=bearer("Fa_" + key[3:])))
    assert sum(store.calls.values()) == 0


async def test_a_well_formed_unknown_key_costs_one_read_then_none(make_app: Any) -> None:
    a, _ = await setup(make_app, roles=())
    store = CountingStore(a.auth.service.api_keys.store)
    a.auth.service.api_keys.store = store
    forged = new_api_key()  # a valid checksum, but nobody made it here
    for _ in range(5):
        assert_invalid_token(await a.client.get("/whoami", headers=bearer(forged)))
    assert store.calls["get_api_key_by_hash"] == 1  # the unknown hash is remembered too


async def test_a_revoked_key_is_refused_at_once(make_app: Any) -> None:
    a, headers = await setup(make_app)
    made = await new_key(a, headers, scopes=["reports:read"])
    assert (await a.client.get("/reports", headers=bearer(made["key"]))).status_code == 200  # now cached
    assert (await a.client.delete(f"{ROUTE}/{made['id']}", headers=headers)).status_code == 204
    for path in ("/whoami", "/reports", "/private"):
        assert_invalid_token(await a.client.get(path, headers=bearer(made["key"])))


async def test_an_expired_key_is_refused(make_app: Any, clock: Clock) -> None:
    a, headers = await setup(make_app, clock=clock)
    made = await new_key(a, headers, expires_in=60)
    clock.advance(59)
    assert (await a.client.get("/whoami", headers=bearer(made["key"]))).status_code == 200
    clock.advance(1)
    assert_invalid_token(await a.client.get("/whoami", headers=bearer(made["key"])))


async def test_a_key_of_a_deactivated_user_is_refused(make_app: Any) -> None:
    a, headers = await setup(make_app)
    made = await new_key(a, headers)
    assert (await a.client.get("/whoami", headers=bearer(made["key"]))).status_code == 200
    user = await a.auth.service.store.get_user_by_email(ALICE)
    await a.auth.set_user_active(user.id, False)
    assert_invalid_token(await a.client.get("/whoami", headers=bearer(made["key"])))
    await a.auth.set_user_active(user.id, True)  # the key itself was not revoked
    assert (await a.client.get("/whoami", headers=bearer(made["key"]))).status_code == 200


async def test_a_key_of_a_deleted_user_is_refused(make_app: Any) -> None:
    a, headers = await setup(make_app)
    made = await new_key(a, headers)
    assert (await a.client.get("/whoami", headers=bearer(made["key"]))).status_code == 200
    deleted = await a.client.request("DELETE", "/auth/me", json={"password": PASSWORD}, headers=headers)
    assert deleted.status_code == 204, deleted.text
    assert_invalid_token(await a.client.get("/whoami", headers=bearer(made["key"])))
    assert await a.auth.service.store.get_api_key(made["id"]) is None  # gone with its owner


async def test_scopes_the_owner_lacks_are_refused_at_creation(make_app: Any) -> None:
    a, headers = await setup(make_app, roles=("reporter",))
    refused = await a.client.post(
        ROUTE,
        json={"name": "k", "scopes": ["reports:read", "reports:write", "fastauth:admin"]},
        headers=headers,
    )
    assert (refused.status_code, refused.json()) == (
        400,
        {"detail": "scopes you do not hold: fastauth:admin reports:write", "code": "invalid_scope"},
    )
    assert (await a.client.get(ROUTE, headers=headers)).json() == []


async def test_a_superuser_may_give_any_scope_but_the_key_is_no_superuser(make_app: Any) -> None:
    a, _ = await setup(make_app, roles=(), authz={"superuser_bypass": True})
    await a.auth.service.create_user("root@example.com", PASSWORD, is_superuser=True, is_verified=True)
    root = bearer((await login(a.client, "root@example.com"))["access_token"])
    assert (await a.client.get("/admin", headers=root)).status_code == 200
    assert (await a.client.get("/reports", headers=root)).status_code == 200  # the bypass, for the person
    anything = await new_key(a, root, scopes=["billing:refund"])
    narrow = await new_key(a, root)
    assert (await a.client.get("/whoami", headers=bearer(anything["key"]))).json()["scopes"] == [
        "billing:refund"
    ]
    # get_current_superuser takes an access token only; and no bypass for a key's permissions.
    assert_invalid_token(await a.client.get("/admin", headers=bearer(anything["key"])))
    refused = await a.client.get("/reports", headers=bearer(narrow["key"]))
    assert (refused.status_code, refused.json()) == (403, FORBIDDEN)


async def test_a_key_shrinks_at_once_when_its_owner_loses_the_role(make_app: Any) -> None:
    a, headers = await setup(make_app)
    made = await new_key(a, headers, scopes=["reports:read", "reports:write"])
    key = bearer(made["key"])
    assert (await a.client.get("/reports", headers=key)).status_code == 200
    user = await a.auth.service.store.get_user_by_email(ALICE)
    await a.auth.service.accounts.update(user.id, roles=())
    refused = await a.client.get("/reports", headers=key)
    assert (refused.status_code, refused.json()) == (403, FORBIDDEN)
    assert (await a.client.get("/whoami", headers=key)).json() == {"kind": "api_key", "scopes": []}
    # Given back a smaller role: the key holds what both allow, no more.
    await a.auth.service.accounts.update(user.id, roles=("reporter",))
    assert (await a.client.get("/whoami", headers=key)).json()["scopes"] == ["reports:read"]
    assert (await a.client.get("/reports", headers=key)).status_code == 200


async def test_a_key_shrinks_at_once_when_its_role_loses_the_permission(make_app: Any) -> None:
    a, _ = await setup(make_app, roles=())
    actor = await a.auth.service.create_user("root@example.com", PASSWORD, is_superuser=True)
    # A role of the store (the configuration's cannot be changed at run time).
    await a.auth.service.create_role(actor, None, "analyst", ["reports:read"], "")
    user = await a.auth.service.store.get_user_by_email(ALICE)
    await a.auth.service.accounts.update(user.id, roles=("analyst",))
    fresh = bearer((await login(a.client, ALICE))["access_token"])
    made = await new_key(a, fresh, scopes=["reports:read"])
    assert (await a.client.get("/reports", headers=bearer(made["key"]))).status_code == 200
    await a.auth.service.update_role(actor, None, "analyst", permissions=["reports:list"])
    refused = await a.client.get("/reports", headers=bearer(made["key"]))
    assert (refused.status_code, refused.json()) == (403, FORBIDDEN)


#: fastauth's own routes a key must never reach: (method, path, body).
ACCOUNT_ROUTES = [
    ("POST", ROUTE, {"name": "successor"}),
    ("GET", ROUTE, None),
    ("DELETE", f"{ROUTE}/anything", None),
    ("GET", "/auth/me", None),
    ("PATCH", "/auth/me", {}),
    ("DELETE", "/auth/me", {"password": PASSWORD}),
    ("POST", "/auth/change-password", {"current_password": PASSWORD, "new_password": "a new password 1"}),
    ("POST", "/auth/change-email", {"new_email": "mallory@example.com", "password": PASSWORD}),
    ("GET", "/auth/sessions", None),
    ("DELETE", "/auth/sessions", None),
    ("POST", "/auth/mfa/totp/setup", None),
    ("GET", "/auth/passkeys", None),
]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("method", "path", "body"), ACCOUNT_ROUTES, ids=[f"{m} {p}" for m, p, _ in ACCOUNT_ROUTES]
)
async def test_a_key_is_refused_by_fastauths_own_account_routes(
    make_app: Any, method: str, path: str, body: Any
) -> None:
    a, headers = await setup(make_app, authz={"api_key_header": "X-API-Key"})
    key = (await new_key(a, headers))["key"]
    refused = await a.client.request(method, path, json=body, headers=bearer(key))
    assert_invalid_token(refused)
    sideways = await a.client.request(method, path, json=body, headers={"X-API-Key": key})
    assert (sideways.status_code, sideways.json()) == (401, NOT_AUTHENTICATED_BODY)
    # Nothing changed: the one key, the password, the account.
    assert len((await a.client.get(ROUTE, headers=headers)).json()) == 1
    assert (await a.client.get("/auth/me", headers=headers)).json()["email"] == ALICE
    await login(a.client, ALICE)


async def test_the_key_is_never_logged_nor_audited(make_app: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    a, headers = await setup(make_app)
    made = await new_key(a, headers, scopes=["reports:read"])
    key = made["key"]
    for _ in range(3):
        assert (await a.client.get("/reports", headers=bearer(key))).status_code == 200
    await a.client.get("/whoami", headers=bearer(_swap_last(key)))
    await a.client.get("/whoami", headers=bearer(new_api_key()))
    await a.auth.service.api_keys.flush()
    assert (await a.client.delete(f"{ROUTE}/{made['id']}", headers=headers)).status_code == 204
    await a.client.get("/whoami", headers=bearer(key))
    records = await a.auth.service.audit.read(limit=500)
    events = [r.event for r in records]
    assert "api_key_created" in events and "api_key_revoked" in events
    secret_part = key[8:]  # everything but the prefix people see
    digest = key_hash(key)
    for record in records:
        text = repr(record) + str(dataclasses.asdict(record))
        assert secret_part not in text and digest not in text, record
    # (The hash may show in a database driver's debug log of its query parameters: it is the lookup,
    # and no key can be made from it.)
    assert key not in caplog.text and secret_part not in caplog.text
