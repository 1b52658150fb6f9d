"""`MailTemplates`: every kind renders, HTML autoescapes what users control, links are built from the
configured base only (never a request's Host), codes are URL-quoted, a template folder overrides file by
file, and a broken override fails at start-up. One end-to-end test sends a rendered mail through a real
SMTP server and follows its link."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fastauth.config import FastAuthConfig
from fastauth.errors import ConfigError
from fastauth.mail import LINK_PATHS, MAIL_KINDS, MailTemplates, SMTPSender

SECRET = "s" * 64
BASE = "https://auth.example.com/auth"
CODE = "kY3-secret_code.42"

#: kind -> (subject, a sentence of its text part); the subject is the built-in one, exactly.
EXPECTED = {
    "verify_email": ("Confirm your email address for Acme", "is your email address for Acme"),
    "reset_password": ("Reset your Acme password", "asked to reset the password of the Acme account"),
    "password_changed": ("Your Acme password was changed", "was just changed."),
    "email_change_confirm": ("Confirm your new email address for Acme", "the email address of a Acme"),
    "email_changed": ("The email address of your Acme account was changed", "to new@example.com."),
    "account_deleted": ("Your Acme account was deleted", "The Acme account ada@example.com was deleted"),
    "mfa_enabled": (
        "Two-step verification is on for your Acme account",
        "turned on for your Acme account ada@example.com",
    ),
    "mfa_disabled": (
        "Two-step verification is off for your Acme account",
        "turned off for your Acme account ada@example.com",
    ),
    "passkey_added": (
        "A passkey was added to your Acme account",
        "added to your Acme account ada@example.com",
    ),
    "passkey_removed": (
        "A passkey was removed from your Acme account",
        "removed from your Acme account ada@example.com",
    ),
}


def templates(**options: Any) -> MailTemplates:
    return MailTemplates(link_base=BASE, app_name="Acme", **options)


def render(
    t: MailTemplates, kind: Any, to: str = "ada@example.com", new_email: str = "new@example.com"
) -> Any:
    return t.render(
        kind,
        to=to,
        code=CODE if kind in LINK_PATHS else None,
        new_email=new_email if kind == "email_changed" else None,
    )


@pytest.mark.parametrize("kind", MAIL_KINDS)
def test_every_kind_renders(kind: Any) -> None:
    message = render(templates(), kind)

    subject, sentence = EXPECTED[kind]
    assert (message.kind, message.to, message.subject) == (kind, "ada@example.com", subject)
    assert sentence in " ".join(message.text.split())
    assert message.html.startswith("<!doctype html>")
    assert "<title>Acme</title>" in message.html
    if kind in LINK_PATHS:
        link = f"{BASE}{LINK_PATHS[kind]}?token={CODE}"
        assert f"\n{link}\n" in message.text
        assert message.html.count(f'href="{link}"') == 2  # the button and the address under it
    else:
        assert "token=" not in message.text and "href=" not in message.html


def test_the_kinds_are_the_six_of_the_issue_and_the_second_factor_notices() -> None:
    assert MAIL_KINDS == (
        "verify_email",
        "reset_password",
        "password_changed",
        "email_change_confirm",
        "email_changed",
        "account_deleted",
        "mfa_enabled",
        "mfa_disabled",
        "passkey_added",
        "passkey_removed",
    )
    assert LINK_PATHS == {
        "verify_email": "/verify-email",
        "reset_password": "/reset-password",
        "email_change_confirm": "/confirm-email-change",
    }


HOSTILE = '"<script>alert(1)</script>"@example.com'
HOSTILE_NEW = "<img src=x onerror=alert(2)>@example.com"


@pytest.mark.parametrize("kind", MAIL_KINDS)
def test_html_escapes_what_users_control(kind: Any) -> None:
    message = render(
        MailTemplates(link_base=BASE, app_name="<b>Acme</b>"), kind, to=HOSTILE, new_email=HOSTILE_NEW
    )

    assert "<script>" not in message.html and "<img" not in message.html and "<b>" not in message.html
    assert "&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;@example.com" in message.html
    assert "&lt;b&gt;Acme&lt;/b&gt;" in message.html
    if kind == "email_changed":
        assert "&lt;img src=x onerror=alert(2)&gt;@example.com" in message.html
        assert HOSTILE_NEW in message.text  # plain text is not HTML: shown as it is
    assert HOSTILE in message.text


def test_the_code_is_url_quoted_and_comes_back_whole() -> None:
    code = "a b&c/d=e?f#g+h"
    link = templates().link("reset_password", code)

    assert link == f"{BASE}/reset-password?token=a%20b%26c%2Fd%3De%3Ff%23g%2Bh"
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "auth.example.com", "/auth/reset-password")
    assert parse_qs(parts.query) == {"token": [code]}


def test_links_start_with_public_url_and_route_prefix() -> None:
    config = FastAuthConfig(secret=SECRET, public_url="https://id.example.org", route_prefix="/accounts")
    link = MailTemplates.from_config(config).link("verify_email", CODE)
    assert link == f"https://id.example.org/accounts/verify-email?token={CODE}"


def test_link_base_url_wins_over_public_url() -> None:
    """An API-only deployment sends people to its own frontend."""
    config = FastAuthConfig(
        secret=SECRET,
        public_url="https://api.example.org",
        email={"link_base_url": "https://app.example.org/account"},
    )
    link = MailTemplates.from_config(config).link("email_change_confirm", CODE)
    assert link == f"https://app.example.org/account/confirm-email-change?token={CODE}"


def test_without_a_configured_base_there_are_no_links() -> None:
    """No fallback to anything a request could carry (its Host header): start-up stops instead."""
    with pytest.raises(ConfigError) as caught:
        MailTemplates.from_config(FastAuthConfig(secret=SECRET, email={"console": True}))
    assert str(caught.value) == (
        "mail links need a base URL, never taken from a request: set FASTAUTH_PUBLIC_URL (this server, like "
        "https://auth.example.com) or FASTAUTH_EMAIL__LINK_BASE_URL (your frontend)."
    )


def test_app_name_comes_from_the_configuration() -> None:
    config = FastAuthConfig(secret=SECRET, public_url="https://a.example", email={"app_name": "Acme"})
    message = MailTemplates.from_config(config).render("password_changed", to="ada@example.com")
    assert message.subject == "Your Acme password was changed"


def test_paths_can_be_changed() -> None:
    t = MailTemplates(link_base="https://app.example", paths={"verify_email": "/welcome/confirm"})
    assert t.link("verify_email", "x") == "https://app.example/welcome/confirm?token=x"
    assert t.link("reset_password", "x") == "https://app.example/reset-password?token=x"


def test_a_template_folder_overrides_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "verify_email.subject.txt").write_text("Welcome to {{ app_name }}, {{ user_email }}\n")
    (tmp_path / "verify_email.html").write_text('<p>{{ user_email }}: <a href="{{ link }}">go</a></p>\n')
    config = FastAuthConfig(
        secret=SECRET,
        public_url="https://auth.example.com",
        email={"template_dir": str(tmp_path), "app_name": "Acme"},
    )
    t = MailTemplates.from_config(config)

    message = t.render("verify_email", to=HOSTILE, code=CODE)
    assert message.subject == f"Welcome to Acme, {HOSTILE}"
    link = f"https://auth.example.com/auth/verify-email?token={CODE}"
    assert message.html == (
        f'<p>&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;@example.com: <a href="{link}">go</a></p>\n'
    )
    builtin = MailTemplates(link_base="https://auth.example.com/auth", app_name="Acme")
    assert message.text == builtin.render("verify_email", to=HOSTILE, code=CODE).text  # not overridden
    # the other kinds keep the built-in templates
    assert t.render("account_deleted", to="ada@example.com").subject == "Your Acme account was deleted"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{% if %}", "mail template reset_password.html does not render: "),
        (
            "{{ no_such_variable }}",
            "mail template reset_password does not render: 'no_such_variable' is undefined",
        ),
    ],
    ids=["syntax error", "unknown variable"],
)
def test_a_broken_override_fails_at_start_up(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "reset_password.html").write_text(content)
    config = FastAuthConfig(
        secret=SECRET, public_url="https://a.example", email={"template_dir": str(tmp_path)}
    )

    with pytest.raises(ConfigError) as caught:
        MailTemplates.from_config(config)
    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    ("kind", "options", "error"),
    [
        ("verify_email", {}, "verify_email: a code is required"),
        ("password_changed", {"code": "x"}, "password_changed: a code is not used"),
        ("email_changed", {}, "new_email goes with email_changed only, and it needs one"),
        ("account_deleted", {"new_email": "b@example.com"}, "new_email goes with email_changed only"),
        ("welcome", {}, "unknown mail kind 'welcome'"),
    ],
)
def test_render_refuses_wrong_arguments(kind: Any, options: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        templates().render(kind, to="ada@example.com", **options)


async def test_a_mail_received_over_smtp_carries_a_link_that_leads_back_to_the_code(
    smtp_server: Any, handlers: Any
) -> None:
    """Render, send to a real SMTP server, parse what it received, follow the link to its code."""
    collector = handlers.Collector()
    server = smtp_server(collector)
    t = MailTemplates.from_config(FastAuthConfig(secret=SECRET, public_url="https://auth.example.com"))
    code = "Qm9vb-one-time/code+1"
    sender = SMTPSender(host="127.0.0.1", port=server.port, from_address="accounts@example.com", tls="none")

    await sender.send(t.render("reset_password", to="ada@example.com", code=code))

    (received,) = collector.received
    text_part, html_part = received.message.iter_parts()
    (text_link,) = re.findall(r"https?://\S+", text_part.get_content())
    html_links = re.findall(r'href="([^"]+)"', html_part.get_content())
    assert html_links == [text_link, text_link]
    followed = urlsplit(text_link)
    assert (followed.scheme, followed.netloc, followed.path) == (
        "https",
        "auth.example.com",
        "/auth/reset-password",
    )
    assert parse_qs(followed.query) == {"token": [code]}
