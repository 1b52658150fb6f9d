"""Accounts: register, authenticate, change password, and a small cache of users for the hot path.

Framework-free. Login answers the same `InvalidCredentials` for an unknown email, a wrong password
and an inactive account, after the same amount of hashing work.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from cuid2 import Cuid
from email_validator import EmailNotValidError, validate_email

from fastauth.errors import CurrentPasswordWrong, InvalidCredentials, InvalidEmail, PasswordPolicyError
from fastauth.fields import UserFields, Username
from fastauth.passwords import PasswordHasher
from fastauth.storage.base import User, UserStore

__all__ = ["Accounts", "UserCache", "new_user_id", "normalize_email", "rate_limit_key"]

_CUID = Cuid(length=25)


def new_user_id() -> str:
    """A new account's id: a cuid2 string."""
    return _CUID.generate()


def normalize_email(email: str) -> str:
    """The one spelling an email is stored and looked up under; `InvalidEmail` when it is not one."""
    if not _is_text(email):
        raise InvalidEmail("the email address is not valid Unicode text")
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None
    return result.normalized.lower()


def _is_text(value: str) -> bool:
    """False for strings UTF-8 cannot encode (lone surrogates, which JSON's `\\ud800` escapes allow)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def rate_limit_key(email: str) -> str:
    """The login budget's key for an email: one budget per account whatever the spelling (case, NFC/NFD,
    punycode domain); text that is not an email still gets a stable key of its own."""
    try:
        return normalize_email(email)
    except InvalidEmail:
        return email.strip().lower()


class UserCache:
    """Users by id for `get_current_user`, so a protected request costs no database query.

    Every change made through fastauth invalidates the entry; `ttl` bounds how long a change made
    behind fastauth's back (another tool writing the table) can go unseen.
    """

    def __init__(
        self, ttl: float = 30.0, max_size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ):
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._users: OrderedDict[str, tuple[float, User]] = OrderedDict()

    def get(self, user_id: str) -> User | None:
        """The cached user, or None when absent or older than `ttl`."""
        entry = self._users.get(user_id)
        if entry is None:
            return None
        if self._clock() - entry[0] > self.ttl:
            del self._users[user_id]
            return None
        return entry[1]

    def put(self, user: User) -> None:
        """Cache `user` (the oldest entry goes beyond `max_size`)."""
        self._users[user.id] = (self._clock(), user)
        self._users.move_to_end(user.id)
        while len(self._users) > self.max_size:
            self._users.popitem(last=False)

    def invalidate(self, user_id: str) -> None:
        """Forget one user (it changed)."""
        self._users.pop(user_id, None)

    def clear(self) -> None:
        """Forget everyone (changes may have been missed)."""
        self._users.clear()


class Accounts:
    """Users: create, authenticate, change password, and the cached reads behind `get_current_user`.

    Fires no hooks: the service does, once per action, whatever the entry point.
    """

    def __init__(
        self,
        store: UserStore,
        hasher: PasswordHasher,
        *,
        password_min_length: int = 8,
        password_max_length: int = 1024,
        cache: UserCache | None = None,
        clock: Callable[[], float] = time.time,
        notify: Callable[[str], Awaitable[None]] | None = None,
        username: Username | None = None,
    ) -> None:
        self.store = store
        #: The `Unique` field that signs in as well as the email (`username_field`), or None.
        self.username = username
        self.hasher = hasher
        self.password_min_length = password_min_length
        self.password_max_length = password_max_length
        self.cache = cache if cache is not None else UserCache()
        self.clock = clock
        #: Tells other processes that a user changed (Redis pub/sub, when configured).
        self.notify = notify

    def check_password(self, password: str) -> None:
        """Length only (NIST SP 800-63B): any Unicode, no composition rules, never truncated."""
        if not isinstance(password, str) or not _is_text(password):
            raise PasswordPolicyError("password must be valid Unicode text")
        if len(password) < self.password_min_length:
            raise PasswordPolicyError(f"password must be at least {self.password_min_length} characters long")
        if len(password) > self.password_max_length:
            raise PasswordPolicyError(f"password must be at most {self.password_max_length} characters long")

    async def register(
        self,
        email: str,
        password: str,
        *,
        is_superuser: bool = False,
        is_verified: bool = False,
        fields: UserFields | None = None,
    ) -> User:
        """Create an account: `EmailTaken` for a known (normalised) email, `InvalidEmail` for a non-email,
        `FieldTaken` for a `Unique` field's value another user has."""
        user = await self.new_user(
            email, password, is_superuser=is_superuser, is_verified=is_verified, fields=fields
        )
        await self.store.create_user(user)
        return user

    async def new_user(
        self,
        email: str,
        password: str,
        *,
        is_superuser: bool = False,
        is_verified: bool = False,
        fields: UserFields | None = None,
    ) -> User:
        """A checked, hashed, not yet stored user (for `Sessions.start(..., create_user=True)`);
        `fields`: the application's, validated already."""
        normalized = normalize_email(email)
        self.check_password(password)
        return User(
            id=new_user_id(),
            email=normalized,
            hashed_password=await self.hasher.hash(password),
            is_superuser=is_superuser,
            is_verified=is_verified,
            created_at=int(self.clock()),
            fields=fields if fields is not None else UserFields(),
        )

    async def find(self, identifier: str) -> User | None:
        """The user an email names or, with a `username` field, the one whose username it is: the text
        is an email when it reads as one (usernames never should), else a username."""
        try:
            return await self.store.get_user_by_email(normalize_email(identifier))
        except InvalidEmail:
            if self.username is None:
                return None
        try:
            value = self.username.value(identifier)
        except ValueError:
            return None
        return await self.store.get_user_by_field(self.username.name, value)

    async def authenticate(self, email: str, password: str) -> User:
        """The user for these credentials (an email, or a username when configured), or
        `InvalidCredentials` after a full hash check either way."""
        user = await self.find(email)
        if len(password) > self.password_max_length or not _is_text(password):
            valid, new_hash = False, None  # never hash unbounded or unencodable input, but spend the time
            await self.hasher.verify("", None)
        else:
            valid, new_hash = await self.hasher.verify(password, user.hashed_password if user else None)
        if user is None or not valid or not user.is_active:
            raise InvalidCredentials("invalid email or password")
        if new_hash is not None:  # parameters changed since this hash was made
            user = await self.update(user.id, hashed_password=new_hash) or user
        return user

    async def get_user(self, user_id: str, *, fresh: bool = False) -> User | None:
        """The user by id: from the cache unless `fresh`, else from the store (and cached)."""
        if not fresh:
            cached = self.cache.get(user_id)
            if cached is not None:
                return cached
        user = await self.store.get_user(user_id)
        if user is not None:
            self.cache.put(user)
        else:
            self.cache.invalidate(user_id)
        return user

    async def save(self, user: User) -> None:
        """Write a changed user and drop it from the cache, here and (through `notify`) everywhere."""
        await self.store.update_user(user)
        self.cache.invalidate(user.id)
        if self.notify is not None:
            await self.notify(f"user:{user.id}")

    async def update(self, user_id: str, **changes: Any) -> User | None:
        """Write only `changes` (a concurrent change of another field survives) and drop the user from
        every cache; the user as stored afterwards, or None when there is none."""
        user = await self.store.set_user_fields(user_id, changes)
        self.cache.invalidate(user_id)
        if self.notify is not None:
            await self.notify(f"user:{user_id}")
        return user

    async def delete(self, user_id: str) -> bool:
        """Delete the user (its sessions and codes go with it, the sessions' revocations stay) and drop
        it from every cache."""
        deleted = await self.store.delete_user(user_id, now=int(self.clock()))
        self.cache.invalidate(user_id)
        if self.notify is not None:
            await self.notify(f"user:{user_id}")
        return deleted

    async def confirm_password(self, user: User, current: str) -> User:
        """The stored user, when `current` is their password; `CurrentPasswordWrong` otherwise."""
        current_user = await self.get_user(user.id, fresh=True)
        if current_user is None:
            raise CurrentPasswordWrong("current password is wrong")
        valid, _ = await self.hasher.verify(
            current[: self.password_max_length + 1], current_user.hashed_password
        )
        if not valid or len(current) > self.password_max_length:
            raise CurrentPasswordWrong("current password is wrong")
        return current_user

    async def change_password(self, user: User, current: str, new: str) -> User:
        """Set `new` once `current` is confirmed (and `new` meets the policy)."""
        current_user = await self.confirm_password(user, current)
        self.check_password(new)
        updated = await self.update(current_user.id, hashed_password=await self.hasher.hash(new))
        return updated or current_user
