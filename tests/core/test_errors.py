"""The error tree: one distinct `code` per class, no `ValueError`, and every code answered by the web
table and the CLI."""

from __future__ import annotations

import pytest
import typer

import fastauth.errors
from fastauth.cli._common import EXITS, fail_with
from fastauth.errors import FastAuthError, RateLimited, TokenError
from fastauth.web.errors import TABLE, answer_for

CLASSES: list[type[FastAuthError]] = [getattr(fastauth.errors, name) for name in fastauth.errors.__all__]
CODES = {cls: cls.code for cls in CLASSES}


def instance(cls: type[FastAuthError]) -> FastAuthError:
    return RateLimited(7) if cls is RateLimited else cls("something was refused")


def test_every_class_is_a_fastauth_error_with_its_own_distinct_code() -> None:
    assert len(CLASSES) == 64
    for cls in CLASSES:
        assert issubclass(cls, FastAuthError)
        assert isinstance(cls.__dict__.get("code"), str) and cls.__dict__["code"], cls.__name__
    assert len(set(CODES.values())) == len(CLASSES)


def test_no_error_is_a_value_error() -> None:
    assert [cls.__name__ for cls in CLASSES if issubclass(cls, ValueError)] == []


def test_every_token_refusal_is_a_token_error() -> None:
    token_codes = {
        "invalid_token",
        "malformed_token",
        "unknown_key",
        "algorithm_mismatch",
        "invalid_signature",
        "expired_token",
        "invalid_claims",
        "wrong_token_type",
        "revoked_token",
        "invalid_api_key",
    }
    assert {cls.code for cls in CLASSES if issubclass(cls, TokenError)} == token_codes


#: Rows of the web table that are the web layer's own refusals (no error class of the core behind them).
WEB_ONLY = {"body_too_large", "invalid_body", "no_jwks", "method_not_allowed"}


def test_the_web_table_answers_every_code_but_three() -> None:
    codes = set(CODES.values())
    assert codes - set(TABLE) == {"config_error", "fastauth_error", "auth_error"}
    assert set(TABLE) - codes == WEB_ONLY


def test_every_token_error_gets_the_same_answer() -> None:
    answers = {id(answer_for(instance(cls))) for cls in CLASSES if issubclass(cls, TokenError)}
    assert answers == {id(TABLE["invalid_token"])}
    assert TABLE["invalid_token"].status == 401


def test_only_the_three_unanswered_families_fall_through_the_web_table() -> None:
    unanswered = {cls.__name__ for cls in CLASSES if answer_for(instance(cls)) is None}
    assert unanswered == {"ConfigError", "FastAuthError", "AuthError"}


#: The CLI's exit code for each class: 2 configuration, 3 storage, 4 a hook, 1 any other refusal.
EXPECTED_EXITS = {cls.__name__: 1 for cls in CLASSES} | {
    "ConfigError": 2,
    "MailOff": 2,  # a configuration matter: the server has no mail sender
    "StoreUnavailable": 3,
    "HookError": 4,
}


def test_the_cli_ends_every_error_with_its_familys_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(EXITS) <= set(CODES.values())
    for cls in CLASSES:
        with pytest.raises(typer.Exit) as info:
            fail_with(instance(cls), email="ada@example.com")
        assert info.value.exit_code == EXPECTED_EXITS[cls.__name__], cls.__name__
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.endswith("\n") and len(err) > 1, cls.__name__


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (fastauth.errors.ConfigError("set FASTAUTH_SECRET"), "configuration error: set FASTAUTH_SECRET"),
        (fastauth.errors.StoreUnavailable("timeout"), "error: the database is unavailable (timeout)"),
        (
            fastauth.errors.HookError("EventHooks.on_signup raised ValueError"),
            "error: EventHooks.on_signup raised ValueError",
        ),
        (fastauth.errors.ExpiredToken("token has expired"), "REFUSED: token has expired"),
        (fastauth.errors.RevokedToken("session revoked"), "REFUSED: session revoked"),
        (
            fastauth.errors.EmailTaken("email already registered"),
            "error: ada@example.com is already registered",
        ),
        (fastauth.errors.InvalidEmail("no @"), "error: not a valid email: no @"),
        (fastauth.errors.PasswordPolicyError("too short"), "error: too short"),
        (fastauth.errors.SessionNotFound("no such session"), "error: no such session"),
        (RateLimited(7), "error: too many attempts"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_the_cli_line_for_each_family(
    capsys: pytest.CaptureFixture[str], error: FastAuthError, line: str
) -> None:
    with pytest.raises(typer.Exit):
        fail_with(error, email="ada@example.com")
    assert capsys.readouterr().err == line + "\n"
