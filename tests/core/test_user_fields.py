"""The application's own user fields on the memory store, through `AuthService`: registration and
`create_user` with fields and defaults, who may write what, validation of the whole model, per-field
writes, `FieldTaken`, `on_after_update`, `modify_jwt`, username sign-in, and every `ConfigError` of
the declaration."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, create_model, model_validator

from fastauth import FastAuthConfig, Indexed, SetOnce, Unique, UserFields, Writable
from fastauth.errors import ConfigError, EmailTaken, FieldTaken, InvalidCredentials, InvalidUserFields
from fastauth.hooks import EventHooks
from fastauth.passwords import PasswordHasher
from fastauth.service import AuthService
from fastauth.storage.base import User
from fastauth.storage.memory import MemoryStore
from support.app import FAST_HASHER_PARAMS, TEST_SECRET
from support.forge import claims

PASSWORD = "correct horse battery staple"


class Profile(UserFields):
    name: Annotated[str | None, Writable, Field(max_length=100)] = None
    username: Annotated[str, SetOnce, Unique, Field(min_length=3, max_length=30, pattern=r"^[a-z0-9_]+$")]
    tenant_id: Annotated[str, Indexed, Field(max_length=64)] = "default"
    plan: Literal["free", "pro"] = "free"


class Handles(UserFields):
    """A nullable `Unique` field: users without a handle never collide."""

    handle: Annotated[str | None, Writable, Unique, Field(max_length=30)] = None


class Billing(UserFields):
    """A rule across two fields: the free plan has one seat."""

    plan: Annotated[Literal["free", "pro"], Writable] = "free"
    seats: Annotated[int, Writable] = 1

    @model_validator(mode="after")
    def _one_seat_when_free(self) -> Billing:
        if self.plan == "free" and self.seats > 1:
            raise ValueError("the free plan has one seat")
        return self


class Hooks(EventHooks):
    """Records `on_after_update`, `allow_signin` and `modify_jwt`; adds the user's tenant as a claim."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def on_after_update(self, user: Any, update_dict: dict[str, Any]) -> None:
        self.calls.append(("on_after_update", user.id, user.fields, update_dict))

    async def allow_signin(self, user: Any) -> bool:
        self.calls.append(("allow_signin", user.id))
        return True

    async def on_signup(self, user: Any) -> None:
        self.calls.append(("on_signup", user.id))

    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        self.calls.append(("modify_jwt", user.id))
        tenant = getattr(user.fields, "tenant_id", None)
        return {**token, "tenant": tenant} if tenant is not None else token

    def take(self) -> list[tuple[Any, ...]]:
        calls, self.calls = self.calls, []
        return calls


Make = Callable[..., Awaitable[AuthService]]


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(FAST_HASHER_PARAMS)


@pytest.fixture
def recorder() -> Hooks:
    return Hooks()


@pytest.fixture
async def make(hasher: PasswordHasher, recorder: Hooks) -> AsyncIterator[Make]:
    """`await make(model, **config)`: a started service on `MemoryStore(user_fields=model)`."""
    opened: list[AuthService] = []

    async def build(model: type[UserFields] = Profile, **overrides: Any) -> AuthService:
        config = FastAuthConfig(secret=TEST_SECRET, rate_limit_enabled=False, user_fields=model, **overrides)
        service = AuthService.from_config(
            config, store=MemoryStore(user_fields=model), hooks=recorder, password_hasher=hasher
        )
        await service.startup()
        opened.append(service)
        return service

    yield build
    for service in opened:
        await service.aclose()


@pytest.fixture
async def service(make: Make) -> AuthService:
    return await make(Profile, username_field="username")


def users(service: AuthService) -> dict[str, User]:
    store = service.store
    assert isinstance(store, MemoryStore)
    return store._users


async def stored(service: AuthService, user: User) -> User:
    found = await service.store.get_user(user.id)
    assert found is not None
    return found


# --- registration and create_user ---------------------------------------------------------------


async def test_register_stores_the_chosen_fields_and_the_defaults(service: AuthService) -> None:
    user, _ = await service.register(
        "ada@example.com", PASSWORD, fields={"username": "ada", "name": "Ada Lovelace"}
    )

    expected = Profile(name="Ada Lovelace", username="ada", tenant_id="default", plan="free")
    assert isinstance(user.fields, Profile)
    assert user.fields == expected
    assert (await stored(service, user)).fields == expected


async def test_create_user_sets_any_field(service: AuthService) -> None:
    user = await service.create_user(
        "ada@example.com", PASSWORD, fields={"username": "ada", "tenant_id": "acme", "plan": "pro"}
    )

    expected = Profile(name=None, username="ada", tenant_id="acme", plan="pro")
    assert user.fields == expected
    assert (await stored(service, user)).fields == expected


async def test_user_fields_are_frozen(service: AuthService) -> None:
    user, _ = await service.register("ada@example.com", PASSWORD, fields={"username": "ada"})
    with pytest.raises(ValueError, match="frozen"):
        user.fields.name = "Mallory"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({}, "invalid user fields: username: Field required", id="required-missing"),
        pytest.param(
            {"username": "ada", "tenant_id": "acme"},
            "cannot be set at registration: tenant_id",
            id="unmarked-tenant",
        ),
        pytest.param(
            {"username": "ada", "plan": "pro"}, "cannot be set at registration: plan", id="unmarked-plan"
        ),
        pytest.param(
            {"username": "ada", "is_superuser": True}, "not user fields: is_superuser", id="own-attribute"
        ),
        pytest.param({"username": "ada", "nickname": "x"}, "not user fields: nickname", id="unknown"),
        pytest.param(
            {"username": "Ada"},
            "invalid user fields: username: String should match pattern '^[a-z0-9_]+$'",
            id="pattern",
        ),
        pytest.param(
            {"username": "ab"},
            "invalid user fields: username: String should have at least 3 characters",
            id="too-short",
        ),
        pytest.param(
            {"username": 123}, "invalid user fields: username: Input should be a valid string", id="not-str"
        ),
        pytest.param(
            {"username": "ada", "name": "x" * 101},
            "invalid user fields: name: String should have at most 100 characters",
            id="name-too-long",
        ),
    ],
)
async def test_register_refuses_fields_and_stores_nothing(
    service: AuthService, recorder: Hooks, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidUserFields) as info:
        await service.register("ada@example.com", PASSWORD, fields=fields)

    assert str(info.value) == message
    assert users(service) == {}
    assert recorder.take() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"username": "ada", "plan": "gold"},
            "invalid user fields: plan: Input should be 'free' or 'pro'",
            id="literal",
        ),
        pytest.param(
            {"username": "ada", "tenant_id": "t" * 65},
            "invalid user fields: tenant_id: String should have at most 64 characters",
            id="too-long",
        ),
        pytest.param({"username": "ada", "email": "x@example.com"}, "not user fields: email", id="email"),
    ],
)
async def test_create_user_refuses_invalid_fields(
    service: AuthService, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidUserFields) as info:
        await service.create_user("ada@example.com", PASSWORD, fields=fields)

    assert str(info.value) == message
    assert users(service) == {}


async def test_a_refusal_never_repeats_the_value(service: AuthService) -> None:
    secret = "SECRET-VALUE-" * 10
    with pytest.raises(InvalidUserFields) as info:
        await service.register("ada@example.com", PASSWORD, fields={"username": "ada", "name": secret})
    assert "SECRET-VALUE" not in str(info.value)


# --- update_fields ---------------------------------------------------------------------------


@pytest.fixture
async def ada(service: AuthService, recorder: Hooks) -> User:
    user, _ = await service.register("ada@example.com", PASSWORD, fields={"username": "ada", "name": "Ada"})
    recorder.take()
    return user


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"username": "bob"}, "cannot be set by the user: username", id="set-once"),
        pytest.param({"tenant_id": "acme"}, "cannot be set by the user: tenant_id", id="unmarked"),
        pytest.param({"plan": "pro"}, "cannot be set by the user: plan", id="unmarked-literal"),
        pytest.param({"name": "Ok", "tenant_id": "acme"}, "cannot be set by the user: tenant_id", id="mixed"),
        pytest.param({"email": "eve@example.com"}, "not user fields: email", id="email"),
        pytest.param({"is_superuser": True}, "not user fields: is_superuser", id="is_superuser"),
        pytest.param({"is_verified": True}, "not user fields: is_verified", id="is_verified"),
        pytest.param({"is_active": False}, "not user fields: is_active", id="is_active"),
        pytest.param({"roles": ["admin"]}, "not user fields: roles", id="roles"),
        pytest.param({"id": "x"}, "not user fields: id", id="id"),
        pytest.param({"hashed_password": "x"}, "not user fields: hashed_password", id="hashed_password"),
        pytest.param({"nickname": "x"}, "not user fields: nickname", id="unknown"),
        pytest.param(
            {"name": 5}, "invalid user fields: name: Input should be a valid string", id="wrong-type"
        ),
        pytest.param(
            {"name": "x" * 101},
            "invalid user fields: name: String should have at most 100 characters",
            id="too-long",
        ),
    ],
)
async def test_the_user_changes_only_writable_fields(
    service: AuthService, ada: User, recorder: Hooks, changes: dict[str, Any], message: str
) -> None:
    before = await stored(service, ada)

    with pytest.raises(InvalidUserFields) as info:
        await service.update_fields(ada, changes, by_user=True)

    assert str(info.value) == message
    assert await stored(service, ada) == before
    assert recorder.take() == []


async def test_the_user_changes_a_writable_field(service: AuthService, ada: User) -> None:
    updated = await service.update_fields(ada, {"name": None}, by_user=True)

    assert updated.fields == Profile(name=None, username="ada")
    assert (await stored(service, ada)).fields == updated.fields


async def test_the_application_changes_any_field(service: AuthService, ada: User) -> None:
    updated = await service.update_fields(ada, {"username": "ada_l", "tenant_id": "acme", "plan": "pro"})

    assert updated.fields == Profile(name="Ada", username="ada_l", tenant_id="acme", plan="pro")
    assert (await stored(service, ada)).fields == updated.fields


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"plan": "gold"}, "invalid user fields: plan: Input should be 'free' or 'pro'", id="literal"
        ),
        pytest.param(
            {"username": "A D A"},
            "invalid user fields: username: String should match pattern '^[a-z0-9_]+$'",
            id="pattern",
        ),
        pytest.param({"is_superuser": True}, "not user fields: is_superuser", id="own-attribute"),
    ],
)
async def test_the_application_is_refused_invalid_values(
    service: AuthService, ada: User, changes: dict[str, Any], message: str
) -> None:
    before = await stored(service, ada)
    with pytest.raises(InvalidUserFields) as info:
        await service.update_fields(ada, changes)
    assert str(info.value) == message
    assert await stored(service, ada) == before


async def test_update_fields_validates_the_whole_model_with_the_stored_values(make: Make) -> None:
    service = await make(Billing)
    user = await service.create_user("ada@example.com", PASSWORD)

    with pytest.raises(InvalidUserFields) as info:
        await service.update_fields(user, {"seats": 5}, by_user=True)
    assert str(info.value) == "invalid user fields: fields: Value error, the free plan has one seat"

    upgraded = await service.update_fields(user, {"plan": "pro", "seats": 5}, by_user=True)
    assert upgraded.fields == Billing(plan="pro", seats=5)
    with pytest.raises(InvalidUserFields):  # back to free with the five seats stored: refused
        await service.update_fields(user, {"plan": "free"}, by_user=True)
    assert (await stored(service, user)).fields == Billing(plan="pro", seats=5)


async def test_a_change_from_a_stale_user_keeps_another_fields_change(
    service: AuthService, ada: User
) -> None:
    stale = ada
    await service.update_fields(ada, {"tenant_id": "acme"})

    updated = await service.update_fields(stale, {"name": "Countess"}, by_user=True)

    expected = Profile(name="Countess", username="ada", tenant_id="acme")
    assert updated.fields == expected
    assert (await stored(service, ada)).fields == expected


async def test_concurrent_changes_of_two_fields_both_survive(service: AuthService, ada: User) -> None:
    await asyncio.gather(
        service.update_fields(ada, {"name": "Countess"}, by_user=True),
        service.update_fields(ada, {"plan": "pro"}),
        service.update_fields(ada, {"tenant_id": "acme"}),
    )
    assert (await stored(service, ada)).fields == Profile(
        name="Countess", username="ada", tenant_id="acme", plan="pro"
    )


async def test_update_fields_of_a_deleted_account_is_invalid_credentials(
    service: AuthService, ada: User
) -> None:
    await service.store.delete_user(ada.id)
    with pytest.raises(InvalidCredentials):
        await service.update_fields(ada, {"name": "Ghost"}, by_user=True)


# --- on_after_update ------------------------------------------------------------------------------


async def test_on_after_update_gets_exactly_the_changed_values(
    service: AuthService, ada: User, recorder: Hooks
) -> None:
    await service.update_fields(ada, {"name": "Countess"}, by_user=True)
    await service.update_fields(ada, {"plan": "pro", "tenant_id": "acme"})

    assert recorder.take() == [
        ("on_after_update", ada.id, Profile(name="Countess", username="ada"), {"name": "Countess"}),
        (
            "on_after_update",
            ada.id,
            Profile(name="Countess", username="ada", tenant_id="acme", plan="pro"),
            {"plan": "pro", "tenant_id": "acme"},
        ),
    ]


@pytest.mark.parametrize("by_user", [True, False])
async def test_an_empty_change_writes_nothing_and_fires_nothing(
    service: AuthService, ada: User, recorder: Hooks, by_user: bool
) -> None:
    before = await stored(service, ada)

    same = await service.update_fields(ada, {}, by_user=by_user)

    assert same == before
    assert await stored(service, ada) == before
    assert recorder.take() == []


# --- modify_jwt ------------------------------------------------------------------------------


async def test_modify_jwt_sees_the_fields(service: AuthService) -> None:
    await service.create_user("ada@example.com", PASSWORD, fields={"username": "ada", "tenant_id": "acme"})

    _, pair = await service.sign_in("ada@example.com", PASSWORD)

    assert claims(pair.access_token)["tenant"] == "acme"
    verified = await service.authenticate(pair.access_token)
    assert verified.claims["tenant"] == "acme"


async def test_modify_jwt_sees_the_fields_of_a_new_registration(service: AuthService) -> None:
    _, pair = await service.register("ada@example.com", PASSWORD, fields={"username": "ada"})
    assert claims(pair.access_token)["tenant"] == "default"


# --- FieldTaken -----------------------------------------------------------------------------


async def test_register_with_a_taken_username_is_field_taken_and_stores_nothing(
    service: AuthService, ada: User
) -> None:
    with pytest.raises(FieldTaken) as info:
        await service.register("bob@example.com", PASSWORD, fields={"username": "ada"})

    assert str(info.value) == "username is already taken"
    assert info.value.field == "username"
    assert list(users(service)) == [ada.id]
    assert [s.user_id for s in await service.list_sessions(ada)] == [ada.id]
    assert await service.store.get_user_by_email("bob@example.com") is None


async def test_a_registration_refused_for_a_taken_username_fires_no_hook(
    service: AuthService, ada: User, recorder: Hooks
) -> None:
    with pytest.raises(FieldTaken):
        await service.register("bob@example.com", PASSWORD, fields={"username": "ada"})
    assert recorder.take() == []


async def test_create_user_with_a_taken_username_is_field_taken(service: AuthService, ada: User) -> None:
    with pytest.raises(FieldTaken, match=r"^username is already taken$"):
        await service.create_user("bob@example.com", PASSWORD, fields={"username": "ada"})
    assert list(users(service)) == [ada.id]


async def test_a_taken_email_is_still_email_taken(service: AuthService, ada: User) -> None:
    with pytest.raises(EmailTaken):
        await service.register("ada@example.com", PASSWORD, fields={"username": "other"})
    with pytest.raises(EmailTaken):
        await service.create_user("ada@example.com", PASSWORD, fields={"username": "other"})
    assert list(users(service)) == [ada.id]


async def test_update_to_a_taken_username_is_field_taken_and_changes_nothing(
    service: AuthService, ada: User, recorder: Hooks
) -> None:
    bob = await service.create_user("bob@example.com", PASSWORD, fields={"username": "bob"})
    before = await stored(service, bob)
    recorder.take()

    with pytest.raises(FieldTaken, match=r"^username is already taken$"):
        await service.update_fields(bob, {"username": "ada", "name": "Bob"})

    assert await stored(service, bob) == before
    assert recorder.take() == []
    same = await service.update_fields(bob, {"username": "bob"})  # its own value is no collision
    assert same.fields.username == "bob"


async def test_none_values_of_a_unique_field_never_collide(make: Make) -> None:
    service = await make(Handles)
    first = await service.register("ada@example.com", PASSWORD)
    second, _ = await service.register("bob@example.com", PASSWORD, fields={"handle": None})
    third = await service.create_user("eve@example.com", PASSWORD)
    assert [u.fields.handle for u in (first[0], second, third)] == [None, None, None]

    await service.update_fields(first[0], {"handle": "ada"}, by_user=True)
    await service.update_fields(second, {"handle": None}, by_user=True)
    with pytest.raises(FieldTaken, match=r"^handle is already taken$"):
        await service.update_fields(third, {"handle": "ada"}, by_user=True)
    with pytest.raises(FieldTaken):
        await service.register("mal@example.com", PASSWORD, fields={"handle": "ada"})
    assert (await stored(service, third)).fields.handle is None


# --- username sign-in -------------------------------------------------------------------------


@pytest.fixture
def verify_calls(hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per `hasher.verify` call: True when it checked against the dummy hash (no user)."""
    calls: list[bool] = []
    original = hasher.verify

    async def counting(password: str, hashed: str | None) -> Any:
        calls.append(hashed is None)
        return await original(password, hashed)

    monkeypatch.setattr(hasher, "verify", counting)
    return calls


async def test_sign_in_with_the_username(service: AuthService, ada: User) -> None:
    by_name, pair = await service.sign_in("ada", PASSWORD)
    by_email, _ = await service.sign_in("ada@example.com", PASSWORD)

    assert by_name.id == by_email.id == ada.id
    assert (await service.authenticate(pair.access_token)).sub == ada.id


@pytest.mark.parametrize(
    ("login", "password", "dummy"),
    [
        pytest.param("ada", "wrong password", False, id="wrong-password"),
        pytest.param("nobody", PASSWORD, True, id="unknown-username"),
        pytest.param("Ada", PASSWORD, True, id="not-a-valid-username"),
        pytest.param("ab", PASSWORD, True, id="too-short-for-a-username"),
        pytest.param("a" * 31, PASSWORD, True, id="too-long-for-a-username"),
        pytest.param("nobody@example.com", PASSWORD, True, id="unknown-email"),
    ],
)
async def test_a_failed_username_sign_in_is_invalid_credentials_after_one_hash_check(
    service: AuthService, ada: User, verify_calls: list[bool], login: str, password: str, dummy: bool
) -> None:
    with pytest.raises(InvalidCredentials) as info:
        await service.sign_in(login, password)
    assert str(info.value) == "invalid email or password"
    assert verify_calls == [dummy]


async def test_an_inactive_user_cannot_sign_in_with_the_username(service: AuthService, ada: User) -> None:
    await service.set_user_active(ada.id, False)
    with pytest.raises(InvalidCredentials):
        await service.sign_in("ada", PASSWORD)


async def test_without_username_field_a_username_does_not_sign_in(
    make: Make, verify_calls: list[bool]
) -> None:
    service = await make(Profile)
    await service.create_user("ada@example.com", PASSWORD, fields={"username": "ada"})
    with pytest.raises(InvalidCredentials):
        await service.sign_in("ada", PASSWORD)
    assert verify_calls == [True]


# --- ConfigError: the declaration ---------------------------------------------------------------


def config(**values: Any) -> FastAuthConfig:
    return FastAuthConfig(secret=TEST_SECRET, **values)


@pytest.mark.parametrize(
    "name",
    [
        "id",
        "email",
        "hashed_password",
        "password",
        "is_active",
        "is_verified",
        "is_superuser",
        "roles",
        "created_at",
        "fields",
    ],
)
def test_a_reserved_name_is_a_config_error(name: str) -> None:
    model = create_model("Reserved", __base__=UserFields, **{name: (str, "x")})
    with pytest.raises(ConfigError) as info:
        config(user_fields=model)
    assert str(info.value) == f"Reserved.{name}: the name {name!r} is fastauth's own; choose another"


class Color(enum.Enum):
    RED = 1.5


class Nested(BaseModel):
    x: int = 0


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        pytest.param(list[str], "has no column type", id="list"),
        pytest.param(dict[str, str], "has no column type", id="dict"),
        pytest.param(tuple[int, ...], "has no column type", id="tuple"),
        pytest.param(bytes, "has no column type", id="bytes"),
        pytest.param(Nested, "has no column type", id="nested-model"),
        pytest.param(Any, "has no column type", id="any"),
        pytest.param(int | str, "a union of several types has no column type", id="union"),
        pytest.param(int | str | None, "a union of several types has no column type", id="union-none"),
        pytest.param(Literal["a", 1], "Literal and Enum values must all be str or all be int", id="mixed"),
        pytest.param(Literal[True], "Literal and Enum values must all be str or all be int", id="bool"),
        pytest.param(Color, "Literal and Enum values must all be str or all be int", id="float-enum"),
    ],
)
def test_an_unsupported_type_is_a_config_error(annotation: Any, message: str) -> None:
    model = create_model("Odd", __base__=UserFields, value=(annotation, None))
    with pytest.raises(ConfigError) as info:
        config(user_fields=model)
    assert str(info.value).startswith("Odd.value: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    "field",
    [
        pytest.param(Field(default=None, alias="userName"), id="alias"),
        pytest.param(
            Field(default=None, validation_alias="userName"),
            id="validation_alias",
        ),
        pytest.param(
            Field(default=None, serialization_alias="userName"),
            id="serialization_alias",
        ),
    ],
)
def test_an_alias_is_a_config_error(field: Any) -> None:
    model = create_model("Aliased", __base__=UserFields, user_name=(str | None, field))
    with pytest.raises(ConfigError, match="aliases are not supported"):
        config(user_fields=model)


def test_a_class_that_is_not_user_fields_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        config(user_fields=Nested)


class Numbers(UserFields):
    member_no: Annotated[int, Unique] = 0
    name: str = ""


@pytest.mark.parametrize(
    ("model", "field", "message"),
    [
        pytest.param(
            Profile, "name", "username_field 'name' must name a Unique str field of Profile", id="not-unique"
        ),
        pytest.param(
            Numbers,
            "member_no",
            "username_field 'member_no' must name a Unique str field of Numbers",
            id="not-str",
        ),
        pytest.param(
            Profile, "login", "username_field 'login' must name a Unique str field of Profile", id="unknown"
        ),
        pytest.param(
            None, "username", "username_field needs user_fields declaring that field.", id="no-model"
        ),
    ],
)
def test_a_bad_username_field_is_a_config_error(
    model: type[UserFields] | None, field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config(user_fields=model, username_field=field)
    assert message in str(info.value)


def test_an_import_path_names_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config(user_fields=f"{__name__}:Profile").user_fields is Profile
    monkeypatch.setenv("FASTAUTH_USER_FIELDS", f"{__name__}:Profile")
    assert FastAuthConfig(secret=TEST_SECRET).user_fields is Profile


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(
            "no_colon", "user_fields must be 'package.module:ClassName', not 'no_colon'", id="colon"
        ),
        pytest.param(":Profile", "user_fields must be 'package.module:ClassName'", id="no-module"),
        pytest.param(f"{__name__}:", "user_fields must be 'package.module:ClassName'", id="no-class"),
        pytest.param(
            "no_such_module_fa:Profile", "user_fields: cannot import 'no_such_module_fa'", id="module"
        ),
        pytest.param(f"{__name__}:Missing", "is not a subclass of fastauth.UserFields", id="missing"),
        pytest.param(f"{__name__}:PASSWORD", "is not a subclass of fastauth.UserFields", id="not-a-class"),
        pytest.param("json:JSONDecoder", "is not a subclass of fastauth.UserFields", id="other-class"),
    ],
)
def test_a_bad_import_path_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config(user_fields=path)
    assert message in str(info.value)
    monkeypatch.setenv("FASTAUTH_USER_FIELDS", path)
    with pytest.raises(ConfigError) as info:
        FastAuthConfig(secret=TEST_SECRET)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("configured", "in_store"),
    [
        pytest.param(Profile, None, id="store-without"),
        pytest.param(None, Profile, id="config-without"),
        pytest.param(Profile, Handles, id="another-model"),
    ],
)
def test_a_store_with_other_fields_is_a_config_error(
    configured: type[UserFields] | None, in_store: type[UserFields] | None, hasher: PasswordHasher
) -> None:
    with pytest.raises(ConfigError, match="the store and the configuration declare different user fields"):
        AuthService.from_config(
            config(user_fields=configured), store=MemoryStore(user_fields=in_store), password_hasher=hasher
        )
