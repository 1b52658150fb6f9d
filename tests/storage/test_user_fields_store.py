"""The application's user fields as columns of `fastauth_users`, on SQLite and PostgreSQL: a round
trip of every kind, per-column writes, `FieldTaken` (and `EmailTaken`), `get_user_by_field`, the
columns and indexes of a new database, the refusal of one that lacks them, and stored values the model
now refuses."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field
from sqlalchemy import inspect, text

from fastauth import FastAuthConfig, Indexed, SetOnce, Unique, UserFields, Writable
from fastauth.errors import ConfigError, EmailTaken, FieldTaken
from fastauth.passwords import PasswordHasher
from fastauth.service import AuthService
from fastauth.storage.base import SessionRecord, User
from fastauth.storage.sqlalchemy import SQLAlchemyAdapter
from support.app import FAST_HASHER_PARAMS, TEST_SECRET


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Everything(UserFields):
    """One field of every supported kind (and a nullable one of most)."""

    name: Annotated[str | None, Writable, Field(max_length=100)] = None
    username: Annotated[str | None, SetOnce, Unique, Field(max_length=30)] = None
    tenant_id: Annotated[str, Indexed, Field(max_length=64)] = "default"
    bio: str | None = None  # no max_length: a TEXT column
    count: int = 0
    big: int | None = None
    ratio: float = 0.0
    flag: bool = False
    maybe: bool | None = None
    seen_at: dt.datetime | None = None
    born_on: dt.date | None = None
    ref: uuid.UUID | None = None
    plan: Literal["free", "pro"] = "free"
    rank: Literal[1, 2, 3] | None = None
    tier: Tier | None = None
    level: Level = Level.LOW


class Profile(UserFields):
    name: Annotated[str | None, Writable, Field(max_length=100)] = None
    username: Annotated[str, SetOnce, Unique, Field(min_length=3, max_length=30, pattern=r"^[a-z0-9_]+$")]
    tenant_id: Annotated[str, Indexed, Field(max_length=64)] = "default"
    plan: Literal["free", "pro"] = "free"


class LooseProfile(UserFields):
    """`Profile` as it was declared before its rules were tightened (same columns, wider)."""

    name: Annotated[str | None, Writable, Field(max_length=300)] = None
    username: Annotated[str, SetOnce, Unique, Field(max_length=30)]
    tenant_id: Annotated[str, Indexed, Field(max_length=64)] = "default"
    plan: Annotated[str, Field(max_length=10)] = "free"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database: SQLite, PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def opened() -> AsyncIterator[list[SQLAlchemyAdapter]]:
    adapters: list[SQLAlchemyAdapter] = []
    yield adapters
    for adapter in adapters:
        await adapter.close()


@pytest.fixture
def open_store(opened: list[SQLAlchemyAdapter], url: str) -> Any:
    async def open_(model: type[UserFields] | None, *, create: bool = True) -> SQLAlchemyAdapter:
        adapter = SQLAlchemyAdapter(url, user_fields=model)
        opened.append(adapter)
        if create:
            await adapter.create_tables()
        return adapter

    return open_


@pytest.fixture
async def store(open_store: Any) -> SQLAlchemyAdapter:
    adapter: SQLAlchemyAdapter = await open_store(Everything)
    await adapter.check_schema(keys=True)
    return adapter


def new_user(email: str, fields: UserFields, **own: Any) -> User:
    return User(
        id="u" + uuid.uuid4().hex[:24],
        email=email,
        hashed_password="$argon2id$not-a-real-hash",
        created_at=1_700_000_000,
        fields=fields,
        **own,
    )


async def run(adapter: SQLAlchemyAdapter, sql: str, **params: Any) -> list[Any]:
    async with adapter.engine.begin() as conn:
        result = await conn.execute(text(sql), params)
        return list(result.fetchall()) if result.returns_rows else []


# --- round trip ----------------------------------------------------------------------------------

FULL = Everything(
    name="Ada Lovelace",
    username="ada",
    tenant_id="acme",
    bio="x" * 5000,
    count=-(2**40),
    big=2**62,
    ratio=0.1,
    flag=True,
    maybe=False,
    born_on=dt.date(1815, 12, 10),
    ref=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    plan="pro",
    rank=3,
    tier=Tier.SILVER,
    level=Level.HIGH,
)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(FULL, id="every-value"),
        pytest.param(Everything(), id="defaults-and-none"),
        pytest.param(Everything(name="", bio="", ratio=-1.5e300, count=0, tier=Tier.GOLD), id="empty-text"),
    ],
)
async def test_every_kind_comes_back_as_stored(store: SQLAlchemyAdapter, fields: Everything) -> None:
    user = new_user("ada@example.com", fields)
    await store.create_user(user)

    for found in (await store.get_user(user.id), await store.get_user_by_email("ada@example.com")):
        assert found is not None
        assert found.fields == fields
        assert isinstance(found.fields, Everything)
        assert found.fields.level is fields.level  # the enum member, not its value
        assert found.fields.tier is fields.tier


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=dt.UTC), id="utc"),
        pytest.param(
            dt.datetime(2024, 6, 1, 12, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), id="plus-two"
        ),
    ],
)
async def test_an_aware_datetime_keeps_its_instant_and_stays_aware(
    request: pytest.FixtureRequest, store: SQLAlchemyAdapter, url: str, when: dt.datetime
) -> None:
    user = new_user("ada@example.com", Everything(seen_at=when))
    await store.create_user(user)

    found = await store.get_user(user.id)
    assert found is not None and found.fields.seen_at is not None
    assert found.fields.seen_at.tzinfo is not None
    assert found.fields.seen_at == when  # the same instant (12:00+02:00 is 10:00Z)


async def test_enum_and_literal_values_are_stored_as_their_values(store: SQLAlchemyAdapter) -> None:
    user = new_user("ada@example.com", FULL)
    await store.create_user(user)

    rows = await run(store, "SELECT tier, level, plan, rank FROM fastauth_users WHERE id = :id", id=user.id)
    assert [tuple(row) for row in rows] == [("silver", 2, "pro", 3)]


# --- partial writes ------------------------------------------------------------------------------


async def test_set_user_fields_writes_only_the_named_columns(store: SQLAlchemyAdapter) -> None:
    user = new_user("ada@example.com", FULL)
    await store.create_user(user)
    other = SQLAlchemyAdapter(store.engine.url.render_as_string(hide_password=False), user_fields=Everything)
    try:
        # another process changes the tenant and deactivates the account meanwhile
        await other.set_user_fields(user.id, {"tenant_id": "globex", "is_active": False})
        updated = await store.set_user_fields(user.id, {"name": "Countess", "count": 7, "tier": None})
    finally:
        await other.close()

    assert updated is not None
    assert updated.is_active is False
    assert updated.fields == FULL.model_copy(
        update={"tenant_id": "globex", "name": "Countess", "count": 7, "tier": None}
    )
    assert await store.get_user(user.id) == updated


async def test_set_user_fields_with_no_change_returns_the_user(store: SQLAlchemyAdapter) -> None:
    user = new_user("ada@example.com", FULL)
    await store.create_user(user)
    assert await store.set_user_fields(user.id, {}) == await store.get_user(user.id)


async def test_set_user_fields_of_no_user_is_none(store: SQLAlchemyAdapter) -> None:
    assert await store.set_user_fields("nobody" * 4, {"name": "x"}) is None


@pytest.mark.parametrize("name", ["fields", "created_at", "id", "nickname"])
async def test_set_user_fields_refuses_a_name_it_cannot_write(store: SQLAlchemyAdapter, name: str) -> None:
    user = new_user("ada@example.com", FULL)
    await store.create_user(user)
    with pytest.raises(ValueError, match="not writable user fields"):
        await store.set_user_fields(user.id, {name: "x"})
    assert await store.get_user(user.id) == user


async def test_update_user_writes_the_fields_back(store: SQLAlchemyAdapter) -> None:
    user = new_user("ada@example.com", Everything(username="ada"))
    await store.create_user(user)
    user.fields = FULL
    user.is_verified = True
    await store.update_user(user)
    assert await store.get_user(user.id) == user


# --- unique values -------------------------------------------------------------------------------


@pytest.fixture
async def two(store: SQLAlchemyAdapter) -> tuple[User, User]:
    ada = new_user("ada@example.com", Everything(username="ada"))
    bob = new_user("bob@example.com", Everything(username="bob"))
    await store.create_user(ada)
    await store.create_user(bob)
    return ada, bob


async def test_create_user_with_a_taken_value_is_field_taken(
    store: SQLAlchemyAdapter, two: tuple[User, User]
) -> None:
    with pytest.raises(FieldTaken) as info:
        await store.create_user(new_user("eve@example.com", Everything(username="ada")))
    assert (info.value.field, str(info.value)) == ("username", "username is already taken")
    assert await store.get_user_by_email("eve@example.com") is None


async def test_create_user_with_session_with_a_taken_value_inserts_nothing(
    store: SQLAlchemyAdapter, two: tuple[User, User]
) -> None:
    eve = new_user("eve@example.com", Everything(username="ada"))
    session = SessionRecord(
        id="s" * 24, user_id=eve.id, refresh_jti="j" * 24, created_at=1, last_used_at=1, expires_at=10**10
    )
    with pytest.raises(FieldTaken):
        await store.create_user_with_session(eve, session)
    assert await store.get_user(eve.id) is None
    assert await store.get_session(session.id) is None


async def test_update_user_to_a_taken_value_is_field_taken(
    store: SQLAlchemyAdapter, two: tuple[User, User]
) -> None:
    _, bob = two
    bob.fields = Everything(username="ada", name="Bob")
    with pytest.raises(FieldTaken, match=r"^username is already taken$"):
        await store.update_user(bob)
    stored = await store.get_user(bob.id)
    assert stored is not None and stored.fields == Everything(username="bob")


async def test_set_user_fields_to_a_taken_value_is_field_taken(
    store: SQLAlchemyAdapter, two: tuple[User, User]
) -> None:
    _, bob = two
    with pytest.raises(FieldTaken, match=r"^username is already taken$"):
        await store.set_user_fields(bob.id, {"username": "ada", "name": "Bob"})
    stored = await store.get_user(bob.id)
    assert stored is not None and stored.fields == Everything(username="bob")
    # its own value is no collision
    same = await store.set_user_fields(bob.id, {"username": "bob"})
    assert same is not None and same.fields.username == "bob"


async def test_a_taken_email_is_still_email_taken(store: SQLAlchemyAdapter, two: tuple[User, User]) -> None:
    _, bob = two
    with pytest.raises(EmailTaken):
        await store.create_user(new_user("ada@example.com", Everything(username="eve")))
    with pytest.raises(EmailTaken):
        await store.create_user(new_user("ada@example.com", Everything(username=None)))
    with pytest.raises(EmailTaken):
        await store.set_user_fields(bob.id, {"email": "ada@example.com"})
    with pytest.raises(EmailTaken):
        await store.set_user_fields(bob.id, {"email": "ada@example.com", "username": "bob"})
    bob.email = "ada@example.com"
    with pytest.raises(EmailTaken):
        await store.update_user(bob)


async def test_none_values_never_collide(store: SQLAlchemyAdapter) -> None:
    users = [new_user(f"u{n}@example.com", Everything(username=None)) for n in range(3)]
    for user in users:
        await store.create_user(user)
    await store.set_user_fields(users[0].id, {"username": "ada"})
    await store.set_user_fields(users[0].id, {"username": None})
    await store.set_user_fields(users[1].id, {"username": "ada"})
    with pytest.raises(FieldTaken):
        await store.set_user_fields(users[2].id, {"username": "ada"})
    assert [(await store.get_user(u.id)).fields.username for u in users] == [None, "ada", None]  # type: ignore[union-attr]


# --- get_user_by_field ---------------------------------------------------------------------------


async def test_get_user_by_field(store: SQLAlchemyAdapter, two: tuple[User, User]) -> None:
    ada, _ = two
    found = await store.get_user_by_field("username", "ada")
    assert found == ada
    assert await store.get_user_by_field("username", "Ada") is None
    assert await store.get_user_by_field("username", "nobody") is None


@pytest.mark.parametrize("name", ["tenant_id", "name", "email", "nickname"])
async def test_get_user_by_field_refuses_a_field_that_is_not_unique(
    store: SQLAlchemyAdapter, name: str
) -> None:
    with pytest.raises(ValueError, match="is not a Unique user field"):
        await store.get_user_by_field(name, "x")


# --- the schema ----------------------------------------------------------------------------------


async def _inspect(adapter: SQLAlchemyAdapter) -> tuple[dict[str, Any], dict[str, Any]]:
    async with adapter.engine.connect() as conn:
        columns = await conn.run_sync(lambda c: inspect(c).get_columns("fastauth_users"))
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("fastauth_users"))
    return {c["name"]: c for c in columns}, {i["name"]: i for i in indexes}


async def test_an_empty_database_gets_the_columns_and_indexes(open_store: Any) -> None:
    adapter: SQLAlchemyAdapter = await open_store(Profile)

    columns, indexes = await _inspect(adapter)
    assert {"name", "username", "tenant_id", "plan"} <= set(columns)
    assert (columns["name"]["nullable"], columns["username"]["nullable"]) == (True, False)
    assert (columns["tenant_id"]["nullable"], columns["plan"]["nullable"]) == (False, False)
    assert indexes["uq_fastauth_users_username"]["column_names"] == ["username"]
    assert bool(indexes["uq_fastauth_users_username"]["unique"]) is True
    assert indexes["ix_fastauth_users_tenant_id"]["column_names"] == ["tenant_id"]
    assert bool(indexes["ix_fastauth_users_tenant_id"]["unique"]) is False
    await adapter.check_schema(keys=True)


async def test_create_tables_twice_changes_nothing(open_store: Any) -> None:
    first: SQLAlchemyAdapter = await open_store(Profile)
    before = repr(await _inspect(first))
    again: SQLAlchemyAdapter = await open_store(Profile)
    assert repr(await _inspect(again)) == before
    await again.check_schema(keys=True)


async def test_a_database_without_the_columns_is_refused_naming_them(open_store: Any, url: str) -> None:
    plain: SQLAlchemyAdapter = await open_store(None)
    await plain.check_schema(keys=True)
    await plain.create_user(new_user("ada@example.com", UserFields()))

    adapter: SQLAlchemyAdapter = await open_store(Profile)  # start-up: an existing database is not altered

    with pytest.raises(ConfigError) as info:
        await adapter.check_schema(keys=True)
    message = str(info.value)
    assert (
        "fastauth_users lacks the columns of the application's user fields name, username, tenant_id, plan"
        in (message)
    )
    assert "alembic revision --autogenerate" in message
    columns, _ = await _inspect(adapter)
    assert "username" not in columns


async def test_a_service_on_a_database_without_the_columns_does_not_start(open_store: Any, url: str) -> None:
    await open_store(None)
    service = AuthService.from_config(
        FastAuthConfig(secret=TEST_SECRET, database_url=url, user_fields=Profile),
        password_hasher=PasswordHasher(FAST_HASHER_PARAMS),
    )
    try:
        with pytest.raises(ConfigError, match="lacks the columns of the application's user fields"):
            await service.startup()
    finally:
        await service.aclose()


async def test_a_database_missing_one_column_names_only_that_one(open_store: Any) -> None:
    class Fewer(UserFields):
        name: Annotated[str | None, Writable, Field(max_length=100)] = None

    class More(UserFields):
        name: Annotated[str | None, Writable, Field(max_length=100)] = None
        nickname: Annotated[str | None, Writable, Field(max_length=20)] = None

    await open_store(Fewer)
    adapter: SQLAlchemyAdapter = await open_store(More)
    with pytest.raises(ConfigError) as info:
        await adapter.check_schema(keys=True)
    assert "user fields nickname:" in str(info.value)
    assert "name," not in str(info.value)


# --- values the model now refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param("name", "n" * 150, id="name-too-long"),
        pytest.param("plan", "legacy", id="literal-gone"),
    ],
)
async def test_a_stored_value_the_model_now_refuses_is_read_as_stored(
    open_store: Any, caplog: pytest.LogCaptureFixture, column: str, value: str
) -> None:
    await open_store(LooseProfile)  # the columns as the older, wider declaration made them
    adapter: SQLAlchemyAdapter = await open_store(Profile)
    user = new_user("ada@example.com", Profile(username="ada", name="Ada"))
    await adapter.create_user(user)
    await run(adapter, f"UPDATE fastauth_users SET {column} = :value WHERE id = :id", value=value, id=user.id)

    with caplog.at_level(logging.WARNING, logger="fastauth"):
        found = await adapter.get_user(user.id)
        by_email = await adapter.get_user_by_email("ada@example.com")
        by_name = await adapter.get_user_by_field("username", "ada")

    for each in (found, by_email, by_name):
        assert each is not None and each.id == user.id
        assert getattr(each.fields, column) == value
        assert each.fields.username == "ada"
    assert f"stored fields ['{column}'] no longer validate; kept as stored" in caplog.text
    assert value not in caplog.text
