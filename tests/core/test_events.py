"""The event dispatcher: every entry point of the service fires its hooks exactly once, in order, with
the right arguments; whatever a hook raises surfaces as `HookError`, and nothing is half-written."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import fastauth.cli.users
from fastauth.errors import (
    EmailTaken,
    HookError,
    InvalidCredentials,
    InvalidEmail,
    NotAuthenticated,
    PasswordPolicyError,
    RateLimited,
    RevokedToken,
    SigninNotAllowed,
)
from fastauth.hooks import EventHooks
from fastauth.service import AuthService
from fastauth.sessions import TokenPair
from fastauth.storage.base import User
from fastauth.storage.memory import MemoryStore
from support.forge import claims

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
IP = "198.51.100.1"


def who(user: User) -> tuple[str, str]:
    return user.id, user.email


# --- each entry point, each event once ---------------------------------------------------------


async def test_register_fires_allow_signin_modify_jwt_on_signup_on_signin(
    service: AuthService, hooks: Any
) -> None:
    user, _ = await service.register("Ada@Example.com", PASSWORD, ip=IP)
    assert hooks.take() == [
        ("allow_signin", *who(user)),
        ("modify_jwt", *who(user)),
        ("on_signup", *who(user)),
        ("on_signin", *who(user)),
    ]
    assert user.email == EMAIL


async def test_a_refused_registration_fires_nothing(
    service: AuthService, store: MemoryStore, hooks: Any
) -> None:
    """A taken email is refused like an invalid one or a short password: no hook sees the user object
    that is never stored (its id exists nowhere)."""
    existing = await service.create_user(EMAIL, PASSWORD)
    hooks.take()

    for email, password, error in [
        ("not an email", PASSWORD, InvalidEmail),
        ("bob@example.com", "short", PasswordPolicyError),
        ("Ada@Example.com", PASSWORD, EmailTaken),
    ]:
        with pytest.raises(error):
            await service.register(email, password)
        assert hooks.take() == [], error.__name__
    assert list(store._users) == [existing.id]
    assert store._sessions == {}


async def test_create_user_fires_on_signup_only(service: AuthService, store: MemoryStore, hooks: Any) -> None:
    user = await service.create_user(EMAIL, PASSWORD, is_superuser=True, is_verified=True)

    assert hooks.take() == [("on_signup", *who(user))]
    stored = await store.get_user(user.id)
    assert stored is not None and (stored.is_superuser, stored.is_verified) == (True, True)
    assert await service.list_sessions(user) == []


def test_the_clis_create_user_goes_through_service_create_user() -> None:
    """`fastauth create-user` calls `service.create_user` and nothing else of the service, so it fires
    exactly the events the test above asserts (it reaches no store, accounts or events directly)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fastauth.cli.users.create_user)))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "service"
    }
    assert used == {"create_user"}
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "create_user"
    ]
    assert len(calls) == 1
    assert {keyword.arg for keyword in calls[0].keywords} == {"is_superuser", "is_verified"}


async def test_sign_in_fires_allow_signin_modify_jwt_on_signin(service: AuthService, hooks: Any) -> None:
    user = await service.create_user(EMAIL, PASSWORD)
    hooks.take()

    await service.sign_in("ADA@example.com", PASSWORD, ip=IP)

    assert hooks.take() == [
        ("allow_signin", *who(user)),
        ("modify_jwt", *who(user)),
        ("on_signin", *who(user)),
    ]


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("Ada@Example.com", "wrong password"),  # the email exactly as given, not normalised
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
        (EMAIL, "x" * 5000),
    ],
)
async def test_a_refused_sign_in_fires_on_failed_login_only(
    service: AuthService, hooks: Any, email: str, password: str
) -> None:
    await service.create_user(EMAIL, PASSWORD)
    hooks.take()

    with pytest.raises(InvalidCredentials):
        await service.sign_in(email, password, ip=IP)

    assert hooks.take() == [("on_failed_login", email, IP)]


async def test_an_inactive_users_sign_in_fires_on_failed_login_only(service: AuthService, hooks: Any) -> None:
    user = await service.create_user(EMAIL, PASSWORD)
    await service.set_user_active(user.id, False)
    hooks.take()

    with pytest.raises(InvalidCredentials):
        await service.sign_in(EMAIL, PASSWORD)

    assert hooks.take() == [("on_failed_login", EMAIL, None)]


async def test_a_rate_limited_sign_in_fires_nothing(make_service: Any, hooks: Any) -> None:
    service: AuthService = await make_service(
        rate_limit_enabled=True, login_rate_limit_per_account="1/minute"
    )
    await service.create_user(EMAIL, PASSWORD)
    with pytest.raises(InvalidCredentials):
        await service.sign_in(EMAIL, "wrong password")
    hooks.take()

    with pytest.raises(RateLimited):
        await service.sign_in(EMAIL, PASSWORD)

    assert hooks.take() == []


async def test_refresh_fires_allow_signin_modify_jwt_on_token_refresh(
    service: AuthService, hooks: Any
) -> None:
    user, pair = await service.register(EMAIL, PASSWORD)
    hooks.take()

    await service.refresh(pair.refresh_token)

    assert hooks.take() == [
        ("allow_signin", *who(user)),
        ("modify_jwt", *who(user)),
        ("on_token_refresh", *who(user)),
    ]


async def test_reuse_fires_on_refresh_reuse_only(service: AuthService, hooks: Any) -> None:
    user, pair = await service.register(EMAIL, PASSWORD)
    await service.refresh(pair.refresh_token)
    hooks.take()

    with pytest.raises(RevokedToken):
        await service.refresh(pair.refresh_token)

    assert hooks.take() == [("on_refresh_reuse", user.id, pair.session_id)]


async def test_sign_out_fires_on_signout_once_for_two_sessions(service: AuthService, hooks: Any) -> None:
    user, first = await service.register(EMAIL, PASSWORD)
    _, second = await service.sign_in(EMAIL, PASSWORD)
    hooks.take()

    await service.sign_out(
        access=await service.authenticate(first.access_token),
        refresh=await service.verify_refresh(second.refresh_token),
    )

    assert hooks.take() == [("on_signout", *who(user))]


async def test_a_refused_sign_out_fires_nothing(service: AuthService, hooks: Any) -> None:
    with pytest.raises(NotAuthenticated):
        await service.sign_out(access=None, refresh=None, presented=False)
    with pytest.raises(RevokedToken):
        await service.sign_out(access=None, refresh=None)
    assert hooks.take() == []


async def test_end_all_sessions_fires_on_signout_once(service: AuthService, hooks: Any) -> None:
    user, _ = await service.register(EMAIL, PASSWORD)
    await service.sign_in(EMAIL, PASSWORD)
    hooks.take()

    assert len(await service.end_all_sessions(user)) == 2

    assert hooks.take() == [("on_signout", *who(user))]


async def test_ending_one_session_changing_the_password_and_deactivating_fire_nothing(
    service: AuthService, hooks: Any
) -> None:
    user, pair = await service.register(EMAIL, PASSWORD)
    await service.sign_in(EMAIL, PASSWORD)
    hooks.take()

    await service.end_session(user, pair.session_id)
    await service.change_password(user, PASSWORD, "another long password")
    await service.set_user_active(user.id, False)

    assert hooks.take() == []


# --- the allow_signin gate ---------------------------------------------------------------------


async def test_allow_signin_false_at_register_keeps_the_account_but_starts_no_session(
    service: AuthService, store: MemoryStore, hooks: Any
) -> None:
    hooks.allow = False

    with pytest.raises(SigninNotAllowed):
        await service.register(EMAIL, PASSWORD)

    user = await store.get_user_by_email(EMAIL)
    assert user is not None
    assert hooks.take() == [("allow_signin", *who(user)), ("on_signup", *who(user))]
    assert store._sessions == {}
    hooks.allow = True
    signed_in, _ = await service.sign_in(EMAIL, PASSWORD)  # the account is a real one
    assert signed_in.id == user.id


async def test_allow_signin_false_at_sign_in_starts_no_session(
    service: AuthService, store: MemoryStore, hooks: Any
) -> None:
    user = await service.create_user(EMAIL, PASSWORD)
    hooks.take()
    hooks.allow = False

    with pytest.raises(SigninNotAllowed):
        await service.sign_in(EMAIL, PASSWORD)

    assert hooks.take() == [("allow_signin", *who(user))]
    assert store._sessions == {}


# --- a hook that raises ------------------------------------------------------------------------


Action = Callable[[AuthService, User, TokenPair, TokenPair], Awaitable[Any]]

#: For each hook, an action that fires it, on a user with one session rotated once (`spent`, `current`).
ACTIONS: dict[str, Action] = {
    "modify_jwt": lambda s, u, spent, current: s.sign_in(EMAIL, PASSWORD),
    "allow_signin": lambda s, u, spent, current: s.sign_in(EMAIL, PASSWORD),
    "on_signup": lambda s, u, spent, current: s.create_user("bob@example.com", PASSWORD),
    "on_signin": lambda s, u, spent, current: s.sign_in(EMAIL, PASSWORD),
    "on_signout": lambda s, u, spent, current: s.end_all_sessions(u),
    "on_token_refresh": lambda s, u, spent, current: s.refresh(current.refresh_token),
    "on_failed_login": lambda s, u, spent, current: s.sign_in(EMAIL, "wrong password"),
    "on_refresh_reuse": lambda s, u, spent, current: s.refresh(spent.refresh_token),
}


#: The account-lifecycle hooks: their actions and failures are tested in test_account_events.py
#: (`on_after_update`, which needs declared user fields, in test_user_fields.py).
LIFECYCLE = {
    "on_after_update",
    "on_after_register",
    "on_after_request_verify",
    "on_after_verify",
    "on_after_forgot_password",
    "on_after_reset_password",
    "on_email_changed",
    "on_account_deleted",
}


def test_every_hook_has_an_action() -> None:
    overridable = {name for name, _ in inspect.getmembers(EventHooks, inspect.iscoroutinefunction)}
    assert set(ACTIONS) | LIFECYCLE == overridable
    assert not set(ACTIONS) & LIFECYCLE


@pytest.mark.parametrize("raised", [ValueError("bug in the app"), InvalidEmail("an app's own words")])
@pytest.mark.parametrize("hook", sorted(ACTIONS))
async def test_whatever_a_hook_raises_surfaces_as_hook_error(
    service: AuthService, hooks: Any, hook: str, raised: Exception
) -> None:
    user, spent = await service.register(EMAIL, PASSWORD)
    _, current = await service.refresh(spent.refresh_token)
    hooks.take()
    hooks.fail[hook] = raised

    with pytest.raises(HookError) as info:
        await ACTIONS[hook](service, user, spent, current)

    assert type(info.value) is HookError
    assert info.value.__cause__ is raised
    assert not isinstance(info.value, ValueError | InvalidEmail)
    assert hooks.names()[-1] == hook  # the hook ran, and nothing fired after it


async def test_a_failing_modify_jwt_at_register_leaves_no_user_and_no_session(
    service: AuthService, store: MemoryStore, hooks: Any
) -> None:
    hooks.fail["modify_jwt"] = ValueError("bug in the app")

    with pytest.raises(HookError):
        await service.register(EMAIL, PASSWORD)

    assert (store._users, store._sessions) == ({}, {})
    assert hooks.names() == ["allow_signin", "modify_jwt"]  # no on_signup for an account not created
    hooks.take()
    del hooks.fail["modify_jwt"]
    user, _ = await service.register(EMAIL, PASSWORD)  # the email is free
    assert list(store._users) == [user.id]


async def test_a_failing_modify_jwt_at_sign_in_starts_no_session(
    service: AuthService, store: MemoryStore, hooks: Any
) -> None:
    await service.create_user(EMAIL, PASSWORD)
    hooks.fail["modify_jwt"] = RuntimeError("claims service down")

    with pytest.raises(HookError):
        await service.sign_in(EMAIL, PASSWORD)

    assert store._sessions == {}


class ClaimHooks(EventHooks):
    def __init__(self, result: Callable[[dict[str, Any]], Any]) -> None:
        self.result = result

    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        return self.result(token)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "result",
    [
        lambda token: None,
        lambda token: [("tenant", "acme")],
        lambda token: {**token, "sub": "someone-else"},
        lambda token: {name: value for name, value in token.items() if name != "sid"},
    ],
    ids=["none", "a-list", "changed-sub", "dropped-sid"],
)
async def test_modify_jwt_returning_a_refused_value_is_hook_error_and_writes_nothing(
    make_service: Any, store: MemoryStore, result: Callable[[dict[str, Any]], Any]
) -> None:
    service: AuthService = await make_service(hooks=ClaimHooks(result))
    with pytest.raises(HookError):
        await service.register(EMAIL, PASSWORD)
    assert (store._users, store._sessions) == ({}, {})


async def test_modify_jwt_adds_custom_claims_to_the_access_token_only(make_service: Any) -> None:
    service: AuthService = await make_service(hooks=ClaimHooks(lambda token: {**token, "tenant": "acme"}))
    user, pair = await service.register(EMAIL, PASSWORD)
    assert claims(pair.access_token)["tenant"] == "acme"
    assert claims(pair.access_token)["sub"] == user.id
    assert "tenant" not in claims(pair.refresh_token)
    _, rotated = await service.refresh(pair.refresh_token)
    assert claims(rotated.access_token)["tenant"] == "acme"
