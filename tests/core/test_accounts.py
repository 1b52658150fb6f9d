"""Accounts on the memory store: email normalisation, the password policy, the one login refusal,
password changes, rehashing, and the user cache."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fastauth.errors import (
    CurrentPasswordWrong,
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    PasswordPolicyError,
    RateLimited,
    RevokedToken,
)
from fastauth.passwords import Argon2Params, PasswordHasher
from fastauth.service import AuthService
from fastauth.storage.memory import MemoryStore

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different horse entirely"


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("  ada@example.com\t", "ada@example.com"),
        ("Jos\u00e9@example.com", "jos\u00e9@example.com"),  # NFC
        ("Jose\u0301@example.com", "jos\u00e9@example.com"),  # NFD: the same address
        ("ada@xn--bcher-kva.example", "ada@b\u00fccher.example"),  # punycode domain
        ("ADA@BU\u0308CHER.EXAMPLE", "ada@b\u00fccher.example"),  # NFD, upper case, Unicode domain
    ],
)
async def test_register_stores_the_normalised_email(
    service: AuthService, store: MemoryStore, given: str, stored: str
) -> None:
    user, _ = await service.register(given, PASSWORD)

    assert user.email == stored
    found = await store.get_user_by_email(stored)
    assert found is not None and found.id == user.id
    signed_in, _ = await service.sign_in(given, PASSWORD)  # the spelling given logs in too
    assert signed_in.id == user.id


@pytest.mark.parametrize(
    ("first", "other"),
    [
        ("Ada@Example.com", "ADA@EXAMPLE.COM"),
        ("Ada@Example.com", " ada@example.com "),
        ("Jos\u00e9@example.com", "JOSE\u0301@EXAMPLE.COM"),  # NFC, then NFD in upper case
        ("ada@ex\u00e4mple.com", "ada@exa\u0308mple.com"),  # NFC domain, then NFD
        ("ada@ex\u00e4mple.com", "ada@xn--exmple-cua.com"),  # Unicode domain, then punycode
    ],
)
async def test_another_spelling_of_a_registered_email_is_taken(
    service: AuthService, store: MemoryStore, first: str, other: str
) -> None:
    user, _ = await service.register(first, PASSWORD)

    with pytest.raises(EmailTaken):
        await service.register(other, PASSWORD)
    with pytest.raises(EmailTaken):
        await service.create_user(other, PASSWORD)
    assert list(store._users) == [user.id]
    assert [s.user_id for s in await service.list_sessions(user)] == [user.id]


@pytest.mark.parametrize(
    "text",
    [
        "not-an-email",
        "",
        "ada@localhost",
        "ada@",
        "@example.com",
        "a da@example.com",
        "ada@@example.com",
        "\ud800@example.com",  # a lone surrogate, as JSON's \ud800 escape allows
    ],
)
async def test_a_non_email_is_invalid_email_and_not_a_value_error(
    service: AuthService, store: MemoryStore, text: str
) -> None:
    with pytest.raises(InvalidEmail) as info:
        await service.register(text, PASSWORD)
    assert not isinstance(info.value, ValueError)
    with pytest.raises(InvalidEmail):
        await service.create_user(text, PASSWORD)
    assert store._users == {}


# --- the password policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["x" * 7, "", "\u00e9" * 7, "\U0001f600" * 7, "long enough but \ud800 unencodable", "y" * 1025],
)
async def test_the_password_policy_refuses(service: AuthService, store: MemoryStore, password: str) -> None:
    with pytest.raises(PasswordPolicyError) as info:
        await service.register("ada@example.com", password)
    assert not isinstance(info.value, ValueError)
    assert store._users == {}


@pytest.mark.parametrize("password", ["x" * 8, "\U0001f600" * 8, "y" * 1024, "        "])
async def test_the_password_policy_counts_characters_and_accepts_any(
    service: AuthService, password: str
) -> None:
    user, _ = await service.register("ada@example.com", password)
    signed_in, _ = await service.sign_in("ada@example.com", password)
    assert signed_in.id == user.id


async def test_the_configured_password_lengths_apply(make_service: Any) -> None:
    service: AuthService = await make_service(password_min_length=12, password_max_length=16)
    for password in ("x" * 11, "x" * 17):
        with pytest.raises(PasswordPolicyError):
            await service.create_user("ada@example.com", password)
    await service.create_user("ada@example.com", "x" * 12)
    await service.create_user("bob@example.com", "x" * 16)


# --- one login refusal ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "wrong password"),
        ("ADA@example.com", PASSWORD.upper()),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
        ("ada@example.com", ""),
        ("ada@example.com", PASSWORD + "x" * 2000),  # longer than any password: never hashed
        ("ada@example.com", PASSWORD + "\ud800"),
    ],
)
async def test_unknown_email_and_wrong_password_are_invalid_credentials(
    service: AuthService, email: str, password: str
) -> None:
    await service.create_user("ada@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        await service.sign_in(email, password)


async def test_an_inactive_user_is_invalid_credentials_even_with_the_right_password(
    service: AuthService,
) -> None:
    user = await service.create_user("ada@example.com", PASSWORD)
    await service.set_user_active(user.id, False)
    with pytest.raises(InvalidCredentials):
        await service.sign_in("ada@example.com", PASSWORD)
    await service.set_user_active(user.id, True)
    assert (await service.sign_in("ada@example.com", PASSWORD))[0].id == user.id


async def test_one_login_budget_per_account_whatever_the_spelling(make_service: Any) -> None:
    service: AuthService = await make_service(
        rate_limit_enabled=True, login_rate_limit_per_account="2/minute"
    )
    await service.create_user("ada@example.com", PASSWORD)
    for spelling in ("Ada@Example.com", "ada@EXAMPLE.COM"):
        with pytest.raises(InvalidCredentials):
            await service.sign_in(spelling, "wrong password")

    with pytest.raises(RateLimited) as info:
        await service.sign_in("ada@example.com", PASSWORD)  # the right password, but over budget
    assert 1 <= info.value.retry_after <= 60


# --- changing the password -----------------------------------------------------------------------


async def test_change_password_with_a_wrong_current_password_changes_nothing(
    service: AuthService, store: MemoryStore
) -> None:
    user, pair = await service.register("ada@example.com", PASSWORD)
    stored = await store.get_user(user.id)

    for wrong in ("wrong password", "", PASSWORD + "x" * 2000):
        with pytest.raises(CurrentPasswordWrong):
            await service.change_password(user, wrong, NEW_PASSWORD)

    assert await store.get_user(user.id) == stored
    assert (await service.authenticate(pair.access_token)).sid == pair.session_id
    await service.sign_in("ada@example.com", PASSWORD)


async def test_change_password_refuses_a_new_password_outside_the_policy(
    service: AuthService, store: MemoryStore
) -> None:
    user, pair = await service.register("ada@example.com", PASSWORD)
    stored = await store.get_user(user.id)

    with pytest.raises(PasswordPolicyError):
        await service.change_password(user, PASSWORD, "short")

    assert await store.get_user(user.id) == stored
    assert (await service.authenticate(pair.access_token)).sid == pair.session_id


async def test_change_password_ends_every_other_session(service: AuthService, store: MemoryStore) -> None:
    user, current = await service.register("ada@example.com", PASSWORD)
    _, other = await service.sign_in("ada@example.com", PASSWORD)
    _, third = await service.sign_in("ada@example.com", PASSWORD)

    await service.change_password(user, PASSWORD, NEW_PASSWORD, keep_session=current.session_id)

    assert [s.id for s in await service.list_sessions(user)] == [current.session_id]
    assert (await service.authenticate(current.access_token)).sid == current.session_id
    for ended in (other, third):
        with pytest.raises(RevokedToken):
            await service.authenticate(ended.access_token)
    with pytest.raises(InvalidCredentials):
        await service.sign_in("ada@example.com", PASSWORD)
    assert (await service.sign_in("ada@example.com", NEW_PASSWORD))[0].id == user.id


async def test_change_password_without_a_session_to_keep_ends_them_all(service: AuthService) -> None:
    user, pair = await service.register("ada@example.com", PASSWORD)

    await service.change_password(user, PASSWORD, NEW_PASSWORD)

    assert await service.list_sessions(user) == []
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)


async def test_a_hash_made_with_other_parameters_is_upgraded_at_login(
    make_service: Any, store: MemoryStore
) -> None:
    old = await make_service(hasher=PasswordHasher(Argon2Params(time_cost=1, memory_cost=1024)))
    user = await old.create_user("ada@example.com", PASSWORD)
    assert "m=1024,t=1" in user.hashed_password

    new = await make_service(hasher=PasswordHasher(Argon2Params(time_cost=2, memory_cost=2048)))
    await new.sign_in("ada@example.com", PASSWORD)

    stored = await store.get_user(user.id)
    assert stored is not None and "m=2048,t=2" in stored.hashed_password
    assert (await new.sign_in("ada@example.com", PASSWORD))[0].id == user.id


# --- the user cache ------------------------------------------------------------------------------


async def test_the_user_cache_is_invalidated_when_fastauth_saves_a_user(
    service: AuthService, store: MemoryStore
) -> None:
    user, pair = await service.register("ada@example.com", PASSWORD)
    token = await service.authenticate(pair.access_token)
    assert (await service.user_of(token)).is_superuser is False  # now cached

    # a change behind fastauth's back is not seen until the cache entry expires ...
    await store.update_user(replace(user, is_superuser=True))
    cached = await service.user_of(token)
    assert cached.is_superuser is False
    # ... a save through fastauth drops the entry: the next read is the stored user
    current = await store.get_user(user.id)
    assert current is not None
    await service.accounts.save(replace(current, is_verified=True))
    fresh = await service.user_of(token)
    assert (fresh.is_superuser, fresh.is_verified) == (True, True)


async def test_deactivation_reaches_the_cached_user_at_once(service: AuthService) -> None:
    user, _ = await service.register("ada@example.com", PASSWORD)
    _, other = await service.sign_in("ada@example.com", PASSWORD)
    token = await service.authenticate(other.access_token)
    assert (await service.user_of(token)).id == user.id  # now cached

    await service.set_user_active(user.id, False)

    with pytest.raises(RevokedToken):
        await service.user_of(token)
