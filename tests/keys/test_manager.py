"""`KeyManager` against the real SQLAlchemy adapter (SQLite and PostgreSQL), with a clock moved by hand.

Covers jwt-security.md section 3: one active key and several verification keys (K1), the next key
published before it signs (K3), thumbprint kids (K6), one algorithm per key (K7), emergency retirement
refusing a key's tokens at once (K11); and the issue's key-store rules: convergence of processes that
start at once, private keys sealed under `secret`, states derived from times.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from fastauth import FastAuth, FastAuthConfig
from fastauth.errors import ConfigError, UnknownKey
from fastauth.keys import generate_private_key, private_key_to_pem
from fastauth.keys.manager import KeyManager
from fastauth.keys.sealing import unseal
from fastauth.storage.sqlalchemy import SQLAlchemyAdapter
from fastauth.tokens import TokenEngine
from support.clock import Clock
from support.forge import kid_of
from support.keys import ec_public_jwk, thumbprint

SECRET = "key-store-test-secret-" + "s" * 40
OTHER_SECRET = "a-different-secret-" + "d" * 40
LIFETIME = 50


def manager(
    store: Any,
    clock: Clock,
    *,
    secret: str = SECRET,
    algorithm: str = "ES256",
    lifetime: int = LIFETIME,
    interval: int | None = None,
    ahead: int = 300,
) -> tuple[KeyManager, TokenEngine]:
    """A KeyManager and the token engine whose key ring it keeps current (as FastAuth wires them)."""
    engine = TokenEngine(None, access_ttl=3600, refresh_ttl=3600, leeway=0, clock=clock)

    def use(ring: Any) -> None:
        engine.keyring = ring

    keys = KeyManager(
        store,
        secret=secret,
        algorithm=algorithm,
        token_lifetime=lifetime,
        rotation_interval=interval,
        publish_ahead=ahead,
        clock=clock,
        on_ring=use,
    )
    return keys, engine


def states(keys: KeyManager) -> list[tuple[str, str]]:
    return [(s.record.kid, s.state) for s in keys.states()]


def ring_kids(keys: KeyManager) -> set[str]:
    assert keys.ring is not None
    return {key.kid for key in keys.ring}


def access(engine: TokenEngine) -> str:
    return engine.issue_access("user-1", "session-1").token


# --- first key, convergence ------------------------------------------------------------------------


async def test_an_empty_store_gets_one_active_key(adapter: SQLAlchemyAdapter, clock: Clock) -> None:
    keys, engine = manager(adapter, clock)
    ring = await keys.initialize()
    (row,) = await adapter.list_keys()
    assert (row.algorithm, row.generation, row.activate_at, row.retired_at) == (
        "ES256",
        0,
        int(clock()),
        None,
    )
    assert states(keys) == [(row.kid, "active")]
    assert ring.active is not None and ring.active.kid == row.kid and len(ring) == 1
    assert engine.keyring is ring
    # The kid is the RFC 7638 thumbprint of the public key (K6), computed here independently.
    assert row.kid == thumbprint(ring.active.public_jwk())
    token = access(engine)
    assert kid_of(token) == row.kid and engine.verify_access(token).sub == "user-1"

    # Idempotent, and a second process reads the same key instead of making its own.
    await keys.initialize()
    other, other_engine = manager(adapter, clock)
    await other.initialize()
    assert other.ring is not None and other.ring.active is not None
    assert other.ring.active.kid == row.kid
    assert other_engine.verify_access(token).kid == row.kid
    assert len(await adapter.list_keys()) == 1


async def test_managers_starting_at_once_converge_on_one_key(
    adapter: SQLAlchemyAdapter, clock: Clock
) -> None:
    pairs = [manager(adapter, clock) for _ in range(8)]
    rings = await asyncio.gather(*(keys.initialize() for keys, _ in pairs))
    rows = await adapter.list_keys()
    assert len(rows) == 1, "processes starting at once must share one key"
    assert {ring.active.kid for ring in rings if ring.active} == {rows[0].kid}
    assert all(states(keys) == [(rows[0].kid, "active")] for keys, _ in pairs)
    # Tokens signed by any of them verify in all of them.
    token = access(pairs[3][1])
    for _, engine in pairs:
        assert engine.verify_access(token).kid == rows[0].kid


async def test_separate_engines_on_an_empty_database_converge(database_url: str, clock: Clock) -> None:
    """As two processes would: their own engine each, creating the tables and the first key at once."""
    stores = [SQLAlchemyAdapter(database_url) for _ in range(4)]
    try:

        async def boot(store: SQLAlchemyAdapter) -> str:
            await store.create_tables()
            ring = await manager(store, clock)[0].initialize()
            assert ring.active is not None
            return ring.active.kid

        kids = await asyncio.gather(*(boot(store) for store in stores))
        rows = await stores[0].list_keys()
        assert len(rows) == 1
        assert set(kids) == {rows[0].kid}
    finally:
        for store in stores:
            await store.dispose()


@pytest.mark.parametrize(
    ("interval", "ahead", "lead"),
    [(4, 300, 2), (None, 300, 300), (3600, 300, 300), (100, 10, 10), (None, 0, 0)],
)
def test_lead_time_is_the_cache_lifetime_or_half_the_interval(
    interval: int | None, ahead: int, lead: int, clock: Clock
) -> None:
    keys, _ = manager(object(), clock, interval=interval, ahead=ahead)
    assert keys.lead == lead
    # Reloads come often enough to see a published key before it signs.
    assert keys.reload_interval <= max(0.5, lead / 2)


# --- rotation -------------------------------------------------------------------------------------


async def test_rotation_publishes_the_next_key_ahead_and_retires_the_old_one(
    adapter: SQLAlchemyAdapter, clock: Clock
) -> None:
    t0 = int(clock())
    keys, engine = manager(adapter, clock, interval=4, lifetime=10)
    assert keys.lead == 2
    await keys.initialize()
    (a,) = ring_kids(keys)
    token_a = access(engine)

    clock.advance(1)
    await keys.maybe_refresh()
    assert states(keys) == [(a, "active")]

    clock.advance(1)  # t0 + 2: `lead` seconds before the rotation, the next key is published
    await keys.maybe_refresh()
    rows = {row.kid: row for row in await adapter.list_keys()}
    assert len(rows) == 2
    b = next(kid for kid in rows if kid != a)
    assert rows[b].activate_at == t0 + 4 and rows[b].generation == 1
    assert states(keys) == [(a, "active"), (b, "next")]
    assert ring_kids(keys) == {a, b}
    assert keys.ring is not None and {k["kid"] for k in keys.ring.jwks()["keys"]} == {a, b}
    assert kid_of(access(engine)) == a, "a next key must not sign yet"

    # A process that loads during the lead time knows b before it signs, and makes no key of its own.
    other, other_engine = manager(adapter, clock, interval=4, lifetime=10)
    await other.initialize()
    assert states(other) == [(a, "active"), (b, "next")]
    assert len(await adapter.list_keys()) == 2

    clock.advance(2)  # t0 + 4: b signs, a only verifies
    await keys.maybe_refresh()
    assert states(keys) == [(a, "retiring"), (b, "active")]
    assert keys.states()[0].verifies_until == t0 + 4 + 10
    token_b = access(engine)
    assert kid_of(token_b) == b
    assert engine.verify_access(token_a).kid == a, "tokens of the previous key keep working"
    # The other process has not reloaded since t0 + 2, yet b's tokens verify there: it was published.
    assert other_engine.verify_access(token_b).kid == b
    assert other_engine.verify_access(token_a).kid == a

    clock.advance(9)  # t0 + 13: a still within the lifetime of the tokens it signed
    await keys.maybe_refresh()
    assert a in ring_kids(keys)
    assert engine.verify_access(token_a).kid == a

    clock.advance(1)  # t0 + 14: every token a signed has expired: a leaves the ring and the JWKS
    await keys.maybe_refresh()
    by_kid = dict(states(keys))
    assert by_kid[a] == "retired" and by_kid[b] == "active"
    assert a not in ring_kids(keys)
    with pytest.raises(UnknownKey):
        engine.verify_access(token_a)
    # Rotation went on meanwhile: a third key is published ahead of its turn.
    assert sorted(by_kid.values()) == ["active", "next", "retired"]


async def test_rotate_publishes_ahead_or_at_once(adapter: SQLAlchemyAdapter, clock: Clock) -> None:
    keys, engine = manager(adapter, clock, ahead=30)
    await keys.initialize()
    (a,) = ring_kids(keys)
    b = (await keys.rotate()).kid
    assert states(keys) == [(a, "active"), (b, "next")]
    assert kid_of(access(engine)) == a
    c = (await keys.rotate(immediately=True)).kid
    assert dict(states(keys)) == {a: "retiring", c: "active", b: "next"}
    assert kid_of(access(engine)) == c
    clock.advance(30)
    await keys.refresh()
    assert dict(states(keys)) == {a: "retiring", c: "retiring", b: "active"}


async def test_an_unknown_kid_reloads_the_store_at_most_once_a_second(
    adapter: SQLAlchemyAdapter, clock: Clock
) -> None:
    first, first_engine = manager(adapter, clock)
    second, second_engine = manager(adapter, clock)
    await first.initialize()
    await second.initialize()
    clock.advance(5)
    new = (await first.rotate(immediately=True)).kid
    token = access(first_engine)
    assert kid_of(token) == new
    with pytest.raises(UnknownKey):
        second_engine.verify_access(token)
    assert await second.reload_for_unknown_kid() is True
    assert second_engine.verify_access(token).kid == new
    assert await second.reload_for_unknown_kid() is False, "a burst of unknown kids must not hammer the DB"
    clock.advance(1)
    assert await second.reload_for_unknown_kid() is True


# --- emergency retirement ---------------------------------------------------------------------------


async def test_retiring_the_active_key_refuses_its_tokens_at_once(
    adapter: SQLAlchemyAdapter, database_url: str, clock: Clock
) -> None:
    keys, engine = manager(adapter, clock)
    await keys.initialize()
    (a,) = ring_kids(keys)
    token_a = access(engine)
    # Another process, with its own connection pool.
    other_store = SQLAlchemyAdapter(database_url)
    try:
        other, other_engine = manager(other_store, clock)
        await other.initialize()
        assert other_engine.verify_access(token_a).kid == a

        assert await keys.retire(a) is True
        with pytest.raises(UnknownKey):
            engine.verify_access(token_a)  # at once, in this process
        (b,) = ring_kids(keys)
        assert b != a
        assert states(keys) == [(a, "retired"), (b, "active")]
        token_b = access(engine)
        assert kid_of(token_b) == b
        assert await keys.retire(a) is False
        assert await keys.retire("no-such-kid") is False

        # The other process refuses it after its reload interval (no request needed: maybe_refresh
        # is what its background task runs).
        clock.advance(other.reload_interval)
        await other.maybe_refresh()
        with pytest.raises(UnknownKey):
            other_engine.verify_access(token_a)
        assert other_engine.verify_access(token_b).kid == b
    finally:
        await other_store.dispose()


async def test_retiring_the_active_key_never_revives_the_previous_one(
    adapter: SQLAlchemyAdapter, clock: Clock
) -> None:
    keys, engine = manager(adapter, clock, lifetime=100)
    await keys.initialize()
    (a,) = ring_kids(keys)
    token_a = access(engine)
    clock.advance(1)
    b = (await keys.rotate(immediately=True)).kid
    assert states(keys) == [(a, "retiring"), (b, "active")]

    await keys.retire(b)
    by_kid = dict(states(keys))
    (c,) = set(by_kid) - {a, b}
    assert by_kid == {a: "retiring", b: "retired", c: "active"}, "a superseded key must never sign again"
    assert keys.ring is not None and keys.ring.active is not None and keys.ring.active.kid == c
    assert kid_of(access(engine)) == c
    assert engine.verify_access(token_a).kid == a  # a was not compromised: its tokens live out
    clock.advance(100)
    await keys.refresh()
    assert dict(states(keys))[a] == "retired"
    assert dict(states(keys))[c] == "active"


async def test_retiring_a_retiring_key_keeps_the_active_one(adapter: SQLAlchemyAdapter, clock: Clock) -> None:
    keys, engine = manager(adapter, clock)
    await keys.initialize()
    (a,) = ring_kids(keys)
    token_a = access(engine)
    b = (await keys.rotate(immediately=True)).kid
    token_b = access(engine)
    await keys.retire(a)
    assert states(keys) == [(a, "retired"), (b, "active")]
    assert len(await adapter.list_keys()) == 2
    with pytest.raises(UnknownKey):
        engine.verify_access(token_a)
    assert engine.verify_access(token_b).kid == b


# --- sealing -------------------------------------------------------------------------------------------


async def test_private_keys_are_sealed_in_the_database(adapter: SQLAlchemyAdapter, clock: Clock) -> None:
    keys, _ = manager(adapter, clock)
    ring = await keys.initialize()
    assert ring.active is not None
    private_pem = ring.active.key.as_pem(private=True).decode()
    private_d = ring.active.key.as_dict(private=True)["d"]
    async with adapter.engine.connect() as conn:
        row = (await conn.execute(text("SELECT kid, public_pem, private_sealed FROM fastauth_keys"))).one()
    sealed = row.private_sealed
    assert sealed.startswith("v1.")
    assert "PRIVATE KEY" not in sealed and "-----BEGIN" not in sealed
    body = "".join(private_pem.strip().splitlines()[1:-1])
    assert body[:40] not in sealed and private_d not in sealed
    assert "BEGIN PUBLIC KEY" in row.public_pem and "PRIVATE" not in row.public_pem

    # It opens with the secret, for this kid only, and holds the matching private key.
    opened = unseal(SECRET, row.kid, sealed)
    loaded = serialization.load_pem_private_key(opened.encode(), password=None)
    public = serialization.load_pem_public_key(row.public_pem.encode())
    der = serialization.PublicFormat.SubjectPublicKeyInfo
    assert loaded.public_key().public_bytes(serialization.Encoding.DER, der) == public.public_bytes(
        serialization.Encoding.DER, der
    )
    with pytest.raises(ConfigError):
        unseal(SECRET, "another-kid", sealed)  # the kid is bound as associated data


async def test_a_different_secret_is_a_clear_configuration_error(
    adapter: SQLAlchemyAdapter, database_url: str, clock: Clock
) -> None:
    await manager(adapter, clock)[0].initialize()
    wrong, _ = manager(adapter, clock, secret=OTHER_SECRET)
    with pytest.raises(ConfigError) as info:
        await wrong.initialize()
    message = str(info.value)
    assert "FASTAUTH_SECRET differs" in message
    assert OTHER_SECRET not in message and SECRET not in message
    assert len(await adapter.list_keys()) == 1, "a wrong secret must not make keys of its own"

    # The same at FastAuth start-up, never later at the first login.
    auth = FastAuth(
        FastAuthConfig(secret=OTHER_SECRET, database_url=database_url, jwt={"algorithm": "ES256"})
    )
    try:
        with pytest.raises(ConfigError, match="FASTAUTH_SECRET differs"):
            await auth.startup()
    finally:
        await auth.shutdown()


# --- algorithm change, PEM keys -----------------------------------------------------------------------


async def test_changing_the_algorithm_makes_a_new_active_key(
    adapter: SQLAlchemyAdapter, clock: Clock
) -> None:
    es, es_engine = manager(adapter, clock, algorithm="ES256")
    await es.initialize()
    (old,) = ring_kids(es)
    token_old = access(es_engine)
    clock.advance(1)

    ed, ed_engine = manager(adapter, clock, algorithm="EdDSA")
    await ed.initialize()
    by_kid = dict(states(ed))
    (new,) = set(by_kid) - {old}
    assert by_kid == {old: "retiring", new: "active"}
    assert ed.ring is not None and ed.ring.active is not None
    assert (ed.ring.active.kid, ed.ring.active.alg) == (new, "EdDSA")
    published = {key["kid"]: (key["kty"], key["crv"], key["alg"]) for key in ed.ring.jwks()["keys"]}
    assert published == {old: ("EC", "P-256", "ES256"), new: ("OKP", "Ed25519", "EdDSA")}
    assert ed_engine.verify_access(token_old).kid == old
    token_new = access(ed_engine)
    assert kid_of(token_new) == new
    # Starting again with EdDSA makes no further key.
    again, _ = manager(adapter, clock, algorithm="EdDSA")
    await again.initialize()
    assert len(await adapter.list_keys()) == 2


async def test_a_rolling_algorithm_change_does_not_make_keys_at_every_reload(
    adapter: SQLAlchemyAdapter, clock: Clock
) -> None:
    """Old-configuration (ES256) and new-configuration (EdDSA) processes side by side, reloading."""
    old, old_engine = manager(adapter, clock, algorithm="ES256")
    await old.initialize()
    new, new_engine = manager(adapter, clock, algorithm="EdDSA")
    await new.initialize()  # the switch happens here, once
    for _ in range(5):
        clock.advance(30)
        await old.maybe_refresh()
        await new.maybe_refresh()
    rows = await adapter.list_keys()
    assert sorted(row.algorithm for row in rows) == ["ES256", "EdDSA"], "one key per algorithm, no storm"
    # The old process signs with the active EdDSA key meanwhile; both verify each other's tokens.
    token = access(old_engine)
    assert kid_of(token) == next(row.kid for row in rows if row.algorithm == "EdDSA")
    assert new_engine.verify_access(token).kid == kid_of(token)
    assert old_engine.verify_access(access(new_engine)).kid == kid_of(token)


async def test_pem_keys_use_their_thumbprint_as_kid_and_store_nothing(database_url: str) -> None:
    private = generate_private_key("ES256")
    config = FastAuthConfig(
        secret=SECRET,
        database_url=database_url,
        jwt={"algorithm": "ES256", "private_key": private_key_to_pem(private)},
    )
    expected = thumbprint(ec_public_jwk(private))
    first, second = FastAuth(config), FastAuth(config)
    try:
        await first.startup()
        await second.startup()
        assert first.keys is None
        for auth in (first, second):
            ring = auth.engine.keyring
            assert ring is not None and ring.active is not None
            assert ring.active.kid == expected, "every process names a PEM key the same"
        assert await first.adapter.list_keys() == []
    finally:
        await first.shutdown()
        await second.shutdown()


async def test_long_retired_keys_are_deleted_oldest_first(adapter: SQLAlchemyAdapter, clock: Clock) -> None:
    from fastauth.keys.manager import PRUNE_AFTER

    keys, engine = manager(adapter, clock, lifetime=10)
    await keys.initialize()
    (a,) = ring_kids(keys)
    b = (await keys.rotate(immediately=True)).kid
    clock.advance(1)
    c = (await keys.rotate(immediately=True)).kid
    await keys.retire(b)  # explicitly retired, between a (retired by age later) and c
    clock.advance(20)  # a and b are retired now, but recently: still listed
    await keys.refresh()
    assert {kid for kid, state in states(keys) if state == "retired"} >= {a, b}
    assert {row.kid for row in await adapter.list_keys()} >= {a, b, c}

    clock.advance(PRUNE_AFTER)
    await keys.refresh()
    remaining = {row.kid for row in await adapter.list_keys()}
    assert a not in remaining and b not in remaining
    active = [kid for kid, state in states(keys) if state == "active"]
    assert active and active[0] in remaining
    assert kid_of(access(engine)) == active[0]
    assert all(state != "retiring" for _, state in states(keys))
