"""The passkey security review's fixes, each held to its exact outcome (docs/passkeys.md):

1. adding a passkey (register options and verify) and removing one need a fresh sign-in: the caller's
   session at most `recent_sign_in_window` (300 s) old, and with the second factor (amr "mfa") when the
   account has TOTP on; else 401 recent_sign_in_required, `max_age=300` (and `acr_values="mfa"`);
2. register options and second-factor passkey options are under the login budget (per account key
   `passkey:<id>` resp. `mfa:<id>`, and per IP);
3. a passwordless sign-in records the passkey's new sign count only once the sign-in gate (a verified
   email when required, `allow_signin`) let it through;
4. a refused assertion that named a known passkey is audited under its owner, one refused before the
   lookup under no account; a lost sign-count compare-and-set is a refusal audited under the owner;
5. credential ids are checked before any lookup (base64url, at most 1364 characters; at most 1023
   bytes at registration), passkey ids (32 lowercase hex) before any query: a NUL byte is a 404, not
   PostgreSQL's 503;
6. expired challenges are pruned at most hourly by a running process;
7. unlinking the last provider of an account without a password counts its passkeys only while
   passkeys are on;

and the review's scenario end to end: the session that enrolled TOTP can neither add a passkey nor
delete the account; a sign-in with the code can.

The store matters for 1, 3, 4 (the compare-and-set), 5 and 6: those run on SQLite and PostgreSQL; the
rest on SQLite. The clock is a `Clock` moved by hand.
"""

from __future__ import annotations

import secrets
import struct
from typing import Any

import pytest
from sqlalchemy import select
from webauthn.helpers import encode_cbor, parse_cbor

from fastauth.errors import LastSignInMethod, RateLimited
from fastauth.hooks import EventHooks
from fastauth.mfa import STEP, Totp
from fastauth.passwords import NO_PASSWORD
from fastauth.storage.base import IdentityRecord
from fastauth.storage.sqlalchemy.tables import PasskeyChallengeRow
from support.authenticator import Authenticator, b64url, unb64url
from support.clock import Clock
from support.forge import claims
from support.http import PASSWORD, bearer

ALICE, BOB = "alice@example.com", "bob@example.com"
ORIGIN = "http://localhost"
REFUSED = {"detail": "Passkey not accepted", "code": "invalid_passkey"}
NOT_FOUND = {"detail": "No such passkey", "code": "passkey_not_found"}
STEP_UP = {"detail": "Sign in again to confirm this", "code": "recent_sign_in_required"}
STALE = 'Bearer error="insufficient_user_authentication", max_age=300'
NO_MFA = 'Bearer error="insufficient_user_authentication", max_age=300, acr_values="mfa"'
TOO_MANY = {"detail": "Too many attempts; try again later", "code": "rate_limited"}
NOT_VERIFIED = {"detail": "Email not verified", "code": "email_not_verified"}
NOT_ALLOWED = {"detail": "Sign-in not allowed", "code": "signin_not_allowed"}
MFA_KEYS = {"mfa_required", "mfa_token", "methods"}
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Person:
    """A signed-up account, the session it holds now, its authenticator and (once on) its TOTP."""

    def __init__(self, a: Any, email: str, tokens: dict[str, Any]) -> None:
        self.a, self.email = a, email
        self.id = str(claims(tokens["access_token"])["sub"])
        self.authn = Authenticator()
        self.totp: Totp | None = None
        self.use(tokens)

    def use(self, tokens: dict[str, Any]) -> None:
        self.tokens = tokens
        self.headers = bearer(tokens["access_token"])

    @property
    def amr(self) -> list[str]:
        return list(claims(self.tokens["access_token"])["amr"])


async def passkey_app(make_app: Any, clock: Clock, **overrides: Any) -> Any:
    return await make_app(public_url=ORIGIN, clock=clock, **overrides)


async def sign_up(a: Any, email: str = ALICE) -> Person:
    return Person(a, email, await a.register(email, PASSWORD))


async def options_for(who: Person) -> Any:
    return await who.a.client.post("/auth/passkeys/register/options", headers=who.headers)


async def verify_for(who: Person, credential: Any) -> Any:
    return await who.a.client.post(
        "/auth/passkeys/register/verify", headers=who.headers, json={"credential": credential}
    )


async def add(who: Person) -> str:
    """A new passkey on a new authenticator of `who` (the one that answers from now on): its id."""
    who.authn = Authenticator()
    options = await options_for(who)
    assert options.status_code == 200, options.text
    made = await verify_for(who, who.authn.create(options.json()))
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def remove(who: Person, passkey_id: str) -> Any:
    return await who.a.client.delete(f"/auth/passkeys/{passkey_id}", headers=who.headers)


async def login_options(a: Any) -> dict[str, Any]:
    answer = await a.client.post("/auth/passkeys/login/options")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def login_verify(a: Any, credential: Any) -> Any:
    return await a.client.post("/auth/passkeys/login/verify", json={"credential": credential})


async def passkey_ids(who: Person) -> list[str]:
    return [p.id for p in await who.a.auth.service.store.list_passkeys(who.id)]


async def enrol_totp(who: Person, clock: Clock) -> None:
    a = who.a
    setup = await a.client.post("/auth/mfa/totp/setup", headers=who.headers)
    assert setup.status_code == 200, setup.text
    who.totp = Totp(setup.json()["secret"], clock=clock)
    confirmed = await a.client.post(
        "/auth/mfa/totp/confirm", headers=who.headers, json={"code": who.totp.code_at(int(clock()) // STEP)}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(STEP)  # the enrolment's step is spent


async def password_step(who: Person) -> str:
    answer = await who.a.client.post("/auth/login", json={"email": who.email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == MFA_KEYS, answer.text
    return str(answer.json()["mfa_token"])


async def sign_in_with_code(who: Person, clock: Clock) -> None:
    """Password and TOTP code: `who` now holds that session (amr pwd otp mfa)."""
    assert who.totp is not None
    token = await password_step(who)
    answer = await who.a.client.post(
        "/auth/mfa/verify", json={"mfa_token": token, "code": who.totp.code_at(int(clock()) // STEP)}
    )
    assert answer.status_code == 200, answer.text
    who.use(answer.json())
    assert who.amr == ["pwd", "otp", "mfa"]
    clock.advance(STEP)


def assert_step_up(answer: Any, challenge: str) -> None:
    assert (answer.status_code, answer.json()) == (401, STEP_UP), answer.text
    assert answer.headers.get_list("www-authenticate") == [challenge]


async def audit_ids(a: Any) -> set[str]:
    return {r.id for r in await a.auth.service.audit.read(limit=1000)}


async def audit_since(a: Any, seen: set[str]) -> list[tuple[str, str | None, str | None]]:
    records = [r for r in await a.auth.service.audit.read(limit=1000) if r.id not in seen]
    return [(r.event, r.user_id, r.detail) for r in reversed(records)]


# 1. a fresh sign-in, with the second factor when the account has one


async def test_adding_and_removing_need_a_sign_in_at_most_300_seconds_old(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    first = await add(alice)
    clock.advance(300)  # exactly the window: still recent
    options = await options_for(alice)
    assert options.status_code == 200, options.text
    made = Authenticator().create(options.json())
    clock.advance(1)
    before = await audit_ids(a)
    for late in (await options_for(alice), await verify_for(alice, made), await remove(alice, first)):
        assert_step_up(late, STALE)
    assert await passkey_ids(alice) == [first]
    assert await audit_since(a, before) == []
    # A refreshed token is still the same old sign-in.
    refreshed = await a.client.post("/auth/refresh", json={"refresh_token": alice.tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    alice.use(refreshed.json())
    assert_step_up(await remove(alice, first), STALE)
    assert await passkey_ids(alice) == [first]
    # Signed in again: it may.
    fresh = await a.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})
    alice.use(fresh.json())
    assert (await remove(alice, first)).status_code == 204
    assert await passkey_ids(alice) == []


async def test_with_totp_on_only_a_second_factor_sign_in_adds_or_removes(make_app: Any, clock: Clock) -> None:
    """The enrolling session (amr pwd) is refused with acr_values="mfa"; a password + code sign-in and
    a passkey sign-in (amr hwk mfa) may add and remove."""
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    first = await add(alice)
    await enrol_totp(alice, clock)
    assert alice.amr == ["pwd"]
    before = await audit_ids(a)
    assert_step_up(await options_for(alice), NO_MFA)
    assert_step_up(await remove(alice, first), NO_MFA)
    assert await passkey_ids(alice) == [first]
    assert await audit_since(a, before) == []
    await sign_in_with_code(alice, clock)
    second = await add(alice)
    assert (await remove(alice, first)).status_code == 204
    assert await passkey_ids(alice) == [second]
    signed_in = await login_verify(a, alice.authn.get(await login_options(a)))
    assert signed_in.status_code == 200, signed_in.text
    alice.use(signed_in.json())
    assert alice.amr == ["hwk", "mfa"]
    third = await add(alice)
    assert (await remove(alice, second)).status_code == 204
    assert await passkey_ids(alice) == [third]


@sqlite_only
async def test_a_second_factor_sign_in_past_the_window_asks_for_a_fresh_one(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    await enrol_totp(alice, clock)
    await sign_in_with_code(alice, clock)  # moved the clock 30 s on
    clock.advance(271)
    assert_step_up(await options_for(alice), STALE)


# 2. rate limits


async def limited(make_app: Any, clock: Clock, *, ip: str = "100/minute", account: str = "100/minute") -> Any:
    return await passkey_app(
        make_app,
        clock,
        rate_limit_enabled=True,
        login_rate_limit_per_ip=ip,
        login_rate_limit_per_account=account,
    )


def assert_too_many(answer: Any) -> None:
    assert (answer.status_code, answer.json()) == (429, TOO_MANY), answer.text
    assert 1 <= int(answer.headers["retry-after"]) <= 60


@sqlite_only
async def test_register_options_are_limited_per_account(make_app: Any, clock: Clock) -> None:
    a = await limited(make_app, clock, account="3/minute")
    alice, bob = await sign_up(a, ALICE), await sign_up(a, BOB)
    for _ in range(3):
        assert (await options_for(alice)).status_code == 200
    assert_too_many(await options_for(alice))
    assert (await options_for(bob)).status_code == 200  # another account's budget
    # Alice's password sign-in is another key (her email); the spent one is passkey:<her id>.
    assert (
        await a.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})
    ).status_code == 200
    with pytest.raises(RateLimited):
        await a.auth.service.rate_limits.check_login(f"passkey:{alice.id}", "198.51.100.7")


@sqlite_only
async def test_register_options_are_limited_per_ip(make_app: Any, clock: Clock) -> None:
    a = await limited(make_app, clock, ip="3/minute")
    alice, bob = await sign_up(a, ALICE), await sign_up(a, BOB)
    for who in (alice, alice, bob):
        assert (await options_for(who)).status_code == 200
    assert_too_many(await options_for(bob))
    assert_too_many(await options_for(alice))


@sqlite_only
async def test_second_factor_options_are_limited_per_account(make_app: Any, clock: Clock) -> None:
    """Under `mfa:<id>`, the budget the code itself is checked under: spent by options, the code is
    refused too."""
    a = await limited(make_app, clock, account="3/minute")
    alice = await sign_up(a)
    await add(alice)
    await enrol_totp(alice, clock)
    token = await password_step(alice)
    for _ in range(3):
        answer = await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": token})
        assert answer.status_code == 200, answer.text
    assert_too_many(await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": token}))
    assert alice.totp is not None
    code = alice.totp.code_at(int(clock()) // STEP)
    assert_too_many(await a.client.post("/auth/mfa/verify", json={"mfa_token": token, "code": code}))
    with pytest.raises(RateLimited):
        await a.auth.service.rate_limits.check_login(f"mfa:{alice.id}", "198.51.100.7")


@sqlite_only
async def test_second_factor_options_are_limited_per_ip(make_app: Any, clock: Clock) -> None:
    a = await limited(make_app, clock, ip="4/minute")
    alice = await sign_up(a)
    await add(alice)  # its options: one of the IP's four
    await enrol_totp(alice, clock)  # the confirmation: two
    token = await password_step(alice)  # three
    assert (await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": token})).status_code == 200
    assert_too_many(await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": token}))


# 3. the sign count is recorded only after the sign-in gate


class Gate(EventHooks):
    """`allow_signin` answers `allow`; `meanwhile`, when set, runs once inside the next call."""

    def __init__(self) -> None:
        self.allow = True
        self.meanwhile: Any = None

    async def allow_signin(self, user: Any) -> bool:
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return self.allow


async def used_once(a: Any, clock: Clock) -> tuple[Person, Any]:
    """Alice with one passkey, used once a while ago: (Alice, the stored passkey)."""
    alice = await sign_up(a)
    await add(alice)
    assert (await login_verify(a, alice.authn.get(await login_options(a)))).status_code == 200
    clock.advance(60)
    [stored] = await a.auth.service.store.list_passkeys(alice.id)
    assert stored.sign_count == 1 and stored.last_used_at == int(clock()) - 60
    return alice, stored


async def assert_gate_refuses(a: Any, alice: Person, stored: Any, body: dict[str, str], why: str) -> None:
    service = a.auth.service
    sessions = await service.store.list_sessions(alice.id, service.now())
    before = await audit_ids(a)
    answer = await login_verify(a, alice.authn.get(await login_options(a)))
    assert (answer.status_code, answer.json()) == (403, body), answer.text
    assert await service.store.list_passkeys(alice.id) == [stored]  # count and last use as they were
    assert await service.store.list_sessions(alice.id, service.now()) == sessions
    assert await audit_since(a, before) == [("signin_failed", alice.id, why)]


async def test_a_refused_allow_signin_leaves_the_sign_count(make_app: Any, clock: Clock) -> None:
    gate = Gate()
    a = await passkey_app(make_app, clock, hooks=gate)
    alice, stored = await used_once(a, clock)
    gate.allow = False
    await assert_gate_refuses(a, alice, stored, NOT_ALLOWED, "refused by allow_signin")
    gate.allow = True
    assert (await login_verify(a, alice.authn.get(await login_options(a)))).status_code == 200
    [now] = await a.auth.service.store.list_passkeys(alice.id)
    # The refused assertion's count (2) was never stored; the next one's (3) is.
    assert (now.sign_count, now.last_used_at) == (3, int(clock()))


async def test_an_unverified_email_leaves_the_sign_count(make_app: Any, clock: Clock) -> None:
    """The same database served with require_verified_email: Alice (unverified) is refused 403 and her
    passkey keeps its count; verified, she signs in."""
    first = await passkey_app(make_app, clock)
    alice, stored = await used_once(first, clock)
    a = await passkey_app(make_app, clock, require_verified_email=True)
    await assert_gate_refuses(a, alice, stored, NOT_VERIFIED, "email not verified")
    await a.auth.service.accounts.update(alice.id, is_verified=True)
    assert (await login_verify(a, alice.authn.get(await login_options(a)))).status_code == 200
    [now] = await a.auth.service.store.list_passkeys(alice.id)
    assert (now.sign_count, now.last_used_at) == (3, int(clock()))


# 4. the audit names the passkey's owner once the passkey is known


def lie(kind: str, alice: Person, bob: Person, options: dict[str, Any]) -> Any:
    """Alice's assertion for `options`, bent one way."""
    authn = alice.authn
    if kind == "origin":
        return authn.get(options, origin="http://evil.localhost")
    if kind == "rp-id":
        return authn.get(options, rp_id="evil.localhost")
    if kind == "no-uv":
        return authn.get(options, uv=False)
    if kind == "bobs-handle":
        return authn.get(options, user_handle=bob.authn.credentials[0].user_handle)
    if kind == "bobs-signature":
        forged = authn.get(options)
        forged["response"]["signature"] = bob.authn.get(options)["response"]["signature"]
        return forged
    if kind == "malformed":
        return {"response": {"clientDataJSON": "x"}}
    if kind == "never-issued":
        return authn.get(options, challenge=b64url(secrets.token_bytes(32)))
    assert kind == "unknown-credential"
    forged = authn.get(options)
    forged["id"] = forged["rawId"] = b64url(secrets.token_bytes(16))
    return forged


AFTER_LOOKUP = ["origin", "rp-id", "no-uv", "bobs-handle", "bobs-signature"]
BEFORE_LOOKUP = ["malformed", "never-issued", "unknown-credential"]


@sqlite_only
@pytest.mark.parametrize("kind", AFTER_LOOKUP + BEFORE_LOOKUP)
async def test_a_refused_sign_in_is_audited_under_the_owner_once_known(
    make_app: Any, clock: Clock, kind: str
) -> None:
    a = await passkey_app(make_app, clock)
    alice, bob = await sign_up(a, ALICE), await sign_up(a, BOB)
    await add(alice)
    await add(bob)
    credential = lie(kind, alice, bob, await login_options(a))
    before = await audit_ids(a)
    answer = await login_verify(a, credential)
    assert (answer.status_code, answer.json()) == (400, REFUSED), answer.text
    owner = alice.id if kind in AFTER_LOOKUP else None
    assert await audit_since(a, before) == [("passkey_failed", owner, None)]


@sqlite_only
@pytest.mark.parametrize("kind", ["replayed", "expired", "registration-challenge", "clone"])
async def test_challenge_refusals_name_no_account_and_a_clone_its_owner(
    make_app: Any, clock: Clock, kind: str
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    passkey_id = await add(alice)
    options = await login_options(a)
    expected: tuple[str, str | None, str | None] = ("passkey_failed", None, None)
    if kind == "replayed":
        credential = alice.authn.get(options)
        assert (await login_verify(a, credential)).status_code == 200
    elif kind == "expired":
        clock.advance(301)
        credential = alice.authn.get(options)
    elif kind == "registration-challenge":
        issued = await options_for(alice)
        credential = alice.authn.get(options, challenge=issued.json()["challenge"])
    else:
        assert (await login_verify(a, alice.authn.get(options))).status_code == 200
        credential = alice.authn.get(await login_options(a), sign_count=1)
        expected = ("passkey_cloned", alice.id, passkey_id)
    before = await audit_ids(a)
    answer = await login_verify(a, credential)
    assert (answer.status_code, answer.json()) == (400, REFUSED), answer.text
    assert await audit_since(a, before) == [expected]


async def test_a_lost_sign_count_race_is_refused_and_audited_under_the_owner(
    make_app: Any, clock: Clock
) -> None:
    """Two assertions on two challenges, both verified against count 0: while the gate decides on the
    first, the second signs in and stores its count. The first then loses the compare-and-set: 400,
    no session, passkey_failed under Alice, and the stored count is the second's."""
    gate = Gate()
    a = await passkey_app(make_app, clock, hooks=gate)
    alice = await sign_up(a)
    await add(alice)
    first = alice.authn.get(await login_options(a))  # count 1
    second = alice.authn.get(await login_options(a))  # count 2
    inner: list[Any] = []

    async def meanwhile() -> None:
        inner.append(await login_verify(a, second))

    gate.meanwhile = meanwhile
    service = a.auth.service
    sessions = await service.store.list_sessions(alice.id, service.now())
    before = await audit_ids(a)
    answer = await login_verify(a, first)
    assert (answer.status_code, answer.json()) == (400, REFUSED), answer.text
    [won] = inner
    assert won.status_code == 200, won.text
    sid = claims(won.json()["access_token"])["sid"]
    assert await audit_since(a, before) == [
        ("signin", alice.id, f"session {sid} via passkey"),
        ("passkey_failed", alice.id, None),
    ]
    now = await service.store.list_sessions(alice.id, service.now())
    assert sorted(s.id for s in now) == sorted([*(s.id for s in sessions), sid])
    [stored] = await service.store.list_passkeys(alice.id)
    assert stored.sign_count == 2


# 5. ids checked before the store is asked


def spy(monkeypatch: pytest.MonkeyPatch, store: Any, *names: str) -> list[str]:
    """Record each call of `store`'s methods `names` (which still run)."""
    calls: list[str] = []
    for name in names:
        real = getattr(store, name)

        async def wrapper(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return await _real(*args, **kwargs)

        monkeypatch.setattr(store, name, wrapper)
    return calls


@pytest.mark.parametrize(
    "credential_id",
    ["nul\x00byte", "has+plus", "has/slash", "padded==", "A" * 1365],
    ids=["nul", "plus", "slash", "padding", "1365-chars"],
)
async def test_an_assertion_naming_a_malformed_credential_id_is_refused_unlooked(
    make_app: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch, credential_id: str
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    await add(alice)
    forged = alice.authn.get(await login_options(a))
    forged["id"] = forged["rawId"] = credential_id
    calls = spy(monkeypatch, a.auth.service.store, "get_passkey")
    before = await audit_ids(a)
    answer = await login_verify(a, forged)
    assert (answer.status_code, answer.json()) == (400, REFUSED), answer.text
    assert calls == []
    assert await audit_since(a, before) == [("passkey_failed", None, None)]


@sqlite_only
async def test_an_assertion_naming_a_1364_character_unknown_id_is_looked_up(
    make_app: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    await add(alice)
    forged = alice.authn.get(await login_options(a))
    forged["id"] = forged["rawId"] = "A" * 1364
    calls = spy(monkeypatch, a.auth.service.store, "get_passkey")
    answer = await login_verify(a, forged)
    assert (answer.status_code, answer.json()) == (400, REFUSED), answer.text
    assert calls == ["get_passkey"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_a_passkey_id_that_is_not_32_lowercase_hex_is_not_found_unqueried(
    make_app: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """A NUL byte (PostgreSQL refused it: 503), the id in capitals, one character more or less, not
    hex: 404 without a query; the passkey stays as it was. A well-formed unknown id is queried: 404."""
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    passkey_id = await add(alice)
    store = a.auth.service.store
    stored = await store.list_passkeys(alice.id)
    calls = spy(monkeypatch, store, "list_passkeys", "rename_passkey", "delete_passkey", "get_passkey")
    body = {"name": "Renamed"} if method == "PATCH" else None
    for bad in ("%00", f"{passkey_id[:16]}%00{passkey_id[17:]}", passkey_id.upper(), passkey_id + "0",
                passkey_id[:-1], "z" * 32):  # fmt: skip
        answer = await a.client.request(method, f"/auth/passkeys/{bad}", headers=alice.headers, json=body)
        assert (answer.status_code, answer.json()) == (404, NOT_FOUND), (bad, answer.text)
    assert calls == []
    unknown = await a.client.request(method, f"/auth/passkeys/{'0' * 32}", headers=alice.headers, json=body)
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    assert calls != []
    assert await store.list_passkeys(alice.id) == stored


def with_credential_id(made: dict[str, Any], credential_id: bytes) -> dict[str, Any]:
    """The attestation (format "none": nothing signs it) rewritten to name `credential_id`."""
    attestation = parse_cbor(unb64url(made["response"]["attestationObject"]))
    auth_data = attestation["authData"]
    old = struct.unpack(">H", auth_data[53:55])[0]
    attestation["authData"] = (
        auth_data[:53] + struct.pack(">H", len(credential_id)) + credential_id + auth_data[55 + old :]
    )
    response = {**made["response"], "attestationObject": b64url(encode_cbor(attestation))}
    return {**made, "id": b64url(credential_id), "rawId": b64url(credential_id), "response": response}


async def test_a_registration_with_a_credential_id_over_1023_bytes_is_refused(
    make_app: Any, clock: Clock
) -> None:
    """1100 bytes: 400, nothing stored, audited; 1023 bytes (1364 characters): stored, and it signs
    in."""
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    too_long = with_credential_id(
        alice.authn.create((await options_for(alice)).json()), secrets.token_bytes(1100)
    )
    alice.authn.credentials.clear()
    before = await audit_ids(a)
    answer = await verify_for(alice, too_long)
    assert (answer.status_code, answer.json()) == (400, REFUSED), answer.text
    assert await passkey_ids(alice) == []
    assert await audit_since(a, before) == [("passkey_failed", alice.id, "registration")]

    longest = secrets.token_bytes(1023)
    made = with_credential_id(alice.authn.create((await options_for(alice)).json()), longest)
    alice.authn.credentials[0].id = longest
    assert len(made["id"]) == 1364
    answer = await verify_for(alice, made)
    assert answer.status_code == 201, answer.text
    [stored] = await a.auth.service.store.list_passkeys(alice.id)
    assert stored.credential_id == made["id"]
    signed_in = await login_verify(a, alice.authn.get(await login_options(a)))
    assert signed_in.status_code == 200, signed_in.text
    assert claims(signed_in.json()["access_token"])["sub"] == alice.id


# 6. expired challenges are pruned hourly


async def challenge_rows(a: Any) -> set[str]:
    async with a.auth.service.store.engine.connect() as conn:
        return set((await conn.execute(select(PasskeyChallengeRow.id))).scalars())


async def test_expired_challenges_are_pruned_at_most_hourly(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    await login_options(a)  # the process's first challenge prunes (nothing yet) and starts the hour
    first = await challenge_rows(a)
    assert len(first) == 1
    clock.advance(301)  # the first expired
    await login_options(a)
    second = await challenge_rows(a)
    assert len(second) == 2 and first < second  # within the hour: kept
    clock.advance(3600 - 301)  # an hour since the last pruning
    await login_options(a)
    third = await challenge_rows(a)
    assert len(third) == 1 and third.isdisjoint(second)  # both expired ones gone, the new one kept


# 7. with passkeys off, a passkey is no way in


async def test_with_passkeys_off_the_last_provider_is_not_unlinked_for_a_passkey(
    make_app: Any, clock: Clock
) -> None:
    same_issuer = {"issuer": "fastauth"}
    on = await passkey_app(make_app, clock, jwt=same_issuer)
    alice = await sign_up(on)
    await add(alice)
    await on.auth.service.accounts.update(alice.id, hashed_password=NO_PASSWORD)
    identity = IdentityRecord(
        id="ident-1", user_id=alice.id, provider="mock", issuer="https://issuer.example",
        subject="sub-1", email=ALICE, created_at=int(clock()), last_used_at=0,
    )  # fmt: skip
    await on.auth.service.store.insert_identity(identity)
    off = await make_app(clock=clock, jwt=same_issuer)  # the same database, no relying party
    assert off.auth.service.passkeys is None
    user = await off.auth.service.store.get_user(alice.id)
    with pytest.raises(LastSignInMethod):
        await off.auth.service.unlink_identity(user, identity.id)
    assert [i.id for i in await off.auth.service.store.list_identities(alice.id)] == [identity.id]
    # With passkeys on, the passkey is a way in: the provider may go.
    await on.auth.service.unlink_identity(user, identity.id)
    assert await on.auth.service.store.list_identities(alice.id) == []
    assert len(await passkey_ids(alice)) == 1


# the review's scenario


async def test_the_session_that_enrolled_totp_neither_adds_a_passkey_nor_deletes_the_account(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    await enrol_totp(alice, clock)
    assert alice.amr == ["pwd"]
    assert_step_up(await options_for(alice), NO_MFA)
    deleted = await a.client.request("DELETE", "/auth/me", headers=alice.headers, json={"password": PASSWORD})
    assert_step_up(deleted, NO_MFA)
    assert await a.auth.service.store.get_user(alice.id) is not None
    assert await passkey_ids(alice) == []
    await sign_in_with_code(alice, clock)
    passkey_id = await add(alice)
    assert await passkey_ids(alice) == [passkey_id]
    deleted = await a.client.request("DELETE", "/auth/me", headers=alice.headers, json={"password": PASSWORD})
    assert deleted.status_code == 204, deleted.text
    assert await a.auth.service.store.get_user(alice.id) is None
