"""Email verification and password reset over HTTP, with the mails read from a real SMTP server on
127.0.0.1 (aiosmtpd) and their links followed: every database, every rule of account-security §1–3.

The links point at `public_url`; the code is the link's `token` parameter, which the page it opens
POSTs (a GET never spends it: fastauth has no GET that consumes a code).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import Depends

from fastauth import EventHooks
from support.http import PASSWORD, bearer

PUBLIC = "https://auth.example.com"
NEW_PASSWORD = "a brand new passphrase"


def mail_settings(server: Any) -> dict[str, Any]:
    return {
        "public_url": PUBLIC,
        "email": {
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_tls": "none",
            "from_address": "accounts@example.com",
            "retries": 0,
        },
    }


def link_of(received: Any) -> str:
    """The one link in a mail's text part."""
    text = received.message.get_body(("plain",)).get_content()
    links = [word for word in text.split() if word.startswith(PUBLIC)]
    assert len(links) == 1, text
    return links[0]


def token_of(link: str) -> str:
    (token,) = parse_qs(urlsplit(link).query)["token"]
    return token


async def settle(a: Any) -> None:
    await a.auth.service.settle()


@pytest.fixture
def collector(handlers: Any) -> Any:
    return handlers.Collector()


@pytest.fixture
async def mail_app(make_app: Any, smtp_server: Any, collector: Any) -> Any:
    server = smtp_server(collector)

    async def factory(**overrides: Any) -> Any:
        return await make_app(**{**mail_settings(server), **overrides})

    return factory


async def test_registration_mails_a_link_whose_code_verifies_the_address(
    mail_app: Any, collector: Any
) -> None:
    a = await mail_app()
    tokens = await a.register("ada@example.com")
    await settle(a)
    (mail,) = collector.received
    assert mail.rcpt_tos == ["ada@example.com"]
    link = link_of(mail)
    assert urlsplit(link).path == "/auth/verify-email"
    me = await a.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.json()["is_verified"] is False

    r = await a.client.post("/auth/verify", json={"token": token_of(link)})
    assert r.status_code == 200, r.text
    assert (r.json()["email"], r.json()["is_verified"]) == ("ada@example.com", True)
    again = await a.client.post("/auth/verify", json={"token": token_of(link)})
    assert (again.status_code, again.json()) == (
        400,
        {"detail": "VERIFY_USER_BAD_TOKEN", "code": "verify_user_bad_token"},
    )


async def test_request_verify_token_answers_alike_and_mails_only_an_unverified_account(
    mail_app: Any, collector: Any
) -> None:
    a = await mail_app(verify_email_on_register=False)
    await a.register("unverified@example.com")
    await a.register("verified@example.com")
    user = await a.auth.adapter.get_user_by_email("verified@example.com")
    user.is_verified = True
    await a.auth.accounts.save(user)

    answers = []
    for email in ("unverified@example.com", "verified@example.com", "nobody@example.com", "not an email"):
        r = await a.client.post("/auth/request-verify-token", json={"email": email})
        answers.append((r.status_code, r.content, r.headers["content-type"]))
    await settle(a)
    assert answers == [(202, b"null", "application/json")] * 4
    assert [m.rcpt_tos for m in collector.received] == [["unverified@example.com"]]


async def test_a_new_verification_code_voids_the_older_one(mail_app: Any, collector: Any) -> None:
    a = await mail_app()
    await a.register("ada@example.com")
    await settle(a)
    await a.client.post("/auth/request-verify-token", json={"email": "ada@example.com"})
    await settle(a)
    first, second = (token_of(link_of(m)) for m in collector.received)
    r = await a.client.post("/auth/verify", json={"token": first})
    assert (r.status_code, r.json()) == (
        400,
        {"detail": "VERIFY_USER_BAD_TOKEN", "code": "verify_user_bad_token"},
    )
    assert (await a.client.post("/auth/verify", json={"token": second})).status_code == 200


async def test_forgot_password_answers_alike_and_the_reset_ends_every_session(
    mail_app: Any, collector: Any
) -> None:
    a = await mail_app(verify_email_on_register=False)
    tokens = await a.register("ada@example.com")
    known = await a.client.post("/auth/forgot-password", json={"email": "Ada@Example.com"})
    unknown = await a.client.post("/auth/forgot-password", json={"email": "nobody@example.com"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content) == (202, b"null")
    await settle(a)
    (mail,) = collector.received
    link = link_of(mail)
    assert urlsplit(link).path == "/auth/reset-password"
    code = token_of(link)

    # a weak password is refused before the code is looked at: the code still works afterwards
    weak = await a.client.post("/auth/reset-password", json={"token": code, "password": "short"})
    assert weak.status_code == 422
    r = await a.client.post("/auth/reset-password", json={"token": code, "password": NEW_PASSWORD})
    assert (r.status_code, r.content) == (200, b"null")
    assert "access_token" not in r.text  # a reset does not sign in

    # the old access token stops at once, its refresh token too; the old password is gone
    assert (await a.client.get("/private", headers=bearer(tokens["access_token"]))).status_code == 401
    refreshed = await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    old = await a.client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert old.status_code == 401
    new = await a.client.post("/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD})
    assert new.status_code == 200

    again = await a.client.post("/auth/reset-password", json={"token": code, "password": NEW_PASSWORD + "!"})
    assert (again.status_code, again.json()) == (
        400,
        {"detail": "RESET_PASSWORD_BAD_TOKEN", "code": "reset_password_bad_token"},
    )
    await settle(a)
    notice = collector.received[-1]
    assert notice.rcpt_tos == ["ada@example.com"] and "token=" not in notice.message.as_string()


def _hostile(code: str) -> dict[str, Any]:
    return {
        "unknown": "A" * 43,
        "truncated": code[:-1],
        "padded": code + "=",
        "extended": code + "A",
        "whitespace": f" {code} ",
        "empty": "",
        "oversized": code * 10,
        "not base64url": code[:-1] + "*",
    }


async def test_every_bad_reset_code_gets_the_same_answer(mail_app: Any, collector: Any) -> None:
    a = await mail_app()
    await a.register("ada@example.com")  # mails a verification code: a code of another purpose
    await a.client.post("/auth/forgot-password", json={"email": "ada@example.com"})
    await settle(a)
    verify_code, reset_code = (token_of(link_of(m)) for m in collector.received)
    cases = {**_hostile(reset_code), "cross-purpose": verify_code}
    for name, bad in cases.items():
        r = await a.client.post("/auth/reset-password", json={"token": bad, "password": NEW_PASSWORD})
        assert (r.status_code, r.json()) == (
            400,
            {"detail": "RESET_PASSWORD_BAD_TOKEN", "code": "reset_password_bad_token"},
        ), name
    for name, bad in {**_hostile(verify_code), "cross-purpose": reset_code}.items():
        r = await a.client.post("/auth/verify", json={"token": bad})
        assert (r.status_code, r.json()) == (
            400,
            {"detail": "VERIFY_USER_BAD_TOKEN", "code": "verify_user_bad_token"},
        ), name
    # none of them spent the real codes
    assert (await a.client.post("/auth/verify", json={"token": verify_code})).status_code == 200
    r = await a.client.post("/auth/reset-password", json={"token": reset_code, "password": NEW_PASSWORD})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "body", [{"token": 12345}, {"token": ["x"]}, {}, {"token": "x"}, {"password": NEW_PASSWORD}]
)
async def test_malformed_reset_bodies_are_422_with_field_errors(mail_app: Any, body: dict[str, Any]) -> None:
    a = await mail_app()
    r = await a.client.post("/auth/reset-password", json=body)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("Missing or invalid fields: ")


async def test_links_come_from_public_url_never_from_the_host_header(mail_app: Any, collector: Any) -> None:
    a = await mail_app(verify_email_on_register=False)
    await a.register("ada@example.com")
    r = await a.client.post(
        "/auth/forgot-password",
        json={"email": "ada@example.com"},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert r.status_code == 202
    await settle(a)
    (mail,) = collector.received
    assert "evil.example" not in mail.message.as_string()
    assert link_of(mail).startswith(PUBLIC + "/auth/reset-password?token=")


async def test_a_password_change_voids_a_pending_reset_code(mail_app: Any, collector: Any) -> None:
    a = await mail_app(verify_email_on_register=False)
    tokens = await a.register("ada@example.com")
    await a.client.post("/auth/forgot-password", json={"email": "ada@example.com"})
    await settle(a)
    code = token_of(link_of(collector.received[0]))
    r = await a.client.post(
        "/auth/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 204
    r = await a.client.post(
        "/auth/reset-password", json={"token": code, "password": "yet another passphrase"}
    )
    assert (r.status_code, r.json()) == (
        400,
        {"detail": "RESET_PASSWORD_BAD_TOKEN", "code": "reset_password_bad_token"},
    )


async def test_a_refusing_mail_server_changes_no_answer_and_no_log_holds_the_code(
    make_app: Any, smtp_server: Any, handlers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    refusing = handlers.Refusing(reply="554 5.7.1 Rejected")
    a = await make_app(**mail_settings(smtp_server(refusing)), verify_email_on_register=False)
    await a.register("ada@example.com")
    codes: list[str] = []
    original = a.auth.service.codes.issue

    async def issue(*args: Any, **kwargs: Any) -> str:
        codes.append(await original(*args, **kwargs))
        return codes[-1]

    a.auth.service.codes.issue = issue  # type: ignore[method-assign]  # only to learn the code for the log check
    with caplog.at_level(logging.DEBUG):
        r = await a.client.post("/auth/forgot-password", json={"email": "ada@example.com"})
        await settle(a)
    assert (r.status_code, r.content) == (202, b"null")
    assert refusing.attempts == 1
    ours = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("fastauth"))
    assert "mail reset_password to ada@example.com not sent after 1 attempt(s)" in ours
    assert codes and all(code not in ours for code in codes)


class MailingHooks(EventHooks):
    """An application that sends its own mail from the hooks, as fastapi-users apps do."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def on_after_forgot_password(self, user: Any, token: str) -> None:
        self.sent.append(("reset", user.email, token))

    async def on_after_request_verify(self, user: Any, token: str) -> None:
        self.sent.append(("verify", user.email, token))


async def test_an_application_can_mail_the_codes_from_its_hooks(make_app: Any) -> None:
    hooks = MailingHooks()
    a = await make_app(hooks=hooks)
    await a.register("ada@example.com")
    await a.client.post("/auth/forgot-password", json={"email": "ada@example.com"})
    await a.client.post("/auth/forgot-password", json={"email": "nobody@example.com"})
    await settle(a)
    assert [(kind, email) for kind, email, _ in hooks.sent] == [
        ("verify", "ada@example.com"),
        ("reset", "ada@example.com"),
    ]
    verify_code, reset_code = (token for _, _, token in hooks.sent)
    assert (await a.client.post("/auth/verify", json={"token": verify_code})).status_code == 200
    r = await a.client.post("/auth/reset-password", json={"token": reset_code, "password": NEW_PASSWORD})
    assert r.status_code == 200


async def test_without_a_sender_or_a_mail_hook_the_mail_flows_say_they_are_off(make_app: Any) -> None:
    a = await make_app()  # a 0.1.0 configuration: starts as before
    tokens = await a.register("ada@example.com")
    assert tokens["access_token"]
    for path in ("/auth/forgot-password", "/auth/request-verify-token"):
        r = await a.client.post(path, json={"email": "ada@example.com"})
        assert (r.status_code, r.json()) == (
            501, {"detail": "This server sends no mail: email verification and password reset are off", "code": "mail_off"},
        )  # fmt: skip


async def test_require_verified_email_refuses_sign_in_until_verified(mail_app: Any, collector: Any) -> None:
    a = await mail_app(require_verified_email=True)
    r = await a.client.post("/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    assert (r.status_code, r.json()) == (403, {"detail": "Email not verified", "code": "email_not_verified"})
    login = await a.client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert (login.status_code, login.json()) == (
        403,
        {"detail": "Email not verified", "code": "email_not_verified"},
    )
    wrong = await a.client.post(
        "/auth/login", json={"email": "ada@example.com", "password": "wrong password"}
    )
    assert wrong.status_code == 401  # the verification question comes only after the password
    await settle(a)
    (mail,) = collector.received  # the registration mailed its link even though it did not sign in
    assert (await a.client.post("/auth/verify", json={"token": token_of(link_of(mail))})).status_code == 200
    ok = await a.client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert ok.status_code == 200


async def test_the_verified_user_dependency_refuses_an_unverified_user(mail_app: Any, collector: Any) -> None:
    a = await mail_app()

    @a.app.get("/verified-only")
    async def verified_only(user: Any = Depends(a.auth.get_current_verified_user)) -> dict[str, str]:
        return {"email": user.email}

    tokens = await a.register("ada@example.com")
    r = await a.client.get("/verified-only", headers=bearer(tokens["access_token"]))
    assert (r.status_code, r.json()) == (403, {"detail": "Email not verified", "code": "email_not_verified"})
    await settle(a)
    await a.client.post("/auth/verify", json={"token": token_of(link_of(collector.received[0]))})
    r = await a.client.get("/verified-only", headers=bearer(tokens["access_token"]))
    assert (r.status_code, r.json()) == (200, {"email": "ada@example.com"})


async def test_an_email_change_happens_only_when_the_new_address_is_proven(
    mail_app: Any, collector: Any
) -> None:
    a = await mail_app(verify_email_on_register=False)
    tokens = await a.register("ada@example.com")
    auth_header = bearer(tokens["access_token"])
    wrong = await a.client.post(
        "/auth/change-email",
        json={"new_email": "ada@new.example", "password": "wrong password"},
        headers=auth_header,
    )
    assert (wrong.status_code, wrong.json()) == (
        400,
        {"detail": "The current password is wrong", "code": "current_password_wrong"},
    )
    r = await a.client.post(
        "/auth/change-email", json={"new_email": "Ada@New.Example", "password": PASSWORD}, headers=auth_header
    )
    assert (r.status_code, r.content) == (202, b"null")
    await settle(a)
    (confirm,) = collector.received
    assert confirm.rcpt_tos == ["ada@new.example"]
    link = link_of(confirm)
    assert urlsplit(link).path == "/auth/confirm-email-change"
    # until confirmed, the old address is the account's
    assert (await a.client.get("/auth/me", headers=auth_header)).json()["email"] == "ada@example.com"

    # the code confirms only for the account that asked, signed in: not anonymously, not as someone else
    anonymous = await a.client.post("/auth/change-email/confirm", json={"token": token_of(link)})
    assert anonymous.status_code == 401
    other = await a.register("mallory@example.com")
    as_other = await a.client.post(
        "/auth/change-email/confirm", json={"token": token_of(link)}, headers=bearer(other["access_token"])
    )
    assert (as_other.status_code, as_other.json()) == (
        400,
        {"detail": "CHANGE_EMAIL_BAD_TOKEN", "code": "change_email_bad_token"},
    )
    done = await a.client.post(
        "/auth/change-email/confirm", json={"token": token_of(link)}, headers=auth_header
    )
    assert done.status_code == 200, done.text
    assert (done.json()["email"], done.json()["is_verified"]) == ("ada@new.example", True)
    await settle(a)
    notice = collector.received[-1]
    assert notice.rcpt_tos == ["ada@example.com"] and "token=" not in notice.message.as_string()
    old = await a.client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert old.status_code == 401
    new = await a.client.post("/auth/login", json={"email": "ada@new.example", "password": PASSWORD})
    assert new.status_code == 200
    again = await a.client.post(
        "/auth/change-email/confirm", json={"token": token_of(link)}, headers=auth_header
    )
    assert (again.status_code, again.json()) == (
        400,
        {"detail": "CHANGE_EMAIL_BAD_TOKEN", "code": "change_email_bad_token"},
    )


async def test_a_taken_address_answers_like_a_free_one_and_its_confirmation_fails_cleanly(
    mail_app: Any, collector: Any
) -> None:
    a = await mail_app(verify_email_on_register=False)
    tokens = await a.register("ada@example.com")
    auth_header = bearer(tokens["access_token"])
    free = await a.client.post(
        "/auth/change-email",
        json={"new_email": "free@example.com", "password": PASSWORD},
        headers=auth_header,
    )
    await a.register("bob@example.com")
    taken = await a.client.post(
        "/auth/change-email", json={"new_email": "bob@example.com", "password": PASSWORD}, headers=auth_header
    )
    assert (free.status_code, free.content) == (taken.status_code, taken.content) == (202, b"null")
    await settle(a)
    code = token_of(link_of(collector.received[-1]))  # the newest code (it voided the one for free@)
    r = await a.client.post("/auth/change-email/confirm", json={"token": code}, headers=auth_header)
    assert (r.status_code, r.json()) == (
        409,
        {"detail": "This email is already registered", "code": "email_taken"},
    )
    me = await a.client.get("/auth/me", headers=auth_header)
    assert me.json()["email"] == "ada@example.com"


async def test_deleting_the_account_removes_everything_and_signs_every_device_out(
    mail_app: Any, collector: Any
) -> None:
    a = await mail_app(verify_email_on_register=False)
    first = await a.register("ada@example.com")
    second = await a.client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    await a.client.post("/auth/forgot-password", json={"email": "ada@example.com"})
    await settle(a)
    reset_code = token_of(link_of(collector.received[0]))

    wrong = await a.client.request(
        "DELETE", "/auth/me", json={"password": "wrong password"}, headers=bearer(first["access_token"])
    )
    assert wrong.status_code == 400
    r = await a.client.request(
        "DELETE", "/auth/me", json={"password": PASSWORD}, headers=bearer(first["access_token"])
    )
    assert r.status_code == 204
    for token in (first["access_token"], second.json()["access_token"]):
        assert (await a.client.get("/private", headers=bearer(token))).status_code == 401
        assert (await a.client.get("/claims", headers=bearer(token))).status_code == 401
    assert (
        await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).status_code == 401
    assert await a.auth.adapter.get_user_by_email("ada@example.com") is None
    r = await a.client.post("/auth/reset-password", json={"token": reset_code, "password": NEW_PASSWORD})
    assert (r.status_code, r.json()) == (
        400,
        {"detail": "RESET_PASSWORD_BAD_TOKEN", "code": "reset_password_bad_token"},
    )
    await settle(a)
    assert collector.received[-1].rcpt_tos == ["ada@example.com"]  # the notice
    # the address is free again
    assert (
        await a.client.post("/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    ).status_code == 201


async def test_opening_any_mailed_link_spends_nothing(mail_app: Any, collector: Any) -> None:
    """GET and HEAD of every link the mails carry show a page (no-store, no referrer) and spend nothing."""
    a = await mail_app(ui_enabled=True, cookie_opt_in=True)
    tokens = await a.register("ada@example.com")
    await a.client.post("/auth/forgot-password", json={"email": "ada@example.com"})
    await a.client.post(
        "/auth/change-email",
        json={"new_email": "ada@new.example", "password": PASSWORD},
        headers=bearer(tokens["access_token"]),
    )
    await settle(a)
    by_path = {urlsplit(link_of(m)).path: link_of(m) for m in collector.received}
    assert sorted(by_path) == ["/auth/confirm-email-change", "/auth/reset-password", "/auth/verify-email"]
    links = [by_path[p] for p in ("/auth/verify-email", "/auth/reset-password", "/auth/confirm-email-change")]
    for link in links:
        target = link.removeprefix(PUBLIC)
        for method in ("GET", "HEAD", "GET"):
            r = await a.client.request(method, target)
            assert r.status_code == 200, (method, target)
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert "script-src 'self'" in r.headers["content-security-policy"]
    verify, reset, change = (token_of(link) for link in links)
    assert (await a.client.post("/auth/verify", json={"token": verify})).status_code == 200
    r = await a.client.post("/auth/reset-password", json={"token": reset, "password": NEW_PASSWORD})
    assert r.status_code == 200
    # the reset ended the session, and voided the pending email change
    old_session = await a.client.post(
        "/auth/change-email/confirm", json={"token": change}, headers=bearer(tokens["access_token"])
    )
    assert old_session.status_code == 401
    fresh = await a.client.post("/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD})
    confirm = await a.client.post(
        "/auth/change-email/confirm", json={"token": change}, headers=bearer(fresh.json()["access_token"])
    )
    assert (confirm.status_code, confirm.json()) == (
        400,
        {"detail": "CHANGE_EMAIL_BAD_TOKEN", "code": "change_email_bad_token"},
    )
    # the reset voided the pending email change: a password change or reset voids every such code
