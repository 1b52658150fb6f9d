"""Accounts without a password (signed up through a provider): deleting the account or changing its
email is confirmed by a recent sign-in instead (`recent_sign_in_window`), never by nothing; an account
with a password still needs it."""

from __future__ import annotations

import pytest

from fastauth.errors import CurrentPasswordWrong, RecentSignInRequired
from fastauth.passwords import NO_PASSWORD
from fastauth.service import AuthService
from fastauth.storage.base import User
from support.clock import Clock

EMAIL, PASSWORD = "ada@example.com", "correct horse battery"


async def passwordless(service: AuthService) -> tuple[User, str]:
    """A verified account without a password, and the id of a session it signed in with just now."""
    user = await service.create_user(EMAIL, PASSWORD, is_verified=True)
    stored = await service.accounts.update(user.id, hashed_password=NO_PASSWORD)
    assert stored is not None
    pair = await service.sessions.start(stored)
    return stored, pair.session_id


async def test_a_recent_sign_in_confirms_the_deletion(service: AuthService) -> None:
    user, sid = await passwordless(service)
    await service.delete_account(user, None, session_id=sid)
    assert await service.store.get_user(user.id) is None


@pytest.mark.parametrize("password", [None, "", PASSWORD, NO_PASSWORD])
async def test_an_old_sign_in_is_refused_whatever_password_is_sent(
    service: AuthService, clock: Clock, password: str | None
) -> None:
    user, sid = await passwordless(service)
    clock.advance(301)
    with pytest.raises(RecentSignInRequired) as refused:
        await service.delete_account(user, password, session_id=sid)
    assert refused.value.max_age == 300
    assert await service.store.get_user(user.id) is not None


async def test_no_session_another_users_session_or_a_revoked_one_confirms_nothing(
    service: AuthService,
) -> None:
    user, sid = await passwordless(service)
    other = await service.create_user("bob@example.com", PASSWORD)
    other_pair = await service.sessions.start(other)
    for session_id in (None, "", "no-such-session", other_pair.session_id):
        with pytest.raises(RecentSignInRequired):
            await service.delete_account(user, None, session_id=session_id)
    await service.sessions.revoke(sid)
    with pytest.raises(RecentSignInRequired):
        await service.delete_account(user, None, session_id=sid)
    assert await service.store.get_user(user.id) is not None


async def test_the_window_is_configurable(make_service: object, clock: Clock) -> None:
    service = await make_service(recent_sign_in_window=60)  # type: ignore[operator]
    user, sid = await passwordless(service)
    clock.advance(61)
    with pytest.raises(RecentSignInRequired) as refused:
        await service.delete_account(user, None, session_id=sid)
    assert refused.value.max_age == 60


async def test_an_account_with_a_password_still_needs_it_even_right_after_signing_in(
    service: AuthService,
) -> None:
    user = await service.create_user(EMAIL, PASSWORD, is_verified=True)
    pair = await service.sessions.start(user)
    for password in (None, "", "wrong password"):
        with pytest.raises(CurrentPasswordWrong):
            await service.delete_account(user, password, session_id=pair.session_id)
    await service.delete_account(user, PASSWORD, session_id=pair.session_id)


async def test_an_email_change_of_a_passwordless_account_needs_a_recent_sign_in(
    make_service: object, clock: Clock
) -> None:
    service = await make_service(email={"console": True}, public_url="https://auth.example.com")  # type: ignore[operator]
    user, sid = await passwordless(service)
    await service.request_email_change(user, "new@example.com", None, session_id=sid)
    clock.advance(301)
    with pytest.raises(RecentSignInRequired):
        await service.request_email_change(user, "newer@example.com", None, session_id=sid)
    await service.settle()
