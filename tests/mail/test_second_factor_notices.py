"""The owner hears of every change to the account's second factors, by mail, from a real SMTP server
on 127.0.0.1: TOTP turned on and off, a passkey added and removed, an administrator's reset. A
passkey is a lasting way in (it survives a password reset), so a thief who plants one in a freshly
stolen session is seen by the owner's inbox, not only by the audit log."""

from __future__ import annotations

from typing import Any

import pytest

from fastauth.mfa import Totp
from support.authenticator import Authenticator
from support.http import PASSWORD, bearer
from support.totp import now_step, settled_step

PUBLIC = "https://auth.example.com"
EMAIL = "ada@example.com"


@pytest.fixture
def collector(handlers: Any) -> Any:
    return handlers.Collector()


@pytest.fixture
async def app(make_app: Any, smtp_server: Any, collector: Any) -> Any:
    server = smtp_server(collector)
    return await make_app(
        public_url=PUBLIC,
        verify_email_on_register=False,
        email={
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_tls": "none",
            "from_address": "accounts@example.com",
            "app_name": "Acme",
            "retries": 0,
        },
    )


async def subjects(a: Any, collector: Any) -> list[tuple[str, str]]:
    await a.auth.service.settle()
    return [(m.rcpt_tos[0], str(m.message["Subject"])) for m in collector.received]


async def test_each_second_factor_change_mails_its_owner(app: Any, collector: Any) -> None:
    a = app
    headers = bearer((await a.register(EMAIL, PASSWORD))["access_token"])
    totp = Totp((await a.client.post("/auth/mfa/totp/setup", headers=headers)).json()["secret"])
    on = await a.client.post(
        "/auth/mfa/totp/confirm", headers=headers, json={"code": totp.code_at(settled_step() - 1)}
    )
    assert on.status_code == 200, on.text
    assert await subjects(a, collector) == [(EMAIL, "Two-step verification is on for your Acme account")]

    # A passkey needs a sign-in with the second factor (the enrolling session has only the password).
    step = (await a.client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})).json()
    done = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": step["mfa_token"], "code": totp.code_at(now_step())}
    )
    assert done.status_code == 200, done.text
    strong = bearer(done.json()["access_token"])
    options = await a.client.post("/auth/passkeys/register/options", headers=strong)
    credential = Authenticator(origin=PUBLIC).create(options.json())
    added = await a.client.post(
        "/auth/passkeys/register/verify", headers=strong, json={"credential": credential}
    )
    assert added.status_code == 201, added.text
    removed = await a.client.delete(f"/auth/passkeys/{added.json()['id']}", headers=strong)
    assert removed.status_code == 204, removed.text
    off = await a.client.post(
        "/auth/mfa/totp/disable",
        headers=strong,
        json={"password": PASSWORD, "code": totp.code_at(now_step() + 1)},
    )
    assert off.status_code == 204, off.text
    assert (await subjects(a, collector))[1:] == [
        (EMAIL, "A passkey was added to your Acme account"),
        (EMAIL, "A passkey was removed from your Acme account"),
        (EMAIL, "Two-step verification is off for your Acme account"),
    ]
    text = collector.received[1].message.get_body(("plain",)).get_content()
    assert "can now sign in without the password" in text and "change your password" in text
    assert totp.secret not in text and credential["id"] not in text


async def test_an_administrators_reset_mails_the_owner(app: Any, collector: Any) -> None:
    a = app
    headers = bearer((await a.register(EMAIL, PASSWORD))["access_token"])
    totp = Totp((await a.client.post("/auth/mfa/totp/setup", headers=headers)).json()["secret"])
    await a.client.post(
        "/auth/mfa/totp/confirm", headers=headers, json={"code": totp.code_at(settled_step() - 1)}
    )
    assert await a.auth.service.mfa_reset(EMAIL) is True
    assert await subjects(a, collector) == [
        (EMAIL, "Two-step verification is on for your Acme account"),
        (EMAIL, "Two-step verification is off for your Acme account"),
    ]
