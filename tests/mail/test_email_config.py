"""`EmailConfig` (`FastAuthConfig.email`): the default sends nothing, the FASTAUTH_EMAIL__* names of
issue 12, `.env` and JSON loading, validation that says what to fix, and the SMTP password kept out of
every repr and every error. `sender_from_config` picks the sender."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastauth import FastAuthConfig
from fastauth.config import EmailConfig
from fastauth.errors import ConfigError
from fastauth.mail import ConsoleSender, SMTPSender, sender_from_config

SECRET = "s" * 64
PASSWORD = "SMTP-pa55word-do-not-leak"

#: `clean_env` (tests/conftest.py): no configuration from the shell, an empty working directory.
pytestmark = pytest.mark.usefixtures("clean_env")


def config_error(build: Callable[[], object]) -> str:
    with pytest.raises(ConfigError) as caught:
        build()
    return str(caught.value)


def test_the_default_sends_nothing() -> None:
    config = FastAuthConfig(secret=SECRET)

    assert config.email == EmailConfig()
    assert sender_from_config(config) is None
    email = config.email
    assert (email.smtp_host, email.smtp_port, email.smtp_username, email.smtp_password) == (
        None,
        None,
        None,
        None,
    )
    assert (email.smtp_tls, email.smtp_timeout, email.retries, email.console) == ("starttls", 10.0, 3, False)
    assert (email.from_address, email.from_name, email.link_base_url, email.template_dir) == (
        None,
        None,
        None,
        None,
    )
    assert email.app_name == "fastauth"


def test_the_environment_names_of_the_issue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "FASTAUTH_SECRET": SECRET,
        "FASTAUTH_PUBLIC_URL": "https://auth.example.com",
        "FASTAUTH_EMAIL__SMTP_HOST": "smtp.example.com",
        "FASTAUTH_EMAIL__SMTP_PORT": "2525",
        "FASTAUTH_EMAIL__SMTP_USERNAME": "mailer",
        "FASTAUTH_EMAIL__SMTP_PASSWORD": PASSWORD,
        "FASTAUTH_EMAIL__SMTP_TLS": "tls",
        "FASTAUTH_EMAIL__SMTP_TIMEOUT": "2.5",
        "FASTAUTH_EMAIL__FROM_ADDRESS": "accounts@example.com",
        "FASTAUTH_EMAIL__FROM_NAME": "Example Accounts",
        "FASTAUTH_EMAIL__LINK_BASE_URL": "https://app.example.com",
        "FASTAUTH_EMAIL__TEMPLATE_DIR": str(tmp_path),
        "FASTAUTH_EMAIL__APP_NAME": "Example",
        "FASTAUTH_EMAIL__RETRIES": "5",
    }.items():
        monkeypatch.setenv(name, value)

    email = FastAuthConfig().email

    assert email.model_dump() == {
        "smtp_host": "smtp.example.com",
        "smtp_port": 2525,
        "smtp_username": "mailer",
        "smtp_password": email.smtp_password,
        "smtp_tls": "tls",
        "smtp_timeout": 2.5,
        "from_address": "accounts@example.com",
        "from_name": "Example Accounts",
        "link_base_url": "https://app.example.com",
        "template_dir": tmp_path,
        "app_name": "Example",
        "console": False,
        "retries": 5,
    }
    assert email.smtp_password is not None and email.smtp_password.get_secret_value() == PASSWORD
    sender = sender_from_config(FastAuthConfig())
    assert isinstance(sender, SMTPSender)
    assert (sender.host, sender.port, sender.tls, sender.username, sender.timeout) == (
        "smtp.example.com",
        2525,
        "tls",
        "mailer",
        2.5,
    )
    assert (sender.from_address, sender.from_name) == ("accounts@example.com", "Example Accounts")


def test_a_dotenv_file_and_json_work_too(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text(
        f"FASTAUTH_SECRET={SECRET}\nFASTAUTH_EMAIL__SMTP_HOST=smtp.example.com\n"
        "FASTAUTH_EMAIL__FROM_ADDRESS=accounts@example.com\n"
    )
    assert FastAuthConfig().email.smtp_host == "smtp.example.com"

    (clean_env / ".env").unlink()
    monkeypatch.setenv("FASTAUTH_EMAIL", '{"console": true, "retries": 0}')
    email = FastAuthConfig(secret=SECRET).email
    assert (email.console, email.retries) == (True, 0)


@pytest.mark.parametrize(
    ("tls", "port"), [("starttls", 587), ("tls", 465), ("none", 25)], ids=["starttls", "tls", "none"]
)
def test_the_port_follows_the_tls_mode(tls: str, port: int) -> None:
    email = EmailConfig(smtp_host="smtp.example.com", from_address="a@example.com", smtp_tls=tls)
    assert email.port == port
    assert EmailConfig(smtp_host="h", from_address="a@example.com", smtp_tls=tls, smtp_port=2525).port == 2525


def test_console_wins_and_needs_nothing_else() -> None:
    assert isinstance(
        sender_from_config(FastAuthConfig(secret=SECRET, email={"console": True})), ConsoleSender
    )
    both = FastAuthConfig(
        secret=SECRET,
        email={"console": True, "smtp_host": "smtp.example.com", "from_address": "a@example.com"},
    )
    assert isinstance(sender_from_config(both), ConsoleSender)


def test_login_without_tls_is_fine_on_the_same_host() -> None:
    for host in ("localhost", "127.0.0.1", "::1"):
        email = EmailConfig(
            smtp_host=host,
            from_address="a@example.com",
            smtp_tls="none",
            smtp_username="u",
            smtp_password="p",
        )
        assert email.smtp_tls == "none"


#: name -> (EmailConfig arguments, the exact message lines after "invalid EmailConfig:")
INVALID: dict[str, tuple[dict[str, Any], list[str]]] = {
    "unknown tls mode": ({"smtp_tls": "ssl"}, ["smtp_tls: Input should be 'none', 'starttls' or 'tls'"]),
    "port out of range": ({"smtp_port": 0}, ["smtp_port: Input should be greater than or equal to 1"]),
    "timeout zero": ({"smtp_timeout": 0}, ["smtp_timeout: Input should be greater than 0"]),
    "too many retries": ({"retries": 11}, ["retries: Input should be less than or equal to 10"]),
    "negative retries": ({"retries": -1}, ["retries: Input should be greater than or equal to 0"]),
    "empty host": ({"smtp_host": ""}, ["smtp_host: String should have at least 1 character"]),
    "unknown field": ({"smtp_server": "x"}, ["smtp_server: Extra inputs are not permitted"]),
    "host without from": (
        {"smtp_host": "smtp.example.com"},
        [
            "from_address is required to send through SMTP: set FASTAUTH_EMAIL__FROM_ADDRESS, like "
            "'accounts@example.com'."
        ],
    ),
    "from with a display name": (
        {"from_address": "Accounts <accounts@example.com>"},
        [
            "from_address must be a plain address like 'accounts@example.com'; put a display name in from_name."
        ],
    ),
    "from not an address": (
        {"from_address": "accounts"},
        ["from_address is not a valid email address: An email address must have an @-sign."],
    ),
    "username without password": (
        {"smtp_username": "mailer"},
        [
            "smtp_username and smtp_password go together: set both FASTAUTH_EMAIL__SMTP_USERNAME and "
            "FASTAUTH_EMAIL__SMTP_PASSWORD, or neither."
        ],
    ),
    "password without username": (
        {"smtp_password": PASSWORD},
        [
            "smtp_username and smtp_password go together: set both FASTAUTH_EMAIL__SMTP_USERNAME and "
            "FASTAUTH_EMAIL__SMTP_PASSWORD, or neither."
        ],
    ),
    "login in clear text over the network": (
        {
            "smtp_host": "smtp.example.com",
            "from_address": "a@example.com",
            "smtp_tls": "none",
            "smtp_username": "mailer",
            "smtp_password": PASSWORD,
        },
        [
            "smtp_tls='none' would send the SMTP password unencrypted over the network: use 'starttls' "
            "(port 587) or 'tls' (port 465)."
        ],
    ),
    "from_name on two lines": (
        {"from_name": "A\r\nBcc: x@example.com"},
        ["from_name must be one line (no line breaks)."],
    ),
    "app_name on two lines": ({"app_name": "A\nB"}, ["app_name must be one line (no line breaks)."]),
}
LINK_ERROR = (
    "link_base_url must be an absolute http(s) URL without a trailing '/', a query or a fragment, like "
    "'https://app.example.com' or 'https://example.com/account'."
)
for bad in (
    "https://app.example.com/",
    "app.example.com",
    "/account",
    "ftp://app.example.com",
    "https://a.example?x=1",
    "https://a.example#top",
    "https://",
):
    INVALID[f"link_base_url {bad}"] = ({"link_base_url": bad}, [LINK_ERROR])


@pytest.mark.parametrize(("options", "lines"), INVALID.values(), ids=INVALID.keys())
def test_invalid_settings_say_what_to_fix(options: dict[str, Any], lines: list[str]) -> None:
    message = config_error(lambda: EmailConfig(**options))
    assert message == "invalid EmailConfig:\n" + "\n".join(f"  {line}" for line in lines)
    nested = config_error(lambda: FastAuthConfig(secret=SECRET, email=options))
    assert nested == message


def test_a_missing_template_dir(clean_env: Path) -> None:
    missing = clean_env / "no-such-folder"
    assert config_error(lambda: EmailConfig(template_dir=missing)) == (
        f"invalid EmailConfig:\n  template_dir {str(missing)!r} is not a folder; create it or unset "
        "FASTAUTH_EMAIL__TEMPLATE_DIR."
    )


def test_an_invalid_environment_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_EMAIL__SMTP_TLS", "ssl")
    assert config_error(lambda: FastAuthConfig(secret=SECRET)) == (
        "invalid EmailConfig:\n  smtp_tls: Input should be 'none', 'starttls' or 'tls'"
    )


#: The password in every place it could be echoed from.
LEAKS: dict[str, Callable[[], object]] = {
    "as the port": lambda: EmailConfig(smtp_port=PASSWORD),
    "as the tls mode": lambda: EmailConfig(smtp_tls=PASSWORD),
    "as the timeout": lambda: EmailConfig(smtp_timeout=PASSWORD),
    "as the retries": lambda: EmailConfig(retries=PASSWORD),
    "as the from address": lambda: EmailConfig(from_address=PASSWORD),
    "as the link base": lambda: EmailConfig(link_base_url=PASSWORD),
    "as an unknown field": lambda: EmailConfig(smtp_pass=PASSWORD),
    "with no username": lambda: EmailConfig(smtp_password=PASSWORD),
    "over clear text": lambda: EmailConfig(
        smtp_host="smtp.example.com",
        from_address="a@example.com",
        smtp_tls="none",
        smtp_username="u",
        smtp_password=PASSWORD,
    ),
    "nested, with no from": lambda: FastAuthConfig(
        secret=SECRET, email={"smtp_host": "h", "smtp_username": "u", "smtp_password": PASSWORD}
    ),
}


@pytest.mark.parametrize("build", LEAKS.values(), ids=LEAKS.keys())
def test_the_password_never_appears_in_an_error(build: Callable[[], object]) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    shown = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert PASSWORD not in shown


def test_the_password_never_appears_in_a_repr() -> None:
    config = FastAuthConfig(
        secret=SECRET,
        email={
            "smtp_host": "h.example.com",
            "from_address": "a@example.com",
            "smtp_username": "u",
            "smtp_password": PASSWORD,
        },
    )
    sender = sender_from_config(config)
    for text in (
        repr(config),
        str(config),
        config.model_dump_json(),
        repr(config.email),
        str(config.email),
        repr(sender),
    ):
        assert PASSWORD not in text
    assert "**********" in repr(config.email)


def test_a_0_1_0_configuration_starts_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """The names a 0.1.0 deployment sets, and nothing about mail: it builds, mail is off."""
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("FASTAUTH_DATABASE_URL", "sqlite+aiosqlite:///./app.db")
    config = FastAuthConfig()
    assert config.email == EmailConfig()
    assert sender_from_config(config) is None
