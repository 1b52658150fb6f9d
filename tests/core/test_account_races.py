"""What the security review of the account flows found, each now a test: a sign-in racing a reset or a
password change never outlives it; a confirmed email change and a deactivation void the codes that could
take the account over; spent and expired codes are pruned at start-up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fastauth.accounts.one_time import code_hash
from fastauth.errors import InvalidCredentials, InvalidResetToken, RevokedToken
from fastauth.passwords import Argon2Params, PasswordHasher
from fastauth.service import AuthService
from fastauth.storage.memory import MemoryStore

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
#: Costly enough that the two hashes overlap in their worker threads, cheap enough for a core test.
SLOWER = PasswordHasher(Argon2Params(time_cost=1, memory_cost=8192, parallelism=1))


async def _mail_service(make_service: Any, **config: Any) -> AuthService:
    class Codes:  # the application mails the codes itself: here it keeps them
        def __init__(self) -> None:
            self.codes: dict[str, str] = {}

    from fastauth.hooks import EventHooks

    kept = Codes()

    class Mailer(EventHooks):
        async def on_after_forgot_password(self, user: Any, token: str) -> None:
            kept.codes["reset"] = token

    service: AuthService = await make_service(hooks=Mailer(), verify_email_on_register=False, **config)
    service.kept = kept.codes  # type: ignore[attr-defined]
    return service


async def _reset_code(service: AuthService) -> str:
    await service.forgot_password(EMAIL)
    await service.settle()
    return service.kept["reset"]  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("trial", range(8))
async def test_a_sign_in_racing_a_reset_never_outlives_it(make_service: Any, trial: int) -> None:
    service = await _mail_service(make_service, hasher=SLOWER)
    user, _ = await service.register(EMAIL, PASSWORD)
    code = await _reset_code(service)

    results = await asyncio.gather(
        service.reset_password(code, NEW_PASSWORD), service.sign_in(EMAIL, PASSWORD), return_exceptions=True
    )

    assert not isinstance(results[0], BaseException), results[0]
    signed_in = results[1]
    assert isinstance(signed_in, tuple) or type(signed_in) is InvalidCredentials, signed_in
    assert await service.list_sessions(user) == []  # whatever the interleaving, no session survives
    if isinstance(signed_in, tuple):
        with pytest.raises(RevokedToken):
            await service.authenticate(signed_in[1].access_token)


@pytest.mark.parametrize("trial", range(8))
async def test_a_sign_in_racing_a_password_change_never_outlives_it(make_service: Any, trial: int) -> None:
    service: AuthService = await make_service(hasher=SLOWER)
    user, pair = await service.register(EMAIL, PASSWORD)

    results = await asyncio.gather(
        service.change_password(user, PASSWORD, NEW_PASSWORD, keep_session=pair.session_id),
        service.sign_in(EMAIL, PASSWORD),
        return_exceptions=True,
    )

    assert not isinstance(results[0], BaseException), results[0]
    assert [s.id for s in await service.list_sessions(user)] == [pair.session_id]


async def test_a_confirmed_email_change_voids_a_reset_code_mailed_to_the_old_address(
    make_service: Any,
) -> None:
    service = await _mail_service(make_service)
    user, _ = await service.register(EMAIL, PASSWORD)
    reset = await _reset_code(service)
    change = await service.codes.issue(user.id, "change_email", data="ada@new.example")
    await service.confirm_email_change(change, owner=user)
    with pytest.raises(InvalidResetToken):
        await service.reset_password(reset, NEW_PASSWORD)


async def test_deactivation_voids_pending_reset_codes(make_service: Any) -> None:
    service = await _mail_service(make_service)
    user, _ = await service.register(EMAIL, PASSWORD)
    reset = await _reset_code(service)
    await service.set_user_active(user.id, False)
    await service.set_user_active(user.id, True)
    with pytest.raises(InvalidResetToken):
        await service.reset_password(reset, NEW_PASSWORD)


async def test_spent_and_expired_codes_are_pruned_at_start_up(
    make_service: Any, clock: Any, store: MemoryStore
) -> None:
    service = await _mail_service(make_service)
    user, _ = await service.register(EMAIL, PASSWORD)
    spent = await service.codes.issue(user.id, "verify_email", data=EMAIL)
    await service.codes.consume(spent, "verify_email")
    live = await service.codes.issue(user.id, "change_email", data="ada@new.example")
    clock.advance(3600 * 24 * 2)  # past every lifetime
    await service.aclose()
    restarted = await make_service(hooks=None)
    assert restarted.store is store
    for code in (spent, live):
        assert await store.find_code(code_hash(code), "verify_email", int(clock())) is None
    assert store._codes == {}  # type: ignore[attr-defined]  # pruned, not only expired


async def test_the_background_steps_are_bounded_and_shutdown_does_not_hang(
    make_service: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    import fastauth.service

    release = asyncio.Event()

    from fastauth.hooks import EventHooks

    class Stuck(EventHooks):
        async def on_after_forgot_password(self, user: Any, token: str) -> None:
            await release.wait()  # a mail relay that never answers

    monkeypatch.setattr(fastauth.service, "MAX_BACKGROUND", 3)
    monkeypatch.setattr(fastauth.service, "SETTLE_TIMEOUT", 0.2)
    service: AuthService = await make_service(hooks=Stuck(), verify_email_on_register=False)
    await service.register(EMAIL, PASSWORD)
    with caplog.at_level(logging.ERROR, logger="fastauth"):
        for _ in range(5):
            assert await service.forgot_password(EMAIL) is None  # every answer the same
        await asyncio.sleep(0.05)
        assert len(service._background) == 3
        await asyncio.wait_for(service.aclose(), 2)  # does not hang on the stuck steps
    messages = [r.getMessage() for r in caplog.records if r.name == "fastauth"]
    assert messages.count("account mail step dropped: 3 are pending already") == 2
    assert "shutdown: 3 account mail step(s) cancelled after 0.2s" in messages
    assert service._background == set()


async def test_a_reset_racing_a_deactivation_never_reactivates_the_account(make_service: Any) -> None:
    service = await _mail_service(make_service, hasher=SLOWER)
    user, _ = await service.register(EMAIL, PASSWORD)
    code = await _reset_code(service)

    async def deactivate() -> None:
        await asyncio.sleep(0)  # lands while the reset hashes the new password
        await service.set_user_active(user.id, False)

    await asyncio.gather(service.reset_password(code, NEW_PASSWORD), deactivate(), return_exceptions=True)
    stored = await service.store.get_user(user.id)
    assert stored is not None and stored.is_active is False
    with pytest.raises(InvalidCredentials):
        await service.sign_in(EMAIL, NEW_PASSWORD)
