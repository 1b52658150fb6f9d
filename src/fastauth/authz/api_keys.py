"""API keys: their format, the check of a presented key, and the cache that makes it cheap.

A key is `fa_` + 30 random base62 characters + a 6-character base62 CRC32 of those 30 (GitHub's 2021
token format): secret scanners spot the prefix, and the checksum tells a typo or a made-up string from
a key without a database read. Only the key's SHA-256 is stored (it has 178 random bits: no slow hash
is needed, and the hash is the lookup). A checked key is cached for `cache_ttl` seconds by hash (an
unknown hash too, so a made-up key presented again costs no query; each new one still costs one, as
the checksum is public); a revocation here drops the entry at once, in other processes through the
event bus, and otherwise within `cache_ttl`. The last-use time is written in batches (`flush`), at
most once per key per `touch_interval`, never per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable

from fastauth.errors import InvalidApiKey
from fastauth.storage.base import ApiKeyRecord, ApiKeyStore

__all__ = [
    "API_KEY_PREFIX",
    "ApiKeys",
    "checksum",
    "key_hash",
    "looks_like_api_key",
    "new_api_key",
    "well_formed",
]

API_KEY_PREFIX = "fa_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM = 30
_CHECK = 6
_KEY = re.compile(rf"{API_KEY_PREFIX}[0-9A-Za-z]{{{_RANDOM + _CHECK}}}")
#: How many characters of a key are kept to show it (`fa_` and 5 random ones: 30 bits, no help).
SHOWN = len(API_KEY_PREFIX) + 5


def checksum(body: str) -> str:
    """Six base62 characters of the CRC32 of `body`."""
    value = zlib.crc32(body.encode("ascii"))
    out = []
    for _ in range(_CHECK):
        value, digit = divmod(value, 62)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def new_api_key() -> str:
    """A new key: `fa_`, 30 random base62 characters, their checksum."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM))
    return API_KEY_PREFIX + body + checksum(body)


def looks_like_api_key(text: str) -> bool:
    """Whether `text` is meant as an API key (its prefix): it is then checked as one, never as a JWT."""
    return text.startswith(API_KEY_PREFIX)


def well_formed(text: str) -> bool:
    """The format and the checksum, with no database read (the checksum compared in constant time)."""
    if len(text) != len(API_KEY_PREFIX) + _RANDOM + _CHECK or not _KEY.fullmatch(text):
        return False
    body = text[len(API_KEY_PREFIX) : -_CHECK]
    return hmac.compare_digest(checksum(body), text[-_CHECK:])


def key_hash(text: str) -> str:
    """The stored form of a key: hex SHA-256."""
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class ApiKeys:
    """Creating, checking (cached), revoking API keys; their last use recorded in batches."""

    def __init__(
        self,
        store: ApiKeyStore,
        *,
        cache_ttl: float = 30.0,
        touch_interval: int = 60,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache_ttl = cache_ttl
        self.touch_interval = touch_interval
        self.max_cached = max_cached
        self._clock = clock
        self._monotonic = monotonic
        #: hash -> (when read, the record or None for no such key)
        self._cache: OrderedDict[str, tuple[float, ApiKeyRecord | None]] = OrderedDict()
        #: key id -> last use not written yet
        self._used: dict[str, int] = {}

    def now(self) -> int:
        """The clock, in whole seconds."""
        return int(self._clock())

    async def create(
        self, user_id: str, name: str, scopes: Iterable[str], expires_at: int | None, key_id: str
    ) -> tuple[str, ApiKeyRecord]:
        """A new key of `user_id` (scopes already checked by the caller): the key, shown once, and
        its record."""
        text = new_api_key()
        record = ApiKeyRecord(
            id=key_id,
            user_id=user_id,
            name=name,
            key_hash=key_hash(text),
            prefix=text[:SHOWN],
            scopes=tuple(sorted(set(scopes))),
            created_at=self.now(),
            expires_at=expires_at,
        )
        await self.store.insert_api_key(record)
        self._cache.pop(record.key_hash, None)
        return text, record

    async def find(self, text: str) -> ApiKeyRecord:
        """The live record of a presented key; `InvalidApiKey` for a malformed key (no database
        read), an unknown, revoked or expired one."""
        if not well_formed(text):
            raise InvalidApiKey("malformed API key")
        digest = key_hash(text)
        entry = self._cache.get(digest)
        if entry is None or self._monotonic() - entry[0] > self.cache_ttl:
            entry = (self._monotonic(), await self.store.get_api_key_by_hash(digest))
            self._cache[digest] = entry
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        record = entry[1]
        if record is None:
            raise InvalidApiKey("unknown API key")
        if record.revoked_at is not None:
            raise InvalidApiKey("revoked API key")
        if record.expires_at is not None and self.now() >= record.expires_at:
            raise InvalidApiKey("expired API key")
        return record

    def forget(self, digest: str | None = None) -> None:
        """Drop one cached key by hash (all of them with None): it changed here or elsewhere."""
        if digest is None:
            self._cache.clear()
        else:
            self._cache.pop(digest, None)

    def used(self, record: ApiKeyRecord) -> None:
        """Note a use; written by the next `flush` when the stored time is `touch_interval` old."""
        now = self.now()
        last = record.last_used_at
        if last is None or now - last >= self.touch_interval:
            self._used[record.id] = now
            record.last_used_at = now  # the cached record: one note per interval, not per request

    async def flush(self) -> None:
        """Write the noted uses (a failure keeps them for the next flush)."""
        if not self._used:
            return
        batch, self._used = self._used, {}
        try:
            await self.store.touch_api_keys(batch)
        except Exception:
            for key_id, at in batch.items():
                self._used.setdefault(key_id, at)
            raise

    async def revoke(self, key_id: str, *, user_id: str | None = None) -> ApiKeyRecord | None:
        """Revoke (only `user_id`'s key, when given); the record as it was, or None when not live."""
        record = await self.store.get_api_key(key_id)
        if record is None or (user_id is not None and record.user_id != user_id):
            return None
        if not await self.store.revoke_api_key(key_id, self.now(), user_id=user_id):
            return None
        self.forget(record.key_hash)
        return record
