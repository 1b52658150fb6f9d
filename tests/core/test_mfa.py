"""TOTP with recovery codes, through the service on the memory store (account-security §5): enrolment
active only after a correct code, each time step accepted once, one step of drift, recovery codes
single-use and regenerated only with a current factor, disabling with the password and a code, the
secret sealed and bound to its user, and everything gone with the account."""

from __future__ import annotations

import pytest

from fastauth.errors import (
    ConfigError,
    CurrentPasswordWrong,
    InvalidMFACode,
    MFAAlreadyEnabled,
    MFANotEnabled,
    MFARequired,
    RecentSignInRequired,
)
from fastauth.mfa import STEP, Totp
from fastauth.service import AuthService
from fastauth.storage.base import User
from fastauth.storage.memory import MemoryStore
from support.app import TEST_SECRET
from support.clock import Clock

EMAIL, PASSWORD = "ada@example.com", "correct horse battery"


def step_of(clock: Clock) -> int:
    return int(clock()) // STEP


async def enrolled(service: AuthService, clock: Clock) -> tuple[User, Totp, list[str]]:
    """A user with TOTP on: the user, their TOTP (as the authenticator app has it), recovery codes."""
    user = await service.create_user(EMAIL, PASSWORD)
    setup = await service.mfa_setup(user)
    totp = Totp(setup.secret, clock=clock)
    codes = await service.mfa_confirm(user, totp.code_at(step_of(clock)))
    clock.advance(STEP)  # the enrolment's step is spent; the next code is a new one
    return user, totp, codes


async def test_setup_gives_an_otpauth_uri_and_a_qr_code_and_is_not_active_yet(
    service: AuthService, clock: Clock
) -> None:
    user = await service.create_user(EMAIL, PASSWORD)
    setup = await service.mfa_setup(user)
    assert setup.uri.startswith("otpauth://totp/fastauth:ada%40example.com?secret=" + setup.secret)
    assert setup.qr_svg.startswith("<svg") and setup.qr_svg.rstrip().endswith("</svg>")
    assert await service.mfa_enrolled(user) is False
    with pytest.raises(MFANotEnabled):
        await service.mfa_verify(user, Totp(setup.secret, clock=clock).code_at(step_of(clock)))


@pytest.mark.parametrize("wrong", ["000000", "12345", "1234567", "abcdef", "", " ", "１２３４５６"])
async def test_a_wrong_code_does_not_turn_it_on(service: AuthService, wrong: str) -> None:
    user = await service.create_user(EMAIL, PASSWORD)
    await service.mfa_setup(user)
    with pytest.raises(InvalidMFACode):
        await service.mfa_confirm(user, wrong)
    assert await service.mfa_enrolled(user) is False


async def test_a_correct_code_turns_it_on_with_ten_recovery_codes(service: AuthService, clock: Clock) -> None:
    user, _, codes = await enrolled(service, clock)
    assert await service.mfa_enrolled(user) is True
    assert len(codes) == 10 and len(set(codes)) == 10
    assert await service.store.count_recovery_codes(user.id) == 10
    with pytest.raises(MFAAlreadyEnabled):
        await service.mfa_setup(user)


async def test_a_code_is_accepted_once_per_time_step(service: AuthService, clock: Clock) -> None:
    user, totp, _ = await enrolled(service, clock)
    code = totp.code_at(step_of(clock))
    assert await service.mfa_verify(user, code) == "otp"
    with pytest.raises(InvalidMFACode):  # RFC 6238 §5.2: replayed
        await service.mfa_verify(user, code)


async def test_one_step_of_drift_each_way_but_not_two(service: AuthService, clock: Clock) -> None:
    user, totp, _ = await enrolled(service, clock)
    clock.advance(2 * STEP)  # one step before now is then later than the enrolment's
    now = step_of(clock)
    with pytest.raises(InvalidMFACode):
        await service.mfa_verify(user, totp.code_at(now - 2))
    with pytest.raises(InvalidMFACode):
        await service.mfa_verify(user, totp.code_at(now + 2))
    assert await service.mfa_verify(user, totp.code_at(now - 1)) == "otp"
    assert await service.mfa_verify(user, totp.code_at(now + 1)) == "otp"
    # Once a later step was accepted, an earlier one is refused even within the drift.
    with pytest.raises(InvalidMFACode):
        await service.mfa_verify(user, totp.code_at(now))


async def test_a_recovery_code_works_once_whatever_its_spelling(service: AuthService, clock: Clock) -> None:
    user, _, codes = await enrolled(service, clock)
    assert await service.mfa_verify(user, codes[0].lower().replace("-", " ")) == "otp"
    with pytest.raises(InvalidMFACode):
        await service.mfa_verify(user, codes[0])
    assert await service.store.count_recovery_codes(user.id) == 9


async def test_another_users_recovery_code_is_refused(service: AuthService, clock: Clock) -> None:
    user, _, codes = await enrolled(service, clock)
    bob = await service.create_user("bob@example.com", PASSWORD)
    setup = await service.mfa_setup(bob)
    await service.mfa_confirm(bob, Totp(setup.secret, clock=clock).code_at(step_of(clock)))
    with pytest.raises(InvalidMFACode):
        await service.mfa_verify(bob, codes[1])
    assert await service.mfa_verify(user, codes[1]) == "otp"


async def test_regenerating_needs_a_current_factor_and_voids_the_old_set(
    service: AuthService, clock: Clock
) -> None:
    user, totp, codes = await enrolled(service, clock)
    with pytest.raises(InvalidMFACode):
        await service.mfa_regenerate_recovery_codes(user, "000000")
    fresh = await service.mfa_regenerate_recovery_codes(user, totp.code_at(step_of(clock)))
    assert not set(fresh) & set(codes)
    with pytest.raises(InvalidMFACode):
        await service.mfa_verify(user, codes[2])
    assert await service.mfa_verify(user, fresh[0]) == "otp"


async def test_disabling_needs_the_password_and_a_current_code(service: AuthService, clock: Clock) -> None:
    user, totp, _ = await enrolled(service, clock)
    with pytest.raises(CurrentPasswordWrong):
        await service.mfa_disable(user, "wrong password", totp.code_at(step_of(clock)))
    with pytest.raises(InvalidMFACode):
        await service.mfa_disable(user, PASSWORD, "000000")
    assert await service.mfa_enrolled(user) is True
    await service.mfa_disable(user, PASSWORD, totp.code_at(step_of(clock)))
    assert await service.mfa_enrolled(user) is False
    assert await service.store.count_recovery_codes(user.id) == 0


async def test_an_administrator_resets_a_locked_out_user(service: AuthService, clock: Clock) -> None:
    user, _, _ = await enrolled(service, clock)
    await service.sessions.start(user)  # a session from before (a sign-in now stops at the factor)
    assert await service.mfa_reset(EMAIL) is True
    assert await service.mfa_enrolled(user) is False
    assert await service.mfa_reset(EMAIL) is False
    assert await service.list_sessions(user) == []
    events = [record.event for record in await service.audit.read(user_id=user.id, limit=50)]
    assert "mfa_disabled" in events and "mfa_enabled" in events


async def test_the_secret_is_sealed_at_rest_and_bound_to_its_user(
    service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    user, totp, _ = await enrolled(service, clock)
    record = await store.get_mfa(user.id)
    assert record is not None and totp.secret not in record.totp_sealed
    assert Totp.unsealed(TEST_SECRET, user.id, record.totp_sealed).secret == totp.secret
    with pytest.raises(ConfigError):
        Totp.unsealed(TEST_SECRET, "another-user", record.totp_sealed)


async def test_deleting_the_account_removes_its_second_factor(
    service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    user, totp, _ = await enrolled(service, clock)
    with pytest.raises(MFARequired) as stopped:
        await service.sign_in(EMAIL, PASSWORD)
    _, pair = await service.mfa_complete(stopped.value.mfa_token, totp.code_at(step_of(clock)))
    await service.delete_account(user, PASSWORD, session_id=pair.session_id)
    assert await store.get_user(user.id) is None
    assert await store.get_mfa(user.id) is None
    assert await store.count_recovery_codes(user.id) == 0


async def test_a_sensitive_change_needs_a_recent_sign_in_with_the_second_factor(
    service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    """The password alone (a phished one, in a stolen session) changes nothing on an account with TOTP:
    no email change (then a reset would take the account), no deletion. RFC 9470: the refusal asks
    for a sign-in at most `recent_sign_in_window` old with `acr_values` "mfa"."""
    user, totp, _ = await enrolled(service, clock)
    password_only = await service.sessions.start(user, ip=None, user_agent=None, amr=("pwd",))
    with pytest.raises(MFARequired) as stopped:
        await service.sign_in(EMAIL, PASSWORD)
    _, strong = await service.mfa_complete(stopped.value.mfa_token, totp.code_at(step_of(clock)))
    for session_id in (None, password_only.session_id):
        with pytest.raises(RecentSignInRequired) as refused:
            await service.delete_account(user, PASSWORD, session_id=session_id)
        assert (refused.value.max_age, refused.value.acr_values) == (300, "mfa")
    clock.advance(301)  # the second-factor sign-in is no longer recent
    with pytest.raises(RecentSignInRequired):
        await service.delete_account(user, PASSWORD, session_id=strong.session_id)
    with pytest.raises(CurrentPasswordWrong):  # the password is still checked first
        await service.delete_account(user, "not the password", session_id=strong.session_id)
    assert await store.get_user(user.id) is not None


async def test_failures_and_uses_are_audited_without_the_code(service: AuthService, clock: Clock) -> None:
    user, totp, codes = await enrolled(service, clock)
    with pytest.raises(InvalidMFACode):
        await service.mfa_verify(user, "123456")
    await service.mfa_verify(user, codes[3])
    records = await service.audit.read(user_id=user.id, limit=50)
    assert {"mfa_failed", "recovery_code_used", "mfa_enabled"} <= {record.event for record in records}
    assert codes[3] not in repr(records) and totp.secret not in repr(records)
