"""Attacks on passkeys over HTTP, each answered exactly: registration responses from another origin or
RP ID, of another ceremony, for a challenge never issued, replayed, expired or another user's, without
user verification, or for a credential someone else registered; passwordless sign-ins with the same
lies plus a user handle that is not the passkey's, an unknown credential, a signature by another key, a
sign count that goes backwards (a cloned authenticator), an inactive account and a removed passkey;
a passkey as the second factor of another sign-in or another user's; malformed credentials; two
concurrent uses of one assertion; and the rate limit of the passwordless ceremony.

The "browser" is the software authenticator of tests/support/authenticator.py, which lies on demand.
Every refusal is checked for its exact answer, for what it did not change (the stored passkeys, their
sign counts, the sessions) and for its audit record: a refusal that named a known passkey (decided after
the credential was looked up: origin, RP ID, user verification, user handle, signature, clone) is
recorded under the passkey's owner; one decided before (malformed, a challenge unknown, spent, expired
or of another ceremony, an unknown credential) under no account. Refusals decided by parsing and py_webauthn's checks
alone run on SQLite only; those that lean on the store (challenges spent, bound and expired, the sign
count's compare-and-set, a taken credential id, concurrent uses) run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor, parse_cbor

from fastauth.mfa import STEP, Totp
from support.authenticator import Authenticator, Credential, b64url, unb64url
from support.clock import Clock
from support.forge import claims
from support.http import BAD_LOGIN_BODY, INVALID_TOKEN_BODY, PASSWORD, assert_invalid_token, bearer

ALICE, BOB = "alice@example.com", "bob@example.com"
ORIGIN = "http://localhost"
REFUSED = {"detail": "Passkey not accepted", "code": "invalid_passkey"}
TOO_MANY = {"detail": "Too many attempts; try again later", "code": "rate_limited"}
STEP_UP = {"detail": "Sign in again to confirm this", "code": "recent_sign_in_required"}
STEP_UP_MFA = 'Bearer error="insufficient_user_authentication", max_age=300, acr_values="mfa"'
MFA_KEYS = {"mfa_required", "mfa_token", "methods"}
WRONG_ORIGINS = ["http://evil.localhost", "https://localhost", "http://localhost:1234"]
#: The audit record of a passwordless sign-in refused before its credential was looked up (no account
#: is known then).
BEFORE_LOOKUP = [("passkey_failed", None, None)]
#: For refusals decided by parsing and the library's checks alone (the store does nothing in them that
#: the tests on both databases do not cover): SQLite only, to keep the module fast.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# --- the scene ---------------------------------------------------------------------------------------


@dataclass
class Person:
    """An account signed in by its registration, and the authenticator that holds its passkeys."""

    email: str
    user_id: str
    tokens: dict[str, Any]
    authn: Authenticator
    totp: Totp | None = None

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])


async def passkey_app(make_app: Any, **overrides: Any) -> Any:
    """Passkeys on: RP ID localhost, origin http://localhost."""
    return await make_app(public_url=ORIGIN, **overrides)


async def person(a: Any, email: str = ALICE, authn: Authenticator | None = None) -> Person:
    tokens = await a.register(email, PASSWORD)
    return Person(email, claims(tokens["access_token"])["sub"], tokens, authn or Authenticator())


async def register_options(a: Any, who: Person) -> dict[str, Any]:
    answer = await a.client.post("/auth/passkeys/register/options", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def register_verify(a: Any, who: Person, credential: Any) -> Any:
    return await a.client.post(
        "/auth/passkeys/register/verify", headers=who.headers, json={"credential": credential}
    )


async def with_passkey(a: Any, who: Person) -> dict[str, Any]:
    """Register a passkey on `who`'s authenticator: the passkey as the API shows it."""
    made = who.authn.create(await register_options(a, who))
    answer = await register_verify(a, who, made)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def login_options(a: Any) -> dict[str, Any]:
    answer = await a.client.post("/auth/passkeys/login/options")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def login_verify(a: Any, credential: Any) -> Any:
    return await a.client.post("/auth/passkeys/login/verify", json={"credential": credential})


async def passkeys_of(a: Any, who: Person) -> list[Any]:
    """The stored passkeys (every column: key, sign count, last use)."""
    return list(await a.auth.service.store.list_passkeys(who.user_id))


async def sessions_of(a: Any, who: Person) -> list[str]:
    live = await a.auth.service.store.list_sessions(who.user_id, a.auth.service.now())
    return sorted(s.id for s in live)


async def audit_ids(a: Any) -> set[str]:
    return {record.id for record in await a.auth.service.audit.read(limit=1000)}


async def audit_since(a: Any, seen: set[str]) -> list[tuple[str, str | None, str | None]]:
    """(event, user_id, detail) of the records written since `seen`, oldest first."""
    records = [r for r in await a.auth.service.audit.read(limit=1000) if r.id not in seen]
    return [(r.event, r.user_id, r.detail) for r in reversed(records)]


@dataclass
class Snapshot:
    """What a refusal must leave as it was: every stored passkey and every live session of these
    accounts, and the audit log's records (to name the ones the refusal adds)."""

    passkeys: dict[str, list[Any]]
    sessions: dict[str, list[str]]
    audit: set[str]


async def snapshot(a: Any, *people: Person) -> Snapshot:
    return Snapshot(
        passkeys={p.email: await passkeys_of(a, p) for p in people},
        sessions={p.email: await sessions_of(a, p) for p in people},
        audit=await audit_ids(a),
    )


async def assert_untouched(a: Any, before: Snapshot, *people: Person) -> None:
    assert {p.email: await passkeys_of(a, p) for p in people} == before.passkeys
    assert {p.email: await sessions_of(a, p) for p in people} == before.sessions


def assert_refused(answer: Any, status: int = 400, body: dict[str, str] = REFUSED) -> None:
    assert (answer.status_code, answer.json()) == (status, body), answer.text
    assert "access_token" not in answer.text
    assert "set-cookie" not in answer.headers


def rewrite_client_data(credential: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The same response with `clientDataJSON` fields changed (an attestation "none" signs nothing, so
    a registration stays otherwise intact)."""
    forged: dict[str, Any] = json.loads(json.dumps(credential))
    data = json.loads(unb64url(forged["response"]["clientDataJSON"]))
    data.update(changes)
    forged["response"]["clientDataJSON"] = b64url(json.dumps(data, separators=(",", ":")).encode())
    return forged


def with_credential_id(credential: dict[str, Any], credential_id: bytes) -> dict[str, Any]:
    """A registration response naming `credential_id` (in authData and as id/rawId) instead of its own."""
    forged: dict[str, Any] = json.loads(json.dumps(credential))
    attestation = parse_cbor(unb64url(forged["response"]["attestationObject"]))
    auth_data = attestation["authData"]
    old_length = struct.unpack(">H", auth_data[53:55])[0]
    attestation["authData"] = (
        auth_data[:53] + struct.pack(">H", len(credential_id)) + credential_id + auth_data[55 + old_length :]
    )
    forged["response"]["attestationObject"] = b64url(encode_cbor(attestation))
    forged["id"] = forged["rawId"] = b64url(credential_id)
    return forged


def never_issued() -> str:
    return b64url(secrets.token_bytes(32))


# --- registration ----------------------------------------------------------------------------------


async def registration_refused(a: Any, alice: Person, credential: Any) -> None:
    """`credential` posted by Alice is refused, stores nothing, and is audited as a failed registration."""
    before = await snapshot(a, alice)
    assert_refused(await register_verify(a, alice, credential))
    await assert_untouched(a, before, alice)
    assert await audit_since(a, before.audit) == [("passkey_failed", alice.user_id, "registration")]


@sqlite_only
@pytest.mark.parametrize("origin", WRONG_ORIGINS)
async def test_registration_from_another_origin_is_refused(make_app: Any, origin: str) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice), origin=origin)
    await registration_refused(a, alice, made)


@sqlite_only
async def test_registration_for_another_rp_id_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice), rp_id="evil.localhost")
    await registration_refused(a, alice, made)


@sqlite_only
async def test_registration_whose_client_data_says_get_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice))
    await registration_refused(a, alice, rewrite_client_data(made, type="webauthn.get"))


async def test_registration_for_a_challenge_never_issued_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    await register_options(a, alice)  # a ceremony is under way, but not with this challenge
    made = alice.authn.create(await register_options(a, alice), challenge=never_issued())
    await registration_refused(a, alice, made)


async def test_a_registration_replayed_is_refused_and_stored_once(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice))
    first = await register_verify(a, alice, made)
    assert first.status_code == 201, first.text
    assert [p.id for p in await passkeys_of(a, alice)] == [first.json()["id"]]
    await registration_refused(a, alice, made)
    assert len(await passkeys_of(a, alice)) == 1


async def test_another_users_registration_challenge_is_refused_and_spent(make_app: Any) -> None:
    """Bob posts what Alice's authenticator made for Alice's options: refused, and the challenge is
    spent (Alice's own later post is refused too); nothing stored for either."""
    a = await passkey_app(make_app)
    alice, bob = await person(a, ALICE), await person(a, BOB)
    made = alice.authn.create(await register_options(a, alice))
    before = await snapshot(a, alice, bob)
    assert_refused(await register_verify(a, bob, made))
    await assert_untouched(a, before, alice, bob)
    assert await audit_since(a, before.audit) == [("passkey_failed", bob.user_id, "registration")]
    await registration_refused(a, alice, made)
    await assert_untouched(a, before, alice, bob)


async def test_a_login_challenge_is_no_registration_challenge(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    login = await login_options(a)
    made = alice.authn.create(await register_options(a, alice), challenge=login["challenge"])
    await registration_refused(a, alice, made)


@sqlite_only
async def test_registration_without_user_verification_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice), uv=False)
    await registration_refused(a, alice, made)


async def test_a_credential_id_registered_by_another_user_is_refused(make_app: Any) -> None:
    """Bob registers a key of his own under the credential id of Alice's passkey: refused, Alice's
    passkey (its key, owner, count) untouched, nothing stored for Bob, and Alice still signs in."""
    a = await passkey_app(make_app)
    alice, bob = await person(a, ALICE), await person(a, BOB)
    await with_passkey(a, alice)
    taken = alice.authn.credentials[0].id
    made = with_credential_id(bob.authn.create(await register_options(a, bob)), taken)
    before = await snapshot(a, alice, bob)
    assert_refused(await register_verify(a, bob, made))
    await assert_untouched(a, before, alice, bob)
    assert await audit_since(a, before.audit) == [("passkey_failed", bob.user_id, "registration")]
    signed_in = await login_verify(a, alice.authn.get(await login_options(a)))
    assert signed_in.status_code == 200, signed_in.text
    assert claims(signed_in.json()["access_token"])["sub"] == alice.user_id


@pytest.mark.parametrize(("wait", "status"), [(299, 201), (301, 400)], ids=["in-time", "expired"])
async def test_an_expired_registration_challenge_is_refused(make_app: Any, wait: int, status: int) -> None:
    clock = Clock()
    # A longer recent-sign-in window, so that only the challenge can be too old.
    a = await passkey_app(make_app, clock=clock, recent_sign_in_window=3600)
    assert a.auth.config.passkeys.challenge_ttl == 300
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice))
    clock.advance(wait)
    if status == 201:
        answer = await register_verify(a, alice, made)
        assert answer.status_code == 201, answer.text
    else:
        await registration_refused(a, alice, made)


# --- passwordless sign-in --------------------------------------------------------------------------


async def signed_up(a: Any, email: str = ALICE, authn: Authenticator | None = None) -> Person:
    """An account with one passkey that has been used once (its stored sign count is 1, or 0 for an
    authenticator that keeps none)."""
    who = await person(a, email, authn)
    await with_passkey(a, who)
    used = await login_verify(a, who.authn.get(await login_options(a)))
    assert used.status_code == 200, used.text
    return who


def failed_for(owner: Person) -> list[tuple[str, str | None, str | None]]:
    """The audit record of a sign-in refused after its credential was looked up: under its owner."""
    return [("passkey_failed", owner.user_id, None)]


async def sign_in_refused(
    a: Any,
    credential: Any,
    owner: Person,
    *others: Person,
    audit: list[tuple[str, str | None, str | None]] | None = None,
) -> None:
    """`credential`, naming `owner`'s passkey, at /login/verify: refused, nothing changed for `owner`
    and `others`, and audited (by default as a failed passkey sign-in of `owner`: the refusal came
    after the lookup; `BEFORE_LOOKUP` otherwise)."""
    people = (owner, *others)
    before = await snapshot(a, *people)
    assert_refused(await login_verify(a, credential))
    await assert_untouched(a, before, *people)
    assert await audit_since(a, before.audit) == (audit if audit is not None else failed_for(owner))


async def test_a_passwordless_sign_in_works(make_app: Any) -> None:
    """The control: the ceremony the attacks below bend, answered with tokens saying hwk and mfa."""
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    before = await snapshot(a, alice)
    answer = await login_verify(a, alice.authn.get(await login_options(a)))
    assert answer.status_code == 200, answer.text
    assert claims(answer.json()["access_token"])["amr"] == ["hwk", "mfa"]
    [passkey] = await passkeys_of(a, alice)
    assert passkey.sign_count == 2
    assert len(await sessions_of(a, alice)) == len(before.sessions[ALICE]) + 1


@sqlite_only
@pytest.mark.parametrize("origin", WRONG_ORIGINS)
async def test_a_sign_in_from_another_origin_is_refused(make_app: Any, origin: str) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    await sign_in_refused(a, alice.authn.get(await login_options(a), origin=origin), alice)


@sqlite_only
async def test_a_sign_in_for_another_rp_id_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    await sign_in_refused(a, alice.authn.get(await login_options(a), rp_id="evil.localhost"), alice)


async def test_a_sign_in_replayed_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    assertion = alice.authn.get(await login_options(a))
    first = await login_verify(a, assertion)
    assert first.status_code == 200, first.text
    await sign_in_refused(a, assertion, alice, audit=BEFORE_LOOKUP)  # the challenge is spent


async def test_a_registration_challenge_is_no_sign_in_challenge(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    issued = await register_options(a, alice)
    assertion = alice.authn.get(await login_options(a), challenge=issued["challenge"])
    await sign_in_refused(a, assertion, alice, audit=BEFORE_LOOKUP)


async def test_a_second_factor_challenge_is_no_passwordless_challenge(make_app: Any) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await enrolled(a, clock)
    options = await second_factor_options(a, await mfa_token(a, alice))
    await sign_in_refused(a, alice.authn.get(options), alice, audit=BEFORE_LOOKUP)


@sqlite_only
async def test_a_sign_in_without_user_verification_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    await sign_in_refused(a, alice.authn.get(await login_options(a), uv=False), alice)


@sqlite_only
async def test_a_sign_in_without_a_user_handle_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    await sign_in_refused(a, alice.authn.get(await login_options(a), user_handle=False), alice)


@sqlite_only
async def test_a_sign_in_with_another_users_handle_is_refused(make_app: Any) -> None:
    """Alice's genuine assertion claiming Bob's user handle signs nobody in."""
    a = await passkey_app(make_app)
    alice, bob = await signed_up(a, ALICE), await signed_up(a, BOB)
    handle = bob.authn.credentials[0].user_handle
    assert handle != alice.authn.credentials[0].user_handle
    assertion = alice.authn.get(await login_options(a), user_handle=handle)
    await sign_in_refused(a, assertion, alice, bob)


@sqlite_only
async def test_a_sign_in_with_an_unknown_credential_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    stranger = Credential(
        id=secrets.token_bytes(16),
        rp_id="localhost",
        user_handle=alice.authn.credentials[0].user_handle,  # even with Alice's handle
        key=ec.generate_private_key(ec.SECP256R1()),
    )
    await sign_in_refused(
        a, alice.authn.get(await login_options(a), credential=stranger), alice, audit=BEFORE_LOOKUP
    )


@sqlite_only
async def test_a_signature_by_another_key_is_refused(make_app: Any) -> None:
    """Alice's assertion carrying the signature another credential made over the same challenge: a bad
    signature, not a clone (nothing says passkey_cloned)."""
    a = await passkey_app(make_app)
    alice, bob = await signed_up(a, ALICE), await signed_up(a, BOB)
    options = await login_options(a)
    forged = alice.authn.get(options)
    forged["response"]["signature"] = bob.authn.get(options)["response"]["signature"]
    await sign_in_refused(a, forged, alice, bob)


@pytest.mark.parametrize("sent", [1, 2], ids=["lower", "equal"])
async def test_a_sign_count_that_does_not_go_up_is_refused_as_a_clone(make_app: Any, sent: int) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    assert (await login_verify(a, alice.authn.get(await login_options(a)))).status_code == 200
    [passkey] = await passkeys_of(a, alice)
    assert passkey.sign_count == 2
    assertion = alice.authn.get(await login_options(a), sign_count=sent)
    await sign_in_refused(a, assertion, alice, audit=[("passkey_cloned", alice.user_id, passkey.id)])


async def test_an_authenticator_without_a_counter_keeps_working(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a, authn=Authenticator(counter=False))
    for _ in range(3):
        answer = await login_verify(a, alice.authn.get(await login_options(a)))
        assert answer.status_code == 200, answer.text
    [passkey] = await passkeys_of(a, alice)
    assert passkey.sign_count == 0
    assert [r.event for r in await a.auth.service.audit.read(user_id=alice.user_id)].count(
        "passkey_cloned"
    ) == 0


async def test_a_counter_that_falls_back_to_zero_is_a_clone(make_app: Any) -> None:
    """Once a count was stored, 0 is no "keeps no counter": it went backwards."""
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    [passkey] = await passkeys_of(a, alice)
    assertion = alice.authn.get(await login_options(a), sign_count=0)
    await sign_in_refused(a, assertion, alice, audit=[("passkey_cloned", alice.user_id, passkey.id)])


async def inactive_sign_in(a: Any) -> tuple[Person, Snapshot, Any]:
    """Alice, deactivated, signs in with her passkey: (Alice, the state before, the answer)."""
    alice = await signed_up(a)
    await a.auth.service.set_user_active(alice.user_id, False)
    assertion = alice.authn.get(await login_options(a))
    before = await snapshot(a, alice)
    return alice, before, await login_verify(a, assertion)


async def test_an_inactive_account_does_not_sign_in_with_its_passkey(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice, before, answer = await inactive_sign_in(a)
    assert_refused(answer, 401, BAD_LOGIN_BODY)
    assert await sessions_of(a, alice) == before.sessions[ALICE] == []
    assert await audit_since(a, before.audit) == [("signin_failed", alice.user_id, "inactive account")]


async def test_an_inactive_accounts_refused_sign_in_leaves_its_passkey_as_it_was(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice, before, answer = await inactive_sign_in(a)
    assert answer.status_code == 401, answer.text
    assert await passkeys_of(a, alice) == before.passkeys[ALICE]


async def test_a_removed_passkey_signs_nobody_in(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    [passkey] = await passkeys_of(a, alice)
    removed = await a.client.delete(f"/auth/passkeys/{passkey.id}", headers=alice.headers)
    assert removed.status_code == 204, removed.text
    assert await passkeys_of(a, alice) == []
    await sign_in_refused(a, alice.authn.get(await login_options(a)), alice, audit=BEFORE_LOOKUP)


# --- the second factor -----------------------------------------------------------------------------


async def enrolled(a: Any, clock: Clock, email: str = ALICE, *, passkey: bool = True) -> Person:
    """An account with a passkey (unless told otherwise) and TOTP on; the clock moved past the step
    the enrolment spent."""
    who = await person(a, email)
    if passkey:
        await with_passkey(a, who)
    await enrol_totp(a, who, clock)
    return who


async def enrol_totp(a: Any, who: Person, clock: Clock) -> None:
    """TOTP turned on from `who`'s session (which stays amr pwd); the clock moved past the step the
    enrolment spent."""
    setup = await a.client.post("/auth/mfa/totp/setup", headers=who.headers)
    assert setup.status_code == 200, setup.text
    who.totp = Totp(setup.json()["secret"], clock=clock)
    confirmed = await a.client.post(
        "/auth/mfa/totp/confirm", headers=who.headers, json={"code": who.totp.code_at(int(clock()) // STEP)}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(STEP)


async def signed_in_with_code(a: Any, who: Person, clock: Clock) -> None:
    """`who` signs in again with the password and the current TOTP code (`who.tokens` become that
    session's, amr pwd otp mfa); the clock moves past the step the code spent."""
    assert who.totp is not None
    token = await mfa_token(a, who)
    answer = await mfa_verify(a, token, code=who.totp.code_at(int(clock()) // STEP))
    assert answer.status_code == 200, answer.text
    who.tokens = answer.json()
    assert claims(who.tokens["access_token"])["amr"] == ["pwd", "otp", "mfa"]
    clock.advance(STEP)


async def mfa_token(a: Any, who: Person) -> str:
    answer = await a.client.post("/auth/login", json={"email": who.email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == MFA_KEYS, answer.text
    return str(answer.json()["mfa_token"])


async def second_factor_options(a: Any, token: str) -> dict[str, Any]:
    answer = await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": token})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def mfa_verify(a: Any, token: str, **factor: Any) -> Any:
    return await a.client.post("/auth/mfa/verify", json={"mfa_token": token, **factor})


async def test_a_passkey_completes_its_own_pending_sign_in(make_app: Any) -> None:
    """The control: the second-factor ceremony the attacks below bend."""
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a, alice)
    answer = await mfa_verify(a, token, credential=alice.authn.get(await second_factor_options(a, token)))
    assert answer.status_code == 200, answer.text
    assert claims(answer.json()["access_token"])["amr"] == ["pwd", "hwk", "mfa"]


async def bobs_sign_in_answered_by_alice(a: Any, clock: Clock, ceremony: str) -> tuple[Any, ...]:
    """Alice answers with her passkey, for the options of her own pending sign-in ("alices") or of
    Bob's ("bobs"), and posts it with Bob's MFA token: (Alice, Bob, Bob's token, the state before, the
    answer)."""
    alice, bob = await enrolled(a, clock, ALICE), await enrolled(a, clock, BOB, passkey=False)
    if ceremony == "bobs":  # Bob gets a passkey, so that his sign-in offers a passkey ceremony
        await signed_in_with_code(a, bob, clock)  # TOTP on: adding a passkey needs the second factor
        await with_passkey(a, bob)
    bobs_token = await mfa_token(a, bob)  # (after that sign-in, which a newer pending one supersedes)
    if ceremony == "alices":
        options = await second_factor_options(a, await mfa_token(a, alice))
    else:
        options = await second_factor_options(a, bobs_token)
        options["allowCredentials"] = []  # Alice's authenticator signs with her own key
    assertion = alice.authn.get(options)
    before = await snapshot(a, alice, bob)
    return alice, bob, bobs_token, before, await mfa_verify(a, bobs_token, credential=assertion)


@pytest.mark.parametrize("ceremony", ["alices", "bobs"])
async def test_alices_passkey_does_not_complete_bobs_sign_in(make_app: Any, ceremony: str) -> None:
    """Refused, no session for either, audited on Bob's account; and Bob's token still completes
    Bob's sign-in with Bob's own code."""
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice, bob, bobs_token, before, answer = await bobs_sign_in_answered_by_alice(a, clock, ceremony)
    assert_refused(answer)
    assert {p.email: await sessions_of(a, p) for p in (alice, bob)} == before.sessions
    assert (await passkeys_of(a, bob)) == before.passkeys[BOB]
    assert await audit_since(a, before.audit) == [("passkey_failed", bob.user_id, None)]
    assert bob.totp is not None
    completed = await mfa_verify(a, bobs_token, code=bob.totp.code_at(int(clock()) // STEP))
    assert completed.status_code == 200, completed.text
    assert claims(completed.json()["access_token"])["sub"] == bob.user_id


@pytest.mark.parametrize(
    "ceremony",
    [
        "alices",
        "bobs",
    ],
)
async def test_alices_refused_passkey_is_left_as_it_was(make_app: Any, ceremony: str) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice, _, _, before, answer = await bobs_sign_in_answered_by_alice(a, clock, ceremony)
    assert answer.status_code == 400, answer.text
    assert await passkeys_of(a, alice) == before.passkeys[ALICE]


async def another_sign_ins_options(a: Any, clock: Clock) -> tuple[Person, str, Snapshot, Any]:
    """Options asked for Alice's sign-in #1, answered and posted with sign-in #2's token: (Alice,
    token #2, the state before, the answer)."""
    alice = await enrolled(a, clock)
    first = await mfa_token(a, alice)
    stale = alice.authn.get(await second_factor_options(a, first))
    second = await mfa_token(a, alice)
    before = await snapshot(a, alice)
    return alice, second, before, await mfa_verify(a, second, credential=stale)


async def test_the_options_of_one_sign_in_do_not_complete_another(make_app: Any) -> None:
    """Refused and audited; sign-in #2 then completes with its own options."""
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice, second, before, answer = await another_sign_ins_options(a, clock)
    assert_refused(answer)
    assert await sessions_of(a, alice) == before.sessions[ALICE]
    assert await audit_since(a, before.audit) == [("passkey_failed", alice.user_id, None)]
    own = await mfa_verify(a, second, credential=alice.authn.get(await second_factor_options(a, second)))
    assert own.status_code == 200, own.text


async def test_the_options_of_another_sign_in_leave_the_passkey_as_it_was(make_app: Any) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice, _, before, answer = await another_sign_ins_options(a, clock)
    assert answer.status_code == 400, answer.text
    assert await passkeys_of(a, alice) == before.passkeys[ALICE]


async def test_a_passwordless_assertion_is_no_second_factor(make_app: Any) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a, alice)
    assertion = alice.authn.get(await login_options(a))
    before = await snapshot(a, alice)
    assert_refused(await mfa_verify(a, token, credential=assertion))
    await assert_untouched(a, before, alice)
    assert await audit_since(a, before.audit) == [("passkey_failed", alice.user_id, None)]


async def test_an_mfa_token_is_no_access_token_for_the_passkey_list(make_app: Any) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await enrolled(a, clock)
    assert_invalid_token(await a.client.get("/auth/passkeys", headers=bearer(await mfa_token(a, alice))))


@pytest.mark.parametrize("route", ["/auth/mfa/passkey/options", "/auth/mfa/verify"])
async def test_an_access_token_is_no_mfa_token(make_app: Any, route: str) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await enrolled(a, clock)
    options = await second_factor_options(a, await mfa_token(a, alice))  # a sign-in is pending
    body: dict[str, Any] = {"mfa_token": alice.tokens["access_token"]}
    if route == "/auth/mfa/verify":
        body["credential"] = alice.authn.get(options)
    before = await snapshot(a, alice)
    answer = await a.client.post(route, json=body)
    assert_refused(answer, 401, INVALID_TOKEN_BODY)
    await assert_untouched(a, before, alice)


async def test_a_passkey_does_not_skip_the_second_step_of_a_password_sign_in(make_app: Any) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await enrolled(a, clock)
    before = await snapshot(a, alice)
    answer = await a.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == MFA_KEYS
    assert answer.json()["methods"] == ["totp", "recovery_code", "passkey"]
    await assert_untouched(a, before, alice)


async def test_the_session_that_enrolled_totp_adds_no_passkey(make_app: Any) -> None:
    """The enrolling session signed in with the password alone (amr pwd): once TOTP is on it may not
    add a passkey (a stolen session must not plant its thief's), neither the options nor the verify of
    a ceremony begun before; nothing stored or audited. Signed in again with the code, the same
    ceremony completes."""
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice))
    await enrol_totp(a, alice, clock)
    assert claims(alice.tokens["access_token"])["amr"] == ["pwd"]
    before = await snapshot(a, alice)
    options = await a.client.post("/auth/passkeys/register/options", headers=alice.headers)
    verify = await register_verify(a, alice, made)
    for refused in (options, verify):
        assert_refused(refused, 401, STEP_UP)
        assert refused.headers.get_list("www-authenticate") == [STEP_UP_MFA]
    await assert_untouched(a, before, alice)
    assert await audit_since(a, before.audit) == []
    await signed_in_with_code(a, alice, clock)
    added = await register_verify(a, alice, made)
    assert added.status_code == 201, added.text
    assert [p.id for p in await passkeys_of(a, alice)] == [added.json()["id"]]


# --- malformed input -------------------------------------------------------------------------------


def client_data(challenge: Any, kind: str = "webauthn.get") -> str:
    data = {"type": kind, "challenge": challenge, "origin": ORIGIN, "crossOrigin": False}
    return b64url(json.dumps(data).encode())


MALFORMED_CLIENT_DATA: dict[str, Any] = {
    "missing-response": {"id": "AAAA", "type": "public-key"},
    "response-not-an-object": {"id": "AAAA", "type": "public-key", "response": "x"},
    "no-client-data": {"id": "AAAA", "type": "public-key", "response": {}},
    "client-data-a-number": {"response": {"clientDataJSON": 12}},
    "client-data-not-base64url": {"response": {"clientDataJSON": "%%%not base64%%%"}},
    "client-data-not-ascii": {"response": {"clientDataJSON": "ëyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0"}},
    "client-data-not-json": {"response": {"clientDataJSON": b64url(b"hello, world")}},
    "client-data-not-utf8": {"response": {"clientDataJSON": b64url(b'{"challenge":"\xff\xfe"}')}},
    "client-data-an-array": {"response": {"clientDataJSON": b64url(b"[]")}},
    "client-data-no-challenge": {"response": {"clientDataJSON": b64url(b'{"type":"webauthn.get"}')}},
    "challenge-a-number": {"response": {"clientDataJSON": client_data(12)}},
    "challenge-too-short": {"response": {"clientDataJSON": client_data(b64url(bytes(16)))}},
    "challenge-too-long": {"response": {"clientDataJSON": client_data(b64url(bytes(33)))}},
}


@sqlite_only
@pytest.mark.parametrize("credential", MALFORMED_CLIENT_DATA.values(), ids=MALFORMED_CLIENT_DATA.keys())
async def test_a_malformed_sign_in_is_refused(make_app: Any, credential: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    await sign_in_refused(a, credential, alice, audit=BEFORE_LOOKUP)


@sqlite_only
@pytest.mark.parametrize("credential", MALFORMED_CLIENT_DATA.values(), ids=MALFORMED_CLIENT_DATA.keys())
async def test_a_malformed_registration_is_refused(make_app: Any, credential: Any) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    await register_options(a, alice)
    await registration_refused(a, alice, credential)


@sqlite_only
@pytest.mark.parametrize("route", ["login", "register", "second_factor"])
async def test_a_deeply_nested_client_data_is_refused(make_app: Any, route: str) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await enrolled(a, clock)
    credential = {"response": {"clientDataJSON": b64url(b"[" * 1000 + b"]" * 1000)}}
    if route == "login":
        await sign_in_refused(a, credential, alice, audit=BEFORE_LOOKUP)
    elif route == "register":
        await signed_in_with_code(a, alice, clock)  # TOTP on: adding a passkey needs the second factor
        await registration_refused(a, alice, credential)
    else:
        token = await mfa_token(a, alice)
        before = await snapshot(a, alice)
        assert_refused(await mfa_verify(a, token, credential=credential))
        await assert_untouched(a, before, alice)
        assert await audit_since(a, before.audit) == [("passkey_failed", alice.user_id, None)]


@sqlite_only
@pytest.mark.parametrize("credential", ["x", [], 7, None], ids=["string", "array", "number", "null"])
async def test_a_credential_that_is_no_object_is_an_invalid_body(make_app: Any, credential: Any) -> None:
    """The request's schema says `credential` is an object: anything else is the body's fault (422,
    as every schema violation), before any passkey check, and changes nothing."""
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    before = await snapshot(a, alice)
    answer = await a.client.post("/auth/passkeys/login/verify", json={"credential": credential})
    assert (answer.status_code, answer.json()) == (
        422,
        {"detail": "Missing or invalid fields: credential", "code": "invalid_body"},
    )
    await assert_untouched(a, before, alice)
    assert await audit_since(a, before.audit) == []


@sqlite_only
@pytest.mark.parametrize("route", ["/auth/passkeys/login/verify", "/auth/passkeys/register/verify"])
async def test_a_body_without_a_credential_is_invalid(make_app: Any, route: str) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    before = await snapshot(a, alice)
    answer = await a.client.post(route, headers=alice.headers, json={"name": "Laptop"})
    assert (answer.status_code, answer.json()) == (
        422,
        {"detail": "Missing or invalid fields: credential", "code": "invalid_body"},
    )
    await assert_untouched(a, before, alice)
    assert await audit_since(a, before.audit) == []


@sqlite_only
@pytest.mark.parametrize("field", ["clientDataJSON", "authenticatorData", "signature", "userHandle", "id"])
async def test_a_100_kb_field_is_refused_unread(make_app: Any, field: str) -> None:
    """Over the 16 KiB body cap: refused before anything is parsed (no challenge spent, no record)."""
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    options = await login_options(a)
    assertion = alice.authn.get(options)
    huge = "A" * 100_000
    if field == "id":
        assertion["id"] = assertion["rawId"] = huge
    else:
        assertion["response"][field] = huge
    before = await snapshot(a, alice)
    answer = await login_verify(a, assertion)
    assert (answer.status_code, answer.json()) == (
        413,
        {"detail": "Request body too large", "code": "body_too_large"},
    )
    await assert_untouched(a, before, alice)
    assert await audit_since(a, before.audit) == []
    # The challenge was not spent: the genuine assertion still signs in.
    assert (await login_verify(a, alice.authn.get(options))).status_code == 200


@sqlite_only
@pytest.mark.parametrize("field", ["authenticatorData", "signature", "userHandle", "id"])
async def test_the_largest_field_a_body_holds_is_refused(make_app: Any, field: str) -> None:
    """A field as long as the body cap allows (15 kB; an id and its rawId 7.5 kB each), on a genuine
    challenge: refused exactly; an id that long is refused before any lookup (no account known), the
    other fields once Alice's passkey was found (audited under her)."""
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    assertion = alice.authn.get(await login_options(a))
    large = "A" * 15_000
    if field == "id":
        assertion["id"] = assertion["rawId"] = large[:7_500]
    else:
        assertion["response"][field] = large
    await sign_in_refused(a, assertion, alice, audit=BEFORE_LOOKUP if field == "id" else None)


@sqlite_only
async def test_a_garbage_attestation_object_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice))
    made["response"]["attestationObject"] = b64url(b"\xff\x9f\x00garbage\xa5" + secrets.token_bytes(40))
    await registration_refused(a, alice, made)


@sqlite_only
async def test_an_attestation_object_of_the_wrong_shape_is_refused(make_app: Any) -> None:
    """Well-formed CBOR that is no attestation (authData a number, no fmt)."""
    a = await passkey_app(make_app)
    alice = await person(a)
    made = alice.authn.create(await register_options(a, alice))
    made["response"]["attestationObject"] = b64url(encode_cbor({"authData": 5, "attStmt": []}))
    await registration_refused(a, alice, made)


@sqlite_only
async def test_an_authenticator_data_too_short_is_refused(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    assertion = alice.authn.get(await login_options(a))
    assertion["response"]["authenticatorData"] = b64url(
        unb64url(assertion["response"]["authenticatorData"])[:20]
    )
    await sign_in_refused(a, assertion, alice)


async def test_a_malformed_second_factor_is_refused_and_the_token_survives(make_app: Any) -> None:
    clock = Clock()
    a = await passkey_app(make_app, clock=clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a, alice)
    options = await second_factor_options(a, token)
    bad = alice.authn.get(options)
    bad["response"]["authenticatorData"] = b64url(b"\x00" * 10)
    before = await snapshot(a, alice)
    assert_refused(await mfa_verify(a, token, credential=bad))
    await assert_untouched(a, before, alice)
    assert await audit_since(a, before.audit) == [("passkey_failed", alice.user_id, None)]
    good = await mfa_verify(a, token, credential=alice.authn.get(await second_factor_options(a, token)))
    assert good.status_code == 200, good.text


# --- concurrency -----------------------------------------------------------------------------------


async def test_one_assertion_posted_twice_at_once_signs_in_once(make_app: Any) -> None:
    a = await passkey_app(make_app)
    alice = await signed_up(a)
    assertion = alice.authn.get(await login_options(a))
    before = await snapshot(a, alice)
    answers = await asyncio.gather(login_verify(a, assertion), login_verify(a, assertion))
    assert sorted(answer.status_code for answer in answers) == [200, 400]
    refused = next(answer for answer in answers if answer.status_code == 400)
    assert refused.json() == REFUSED
    assert len(await sessions_of(a, alice)) == len(before.sessions[ALICE]) + 1
    [passkey] = await passkeys_of(a, alice)
    assert passkey.sign_count == before.passkeys[ALICE][0].sign_count + 1
    events = await audit_since(a, before.audit)
    assert sorted(event for event, _, _ in events) == ["passkey_failed", "signin"]


# --- rate limits -----------------------------------------------------------------------------------


async def limited_app(make_app: Any) -> Any:
    return await passkey_app(make_app, rate_limit_enabled=True, login_rate_limit_per_ip="3/minute")


def assert_too_many(answer: Any) -> None:
    assert_refused(answer, 429, TOO_MANY)
    assert 1 <= int(answer.headers["retry-after"]) <= 60


@sqlite_only
async def test_passwordless_options_are_rate_limited(make_app: Any) -> None:
    a = await limited_app(make_app)
    for _ in range(3):
        await login_options(a)
    assert_too_many(await a.client.post("/auth/passkeys/login/options"))


@sqlite_only
async def test_passwordless_answers_are_rate_limited(make_app: Any) -> None:
    """One options call and two wrong answers spend the budget: the fourth call, a genuine answer, is
    refused without being looked at."""
    a = await limited_app(make_app)
    alice = await person(a)
    await with_passkey(a, alice)
    assertion = alice.authn.get(await login_options(a))
    for _ in range(2):
        assert_refused(await login_verify(a, {"response": {"clientDataJSON": "x"}}))
    before = await snapshot(a, alice)
    assert_too_many(await login_verify(a, assertion))
    await assert_untouched(a, before, alice)
    assert await audit_since(a, before.audit) == []
