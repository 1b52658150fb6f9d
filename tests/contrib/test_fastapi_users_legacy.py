"""`JWTStrategy(..., legacy_tokens_until=...)`: fastapi-users' own tokens across the switch, and no further.

The tokens to accept are made by the real fastapi-users package (`JWTStrategy.write_token`,
`fastapi_users.jwt.generate_jwt`, which sign with PyJWT). Hostile ones are built by PyJWT or by hand
(`support.forge`), never by the code under test. The user manager is fastapi-users' own
(`BaseUserManager` with `UUIDIDMixin`) over a dictionary-backed `BaseUserDatabase`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users.authentication import JWTStrategy as FastAPIUsersJWTStrategy
from fastapi_users.db import BaseUserDatabase
from fastapi_users.jwt import generate_jwt
from fastapi_users.password import PasswordHelper
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from fastauth.contrib.fastapi_users import JWTStrategy
from fastauth.errors import (
    AlgorithmMismatch,
    ConfigError,
    ExpiredToken,
    InvalidClaims,
    InvalidSignature,
    MalformedToken,
    TokenError,
)
from fastauth.keys import generate_private_key, private_key_to_pem, public_key_to_pem
from fastauth.keys.manager import KeyManager
from fastauth.storage.memory import MemoryStore
from fastauth.tokens import KeyRing, SigningKey, TokenEngine
from support.b64 import b64, json_segment
from support.forge import alg_none, decode, forge, tampered
from support.http import bearer

SECRET = "fastapi-users-legacy-secret-" + "s" * 40
OTHER_SECRET = "another-secret-entirely-" + "o" * 40
LIFETIME = 3600
AUDIENCE = ["fastapi-users:auth"]
PASSWORD = "correct horse battery"
FAST_PASSWORDS = PasswordHelper(PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)))


# --------------------------------------------------------------------------------------------------
# fastapi-users' user manager over a dictionary


@dataclass
class User:
    """The attributes fastapi-users' `UserProtocol` asks for."""

    email: str
    hashed_password: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    is_active: bool = True
    is_superuser: bool = False
    is_verified: bool = False


class DictUserDatabase(BaseUserDatabase[User, uuid.UUID]):
    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}

    async def get(self, id: uuid.UUID) -> User | None:
        return self.users.get(id)

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email.lower() == email.lower()), None)

    async def create(self, create_dict: dict[str, Any]) -> User:
        user = User(**create_dict)
        self.users[user.id] = user
        return user

    async def update(self, user: User, update_dict: dict[str, Any]) -> User:
        for key, value in update_dict.items():
            setattr(user, key, value)
        return user

    async def delete(self, user: User) -> None:
        del self.users[user.id]


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


@pytest.fixture
def db() -> DictUserDatabase:
    return DictUserDatabase()


@pytest.fixture
async def ada(db: DictUserDatabase) -> User:
    return await db.create({"email": "ada@example.com", "hashed_password": FAST_PASSWORDS.hash(PASSWORD)})


@pytest.fixture
def manager(db: DictUserDatabase) -> UserManager:
    return UserManager(db, FAST_PASSWORDS)


def window(seconds: float = LIFETIME) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def legacy(**kwargs: Any) -> JWTStrategy[Any, Any]:
    """fastauth's strategy in deploy 1: the old settings, and the window open for the old lifetime."""
    return JWTStrategy(SECRET, LIFETIME, legacy_tokens_until=window(), **kwargs)


async def old_token(user: User, secret: str = SECRET, **kwargs: Any) -> str:
    """A token from fastapi-users' own strategy, as the application wrote it before the switch."""
    return await FastAPIUsersJWTStrategy(secret, LIFETIME, **kwargs).write_token(user)


# --------------------------------------------------------------------------------------------------
# off, on, after


async def test_off_by_default_fastapi_users_tokens_are_refused(ada: User, manager: UserManager) -> None:
    token = await old_token(ada)
    assert await JWTStrategy(SECRET, LIFETIME).read_token(token, manager) is None
    assert JWTStrategy(SECRET, LIFETIME).legacy_tokens_until is None


async def test_on_fastapi_users_tokens_give_their_user(
    db: DictUserDatabase, ada: User, manager: UserManager
) -> None:
    bob = await db.create({"email": "bob@example.com", "hashed_password": "x"})
    token, bobs = await old_token(ada), await old_token(bob)
    header, claims = decode(token)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert set(claims) == {"sub", "aud", "exp"} and claims["aud"] == AUDIENCE and claims["sub"] == str(ada.id)
    assert await legacy().read_token(token, manager) is ada
    assert await legacy().read_token(bobs, manager) is bob
    # fastauth's own tokens keep working beside them
    assert await legacy().read_token(await legacy().write_token(ada), manager) is ada


async def test_after_the_window_they_are_refused(ada: User, manager: UserManager) -> None:
    token = await old_token(ada)
    now = float(int(time.time()))  # whole seconds: `until` below is then exactly now + 60
    until = datetime.fromtimestamp(now + 60, tz=timezone(timedelta(hours=2)))  # any zone: the same instant

    def at(t: float) -> JWTStrategy[Any, Any]:
        return JWTStrategy(SECRET, LIFETIME, legacy_tokens_until=until, clock=lambda: t)

    assert decode(token)[1]["exp"] > now + 60 + 5, "the token itself is still valid"
    assert await at(now + 59.5).read_token(token, manager) is ada
    assert await at(now + 60).read_token(token, manager) is None
    assert await at(now + 61).read_token(token, manager) is None
    # a window already over when the strategy is built is simply closed
    assert (
        await JWTStrategy(SECRET, LIFETIME, legacy_tokens_until=window(-1)).read_token(token, manager) is None
    )
    # fastauth's own tokens are not affected by the end of the window
    fresh = await at(now + 61).write_token(ada)
    assert await at(now + 61).read_token(fresh, manager) is ada


async def test_expiry_uses_the_configured_leeway(ada: User, manager: UserManager) -> None:
    exp = int(time.time()) + 100
    token = generate_jwt({"sub": str(ada.id), "aud": AUDIENCE, "exp": exp}, SECRET)

    def at(t: int, leeway: int = 5) -> JWTStrategy[Any, Any]:
        return JWTStrategy(SECRET, LIFETIME, leeway=leeway, legacy_tokens_until=window(), clock=lambda: t)

    assert await at(exp + 4).read_token(token, manager) is ada
    assert await at(exp + 5).read_token(token, manager) is None
    assert await at(exp - 1, leeway=0).read_token(token, manager) is ada
    assert await at(exp, leeway=0).read_token(token, manager) is None


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_asymmetric_fastapi_users_tokens(algorithm: str, ada: User, manager: UserManager) -> None:
    private = generate_private_key(algorithm)
    secret, public = private_key_to_pem(private), public_key_to_pem(private.public_key())
    token = await FastAPIUsersJWTStrategy(
        secret, LIFETIME, algorithm=algorithm, public_key=public
    ).write_token(ada)

    def ours(**kwargs: Any) -> JWTStrategy[Any, Any]:
        return JWTStrategy(secret, LIFETIME, algorithm=algorithm, public_key=public, **kwargs)

    assert await ours().read_token(token, manager) is None
    assert await ours(legacy_tokens_until=window()).read_token(token, manager) is ada
    other = generate_private_key(algorithm)
    forged = await FastAPIUsersJWTStrategy(
        private_key_to_pem(other),
        LIFETIME,
        algorithm=algorithm,
        public_key=public_key_to_pem(other.public_key()),
    ).write_token(ada)
    assert await ours(legacy_tokens_until=window()).read_token(forged, manager) is None


async def test_a_legacy_token_for_an_unknown_user_is_none(manager: UserManager) -> None:
    ghost = User("ghost@example.com", "x")
    assert await legacy().read_token(await old_token(ghost), manager) is None
    not_a_uuid = generate_jwt({"sub": "not-a-uuid", "aud": AUDIENCE}, SECRET, LIFETIME)
    assert await legacy().read_token(not_a_uuid, manager) is None


async def test_logout_cannot_revoke_a_legacy_token(ada: User, manager: UserManager) -> None:
    """It has no id: logout answers as fastapi-users' did, and the token lasts to its exp or the window."""
    token = await old_token(ada)
    await legacy().destroy_token(token, ada)
    assert await legacy().read_token(token, manager) is ada


# --------------------------------------------------------------------------------------------------
# hostile inputs: each refused (None, fastapi-users' answer for a bad token) with the window open


def _now() -> int:
    return int(time.time())


def _claims(user: User, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": str(user.id), "aud": AUDIENCE, "exp": _now() + LIFETIME}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not ...}


_HEADER = {"alg": "HS256", "typ": "JWT"}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _raw(header: bytes, payload: bytes, secret: str = SECRET) -> str:
    """A correctly HS256-signed token with exactly these header and payload bytes."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{json_segment(header)}.{json_segment(claims)}."


def _standard_alphabet(user: User) -> str:
    """A genuine token whose signature holds `-` or `_`, spelled with standard base64's `+` and `/`."""
    for extra in range(1000):
        token = generate_jwt(_claims(user, exp=_now() + LIFETIME + extra), SECRET)
        head, body, signature = token.split(".")
        if "-" in signature or "_" in signature:
            return f"{head}.{body}.{signature.replace('-', '+').replace('_', '/')}"
    raise AssertionError("no signature with - or _ in 1000 tries")


def _oversized(user: User) -> str:
    """Exactly fastapi-users' claims, genuinely signed, and longer than fastauth's 8192-character limit."""
    return generate_jwt({"sub": str(user.id), "aud": [*AUDIENCE, *["x" * 100] * 70]}, SECRET, LIFETIME)


HOSTILE: dict[str, Callable[[User], str]] = {
    # the algorithm is the configured one, never the token's
    "alg none": lambda u: pyjwt.encode(_claims(u), None, algorithm="none"),
    "alg None": lambda u: _unsigned({"alg": "None", "typ": "JWT"}, _claims(u)),
    "alg none with an HS256 signature": lambda u: forge(
        {"alg": "none", "typ": "JWT"}, _claims(u), "HS256", SECRET
    ),
    "alg hs256 (case)": lambda u: forge({"alg": "hs256", "typ": "JWT"}, _claims(u), "HS256", SECRET),
    "alg HS512, same secret": lambda u: generate_jwt(_claims(u), SECRET, algorithm="HS512"),
    "alg HS384, same secret": lambda u: generate_jwt(_claims(u), SECRET, algorithm="HS384"),
    # the key and the signature
    "wrong secret": lambda u: generate_jwt(_claims(u), OTHER_SECRET),
    "tampered sub": lambda u: tampered(generate_jwt(_claims(u), SECRET), sub=str(uuid.uuid4())),
    "tampered exp": lambda u: tampered(generate_jwt(_claims(u), SECRET), exp=_now() + 10 * LIFETIME),
    "signature cut off": lambda u: generate_jwt(_claims(u), SECRET).rsplit(".", 1)[0] + ".",
    # the claims: exactly sub, aud, exp
    "no exp (fastapi-users with lifetime None)": lambda u: generate_jwt(_claims(u, exp=...), SECRET, None),
    "no aud": lambda u: generate_jwt(_claims(u, aud=...), SECRET),
    "no sub": lambda u: generate_jwt(_claims(u, sub=...), SECRET),
    "wrong aud": lambda u: generate_jwt(_claims(u, aud=["somebody-else"]), SECRET),
    "aud a superstring of ours": lambda u: generate_jwt(_claims(u, aud="fastapi-users:auth:admin"), SECRET),
    "aud an empty list": lambda u: generate_jwt(_claims(u, aud=[]), SECRET),
    "aud with a non-string member": lambda u: generate_jwt(_claims(u, aud=[*AUDIENCE, 1]), SECRET),
    "aud an object": lambda u: forge(_HEADER, _claims(u, aud={"fastapi-users:auth": 1}), "HS256", SECRET),
    "expired": lambda u: generate_jwt(_claims(u, exp=_now() - 60), SECRET),
    "exp a numeric string": lambda u: forge(_HEADER, _claims(u, exp=str(_now() + 60)), "HS256", SECRET),
    "exp a float": lambda u: forge(_HEADER, _claims(u, exp=_now() + 60.5), "HS256", SECRET),
    "exp true": lambda u: forge(_HEADER, _claims(u, exp=True), "HS256", SECRET),
    "exp of 400 digits": lambda u: forge(_HEADER, _claims(u, exp=10**400), "HS256", SECRET),
    "sub an int": lambda u: forge(_HEADER, _claims(u, sub=u.id.int), "HS256", SECRET),
    "sub empty": lambda u: generate_jwt(_claims(u, sub=""), SECRET),
    "an extra claim": lambda u: generate_jwt(_claims(u, is_superuser=True), SECRET),
    "fastauth's claims under fastapi-users' header": lambda u: forge(
        _HEADER, _claims(u, iss="fastauth", iat=_now(), jti="j", sid="s", type="access"), "HS256", SECRET
    ),
    # the header: exactly {alg, typ: JWT}
    "a kid": lambda u: pyjwt.encode(_claims(u), SECRET, algorithm="HS256", headers={"kid": "k"}),
    "typ at+jwt": lambda u: pyjwt.encode(_claims(u), SECRET, algorithm="HS256", headers={"typ": "at+jwt"}),
    "no typ": lambda u: pyjwt.encode(_claims(u), SECRET, algorithm="HS256", headers={"typ": None}),
    "an embedded jwk": lambda u: forge(
        {**_HEADER, "jwk": {"kty": "oct", "k": b64(b"k" * 32)}}, _claims(u), "HS256", b"k" * 32
    ),
    "crit": lambda u: forge({**_HEADER, "crit": ["exp"]}, _claims(u), "HS256", SECRET),
    # encoding, parsing and size
    "duplicate sub": lambda u: _raw(
        _json(_HEADER),
        f'{{"sub":"{uuid.uuid4()}","sub":"{u.id}","aud":["fastapi-users:auth"],"exp":{_now() + 60}}}'.encode(),
    ),
    "duplicate alg": lambda u: _raw(b'{"alg":"none","alg":"HS256","typ":"JWT"}', _json(_claims(u))),
    "padded signature": lambda u: generate_jwt(_claims(u), SECRET) + "=",
    "standard base64 alphabet": _standard_alphabet,
    "a space inside": lambda u: generate_jwt(_claims(u), SECRET).replace(".", ". ", 1),
    "four segments": lambda u: generate_jwt(_claims(u), SECRET) + ".e30",
    "JSON serialization": lambda u: json.dumps({"payload": b64(_json(_claims(u))), "signatures": []}),
    "oversized (genuine claims and signature)": _oversized,
}


#: The check each case is refused by (an empty signature is not base64url: `alg none` stops there).
REFUSED_BY: dict[str, type[TokenError]] = {
    "alg none": MalformedToken,
    "alg None": MalformedToken,
    "alg none with an HS256 signature": AlgorithmMismatch,
    "alg hs256 (case)": AlgorithmMismatch,
    "alg HS512, same secret": AlgorithmMismatch,
    "alg HS384, same secret": AlgorithmMismatch,
    "wrong secret": InvalidSignature,
    "tampered sub": InvalidSignature,
    "tampered exp": InvalidSignature,
    "signature cut off": MalformedToken,
    "no exp (fastapi-users with lifetime None)": InvalidClaims,
    "no aud": InvalidClaims,
    "no sub": InvalidClaims,
    "wrong aud": InvalidClaims,
    "aud a superstring of ours": InvalidClaims,
    "aud an empty list": InvalidClaims,
    "aud with a non-string member": InvalidClaims,
    "aud an object": InvalidClaims,
    "expired": ExpiredToken,
    "exp a numeric string": InvalidClaims,
    "exp a float": InvalidClaims,
    "exp true": InvalidClaims,
    "exp of 400 digits": InvalidClaims,
    "sub an int": InvalidClaims,
    "sub empty": InvalidClaims,
    "an extra claim": InvalidClaims,
    "fastauth's claims under fastapi-users' header": InvalidClaims,
    "a kid": MalformedToken,
    "typ at+jwt": MalformedToken,
    "no typ": MalformedToken,
    "an embedded jwk": MalformedToken,
    "crit": MalformedToken,
    "duplicate sub": MalformedToken,
    "duplicate alg": MalformedToken,
    "padded signature": MalformedToken,
    "standard base64 alphabet": MalformedToken,
    "a space inside": MalformedToken,
    "four segments": MalformedToken,
    "JSON serialization": MalformedToken,
    "oversized (genuine claims and signature)": MalformedToken,
}


@pytest.mark.parametrize("case", HOSTILE)
async def test_hostile_tokens_are_refused(case: str, ada: User, manager: UserManager) -> None:
    strategy = legacy()
    assert await strategy.read_token(await old_token(ada), manager) is ada, "the window is open"
    token = HOSTILE[case](ada)
    assert await strategy.read_token(token, manager) is None
    # and by the check the case is named for, not by an earlier accident
    assert strategy._legacy_key is not None
    with pytest.raises(REFUSED_BY[case]):
        strategy._verify_legacy(token, strategy._legacy_key, _now())


def test_every_hostile_case_names_its_check() -> None:
    assert set(REFUSED_BY) == set(HOSTILE)


async def test_the_size_limit_is_fastauths(ada: User, manager: UserManager) -> None:
    """The oversized case above is refused for its size: a few characters less and it passes."""
    big, fits = _oversized(ada), None
    for count in range(70, 0, -1):
        fits = generate_jwt({"sub": str(ada.id), "aud": [*AUDIENCE, *["x" * 100] * count]}, SECRET, LIFETIME)
        if len(fits) <= 8192:
            break
    assert fits is not None and len(fits) > 8192 - 200 and len(big) > 8192
    assert await legacy().read_token(fits, manager) is ada


async def test_alg_confusion_with_the_rs256_public_key_as_hmac_secret(
    ada: User, manager: UserManager
) -> None:
    private = generate_private_key("RS256")
    secret, public = private_key_to_pem(private), public_key_to_pem(private.public_key())
    strategy = JWTStrategy(
        secret, LIFETIME, algorithm="RS256", public_key=public, legacy_tokens_until=window()
    )
    genuine = await FastAPIUsersJWTStrategy(
        secret, LIFETIME, algorithm="RS256", public_key=public
    ).write_token(ada)
    assert await strategy.read_token(genuine, manager) is ada
    confused = forge({"alg": "HS256", "typ": "JWT"}, _claims(ada), "HS256", public)
    assert await strategy.read_token(confused, manager) is None


# --------------------------------------------------------------------------------------------------
# no downgrade: fastauth's own tokens never pass by the legacy rules


def _engine(secret: str = SECRET, **kwargs: Any) -> TokenEngine:
    return TokenEngine(KeyRing([SigningKey.from_secret(secret)]), audience=AUDIENCE[0], **kwargs)


def _flip_last(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "="))
    raw[0] ^= 1
    return f"{head}.{body}.{b64(bytes(raw))}"


DOWNGRADES: dict[str, Callable[[User], str]] = {
    "bad signature": lambda u: _flip_last(_engine().issue_access(str(u.id), "s").token),
    "another secret": lambda u: _engine(OTHER_SECRET).issue_access(str(u.id), "s").token,
    "expired": lambda u: _engine(clock=lambda: _now() - 2 * 900).issue_access(str(u.id), "s").token,
    "wrong aud": lambda u: (
        TokenEngine(KeyRing([SigningKey.from_secret(SECRET)])).issue_access(str(u.id), "s").token
    ),
    "wrong issuer": lambda u: _engine(issuer="elsewhere").issue_access(str(u.id), "s").token,
    "a refresh token": lambda u: _engine().issue_refresh(str(u.id), "s").token,
    "alg none": lambda u: alg_none(_engine().issue_access(str(u.id), "s").token),
    "alg none without kid": lambda u: alg_none(_engine().issue_access(str(u.id), "s").token, keep_kid=False),
    "kid dropped, re-signed": lambda u: forge(
        _HEADER, decode(_engine().issue_access(str(u.id), "s").token)[1], "HS256", SECRET
    ),
    "tampered sub": lambda u: tampered(_engine().issue_access(str(u.id), "s").token, sub=str(uuid.uuid4())),
}


@pytest.mark.parametrize("case", DOWNGRADES)
async def test_bad_fastauth_tokens_are_not_retried_as_legacy(
    case: str, ada: User, manager: UserManager
) -> None:
    strategy = legacy()
    assert await strategy.read_token(_engine().issue_access(str(ada.id), "s").token, manager) is ada
    assert await strategy.read_token(DOWNGRADES[case](ada), manager) is None


async def test_a_revoked_fastauth_token_stays_refused(ada: User, manager: UserManager) -> None:
    token = await legacy().write_token(ada)
    assert await legacy().read_token(token, manager) is ada
    await legacy().destroy_token(token, ada)
    assert await legacy().read_token(token, manager) is None


# --------------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize(
    "until",
    [datetime.now() + timedelta(hours=1), "2030-01-01T00:00:00Z", 1_900_000_000, (datetime.now(UTC)).date()],
    ids=["naive datetime", "string", "timestamp", "date"],
)
def test_legacy_tokens_until_must_be_an_aware_datetime(until: Any) -> None:
    with pytest.raises(ConfigError, match="legacy_tokens_until must be a timezone-aware datetime"):
        JWTStrategy(SECRET, LIFETIME, legacy_tokens_until=until)


def test_legacy_tokens_until_is_not_for_shared_keys() -> None:
    keys = KeyManager(MemoryStore(), secret=SECRET, algorithm="ES256", token_lifetime=LIFETIME)
    with pytest.raises(ConfigError, match="cannot be combined with keys="):
        JWTStrategy("x", LIFETIME, algorithm="ES256", keys=keys, legacy_tokens_until=window())


# --------------------------------------------------------------------------------------------------
# the two-step deploy, in fastapi-users' own application


def build_app(db: DictUserDatabase, get_strategy: Callable[[], Any]) -> FastAPI:
    async def get_user_manager() -> Any:
        yield UserManager(db, FAST_PASSWORDS)

    backend = AuthenticationBackend(
        name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"), get_strategy=get_strategy
    )
    fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
    current_active_user = fastapi_users.current_user(active=True)
    app = FastAPI()
    app.include_router(fastapi_users.get_auth_router(backend), prefix="/auth/jwt")

    @app.get("/protected")
    async def protected(user: User = Depends(current_active_user)) -> dict[str, str]:
        return {"email": user.email}

    return app


async def test_two_step_deploy(db: DictUserDatabase, ada: User) -> None:
    until = window()

    async def client(get_strategy: Callable[[], Any]) -> httpx.AsyncClient:
        app = build_app(db, get_strategy)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    # before: fastapi-users' own strategy signs Ada in
    async with await client(lambda: FastAPIUsersJWTStrategy(SECRET, LIFETIME)) as before:
        r = await before.post("/auth/jwt/login", data={"username": ada.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        old = r.json()["access_token"]
    # deploy 1: the import swapped, the window open: Ada stays signed in; new logins get fastauth tokens
    async with await client(lambda: JWTStrategy(SECRET, LIFETIME, legacy_tokens_until=until)) as deploy1:
        assert (await deploy1.get("/protected", headers=bearer(old))).json() == {"email": ada.email}
        r = await deploy1.post("/auth/jwt/login", data={"username": ada.email, "password": PASSWORD})
        new = r.json()["access_token"]
        assert "kid" in decode(new)[0]
    # deploy 2: the option removed: the old token is refused as any bad token is, the new one works
    async with await client(lambda: JWTStrategy(SECRET, LIFETIME)) as deploy2:
        r = await deploy2.get("/protected", headers=bearer(old))
        assert (r.status_code, r.json()) == (401, {"detail": "Unauthorized"})
        assert (await deploy2.get("/protected", headers=bearer(new))).status_code == 200
