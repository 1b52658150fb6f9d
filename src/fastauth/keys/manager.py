"""Signing keys that many processes share through the database, and their rotation.

Each key row carries a generation number (unique), the time it starts signing (`activate_at`) and,
after an emergency, `retired_at`. Every state follows from those times, so processes that read the
same rows agree without talking to each other:

- **next**: published, `activate_at` still ahead (caches learn it before it signs);
- **active**: the newest key whose `activate_at` has passed; it signs;
- **retiring**: superseded, still verifying until every token it signed has expired;
- **retired**: explicitly retired, or superseded longer ago than the longest token lifetime; refused.

Rotation inserts generation N+1; when two processes race, the unique generation lets one win and the
other reads the winner's key. Private keys are sealed with a key derived from `secret`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastauth.errors import ConfigError
from fastauth.keys.sealing import seal, unseal
from fastauth.storage.base import KeyRecord, KeyStore
from fastauth.tokens.keyring import KeyRing, SigningKey
from fastauth.tokens.pem import generate_private_key, private_key_to_pem, public_key_to_pem
from fastauth.tokens.reload import KidReload

__all__ = ["KeyManager", "KeyRecord", "KeyState", "KeyStore"]

State = Literal["next", "active", "retiring", "retired"]

#: Retired keys stay listed (`fastauth keys list`) this long before their rows are deleted.
PRUNE_AFTER = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class KeyState:
    """A stored key and its state at one moment (see the module docstring for the four states)."""

    record: KeyRecord
    state: State
    #: When a retiring key stops verifying (None for other states).
    verifies_until: int | None = None


class KeyManager:
    """Loads the shared keys, keeps the engine's key ring current, rotates on an interval."""

    def __init__(
        self,
        store: KeyStore,
        *,
        secret: str,
        algorithm: str,
        token_lifetime: int,
        rotation_interval: int | None = None,
        publish_ahead: int = 300,
        rsa_bits: int = 2048,
        clock: Callable[[], float] = time.time,
        on_ring: Callable[[KeyRing], None] | None = None,
    ) -> None:
        self.store = store
        self._secret = secret
        self.algorithm = algorithm
        self.token_lifetime = token_lifetime
        self.rotation_interval = rotation_interval
        # Publish the next key ahead of signing by the JWKS cache lifetime, or half the interval when
        # that is shorter (so a short interval really rotates).
        self.lead = min(publish_ahead, rotation_interval // 2) if rotation_interval else publish_ahead
        # Reload often enough that a key published by another process is seen before it signs.
        self.reload_interval = max(0.5, min(30.0, self.lead / 2))
        self.rsa_bits = rsa_bits
        self.clock = clock
        self.on_ring = on_ring
        self.ring: KeyRing | None = None
        self.records: list[KeyRecord] = []
        self._parsed: dict[str, SigningKey] = {}
        self.next_check = 0.0
        #: The unknown-kid rule: a token naming a kid we lack reloads the store at most once a second.
        #: Scheduled reloads are not reported to it, so a key another process creates just after one
        #: is still found at first sight; the bound on database reads stays one a second.
        self.unknown_kid = KidReload(1.0, clock=clock)
        self._lock = asyncio.Lock()

    # state

    def states(self, now: int | None = None) -> list[KeyState]:
        """Every stored key with its state at `now`, oldest first."""
        at = int(self.clock()) if now is None else now
        out: list[KeyState] = []
        ordered = sorted(self.records, key=lambda r: (r.activate_at, r.generation))
        # Every key that has started signing, explicitly retired ones included: a key superseded by a
        # later one stays superseded when that later one is retired in an emergency (it must never
        # sign again; a fresh key takes over instead).
        started = [r for r in ordered if r.activate_at <= at]
        successor = {id(r): started[i + 1] for i, r in enumerate(started[:-1])}
        for record in ordered:
            if _retired(record, at):
                out.append(KeyState(record, "retired"))
            elif record.activate_at > at:
                out.append(KeyState(record, "next"))
            elif id(record) not in successor:
                out.append(KeyState(record, "active"))
            else:
                until = successor[id(record)].activate_at + self.token_lifetime
                out.append(KeyState(record, "retiring", until) if until > at else KeyState(record, "retired"))
        return out

    def _key(self, record: KeyRecord) -> SigningKey:
        key = self._parsed.get(record.kid)
        if key is None:
            pem = unseal(self._secret, record.kid, record.private_sealed)
            key = SigningKey.from_pem(record.algorithm, pem, record.public_pem, kid=record.kid)
            self._parsed[record.kid] = key
        return key

    def _build(self, now: int) -> tuple[KeyRing | None, float]:
        states = self.states(now)
        usable = [s for s in states if s.state != "retired"]
        active = next((s.record for s in usable if s.state == "active"), None)
        ring = KeyRing([self._key(s.record) for s in usable], active_kid=active.kid) if active else None
        checks = [now + self.reload_interval]
        checks += [s.record.activate_at for s in usable if s.state == "next"]
        checks += [s.verifies_until for s in usable if s.verifies_until is not None]
        due = self._rotation_due()
        if due is not None:
            checks.append(due)
        return ring, min(checks)

    def _rotation_due(self) -> int | None:
        if not self.rotation_interval or not self.records:
            return None
        newest = max(self.records, key=lambda r: r.generation)
        return newest.activate_at + self.rotation_interval - self.lead

    # loading and rotating

    async def initialize(self) -> KeyRing:
        """Load the shared keys, creating the first one on an empty store. Idempotent."""
        ring = await self.refresh(adopt_algorithm=True)
        if ring is None:  # pragma: no cover - refresh always leaves an active key
            raise ConfigError("no signing key could be loaded or created")
        return ring

    async def refresh(self, *, adopt_algorithm: bool = False) -> KeyRing | None:
        """Re-read the store; create a key when none is active or a rotation is due; swap the ring.

        With `adopt_algorithm` (at start-up), an active key of another algorithm is replaced by one of
        ours: that is how a configuration change of `algorithm` takes effect. Later reloads sign with
        whatever key is active, so processes of the old and the new configuration running side by side
        (a rolling deployment) do not take turns creating keys at every reload.
        """
        async with self._lock:
            for _ in range(5):
                now = int(self.clock())
                self.records = await self.store.list_keys()
                states = self.states(now)
                active = next((s.record for s in states if s.state == "active"), None)
                due = self._rotation_due()
                if active is None or (adopt_algorithm and active.algorithm != self.algorithm):
                    await self._create(activate_at=now)
                    continue
                if due is not None and now >= due and not any(s.state == "next" for s in states):
                    newest = max(self.records, key=lambda r: r.generation)
                    await self._create(
                        activate_at=max(newest.activate_at + (self.rotation_interval or 0), now + self.lead)
                    )
                    continue
                break
            await self._prune(int(self.clock()))
            ring, next_check = self._build(int(self.clock()))
            self.ring, self.next_check = ring, next_check
            if ring is not None and self.on_ring is not None:
                self.on_ring(ring)
            return ring

    async def _prune(self, now: int) -> None:
        """Delete the oldest keys that have been retired for longer than `PRUNE_AFTER`.

        Only a prefix of the keys in activation order goes, so every remaining key keeps its successor
        and no retired key can ever look "retiring" again.
        """
        states = self.states(now)
        gone: list[str] = []
        for index, state in enumerate(states):
            if state.state != "retired" or state.record.activate_at > now:
                break
            record = state.record
            if record.retired_at is not None:
                ended = record.retired_at
            elif index + 1 < len(states):
                ended = states[index + 1].record.activate_at + self.token_lifetime
            else:  # pragma: no cover - the newest started key is active or explicitly retired
                break
            if ended > now - PRUNE_AFTER:
                break
            if await self.store.delete_key(record.kid):
                gone.append(record.kid)
        if gone:
            self.records = [r for r in self.records if r.kid not in gone]
            for kid in gone:
                self._parsed.pop(kid, None)

    async def load_ring(self) -> KeyRing | None:
        """Read the stored keys into the ring without creating, rotating or pruning any (inspection:
        `fastauth decode --verify`)."""
        async with self._lock:
            self.records = await self.store.list_keys()
            ring, self.next_check = self._build(int(self.clock()))
            self.ring = ring
            if ring is not None and self.on_ring is not None:
                self.on_ring(ring)
            return ring

    async def load(self) -> list[KeyState]:
        """Read the stored keys and their states without opening any private key.

        For listing and retiring: those must work even when the stored keys cannot be opened (a
        changed `secret`), since retiring them is one way out.
        """
        self.records = await self.store.list_keys()
        return self.states()

    async def maybe_refresh(self) -> None:
        """Cheap unless a key changes state or the reload interval has passed."""
        if self.clock() >= self.next_check:
            await self.refresh()

    async def reload_for_unknown_kid(self) -> bool:
        """A token named a kid we do not know: maybe another process just published it. Rate-limited
        by `unknown_kid`; True when verifying again is worth it."""
        return await self.unknown_kid.reload(self.refresh)

    async def _create(self, *, activate_at: int) -> KeyRecord | None:
        private = generate_private_key(self.algorithm, self.rsa_bits)
        key = SigningKey.from_keys(self.algorithm, private, private.public_key())
        generation = max((r.generation for r in self.records), default=-1) + 1
        record = KeyRecord(
            kid=key.kid,
            algorithm=self.algorithm,
            generation=generation,
            public_pem=public_key_to_pem(private.public_key()),
            private_sealed=seal(self._secret, key.kid, private_key_to_pem(private)),
            created_at=int(self.clock()),
            activate_at=activate_at,
        )
        if await self.store.insert_key(record):
            self._parsed[key.kid] = key
            return record
        return None  # another process won the generation: the caller re-reads

    async def rotate(self, *, immediately: bool = False) -> KeyRecord:
        """Publish a new key now; it signs after the lead time (or at once with `immediately`)."""
        async with self._lock:
            self.records = await self.store.list_keys()
            now = int(self.clock())
            record = await self._create(activate_at=now if immediately else now + self.lead)
        if record is None:
            raise ConfigError("another process rotated at the same moment; run the command again")
        await self.refresh()
        return record

    async def retire(self, kid: str) -> bool:
        """Emergency: refuse this key's tokens from now on; a new key takes over if it was active."""
        done = await self.store.retire_key(kid, int(self.clock()))
        self._parsed.pop(kid, None)
        await self.refresh()
        return done


def _retired(record: KeyRecord, now: int) -> bool:
    return record.retired_at is not None and record.retired_at <= now
