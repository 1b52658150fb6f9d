"""The audit log on the memory store: each flow records exactly its events (with the user, the address
and the user agent), no record holds a code, a password or a token, a failing store never fails the
flow it records, and records older than the retention are pruned (the test clock moves)."""

from __future__ import annotations

import logging
from dataclasses import astuple
from typing import Any

import pytest

from fastauth.audit import DAY, EVENTS, Audit
from fastauth.errors import (
    EmailNotVerified,
    InvalidCredentials,
    RevokedToken,
    SigninNotAllowed,
    StoreUnavailable,
)
from fastauth.hooks import EventHooks
from fastauth.service import AuthService
from fastauth.storage.base import AuditRecord
from fastauth.storage.memory import MemoryStore
from support.clock import Clock

EMAIL = "ada@example.com"
NEW_EMAIL = "ada@new.example"
PASSWORDS = ("correct horse battery staple", "a brand new passphrase", "reset to this passphrase")
IP = "203.0.113.7"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"

Row = tuple[str, str | None, str | None, str | None, str | None]


class MailingHooks(EventHooks):
    """Mails the codes itself (so the mail flows are on) and keeps the codes it was given."""

    def __init__(self) -> None:
        self.codes: list[str] = []

    async def on_after_request_verify(self, user: Any, token: str) -> None:
        self.codes.append(token)

    async def on_after_forgot_password(self, user: Any, token: str) -> None:
        self.codes.append(token)


class Log:
    """The service's audit records as rows (event, user id, ip, user agent, detail), oldest first."""

    def __init__(self, service: AuthService) -> None:
        self.service = service
        self.seen = 0

    async def all(self) -> list[AuditRecord]:
        return list(reversed(await self.service.audit.read(limit=10_000)))

    async def new(self) -> list[Row]:
        """The rows recorded since the last call (after the background mail steps settled)."""
        await self.service.settle()
        records = await self.all()
        fresh, self.seen = records[self.seen :], len(records)
        return [(r.event, r.user_id, r.ip, r.user_agent, r.detail) for r in fresh]


def capture_codes(service: AuthService) -> list[str]:
    """Every one-time code the service issues (verification, reset, email change), as the mail has it."""
    issued: list[str] = []
    original = service.codes.issue

    async def issue(*args: Any, **kwargs: Any) -> str:
        issued.append(await original(*args, **kwargs))
        return issued[-1]

    service.codes.issue = issue  # type: ignore[method-assign]
    return issued


def assert_no_secret_in(records: list[AuditRecord], secrets: list[str]) -> None:
    """No field of any record contains any of `secrets` (nor is any secret empty: the search is real)."""
    assert secrets and all(len(secret) >= 16 for secret in secrets)
    for record in records:
        for value in astuple(record):
            if isinstance(value, str):
                for secret in secrets:
                    assert secret not in value, (record.event, secret)


async def test_every_flow_records_exactly_its_events(make_service: Any, store: MemoryStore) -> None:
    hooks = MailingHooks()
    service: AuthService = await make_service(hooks=hooks)
    codes = capture_codes(service)
    log = Log(service)
    first, second, third = PASSWORDS
    tokens: list[str] = []

    user, pair = await service.register(EMAIL, first, ip=IP, user_agent=UA)
    tokens += [pair.access_token, pair.refresh_token]
    uid = user.id
    assert await log.new() == [
        ("signup", uid, IP, UA, None),
        ("signin", uid, IP, UA, f"session {pair.session_id}"),
        ("verification_requested", uid, IP, UA, EMAIL),
    ]

    # A failed sign-in names no user; its detail is the address as normalised, never the password.
    with pytest.raises(InvalidCredentials):
        await service.sign_in("  ADA@Example.COM ", "not the password at all", ip=IP, user_agent=UA)
    with pytest.raises(InvalidCredentials):
        await service.sign_in(first, first, ip=IP)  # the password typed as the email: not recorded
    assert await log.new() == [
        ("signin_failed", None, IP, UA, EMAIL),
        ("signin_failed", None, IP, None, None),
    ]

    user, pair = await service.sign_in(EMAIL, first, ip=IP, user_agent=UA)
    tokens += [pair.access_token, pair.refresh_token]
    assert await log.new() == [("signin", uid, IP, UA, f"session {pair.session_id}")]

    # Refreshing records nothing; presenting the spent token again is reuse.
    _, rotated = await service.refresh(pair.refresh_token)
    tokens += [rotated.access_token, rotated.refresh_token]
    with pytest.raises(RevokedToken, match="refresh token reuse"):
        await service.refresh(pair.refresh_token, ip="198.51.100.9", user_agent="stolen/1.0")
    assert await log.new() == [
        ("refresh_reuse", uid, "198.51.100.9", "stolen/1.0", f"session {pair.session_id}")
    ]

    await service.request_verification(EMAIL, ip=IP, user_agent=UA)
    assert await log.new() == [("verification_requested", uid, IP, UA, EMAIL)]
    await service.verify_email(codes[-1], ip=IP, user_agent=UA)
    assert await log.new() == [("email_verified", uid, IP, UA, EMAIL)]

    user, pair = await service.sign_in(EMAIL, first, ip=IP, user_agent=UA)
    tokens += [pair.access_token, pair.refresh_token]
    await service.change_password(user, first, second, ip=IP, user_agent=UA, keep_session=pair.session_id)
    assert await log.new() == [
        ("signin", uid, IP, UA, f"session {pair.session_id}"),
        ("password_changed", uid, IP, UA, None),
    ]

    # Reset: requested only for an address with an account (recorded off the request path).
    await service.forgot_password("nobody@example.com", ip=IP, user_agent=UA)
    assert await log.new() == []
    await service.forgot_password(EMAIL, ip=IP, user_agent=UA)
    assert await log.new() == [("reset_requested", uid, IP, UA, None)]
    await service.reset_password(codes[-1], third, ip=IP, user_agent=UA)
    assert await log.new() == [("password_reset", uid, IP, UA, None)]

    # Sign-outs: one session (by its tokens, or from the list), then every session.
    user, pair = await service.sign_in(EMAIL, third, ip=IP, user_agent=UA)
    tokens += [pair.access_token, pair.refresh_token]
    access = await service.authenticate(pair.access_token)
    refresh = await service.verify_refresh(pair.refresh_token)
    await service.sign_out(access=access, refresh=refresh, ip=IP, user_agent=UA)
    _, other = await service.sign_in(EMAIL, third)
    tokens += [other.access_token, other.refresh_token]
    await service.end_session(user, other.session_id, ip=IP, user_agent=UA)
    await service.end_all_sessions(user, ip=IP, user_agent=UA)
    assert await log.new() == [
        ("signin", uid, IP, UA, f"session {pair.session_id}"),
        ("signout", uid, IP, UA, f"session {pair.session_id}"),
        ("signin", uid, None, None, f"session {other.session_id}"),
        ("signout", uid, IP, UA, f"session {other.session_id}"),
        ("signout", uid, IP, UA, "every session"),
    ]

    # Email change: the request names the new address, the change the old one.
    await service.request_email_change(user, NEW_EMAIL, third, ip=IP, user_agent=UA)
    await service.settle()  # the code is issued off the request path
    moved = await service.confirm_email_change(codes[-1], owner=user, ip=IP, user_agent=UA)
    assert await log.new() == [
        ("email_change_requested", uid, IP, UA, NEW_EMAIL),
        ("email_changed", uid, IP, UA, EMAIL),
    ]

    # The deletion's record, and every earlier one, outlive the account.
    await service.delete_account(moved, third, ip=IP, user_agent=UA)
    assert await log.new() == [("account_deleted", uid, IP, UA, NEW_EMAIL)]
    assert await store.get_user(uid) is None
    records = await log.all()
    assert [record.id for record in await service.audit.read(user_id=uid, limit=500)] == [
        record.id for record in reversed(records) if record.user_id == uid
    ]

    # Every event but the key ones (tested below) and the provider ones (tests/oauth/) came up; no
    # record holds a secret.
    others = {"key_rotated", "key_retired", "identity_linked", "identity_unlinked"}
    others |= {e for e in EVENTS if e.startswith(("mfa_", "recovery_code"))}  # tests/core/test_mfa.py
    others |= {e for e in EVENTS if e.startswith("passkey_")}  # tests/web/test_passkey*.py
    # tests/authz/: the administrators' and API keys' events
    others |= {"role_created", "role_changed", "role_deleted", "user_changed", "roles_changed"}
    others |= {"sessions_ended", "api_key_created", "api_key_revoked", "token_revoked"}
    assert {record.event for record in records} == set(EVENTS) - others
    assert len(codes) == 4 and hooks.codes == codes[:3]  # two verifications and a reset; the email change
    hashes = [user.hashed_password, moved.hashed_password]
    assert_no_secret_in(records, [*codes, *tokens, *PASSWORDS, "not the password at all", *hashes])


async def test_a_refused_sign_in_records_why(make_service: Any, hooks: Any) -> None:
    service: AuthService = await make_service(require_verified_email=True)
    log = Log(service)
    with pytest.raises(EmailNotVerified):
        await service.register(EMAIL, PASSWORDS[0], ip=IP, user_agent=UA)
    user = await service.store.get_user_by_email(EMAIL)
    assert user is not None
    assert await log.new() == [
        ("signup", user.id, IP, UA, None),
        ("signin_failed", user.id, IP, UA, "email not verified"),
    ]
    user.is_verified = True
    await service.accounts.save(user)
    hooks.allow = False
    with pytest.raises(SigninNotAllowed):
        await service.sign_in(EMAIL, PASSWORDS[0], ip=IP, user_agent=UA)
    assert await log.new() == [("signin_failed", user.id, IP, UA, "refused by allow_signin")]


async def test_operator_acts_are_recorded_without_an_address(make_service: Any) -> None:
    service: AuthService = await make_service()
    log = Log(service)
    user = await service.create_user(EMAIL, PASSWORDS[0])
    await service.set_password(EMAIL, PASSWORDS[1])
    await service.mark_verified(EMAIL)
    await service.mark_verified(EMAIL)  # verified already: nothing happens, nothing is recorded
    assert await log.new() == [
        ("signup", user.id, None, None, "created without a sign-in"),
        ("password_changed", user.id, None, None, "set by an operator"),
        ("email_verified", user.id, None, None, f"{EMAIL} by an operator"),
    ]


async def test_key_rotation_and_retirement_are_recorded(make_service: Any) -> None:
    service: AuthService = await make_service(jwt={"algorithm": "ES256"})  # keys in the store
    log = Log(service)
    assert await log.new() == []  # the first key, made at start-up, is no operator's act
    record = await service.rotate_keys(immediately=True)
    assert await service.retire_key(record.kid) is True
    assert await service.retire_key(record.kid) is False  # retired already: not recorded again
    assert await log.new() == [
        ("key_rotated", None, None, None, f"kid {record.kid}"),
        ("key_retired", None, None, None, f"kid {record.kid}"),
    ]
    private = [key.private_sealed for key in await service.store.list_keys()]
    assert_no_secret_in(await log.all(), private)


class FailingAuditStore(MemoryStore):
    """A store whose audit table is unreachable; everything else works."""

    async def insert_audit(self, record: AuditRecord) -> None:
        raise StoreUnavailable("database unavailable: OperationalError")

    async def prune_audit(self, before: int) -> int:
        raise StoreUnavailable("database unavailable: OperationalError")


async def test_a_failing_store_fails_no_sign_in_and_is_logged(
    make_service: Any, hooks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="fastauth.audit"):
        service: AuthService = await make_service(store=FailingAuditStore())  # start-up prunes: logged
        user, _ = await service.register(EMAIL, PASSWORDS[0], ip=IP, user_agent=UA)
        signed_in, pair = await service.sign_in(EMAIL, PASSWORDS[0], ip=IP, user_agent=UA)
    assert signed_in.id == user.id
    assert (await service.authenticate(pair.access_token)).sub == user.id
    assert [name for name, *_ in hooks.take()].count("on_signin") == 2
    logged = [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == "fastauth.audit"
    ]
    assert logged == [
        ("WARNING", "audit records not pruned: StoreUnavailable"),
        ("ERROR", "audit record signup not stored: StoreUnavailable"),
        ("ERROR", "audit record signin not stored: StoreUnavailable"),
        ("ERROR", "audit record signin not stored: StoreUnavailable"),
    ]


async def test_audit_enabled_false_records_nothing(make_service: Any) -> None:
    service: AuthService = await make_service(audit_enabled=False)
    await service.register(EMAIL, PASSWORDS[0], ip=IP, user_agent=UA)
    await service.sign_in(EMAIL, PASSWORDS[0], ip=IP, user_agent=UA)
    assert await service.audit.read() == []


async def test_records_past_the_retention_are_pruned(
    make_service: Any, store: MemoryStore, clock: Clock
) -> None:
    service: AuthService = await make_service(audit_retention_days=30)
    user, _ = await service.register(EMAIL, PASSWORDS[0])  # signup and signin, now
    clock.advance(29 * DAY)
    await service.sign_in(EMAIL, PASSWORDS[0])  # a day before the first records expire: no prune yet
    assert len(await service.audit.read()) == 3
    assert await service.audit.prune() == 0
    clock.advance(DAY + 1)  # the first two are 30 days and 1 second old
    assert await service.audit.prune() == 2
    assert [(record.event, record.at) for record in await service.audit.read()] == [
        ("signin", int(clock()) - DAY - 1)
    ]
    # A process that runs on prunes once a day, on the next record it writes.
    clock.advance(30 * DAY)
    await service.sign_in(EMAIL, PASSWORDS[0])
    assert [(record.event, record.at) for record in await service.audit.read()] == [("signin", int(clock()))]
    # And start-up prunes.
    clock.advance(31 * DAY)
    restarted: AuthService = await make_service(audit_retention_days=30, store=store)
    assert await restarted.audit.read() == []
    assert await store.get_user(user.id) is not None  # only the records aged out


async def test_long_values_are_cut_to_the_columns_and_unknown_events_refused(clock: Clock) -> None:
    audit = Audit(MemoryStore(), clock=clock)
    await audit.record("signin", user_id="u1", ip="1" * 100, user_agent="u" * 600, detail="d" * 300)
    await audit.record("signout", user_id="u1", ip="", user_agent="", detail="")
    (cut,) = await audit.read(limit=1, before=int(clock()) + 1, user_id="u1")
    assert (cut.event, cut.ip, cut.user_agent, cut.detail) == ("signout", None, None, None)
    long = (await audit.read())[1]
    assert (long.ip, long.user_agent, long.detail) == ("1" * 64, "u" * 512, "d" * 200)
    assert long.at == int(clock())
    with pytest.raises(ValueError, match="unknown audit event 'login'"):
        await audit.record("login", user_id=None)  # type: ignore[arg-type]


async def test_records_of_one_second_keep_their_order(clock: Clock) -> None:
    audit = Audit(MemoryStore(), clock=clock)
    for number in range(50):
        await audit.record("signin", user_id=f"u{number}")
    assert [record.user_id for record in await audit.read()] == [f"u{n}" for n in reversed(range(50))]
