"""Passkeys over HTTP (docs/passkeys.md), on SQLite and PostgreSQL, with the software authenticator of
`support.authenticator` standing in for the browser:

- registration: the options (RP, a random user handle kept for every passkey of the user, a
  discoverable user-verified credential, the user's passkeys excluded), then 201 with the new passkey;
  listing, renaming (1 to 64 printable characters) and removing, each only of the caller's own;
- the passwordless sign-in: tokens whose `amr` is `hwk` (or `swk` for a synced passkey) and `mfa`, a
  session like any other, audited; an account with TOTP is not stopped for a code;
- a passkey as the second factor after a password (`/mfa/passkey/options`, `/mfa/verify {credential}`);
- adding a passkey needs a recent sign-in (and removing one, with the second factor when the account
  has one: tests/web/test_passkey_review.py); passkeys off (no public_url, or one on an IP) answer 501;
  a wrong relying party configuration stops start-up;
- the last way into an account without a password cannot be removed; an administrator's MFA reset and
  the account's deletion take its passkeys with them.

The app's clock is a `Clock` moved by hand (the TOTP authenticator app reads it too), so the recent
sign-in window and the TOTP steps are exact.
"""

from __future__ import annotations

import struct
from typing import Any

import httpx
import pytest
from webauthn.helpers import encode_cbor, parse_cbor

from fastauth import FastAuthConfig
from fastauth.errors import ConfigError, LastSignInMethod
from fastauth.mfa import STEP, Totp
from fastauth.passwords import NO_PASSWORD
from fastauth.storage.base import IdentityRecord
from support.authenticator import Authenticator, b64url, unb64url
from support.clock import Clock
from support.forge import claims
from support.http import PASSWORD, bearer

ALICE, BOB = "alice@example.com", "bob@example.com"
ORIGIN = "http://localhost"
REFUSED = {"detail": "Passkey not accepted", "code": "invalid_passkey"}
NOT_FOUND = {"detail": "No such passkey", "code": "passkey_not_found"}
OFF = {"detail": "Passkeys are not configured on this server", "code": "passkeys_off"}
LAST_WAY_IN = {
    "detail": "This is the account's only way to sign in: set a password first",
    "code": "last_sign_in_method",
}
SPENT = {"detail": "Invalid or expired code", "code": "invalid_code"}
NO_SECOND_FACTOR = {"detail": "Two-factor authentication is not set up", "code": "mfa_not_enabled"}
STEP_UP = {"detail": "Sign in again to confirm this", "code": "recent_sign_in_required"}
STEP_UP_CHALLENGE = 'Bearer error="insufficient_user_authentication", max_age=300'
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
PASSKEY_KEYS = {"id", "name", "created_at", "last_used_at", "synced", "transports"}


class Person:
    """A signed-up account: its id, the session it signed up with, and its authenticator."""

    def __init__(self, a: Any, email: str, tokens: dict[str, Any], authenticator: Authenticator) -> None:
        self.a, self.email, self.tokens, self.authenticator = a, email, tokens, authenticator
        self.id = str(claims(tokens["access_token"])["sub"])
        self.headers = bearer(tokens["access_token"])


async def passkey_app(make_app: Any, clock: Clock, **overrides: Any) -> Any:
    return await make_app(public_url=ORIGIN, clock=clock, **overrides)


async def sign_up(a: Any, email: str = ALICE, *, backup: bool = False) -> Person:
    return Person(a, email, await a.register(email, PASSWORD), Authenticator(backup=backup))


async def register_options(person: Person) -> dict[str, Any]:
    answer = await person.a.client.post("/auth/passkeys/register/options", headers=person.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return dict(answer.json())


async def add_passkey(person: Person, name: str | None = None) -> httpx.Response:
    """Options, the authenticator's attestation, and the verify request's answer."""
    options = await register_options(person)
    body: dict[str, Any] = {"credential": person.authenticator.create(options)}
    if name is not None:
        body["name"] = name
    return await person.a.client.post("/auth/passkeys/register/verify", headers=person.headers, json=body)


async def added(person: Person, name: str | None = None) -> dict[str, Any]:
    answer = await add_passkey(person, name)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def passkey_sign_in(a: Any, authenticator: Authenticator) -> httpx.Response:
    options = await a.client.post("/auth/passkeys/login/options")
    assert options.status_code == 200, options.text
    credential = authenticator.get(options.json())
    return await a.client.post("/auth/passkeys/login/verify", json={"credential": credential})


async def listed(person: Person) -> list[dict[str, Any]]:
    answer = await person.a.client.get("/auth/passkeys", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def events(a: Any, user_id: str) -> list[tuple[str, str | None]]:
    """The user's audit records, oldest first: (event, detail)."""
    records = await a.auth.service.audit.read(user_id=user_id)
    return [(record.event, record.detail) for record in reversed(records)]


async def enrol_totp(person: Person, clock: Clock) -> Totp:
    a = person.a
    setup = await a.client.post("/auth/mfa/totp/setup", headers=person.headers)
    assert setup.status_code == 200, setup.text
    totp = Totp(setup.json()["secret"], clock=clock)
    confirmed = await a.client.post(
        "/auth/mfa/totp/confirm", headers=person.headers, json={"code": totp.code_at(int(clock()) // STEP)}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(STEP)  # the enrolment's step is spent
    return totp


async def password_step(a: Any, email: str, methods: list[str]) -> str:
    answer = await a.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"mfa_required", "mfa_token", "methods"} and body["mfa_required"] is True
    assert body["methods"] == methods
    return str(body["mfa_token"])


def with_credential_id(made: dict[str, Any], credential_id: str) -> dict[str, Any]:
    """An attestation (format "none": nothing signs it) rewritten to name another credential id."""
    raw = unb64url(credential_id)
    attestation = parse_cbor(unb64url(made["response"]["attestationObject"]))
    auth_data = attestation["authData"]
    old_length = struct.unpack(">H", auth_data[53:55])[0]
    attestation["authData"] = (
        auth_data[:53] + struct.pack(">H", len(raw)) + raw + auth_data[55 + old_length :]
    )
    response = {**made["response"], "attestationObject": b64url(encode_cbor(attestation))}
    return {**made, "id": credential_id, "rawId": credential_id, "response": response}


async def passwordless_account(a: Any, email: str = ALICE) -> Person:
    """An account without a password (as a provider sign-up makes it), signed in just now."""
    person = await sign_up(a, email)
    stored = await a.auth.service.accounts.update(person.id, hashed_password=NO_PASSWORD)
    assert stored is not None and stored.hashed_password == NO_PASSWORD
    return person


# registration


async def test_registration_options_ask_for_a_discoverable_verified_passkey_with_a_random_handle(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    options = await register_options(alice)
    assert options["rp"] == {"id": "localhost", "name": "fastauth"}
    assert options["user"]["name"] == ALICE and options["user"]["displayName"] == ALICE
    handle = options["user"]["id"]
    assert len(unb64url(handle)) == 32
    assert alice.id not in handle and unb64url(handle) not in (alice.id.encode(), ALICE.encode())
    assert len(unb64url(options["challenge"])) == 32
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert options["timeout"] == 300_000
    # Another user gets another handle; a new ceremony gets a new challenge.
    bob_options = await register_options(await sign_up(a, BOB))
    assert bob_options["user"]["id"] != handle
    assert (await register_options(alice))["challenge"] != options["challenge"]


async def test_a_registered_passkey_is_answered_stored_listed_and_excluded_next_time(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    first_options = await register_options(alice)
    credential = alice.authenticator.create(first_options)
    answer = await a.client.post(
        "/auth/passkeys/register/verify",
        headers=alice.headers,
        json={"credential": credential, "name": "Laptop"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    out = answer.json()
    assert set(out) == PASSKEY_KEYS
    assert (out["name"], out["last_used_at"], out["synced"], out["transports"]) == (
        "Laptop", None, False, ["internal", "hybrid"],
    )  # fmt: skip
    stored = await a.auth.service.store.get_passkey(credential["id"])
    assert stored is not None
    assert (stored.id, stored.user_id, stored.user_handle, stored.sign_count, stored.name) == (
        out["id"], alice.id, first_options["user"]["id"], 0, "Laptop",
    )  # fmt: skip
    assert (stored.backup_eligible, stored.transports) == (False, ("internal", "hybrid"))
    assert await listed(alice) == [out]
    # A second registration: the same handle, the first passkey excluded (the authenticator holding it
    # refuses, as a browser does); another authenticator adds a second one, named by default.
    second_options = await register_options(alice)
    assert second_options["user"]["id"] == first_options["user"]["id"]
    assert second_options["excludeCredentials"] == [
        {"id": credential["id"], "type": "public-key", "transports": ["internal", "hybrid"]}
    ]
    with pytest.raises(ValueError, match="InvalidStateError"):
        alice.authenticator.create(second_options)
    phone = Authenticator(backup=True)
    clock.advance(1)  # oldest first: a later second
    again = await a.client.post(
        "/auth/passkeys/register/verify",
        headers=alice.headers,
        json={"credential": phone.create(second_options)},
    )
    assert again.status_code == 201, again.text
    assert (again.json()["name"], again.json()["synced"]) == ("Passkey", True)
    assert [p["id"] for p in await listed(alice)] == [out["id"], again.json()["id"]]
    third = await register_options(alice)
    assert [d["id"] for d in third["excludeCredentials"]] == [
        credential["id"],
        b64url(phone.credentials[0].id),
    ]
    assert (await events(a, alice.id))[-2:] == [
        ("passkey_added", out["id"]),
        ("passkey_added", again.json()["id"]),
    ]


async def test_the_same_credential_registered_again_is_refused(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    options = await register_options(alice)
    credential = alice.authenticator.create(options)
    first = await a.client.post(
        "/auth/passkeys/register/verify", headers=alice.headers, json={"credential": credential}
    )
    assert first.status_code == 201, first.text
    # The same attestation again: its challenge is spent.
    replayed = await a.client.post(
        "/auth/passkeys/register/verify", headers=alice.headers, json={"credential": credential}
    )
    assert (replayed.status_code, replayed.json()) == (400, REFUSED)
    # The same credential id on a new challenge, from Alice again and from Bob: refused, audited.
    bob = await sign_up(a, BOB)
    for person in (alice, bob):
        made = Authenticator().create(await register_options(person))
        again = await a.client.post(
            "/auth/passkeys/register/verify",
            headers=person.headers,
            json={"credential": with_credential_id(made, credential["id"])},
        )
        assert (again.status_code, again.json()) == (400, REFUSED)
        assert (await events(a, person.id))[-1] == ("passkey_failed", "registration")
    stored = await a.auth.service.store.get_passkey(credential["id"])
    assert stored is not None and stored.id == first.json()["id"] and stored.user_id == alice.id
    assert len(await listed(alice)) == 1 and await listed(bob) == []
    # The rewriting is not what was refused: the same rewrite naming a new id is accepted.
    fresh_id = b64url(b"\x01" * 16)
    made = Authenticator().create(await register_options(bob))
    accepted = await a.client.post(
        "/auth/passkeys/register/verify",
        headers=bob.headers,
        json={"credential": with_credential_id(made, fresh_id)},
    )
    assert accepted.status_code == 201, accepted.text
    bobs = await a.auth.service.store.get_passkey(fresh_id)
    assert bobs is not None and bobs.user_id == bob.id


async def test_a_passkey_is_renamed_only_to_a_clean_name_and_only_by_its_owner(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    mine = await added(alice, "Laptop")
    for bad in ("", "   ", "x" * 65, "Lap\x00top", "\x1b[31mred", "evil\u202etxt", "del\x7f"):
        refused = await a.client.patch(
            f"/auth/passkeys/{mine['id']}", headers=alice.headers, json={"name": bad}
        )
        assert (refused.status_code, refused.json()) == (400, REFUSED), repr(bad)
    assert [p["name"] for p in await listed(alice)] == ["Laptop"]
    renamed = await a.client.patch(
        f"/auth/passkeys/{mine['id']}", headers=alice.headers, json={"name": "  Work   phone "}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {**mine, "name": "Work phone"}
    longest = await a.client.patch(
        f"/auth/passkeys/{mine['id']}", headers=alice.headers, json={"name": "y" * 64}
    )
    assert (longest.status_code, longest.json()["name"]) == (200, "y" * 64)
    # Bob cannot rename (nor learn of) Alice's passkey; an unknown id is the same answer.
    bob = await sign_up(a, BOB)
    for target in (mine["id"], "0" * 32):
        theirs = await a.client.patch(f"/auth/passkeys/{target}", headers=bob.headers, json={"name": "Bob's"})
        assert (theirs.status_code, theirs.json()) == (404, NOT_FOUND)
    assert [p["name"] for p in await listed(alice)] == ["y" * 64]
    assert await listed(bob) == []
    # Each rename that happened is audited under its owner; the refused ones are not.
    records = await a.auth.service.audit.read(limit=500)
    renames = [(r.user_id, r.detail) for r in records if r.event == "passkey_renamed"]
    assert renames == [(alice.id, mine["id"])] * 2


async def test_a_passkey_is_removed_only_by_its_owner_and_audited(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice, bob = await sign_up(a), await sign_up(a, BOB)
    mine = await added(alice)
    credential_id = alice.authenticator.credentials[0].id
    theirs = await a.client.delete(f"/auth/passkeys/{mine['id']}", headers=bob.headers)
    assert (theirs.status_code, theirs.json()) == (404, NOT_FOUND)
    assert [p["id"] for p in await listed(alice)] == [mine["id"]]
    removed = await a.client.delete(f"/auth/passkeys/{mine['id']}", headers=alice.headers)
    assert removed.status_code == 204 and removed.content == b""
    assert await listed(alice) == []
    again = await a.client.delete(f"/auth/passkeys/{mine['id']}", headers=alice.headers)
    assert (again.status_code, again.json()) == (404, NOT_FOUND)
    assert (await events(a, alice.id))[-2:] == [
        ("passkey_added", mine["id"]),
        ("passkey_removed", mine["id"]),
    ]
    assert all(event != "passkey_removed" for event, _ in await events(a, bob.id))
    # The removed passkey signs in no more.
    refused = await passkey_sign_in(a, alice.authenticator)
    assert (refused.status_code, refused.json()) == (400, REFUSED)
    assert await a.auth.service.store.get_passkey(b64url(credential_id)) is None


# passwordless sign-in


async def test_a_passkey_signs_in_without_a_password(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    mine = await added(alice)
    options = await a.client.post("/auth/passkeys/login/options")
    assert options.status_code == 200 and options.headers["cache-control"] == "no-store"
    body = options.json()
    assert (body["rpId"], body["allowCredentials"], body["userVerification"]) == ("localhost", [], "required")
    assert len(unb64url(body["challenge"])) == 32
    clock.advance(7)
    answer = await a.client.post(
        "/auth/passkeys/login/verify", json={"credential": alice.authenticator.get(body)}
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == TOKEN_KEYS and answer.headers["cache-control"] == "no-store"
    access = claims(answer.json()["access_token"])
    assert (access["sub"], access["amr"], access["auth_time"]) == (alice.id, ["hwk", "mfa"], int(clock()))
    me = await a.client.get("/private", headers=bearer(answer.json()["access_token"]))
    assert me.json() == {"id": alice.id, "email": ALICE}
    sessions = await a.client.get("/auth/sessions", headers=bearer(answer.json()["access_token"]))
    current = [s for s in sessions.json() if s["current"]]
    assert len(sessions.json()) == 2 and [s["id"] for s in current] == [access["sid"]]
    # The count went up and the use is recorded.
    stored = (await a.auth.service.store.list_passkeys(alice.id))[0]
    assert (stored.sign_count, stored.last_used_at) == (1, int(clock()))
    assert (await listed(alice))[0]["last_used_at"] is not None
    assert (await events(a, alice.id))[-2:] == [
        ("passkey_added", mine["id"]),
        ("signin", f"session {access['sid']} via passkey"),
    ]
    # The challenge was spent: the same assertion again is refused.
    replay = await a.client.post(
        "/auth/passkeys/login/verify", json={"credential": alice.authenticator.get(body)}
    )
    assert (replay.status_code, replay.json()) == (400, REFUSED)


async def test_a_synced_passkey_says_swk(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a, backup=True)
    assert (await added(alice))["synced"] is True
    answer = await passkey_sign_in(a, alice.authenticator)
    assert answer.status_code == 200, answer.text
    assert claims(answer.json()["access_token"])["amr"] == ["swk", "mfa"]
    # The session keeps how it signed in: a refreshed access token says the same.
    refreshed = await a.client.post("/auth/refresh", json={"refresh_token": answer.json()["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert claims(refreshed.json()["access_token"])["amr"] == ["swk", "mfa"]


# a passkey and TOTP


async def test_an_account_with_totp_signs_in_with_a_passkey_without_a_code(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    await added(alice)
    await enrol_totp(alice, clock)
    answer = await passkey_sign_in(a, alice.authenticator)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == TOKEN_KEYS
    assert claims(answer.json()["access_token"])["amr"] == ["hwk", "mfa"]


async def test_a_passkey_is_the_second_factor_after_a_password(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    first = await added(alice)
    alice.authenticator, laptop = Authenticator(), alice.authenticator
    clock.advance(1)
    second = await added(alice)
    alice.authenticator = laptop  # the first passkey answers
    await enrol_totp(alice, clock)
    mfa_token = await password_step(a, ALICE, ["totp", "recovery_code", "passkey"])
    options = await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": mfa_token})
    assert options.status_code == 200, options.text
    assert options.headers["cache-control"] == "no-store"
    body = options.json()
    stored = {p.id: p.credential_id for p in await a.auth.service.store.list_passkeys(alice.id)}
    assert [d["id"] for d in body["allowCredentials"]] == [stored[first["id"]], stored[second["id"]]]
    assert all(d["type"] == "public-key" for d in body["allowCredentials"])
    assert (body["rpId"], body["userVerification"]) == ("localhost", "preferred")
    done = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": mfa_token, "credential": alice.authenticator.get(body)}
    )
    assert done.status_code == 200, done.text
    assert set(done.json()) == TOKEN_KEYS
    access = claims(done.json()["access_token"])
    assert (access["sub"], access["amr"]) == (alice.id, ["pwd", "hwk", "mfa"])
    assert (await events(a, alice.id))[-1] == ("signin", f"session {access['sid']}")
    # The MFA token is spent: a fresh passkey answer on it is refused, and so are new options for it.
    again_options = await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": mfa_token})
    assert (again_options.status_code, again_options.json()) == (400, SPENT)
    again = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": mfa_token, "credential": alice.authenticator.get(body)}
    )
    assert (again.status_code, again.json()) == (400, SPENT)


async def test_mfa_verify_takes_exactly_one_of_code_and_credential(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    await added(alice)
    totp = await enrol_totp(alice, clock)
    mfa_token = await password_step(a, ALICE, ["totp", "recovery_code", "passkey"])
    options = (await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": mfa_token})).json()
    code = totp.code_at(int(clock()) // STEP)
    credential = alice.authenticator.get(options)
    for body in ({"mfa_token": mfa_token, "code": code, "credential": credential}, {"mfa_token": mfa_token}):
        answer = await a.client.post("/auth/mfa/verify", json=body)
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_body"), body.keys()
    # Neither was used up: the code still completes the sign-in.
    done = await a.client.post("/auth/mfa/verify", json={"mfa_token": mfa_token, "code": code})
    assert done.status_code == 200, done.text
    assert claims(done.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]


async def test_passkey_options_for_an_account_without_a_passkey_are_mfa_not_enabled(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    await enrol_totp(alice, clock)
    mfa_token = await password_step(a, ALICE, ["totp", "recovery_code"])
    answer = await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": mfa_token})
    assert (answer.status_code, answer.json()) == (404, NO_SECOND_FACTOR)


# a recent sign-in


async def test_adding_a_passkey_needs_a_recent_sign_in(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice = await sign_up(a)
    options = await register_options(alice)  # in time
    clock.advance(301)
    late_options = await a.client.post("/auth/passkeys/register/options", headers=alice.headers)
    late_verify = await a.client.post(
        "/auth/passkeys/register/verify",
        headers=alice.headers,
        json={"credential": alice.authenticator.create(options)},
    )
    for late in (late_options, late_verify):
        assert (late.status_code, late.json()) == (401, STEP_UP)
        assert late.headers.get_list("www-authenticate") == [STEP_UP_CHALLENGE]
    assert await a.auth.service.store.list_passkeys(alice.id) == []
    # A fresh sign-in may.
    fresh = await a.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})
    alice.headers = bearer(fresh.json()["access_token"])
    alice.authenticator = Authenticator()
    assert (await add_passkey(alice)).status_code == 201


# passkeys off, and a wrong configuration


@pytest.mark.parametrize("public_url", [None, "http://127.0.0.1:8000"])
async def test_without_a_domain_every_passkey_ceremony_is_off(
    make_app: Any, clock: Clock, public_url: str | None
) -> None:
    a = await make_app(clock=clock, **({"public_url": public_url} if public_url else {}))
    assert a.auth.config.passkeys.rp_id is None and a.auth.service.passkeys is None
    alice = await sign_up(a)
    answers = {
        "register/options": await a.client.post("/auth/passkeys/register/options", headers=alice.headers),
        "register/verify": await a.client.post(
            "/auth/passkeys/register/verify", headers=alice.headers, json={"credential": {}}
        ),
        "login/options": await a.client.post("/auth/passkeys/login/options"),
        "login/verify": await a.client.post("/auth/passkeys/login/verify", json={"credential": {}}),
        "mfa/passkey/options": await a.client.post("/auth/mfa/passkey/options", json={"mfa_token": "x"}),
    }
    assert {name: (r.status_code, r.json()) for name, r in answers.items()} == dict.fromkeys(
        answers, (501, OFF)
    )
    # A sign-in stopped for TOTP does not offer a passkey, and a passkey answer to it is off too.
    await enrol_totp(alice, clock)
    mfa_token = await password_step(a, ALICE, ["totp", "recovery_code"])
    answer = await a.client.post("/auth/mfa/verify", json={"mfa_token": mfa_token, "credential": {}})
    assert (answer.status_code, answer.json()) == (501, OFF)


async def test_with_passkeys_turned_off_the_made_ones_are_still_listed_renamed_and_removed(
    make_app: Any, clock: Clock
) -> None:
    """A server that had passkeys and lost its relying party (a new public_url on an IP, no RP ID):
    no ceremony runs, but the users still see and remove what they made (docs/passkeys.md)."""
    same_issuer = {"issuer": "fastauth"}  # so the first server's tokens verify on the second
    on = await passkey_app(make_app, clock, jwt=same_issuer)
    alice = await sign_up(on)
    made = await added(alice, "Laptop")
    off = await make_app(clock=clock, jwt=same_issuer)  # the same database, no relying party
    headers = alice.headers
    listed = await off.client.get("/auth/passkeys", headers=headers)
    assert (listed.status_code, [p["id"] for p in listed.json()]) == (200, [made["id"]])
    renamed = await off.client.patch(f"/auth/passkeys/{made['id']}", headers=headers, json={"name": "Old"})
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Old")
    options = await off.client.post("/auth/passkeys/login/options")
    assert (options.status_code, options.json()) == (501, OFF)
    removed = await off.client.delete(f"/auth/passkeys/{made['id']}", headers=headers)
    assert removed.status_code == 204
    assert await off.auth.service.store.list_passkeys(alice.id) == []


@pytest.mark.parametrize(
    ("passkeys", "named"),
    [
        ({"rp_id": "127.0.0.1"}, "passkeys.rp_id"),
        ({"rp_id": "[::1]"}, "passkeys.rp_id"),
        ({"rp_id": "example.com", "origins": ["https://app.example.org"]}, "passkeys.origins"),
        ({"rp_id": "example.com", "origins": ["https://evilexample.com"]}, "passkeys.origins"),
        ({"rp_id": "example.com", "origins": ["http://app.example.com"]}, "passkeys.origins"),
        ({"rp_id": "example.com", "origins": ["https://app.example.com/login"]}, "passkeys.origins"),
        ({"rp_id": "example.com", "origins": ["https://app.example.com/"]}, "passkeys.origins"),
    ],
)
def test_a_wrong_relying_party_setting_stops_start_up_naming_it(passkeys: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        FastAuthConfig(secret="s" * 64, public_url="https://auth.example.com", passkeys=passkeys)
    assert named in str(refused.value)
    value = passkeys.get("origins", [passkeys["rp_id"]])[0]
    assert repr(value) in str(refused.value)


def test_a_right_relying_party_setting_is_kept() -> None:
    config = FastAuthConfig(
        secret="s" * 64,
        public_url="https://auth.example.com",
        passkeys={"rp_id": "Example.COM", "origins": ["https://app.example.com", "https://example.com"]},
    )
    assert (config.passkeys.rp_id, config.passkeys.origins) == (
        "example.com", ("https://app.example.com", "https://example.com"),
    )  # fmt: skip


# the last way in


async def test_the_only_passkey_of_an_account_without_a_password_cannot_be_removed(
    make_app: Any, clock: Clock
) -> None:
    a = await passkey_app(make_app, clock)
    alice = await passwordless_account(a)
    only = await added(alice)
    refused = await a.client.delete(f"/auth/passkeys/{only['id']}", headers=alice.headers)
    assert (refused.status_code, refused.json()) == (409, LAST_WAY_IN)
    assert [p["id"] for p in await listed(alice)] == [only["id"]]
    assert ("passkey_removed", only["id"]) not in await events(a, alice.id)
    # With a second passkey the first may go, and then the second is the last.
    alice.authenticator = Authenticator()
    second = await added(alice)
    removed = await a.client.delete(f"/auth/passkeys/{only['id']}", headers=alice.headers)
    assert removed.status_code == 204
    last = await a.client.delete(f"/auth/passkeys/{second['id']}", headers=alice.headers)
    assert (last.status_code, last.json()) == (409, LAST_WAY_IN)
    assert [p["id"] for p in await listed(alice)] == [second["id"]]


async def identity_of(a: Any, user_id: str) -> IdentityRecord:
    record = IdentityRecord(
        id="ident-1", user_id=user_id, provider="mock", issuer="https://issuer.example",
        subject="sub-1", email=ALICE, created_at=int(a.auth.service.now()), last_used_at=0,
    )  # fmt: skip
    await a.auth.service.store.insert_identity(record)
    return record


async def test_a_passkey_may_go_when_a_provider_identity_remains(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice = await passwordless_account(a)
    only = await added(alice)
    await identity_of(a, alice.id)
    removed = await a.client.delete(f"/auth/passkeys/{only['id']}", headers=alice.headers)
    assert removed.status_code == 204, removed.text
    assert await listed(alice) == []


async def test_the_last_identity_may_be_unlinked_when_a_passkey_remains(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    service = a.auth.service
    alice = await passwordless_account(a)
    identity = await identity_of(a, alice.id)
    user = await service.store.get_user(alice.id)
    with pytest.raises(LastSignInMethod):  # no password, no passkey: the identity is the only way in
        await service.unlink_identity(user, identity.id)
    assert [i.id for i in await service.store.list_identities(alice.id)] == [identity.id]
    await added(alice)
    await service.unlink_identity(user, identity.id)
    assert await service.store.list_identities(alice.id) == []
    assert (await events(a, alice.id))[-1] == ("identity_unlinked", "mock")
    # And the passkey is then the way in.
    answer = await passkey_sign_in(a, alice.authenticator)
    assert answer.status_code == 200, answer.text


# an administrator's reset, and the account's deletion


@pytest.mark.parametrize("with_totp", [False, True])
async def test_mfa_reset_removes_the_passkeys_and_ends_the_sessions(
    make_app: Any, clock: Clock, with_totp: bool
) -> None:
    a = await passkey_app(make_app, clock)
    service = a.auth.service
    alice, bob = await sign_up(a), await sign_up(a, BOB)
    await added(alice)
    alice.authenticator, first = Authenticator(), alice.authenticator
    await added(alice)
    bobs = await added(bob)
    if with_totp:
        await enrol_totp(alice, clock)
    signed_in = await passkey_sign_in(a, first)
    assert signed_in.status_code == 200, signed_in.text
    assert await service.mfa_reset(ALICE) is True
    assert await service.store.list_passkeys(alice.id) == []
    assert await service.store.get_mfa(alice.id) is None
    for token in (alice.tokens["access_token"], signed_in.json()["access_token"]):
        assert (await a.client.get("/private", headers=bearer(token))).status_code == 401
    for token in (alice.tokens["refresh_token"], signed_in.json()["refresh_token"]):
        assert (await a.client.post("/auth/refresh", json={"refresh_token": token})).status_code == 401
    assert (await events(a, alice.id))[-1] == (
        "mfa_disabled",
        "reset by an administrator (2 passkeys removed)",
    )
    refused = await passkey_sign_in(a, first)
    assert (refused.status_code, refused.json()) == (400, REFUSED)
    # The password alone signs in again (no second step left); Bob keeps his passkey and his session.
    again = await a.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})
    assert (again.status_code, set(again.json())) == (200, TOKEN_KEYS)
    assert [p["id"] for p in await listed(bob)] == [bobs["id"]]
    assert (await a.client.get("/private", headers=bob.headers)).status_code == 200
    # A second reset finds nothing to remove, and records nothing.
    assert await service.mfa_reset(ALICE) is False
    assert [e for e, _ in await events(a, alice.id)].count("mfa_disabled") == 1


async def test_deleting_the_account_deletes_its_passkeys(make_app: Any, clock: Clock) -> None:
    a = await passkey_app(make_app, clock)
    alice, bob = await sign_up(a), await sign_up(a, BOB)
    await added(alice)
    bobs = await added(bob)
    credential_id = (await a.auth.service.store.list_passkeys(alice.id))[0].credential_id
    deleted = await a.client.request("DELETE", "/auth/me", headers=alice.headers, json={"password": PASSWORD})
    assert deleted.status_code == 204, deleted.text
    assert await a.auth.service.store.list_passkeys(alice.id) == []
    assert await a.auth.service.store.get_passkey(credential_id) is None
    assert [p.id for p in await a.auth.service.store.list_passkeys(bob.id)] == [bobs["id"]]
    refused = await passkey_sign_in(a, alice.authenticator)
    assert (refused.status_code, refused.json()) == (400, REFUSED)
