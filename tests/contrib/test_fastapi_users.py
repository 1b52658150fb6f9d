"""fastauth's `JWTStrategy` in a real fastapi-users application: the swap is one import.

The app is fastapi-users' documented setup (a SQLAlchemy user table on SQLite through aiosqlite,
`BearerTransport`, `AuthenticationBackend` whose `get_strategy` builds a new strategy per request,
`FastAPIUsers`, its auth and register routers and a `current_user(active=True)` route), with
`fastauth.contrib.fastapi_users.JWTStrategy` in place of fastapi-users' own.

The user database is the few lines of `fastapi_users_db_sqlalchemy.SQLAlchemyUserDatabase` written out
here: that package pins SQLAlchemy < 2.1, and installing it would downgrade the SQLAlchemy the rest of
the suite runs on. It implements fastapi-users' own `BaseUserDatabase`, so the manager, routers and
dependencies under test are the real ones.

Hostile tokens are built by hand (`support.forge`: `hmac`/`base64`) or by PyJWT, never by the code under test.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, exceptions, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users.authentication import JWTStrategy as FastAPIUsersJWTStrategy
from fastapi_users.db import BaseUserDatabase
from fastapi_users.password import PasswordHelper
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr
from sqlalchemy import Boolean, String, Uuid, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fastauth.config import FastAuthSecurityWarning
from fastauth.contrib.fastapi_users import JWTStrategy
from fastauth.errors import ConfigError, StoreUnavailable
from fastauth.keys import generate_private_key, private_key_to_pem, public_key_to_pem
from fastauth.keys.manager import KeyManager
from fastauth.revocation import MemoryRevocationList
from fastauth.storage.memory import MemoryStore
from fastauth.tokens import KeyRing, SigningKey, TokenEngine
from support.forge import alg_none, decode, forge, tampered
from support.http import bearer

SECRET = "fastapi-users-swap-secret-" + "s" * 40
PASSWORD = "correct horse battery"
LIFETIME = 3600
INVALID_TOKEN_BODY = {"detail": "Unauthorized"}  # fastapi-users' answer to any bad token


# --------------------------------------------------------------------------------------------------
# the fastapi-users application


class Base(DeclarativeBase):
    pass


class UserTable(Base):
    """fastapi-users' `SQLAlchemyBaseUserTableUUID`, written out."""

    __tablename__ = "user"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    hashed_password: Mapped[str] = mapped_column(String(1024))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)


class SQLAlchemyUserDatabase(BaseUserDatabase[UserTable, uuid.UUID]):
    """fastapi-users' `SQLAlchemyUserDatabase` (without OAuth accounts), written out."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, id: uuid.UUID) -> UserTable | None:
        return await self.session.get(UserTable, id)

    async def get_by_email(self, email: str) -> UserTable | None:
        statement = select(UserTable).where(func.lower(UserTable.email) == func.lower(email))
        return (await self.session.execute(statement)).unique().scalar_one_or_none()

    async def create(self, create_dict: dict[str, Any]) -> UserTable:
        user = UserTable(**create_dict)
        self.session.add(user)
        await self.session.commit()
        await self.session.refresh(user)
        return user

    async def update(self, user: UserTable, update_dict: dict[str, Any]) -> UserTable:
        for key, value in update_dict.items():
            setattr(user, key, value)
        self.session.add(user)
        await self.session.commit()
        await self.session.refresh(user)
        return user

    async def delete(self, user: UserTable) -> None:
        await self.session.delete(user)
        await self.session.commit()


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


#: Real argon2id with cheap parameters, so the suite stays fast.
FAST_PASSWORDS = PasswordHelper(PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)))


class UserManager(UUIDIDMixin, BaseUserManager[UserTable, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


@dataclass
class App:
    client: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]

    async def register(self, email: str = "alice@example.com") -> str:
        r = await self.client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def login(self, email: str = "alice@example.com") -> str:
        r = await self.client.post("/auth/jwt/login", data={"username": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "bearer"
        return str(body["access_token"])

    async def protected(self, token: str) -> httpx.Response:
        return await self.client.get("/protected", headers=bearer(token))

    async def logout(self, token: str) -> httpx.Response:
        return await self.client.post("/auth/jwt/logout", headers=bearer(token))


def build_app(sessions: async_sessionmaker[AsyncSession], get_strategy: Callable[[], Any]) -> FastAPI:
    """fastapi-users' documented application, `get_strategy` aside."""

    async def get_async_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    async def get_user_db(session: AsyncSession = Depends(get_async_session)) -> AsyncIterator[Any]:
        yield SQLAlchemyUserDatabase(session)

    async def get_user_manager(user_db: Any = Depends(get_user_db)) -> AsyncIterator[UserManager]:
        yield UserManager(user_db, FAST_PASSWORDS)

    auth_backend = AuthenticationBackend(
        name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"), get_strategy=get_strategy
    )
    fastapi_users = FastAPIUsers[UserTable, uuid.UUID](get_user_manager, [auth_backend])
    current_active_user = fastapi_users.current_user(active=True)

    app = FastAPI()
    app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/jwt", tags=["auth"])
    app.include_router(fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth", tags=["auth"])

    @app.get("/protected")
    async def protected(user: UserTable = Depends(current_active_user)) -> dict[str, str]:
        return {"id": str(user.id), "email": user.email}

    return app


@dataclass(frozen=True)
class Keys:
    """What a strategy is built from: the algorithm, the signing secret or private PEM, the public PEM."""

    algorithm: str
    secret: str
    public_key: str | None = None

    def strategy(self, lifetime_seconds: int | None = LIFETIME, **kwargs: Any) -> JWTStrategy[Any, Any]:
        return JWTStrategy(
            self.secret, lifetime_seconds, algorithm=self.algorithm, public_key=self.public_key, **kwargs
        )


def _pem_pair(algorithm: str) -> Keys:
    private = generate_private_key(algorithm)
    return Keys(algorithm, private_key_to_pem(private), public_key_to_pem(private.public_key()))


@pytest.fixture(scope="module")
def rsa_keys() -> Keys:
    return _pem_pair("RS256")


@pytest.fixture(scope="module")
def ec_keys() -> Keys:
    return _pem_pair("ES256")


@pytest.fixture(params=["HS256", "RS256", "ES256"])
def keys(request: pytest.FixtureRequest) -> Keys:
    if request.param == "HS256":
        return Keys("HS256", SECRET)
    return request.getfixturevalue("rsa_keys" if request.param == "RS256" else "ec_keys")


@pytest.fixture
async def make_app(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await make_app(keys)`: the app on a fresh SQLite file; a new strategy per request, as documented."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'users.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    clients: list[httpx.AsyncClient] = []

    async def factory(keys: Keys, **strategy_kwargs: Any) -> App:
        def get_jwt_strategy() -> JWTStrategy[Any, Any]:
            return keys.strategy(**strategy_kwargs)

        app = build_app(sessions, get_jwt_strategy)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return App(client, sessions)

    yield factory
    for client in clients:
        await client.aclose()
    await engine.dispose()


# --------------------------------------------------------------------------------------------------
# a user manager without a database (hand-made tokens: support.forge)


class FakeUserManager:
    """The two methods `read_token` uses, for tests that need no database."""

    def __init__(self, *users: Any) -> None:
        self.users = {str(user.id): user for user in users}

    def parse_id(self, value: Any) -> str:
        if not isinstance(value, str) or not value.startswith("u-"):
            raise exceptions.InvalidID()
        return value

    async def get(self, id: str) -> Any:
        if id not in self.users:
            raise exceptions.UserNotExists()
        return self.users[id]


@dataclass
class FakeUser:
    id: str


# --------------------------------------------------------------------------------------------------
# the swap


async def test_login_protected_logout_then_the_same_token_is_refused(make_app: Any, keys: Keys) -> None:
    a = await make_app(keys)
    user_id = await a.register()
    token = await a.login()

    r = await a.protected(token)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": user_id, "email": "alice@example.com"}

    r = await a.logout(token)
    assert r.status_code == 204, r.text

    # fastapi-users' own JWTStrategy would still accept this token until it expires
    r = await a.protected(token)
    assert r.status_code == 401 and r.json() == INVALID_TOKEN_BODY
    assert (await a.logout(token)).status_code == 401

    # signing in again works, with a new token
    again = await a.login()
    assert again != token
    assert (await a.protected(again)).status_code == 200


async def test_logout_revokes_only_that_token(make_app: Any) -> None:
    a = await make_app(Keys("HS256", SECRET))
    await a.register()
    laptop, phone = await a.login(), await a.login()
    assert (await a.logout(laptop)).status_code == 204
    assert (await a.protected(laptop)).status_code == 401
    assert (await a.protected(phone)).status_code == 200


async def test_token_structure(make_app: Any, keys: Keys) -> None:
    a = await make_app(keys)
    user_id = await a.register()
    before = int(time.time())
    header, claims = decode(await a.login())
    after = int(time.time())

    assert header == {"alg": keys.algorithm, "kid": header["kid"], "typ": "at+jwt"}
    assert isinstance(header["kid"], str) and header["kid"]
    assert set(claims) == {"sub", "aud", "iat", "exp", "jti", "iss", "sid", "type", "client_id"}
    assert claims["client_id"] == "fastauth"  # RFC 9068 §2.2
    assert claims["sub"] == user_id
    assert claims["aud"] == ["fastapi-users:auth"]
    assert claims["iss"] == "fastauth"
    assert claims["type"] == "access"
    assert before <= claims["iat"] <= after
    assert claims["exp"] == claims["iat"] + LIFETIME
    assert claims["sid"] == claims["jti"] and len(claims["jti"]) >= 22


async def test_a_new_strategy_per_request_still_sees_the_revocation() -> None:
    """fastapi-users' `get_strategy` builds a strategy per request; the revocation must outlive it."""
    user = FakeUser("u-1")
    token = await Keys("HS256", SECRET).strategy().write_token(user)
    await Keys("HS256", SECRET).strategy().destroy_token(token, user)
    assert await Keys("HS256", SECRET).strategy().read_token(token, FakeUserManager(user)) is None


# --------------------------------------------------------------------------------------------------
# hostile and foreign tokens


async def test_bad_tokens_are_401(make_app: Any) -> None:
    a = await make_app(Keys("HS256", SECRET))
    await a.register()
    mallory_id = await a.register("mallory@example.com")
    token = await a.login()
    header_segment, payload_segment, _ = token.split(".")
    header, claims = decode(token)
    now = int(time.time())

    def strategy(**kwargs: Any) -> JWTStrategy[Any, Any]:
        return JWTStrategy(SECRET, LIFETIME, **kwargs)

    alice = FakeUser(claims["sub"])
    bad = {
        "garbage": "garbage",
        "empty segments": "..",
        "long junk": "x" * 9000,
        "tampered sub": tampered(token, sub=mallory_id),
        "tampered exp": tampered(token, exp=claims["exp"] + 3600),
        "tampered aud": tampered(token, aud=["other"]),
        "signature cut off": f"{header_segment}.{payload_segment}.",
        "signed by another secret": forge(header, claims, "HS256", "another-secret-" + "y" * 40),
        "alg none": alg_none(token),
        "alg none without kid": alg_none(token, keep_kid=False),
        "alg None": alg_none(token, alg="None"),
        "alg HS512": alg_none(token, alg="HS512"),
        "expired": await strategy(clock=lambda: now - LIFETIME - 60).write_token(alice),
        "issued in the future": await strategy(clock=lambda: now + 600).write_token(alice),
        "wrong audience": await strategy(token_audience=["somebody-else"]).write_token(alice),
        "wrong issuer": await strategy(issuer="https://elsewhere.example").write_token(alice),
        "no exp (lifetime None)": await _unlimited(SECRET).write_token(alice),
        "fastapi-users' own token, same secret": await FastAPIUsersJWTStrategy(SECRET, LIFETIME).write_token(
            alice
        ),
        "PyJWT token with typ and kid, same secret": pyjwt.encode(
            {"sub": claims["sub"], "aud": ["fastapi-users:auth"], "exp": now + 60},
            SECRET,
            algorithm="HS256",
            headers={"kid": header["kid"], "typ": "at+jwt"},
        ),
        "refresh token of the same key": TokenEngine(
            KeyRing([SigningKey.from_secret(SECRET)]), audience="fastapi-users:auth"
        )
        .issue_refresh(claims["sub"], "some-session")
        .token,
        "FastAuth access token of the same secret": TokenEngine(KeyRing([SigningKey.from_secret(SECRET)]))
        .issue_access(claims["sub"], "some-session")
        .token,
        "hand-signed with kid and typ but no jti/sid": forge(
            header, {k: v for k, v in claims.items() if k not in ("jti", "sid")}, "HS256", SECRET
        ),
        "hand-signed with a string exp": forge(
            header, {**claims, "exp": str(claims["exp"])}, "HS256", SECRET
        ),
    }
    for kind, bad_token in bad.items():
        r = await a.protected(bad_token)
        assert r.status_code == 401, (kind, r.status_code, r.text)
        assert r.json() == INVALID_TOKEN_BODY, kind
        logout = await a.logout(bad_token)
        assert logout.status_code == 401, (kind, logout.status_code)
    # the genuine token still works: every refusal above was about the token
    assert (await a.protected(token)).status_code == 200


async def test_a_token_within_the_leeway_is_accepted_and_then_refused() -> None:
    user = FakeUser("u-1")
    manager = FakeUserManager(user)
    token = await JWTStrategy(SECRET, 60, clock=lambda: 1_000_000).write_token(user)
    at = lambda t: JWTStrategy(SECRET, 60, clock=lambda: t)  # noqa: E731
    assert await at(1_000_060 + 4).read_token(token, manager) is user  # exp + leeway (5 s) not reached
    assert await at(1_000_060 + 5).read_token(token, manager) is None


async def test_fastapi_users_own_tokens_are_refused_after_the_swap() -> None:
    """A decision: old tokens (no `kid`, no `typ`, no `jti`) are not accepted; users sign in once more."""
    user = FakeUser("u-1")
    old = await FastAPIUsersJWTStrategy(SECRET, LIFETIME).write_token(user)
    header, claims = decode(old)
    assert "kid" not in header and set(claims) == {"sub", "aud", "exp"}
    assert await JWTStrategy(SECRET, LIFETIME).read_token(old, FakeUserManager(user)) is None
    # the way back is open: fastapi-users' strategy accepts fastauth's tokens (signature, aud, exp only)
    new = await JWTStrategy(SECRET, LIFETIME).write_token(user)
    assert await FastAPIUsersJWTStrategy(SECRET, LIFETIME).read_token(new, FakeUserManager(user)) is user


async def test_unknown_or_invalid_user_id_is_none_not_an_error(make_app: Any) -> None:
    a = await make_app(Keys("HS256", SECRET))
    await a.register()
    strategy = JWTStrategy(SECRET, LIFETIME)
    # a valid token for an id that does not parse as a UUID (InvalidID), and for a UUID nobody has
    for user_id in ("not-a-uuid", str(uuid.uuid4())):
        token = await strategy.write_token(FakeUser(user_id))
        r = await a.protected(token)
        assert r.status_code == 401, (user_id, r.text)
    manager = FakeUserManager(FakeUser("u-1"))
    assert await strategy.read_token(await strategy.write_token(FakeUser("x-1")), manager) is None
    assert await strategy.read_token(await strategy.write_token(FakeUser("u-2")), manager) is None
    assert await strategy.read_token(None, manager) is None


async def test_deactivated_user_is_refused(make_app: Any) -> None:
    a = await make_app(Keys("HS256", SECRET))
    user_id = await a.register()
    token = await a.login()
    async with a.sessions() as session:
        user = await session.get(UserTable, uuid.UUID(user_id))
        assert user is not None
        user.is_active = False
        await session.commit()
    assert (await a.protected(token)).status_code == 401


async def test_audience_is_any_of_token_audience() -> None:
    """As in fastapi-users (PyJWT): the token's `aud` must name one of the strategy's audiences."""
    user = FakeUser("u-1")
    manager = FakeUserManager(user)
    both = JWTStrategy(SECRET, LIFETIME, token_audience=["api", "fastapi-users:auth"])
    token = await both.write_token(user)
    assert decode(token)[1]["aud"] == ["api", "fastapi-users:auth"]
    assert await JWTStrategy(SECRET, LIFETIME).read_token(token, manager) is user
    assert await JWTStrategy(SECRET, LIFETIME, token_audience=["api"]).read_token(token, manager) is user
    assert await JWTStrategy(SECRET, LIFETIME, token_audience=["x", "api"]).read_token(token, manager) is user
    assert await JWTStrategy(SECRET, LIFETIME, token_audience=["other"]).read_token(token, manager) is None
    # a plain string audience, as PyJWT also allows
    single = JWTStrategy(SECRET, LIFETIME, token_audience="api")
    assert single.token_audience == ["api"]
    assert await single.read_token(token, manager) is user


# --------------------------------------------------------------------------------------------------
# asymmetric keys


async def test_asymmetric_public_key_verifies(rsa_keys: Keys, ec_keys: Keys) -> None:
    user = FakeUser("u-1")
    manager = FakeUserManager(user)
    for keys in (rsa_keys, ec_keys):
        token = await keys.strategy().write_token(user)
        assert decode(token)[0]["alg"] == keys.algorithm
        assert await keys.strategy().read_token(token, manager) is user
        # the public key alone derives nothing: public_key may also be omitted (derived from the private)
        derived = JWTStrategy(keys.secret, LIFETIME, algorithm=keys.algorithm)
        assert await derived.read_token(token, manager) is user
        # HS256 signed with the public key PEM as the HMAC secret (the classic confusion) is refused
        header, claims = decode(token)
        assert keys.public_key is not None
        confused = forge({**header, "alg": "HS256"}, claims, "HS256", keys.public_key)
        assert await keys.strategy().read_token(confused, manager) is None


async def test_asymmetric_misconfigurations_are_config_errors(rsa_keys: Keys, ec_keys: Keys) -> None:
    assert rsa_keys.public_key is not None and ec_keys.public_key is not None
    with pytest.raises(ConfigError, match="does not belong"):
        JWTStrategy(rsa_keys.secret, LIFETIME, algorithm="RS256", public_key=_pem_pair("RS256").public_key)
    with pytest.raises(ConfigError):
        JWTStrategy(rsa_keys.secret, LIFETIME, algorithm="ES256", public_key=rsa_keys.public_key)
    with pytest.raises(ConfigError, match="private key"):
        JWTStrategy("", LIFETIME, algorithm="RS256", public_key=rsa_keys.public_key)
    with pytest.raises(ConfigError, match="public_key is for"):
        JWTStrategy(SECRET, LIFETIME, algorithm="HS256", public_key=ec_keys.public_key)
    for algorithm in ("none", "hs256", "RS1", "HS1"):
        with pytest.raises(ConfigError, match="unsupported algorithm"):
            JWTStrategy(SECRET, LIFETIME, algorithm=algorithm)
    # SecretStr for both, as fastapi-users allows
    strategy = JWTStrategy(
        SecretStr(ec_keys.secret), LIFETIME, algorithm="ES256", public_key=SecretStr(ec_keys.public_key)
    )
    user = FakeUser("u-1")
    assert await strategy.read_token(await strategy.write_token(user), FakeUserManager(user)) is user


# --------------------------------------------------------------------------------------------------
# configuration


def test_short_secret_is_refused() -> None:
    """A deliberate difference from fastapi-users, which accepts any secret."""
    for short in ("secret", "x" * 31, SecretStr("x" * 31)):
        with pytest.raises(ConfigError, match="at least 32 characters") as caught:
            JWTStrategy(short, LIFETIME)
        assert "xxxx" not in str(caught.value)  # the secret is never echoed
    JWTStrategy("x" * 32, LIFETIME)
    JWTStrategy(SecretStr("x" * 32), LIFETIME)
    with pytest.raises(ConfigError, match="at least 64 characters"):
        JWTStrategy("x" * 63, LIFETIME, algorithm="HS512")


def _unlimited(secret: str, **kwargs: Any) -> JWTStrategy[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FastAuthSecurityWarning)
        return JWTStrategy(secret, None, **kwargs)


async def test_lifetime_none_warns_and_the_token_never_expires() -> None:
    with pytest.warns(FastAuthSecurityWarning, match="never expire"):
        strategy = JWTStrategy(SECRET, None)
    user = FakeUser("u-1")
    manager = FakeUserManager(user)
    token = await strategy.write_token(user)
    assert "exp" not in decode(token)[1]
    century = int(time.time()) + 100 * 365 * 86400
    assert await _unlimited(SECRET, clock=lambda: century).read_token(token, manager) is user
    # only logout ends it, for as long as the process remembers
    store = MemoryRevocationList()
    await _unlimited(SECRET, revocation=store).destroy_token(token, user)
    assert await _unlimited(SECRET, revocation=store).read_token(token, manager) is None
    assert await store.is_revoked(decode(token)[1]["sid"], century)


@pytest.mark.parametrize("lifetime", [0, -1, 1.5, "3600", True])
def test_lifetime_must_be_positive_seconds_or_none(lifetime: Any) -> None:
    """fastapi-users treats 0 as "no expiry"; fastauth refuses it (None says so explicitly)."""
    with pytest.raises(ConfigError, match="lifetime_seconds"):
        JWTStrategy(SECRET, lifetime)


@pytest.mark.parametrize("audience", [[], [""], [1], None])
def test_token_audience_must_be_non_empty_strings(audience: Any) -> None:
    with pytest.raises(ConfigError, match="token_audience"):
        JWTStrategy(SECRET, LIFETIME, token_audience=audience)


def test_constructor_is_fastapi_users_own() -> None:
    """Positional and keyword use as in fastapi-users' docs; its attributes are there too."""
    strategy = JWTStrategy(SECRET, 3600, ["fastapi-users:auth"], "HS256", None)
    assert (strategy.secret, strategy.lifetime_seconds, strategy.token_audience) == (
        SECRET,
        3600,
        ["fastapi-users:auth"],
    )
    assert (strategy.algorithm, strategy.public_key) == ("HS256", None)
    assert strategy.encode_key == strategy.decode_key == SECRET
    strategy = JWTStrategy(secret=SecretStr(SECRET), lifetime_seconds=3600)
    assert "s" * 40 not in repr(strategy)


# --------------------------------------------------------------------------------------------------
# revocation


class RecordingRevocations(MemoryRevocationList):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[list[str], int]] = []

    async def revoke(self, session_ids: Iterable[str], until: int) -> None:
        ids = list(session_ids)
        self.calls.append((ids, until))
        await super().revoke(ids, until)


async def test_a_revocation_backend_can_be_plugged_in() -> None:
    store = RecordingRevocations()
    user = FakeUser("u-1")
    manager = FakeUserManager(user)
    strategy = JWTStrategy(SECRET, LIFETIME, revocation=store)
    token = await strategy.write_token(user)
    claims = decode(token)[1]
    await strategy.destroy_token(token, user)
    assert store.calls == [([claims["jti"]], claims["exp"] + 5)]
    assert await strategy.read_token(token, manager) is None
    # the process-wide default list was not touched: another strategy still accepts the token
    assert await JWTStrategy(SECRET, LIFETIME).read_token(token, manager) is user
    # a bad token is ignored by destroy_token (nothing it could open)
    await strategy.destroy_token("garbage", user)
    assert len(store.calls) == 1
    with pytest.raises(ConfigError, match="RevocationList"):
        JWTStrategy(SECRET, LIFETIME, revocation=object())  # type: ignore[arg-type]


async def test_revocations_expire_with_the_token() -> None:
    store = MemoryRevocationList()
    user = FakeUser("u-1")
    now = 1_000_000
    strategy = JWTStrategy(SECRET, 60, revocation=store, clock=lambda: now)
    token = await strategy.write_token(user)
    await strategy.destroy_token(token, user)
    assert len(store) == 1
    assert await store.is_revoked(decode(token)[1]["sid"], now + 60 + 4)
    assert not await store.is_revoked(decode(token)[1]["sid"], now + 60 + 5)  # the token is dead anyway
    assert len(store) == 0


class DownRevocations:
    async def revoke(self, session_ids: Iterable[str], until: int) -> None:
        raise StoreUnavailable("redis is down")

    async def is_revoked(self, session_id: str, now: int) -> bool:
        raise StoreUnavailable("redis is down")


async def test_an_unavailable_revocation_store_fails_closed_with_503() -> None:
    user = FakeUser("u-1")
    strategy = JWTStrategy(SECRET, LIFETIME, revocation=DownRevocations())
    token = await strategy.write_token(user)
    for call in (strategy.read_token(token, FakeUserManager(user)), strategy.destroy_token(token, user)):
        with pytest.raises(HTTPException) as caught:
            await call
        assert caught.value.status_code == 503
    # a bad token is still just None: the store is only asked about tokens that verify
    assert await strategy.read_token("garbage", FakeUserManager(user)) is None


# --------------------------------------------------------------------------------------------------
# packaging


def test_fastapi_users_stays_optional() -> None:
    """`import fastauth` (and its FastAPI layer) never imports fastapi-users."""
    code = (
        "import sys, fastauth, fastauth.contrib, fastauth.dependencies\n"
        "from fastauth import FastAuth\n"
        "assert 'fastapi_users' not in sys.modules, sorted(m for m in sys.modules if 'fastapi_users' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------------------------------
# keys from fastauth's shared key store (`keys=`): rotation, and the one unknown-kid rule


class CountingStore(MemoryStore):
    """A memory key store shared by two "workers" that counts how often the keys are read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def list_keys(self) -> Any:
        self.reads += 1
        return await super().list_keys()


class StepClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _manager(store: CountingStore, clock: StepClock) -> KeyManager:
    return KeyManager(store, secret=SECRET, algorithm="ES256", token_lifetime=LIFETIME, clock=clock)


async def test_shared_keys_rotate_and_a_new_kid_is_found_by_one_reload() -> None:
    store, clock = CountingStore(), StepClock()
    ours, theirs = _manager(store, clock), _manager(store, clock)  # two workers, one database
    await ours.initialize()
    await theirs.initialize()
    user = FakeUser("u-1")

    def strategy(keys: KeyManager) -> JWTStrategy[Any, Any]:  # a new one per request, as documented
        return JWTStrategy("unused with keys", LIFETIME, algorithm="ES256", keys=keys, clock=clock)

    token = await strategy(ours).write_token(user)
    assert decode(token)[0]["kid"] == ours.ring.active.kid  # type: ignore[union-attr]
    assert await strategy(theirs).read_token(token, FakeUserManager(user)) is user

    clock.now += 5
    new_kid = (await theirs.rotate(immediately=True)).kid
    fresh = await strategy(theirs).write_token(user)
    assert decode(fresh)[0]["kid"] == new_kid
    reads = store.reads
    assert await strategy(ours).read_token(fresh, FakeUserManager(user)) is user, "found by one reload"
    assert store.reads == reads + 1
    assert await strategy(ours).read_token(fresh, FakeUserManager(user)) is user
    assert store.reads == reads + 1, "known from then on"


async def test_forged_kids_cost_one_reload_per_second_for_all_strategies() -> None:
    store, clock = CountingStore(), StepClock()
    keys = _manager(store, clock)
    await keys.initialize()
    user = FakeUser("u-1")
    attacker = generate_private_key("ES256")
    claims = {
        "sub": "u-1",
        "type": "access",
        "iat": int(clock()),
        "exp": int(clock()) + 60,
        "iss": "fastauth",
    }
    claims |= {"aud": ["fastapi-users:auth"], "jti": "j-1", "sid": "s-1"}

    def forged(i: int) -> str:
        return forge({"alg": "ES256", "kid": f"forged-{i}", "typ": "at+jwt"}, claims, "ES256", attacker)

    reads = store.reads
    for i in range(50):
        fresh = JWTStrategy("unused with keys", LIFETIME, algorithm="ES256", keys=keys, clock=clock)
        assert await fresh.read_token(forged(i), FakeUserManager(user)) is None
    assert store.reads == reads + 1, "fifty strategies, one reload"
    clock.now += 1
    assert (
        await JWTStrategy("x", LIFETIME, algorithm="ES256", keys=keys, clock=clock).read_token(
            forged(99), FakeUserManager(user)
        )
        is None
    )
    assert store.reads == reads + 2


def test_keys_need_the_key_stores_algorithm() -> None:
    keys = _manager(CountingStore(), StepClock())
    with pytest.raises(ConfigError, match=r"algorithm must be the key store's \('ES256'\)"):
        JWTStrategy("x", LIFETIME, algorithm="RS256", keys=keys)
    with pytest.raises(ConfigError, match="public_key must not be given"):
        JWTStrategy("x", LIFETIME, algorithm="ES256", public_key="pem", keys=keys)
