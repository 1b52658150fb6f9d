"""The account-lifecycle hooks (fastapi-users' names) fire once per action, from the service, and a hook
that mails the codes itself turns the mail flows on; what such a hook raises never reaches the answer."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from fastauth.errors import HookError
from fastauth.hooks import EventHooks, sends_mail
from fastauth.service import AuthService

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"

#: The lifecycle hooks, and the ones among them that receive a mailed code.
LIFECYCLE = (
    "on_after_register",
    "on_after_request_verify",
    "on_after_verify",
    "on_after_forgot_password",
    "on_after_reset_password",
    "on_email_changed",
    "on_account_deleted",
)
MAILING = ("on_after_request_verify", "on_after_forgot_password")


class Lifecycle(EventHooks):
    """Records the lifecycle hooks (and the sign-up/sign-in ones around them); `fail` makes one raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.codes: dict[str, str] = {}
        self.fail: dict[str, Exception] = {}

    def _record(self, name: str, *args: str) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise self.fail[name]

    async def on_signup(self, user: Any) -> None:
        self._record("on_signup", user.email)

    async def on_signin(self, user: Any) -> None:
        self._record("on_signin", user.email)

    async def on_after_register(self, user: Any) -> None:
        self._record("on_after_register", user.email)

    async def on_after_request_verify(self, user: Any, token: str) -> None:
        self.codes["verify"] = token
        self._record("on_after_request_verify", user.email)

    async def on_after_verify(self, user: Any) -> None:
        self._record("on_after_verify", user.email)

    async def on_after_forgot_password(self, user: Any, token: str) -> None:
        self.codes["reset"] = token
        self._record("on_after_forgot_password", user.email)

    async def on_after_reset_password(self, user: Any) -> None:
        self._record("on_after_reset_password", user.email)

    async def on_email_changed(self, user: Any, old_email: str) -> None:
        self._record("on_email_changed", user.email, old_email)

    async def on_account_deleted(self, user: Any) -> None:
        self._record("on_account_deleted", user.email)

    def take(self) -> list[tuple[str, ...]]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def lifecycle() -> Lifecycle:
    return Lifecycle()


async def test_each_lifecycle_hook_fires_once_per_action(make_service: Any, lifecycle: Lifecycle) -> None:
    service: AuthService = await make_service(hooks=lifecycle)
    assert service.mail_on and service.outbox is None  # the hooks mail; fastauth has no sender

    await service.register(EMAIL, PASSWORD)
    await service.settle()
    assert lifecycle.take() == [
        ("on_signup", EMAIL),
        ("on_after_register", EMAIL),
        ("on_signin", EMAIL),
        ("on_after_request_verify", EMAIL),
    ]
    await service.verify_email(lifecycle.codes["verify"])
    assert lifecycle.take() == [("on_after_verify", EMAIL)]

    await service.forgot_password(EMAIL)
    await service.forgot_password("nobody@example.com")
    await service.settle()
    assert lifecycle.take() == [("on_after_forgot_password", EMAIL)]
    await service.reset_password(lifecycle.codes["reset"], NEW_PASSWORD)
    assert lifecycle.take() == [("on_after_reset_password", EMAIL)]

    await service.request_verification(EMAIL)  # verified already: nothing is made, nothing fires
    await service.settle()
    assert lifecycle.take() == []


async def test_email_change_and_deletion_fire_their_hooks_once(
    make_service: Any, lifecycle: Lifecycle
) -> None:
    service: AuthService = await make_service(hooks=lifecycle, verify_email_on_register=False)
    user, _ = await service.register(EMAIL, PASSWORD)
    await service.request_email_change(user, "ada@new.example", PASSWORD)
    await service.settle()
    (record,) = [r for r in service.store._codes.values() if r.purpose == "change_email"]  # type: ignore[attr-defined]
    assert record.data == "ada@new.example" and record.code_hash  # the code itself is never stored
    lifecycle.take()
    # The code reaches only the new address: find it as the mail would carry it, from a fresh request.
    codes: list[str] = []
    original = service.codes.issue

    async def issue(*args: Any, **kwargs: Any) -> str:
        codes.append(await original(*args, **kwargs))
        return codes[-1]

    service.codes.issue = issue  # type: ignore[method-assign]
    await service.request_email_change(user, "ada@new.example", PASSWORD)
    await service.settle()
    moved = await service.confirm_email_change(codes[-1], owner=user)
    assert moved.email == "ada@new.example"
    assert lifecycle.take() == [("on_email_changed", "ada@new.example", EMAIL)]
    await service.delete_account(moved, PASSWORD)
    assert lifecycle.take() == [("on_account_deleted", "ada@new.example")]
    assert await service.store.get_user(user.id) is None


async def test_create_user_fires_the_register_hooks_and_mails_a_verification(
    make_service: Any, lifecycle: Lifecycle
) -> None:
    service: AuthService = await make_service(hooks=lifecycle)
    await service.create_user(EMAIL, PASSWORD)
    await service.settle()
    assert lifecycle.take() == [
        ("on_signup", EMAIL),
        ("on_after_register", EMAIL),
        ("on_after_request_verify", EMAIL),
    ]
    await service.create_user("verified@example.com", PASSWORD, is_verified=True)
    await service.settle()
    assert lifecycle.take() == [
        ("on_signup", "verified@example.com"),
        ("on_after_register", "verified@example.com"),
    ]


@pytest.mark.parametrize("hook", ["on_after_register", "on_after_verify", "on_after_reset_password"])
async def test_a_raising_lifecycle_hook_in_the_request_is_a_hook_error(
    make_service: Any, lifecycle: Lifecycle, hook: str
) -> None:
    service: AuthService = await make_service(hooks=lifecycle)
    if hook != "on_after_register":
        await service.register(EMAIL, PASSWORD)
        await service.forgot_password(EMAIL)
        await service.settle()
    lifecycle.fail[hook] = ValueError("the application's bug")
    with pytest.raises(HookError) as info:
        if hook == "on_after_register":
            await service.register(EMAIL, PASSWORD)
        elif hook == "on_after_verify":
            await service.verify_email(lifecycle.codes["verify"])
        else:
            await service.reset_password(lifecycle.codes["reset"], NEW_PASSWORD)
    assert type(info.value.__cause__) is ValueError


@pytest.mark.parametrize("hook", MAILING)
async def test_a_raising_mail_hook_is_logged_and_changes_no_answer(
    make_service: Any, lifecycle: Lifecycle, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    service: AuthService = await make_service(hooks=lifecycle, verify_email_on_register=False)
    await service.register(EMAIL, PASSWORD)
    lifecycle.take()
    lifecycle.fail[hook] = RuntimeError("smtp relay down")
    with caplog.at_level(logging.ERROR, logger="fastauth"):
        if hook == "on_after_request_verify":
            assert await service.request_verification(EMAIL) is None
        else:
            assert await service.forgot_password(EMAIL) is None
        await service.settle()
    assert [name for name, *_ in lifecycle.take()] == [hook]
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("fastauth")]
    assert "account mail step failed: HookError" in messages
    assert all(code not in "\n".join(messages) for code in lifecycle.codes.values())


def test_only_the_hooks_that_receive_a_code_turn_the_mail_flows_on() -> None:
    class Notices(EventHooks):
        async def on_after_verify(self, user: Any) -> None:
            pass

    class Mailer(EventHooks):
        async def on_after_forgot_password(self, user: Any, token: str) -> None:
            pass

    assert (sends_mail(EventHooks()), sends_mail(Notices()), sends_mail(Mailer())) == (False, False, True)
    assert set(MAILING) <= set(LIFECYCLE)
