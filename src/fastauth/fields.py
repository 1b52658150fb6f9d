"""The application's own user fields: one pydantic model, declared once, read everywhere.

An application subclasses `UserFields` (a name, a tenant, a username) and marks what a user may set:

    class Profile(UserFields):
        name: Annotated[str | None, Writable, Field(max_length=100)] = None
        username: Annotated[str, SetOnce, Unique, Field(min_length=3, max_length=30)]
        tenant_id: Annotated[str, Indexed, Field(max_length=64)] = "default"

- `Writable`: the user sets it at registration and changes it with `PATCH /auth/me`.
- `SetOnce`: the user sets it at registration only.
- unmarked: only the application sets it (`AuthService.create_user(fields=...)`, `update_fields`).
- `Unique`, `Indexed`: the column gets a unique constraint, or an index.

Each field is a column of `fastauth_users`, added by the application's own Alembic revision
(docs/user-fields.md). `describe()` turns the model into `FieldSpec`s: the one reading of the
declaration that the storage (columns), the service (who may write what) and the web layer (request and
answer bodies) share. Only column-shaped types are accepted, so a field never needs a JSON blob.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import types
import typing
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from fastauth.errors import ConfigError

__all__ = [
    "RESERVED",
    "FieldSpec",
    "Indexed",
    "Kind",
    "SetOnce",
    "Unique",
    "UserFields",
    "Username",
    "Writable",
    "describe",
    "import_fields",
]

#: Names a field may not take: the account's own attributes (and its password).
RESERVED = frozenset(
    {
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
        "has_password",
    }
)

#: The column types a field can have: what every supported database stores natively.
Kind = Literal["str", "int", "float", "bool", "datetime", "date", "uuid"]


class UserFields(BaseModel):
    """Base class of the application's user fields (no field of its own: fastauth's default).

    Frozen: a change goes through the service (`update_fields`, `PATCH /auth/me`), which writes it,
    never through an attribute of a user some request holds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Marker:
    """A flag in a field's `Annotated[...]` metadata; pydantic keeps it and ignores it."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The user may set the field at registration and change it with `PATCH /auth/me`.
Writable = _Marker("Writable")
#: The user may set the field at registration, never afterwards.
SetOnce = _Marker("SetOnce")
#: A unique constraint on the column (two users never share the value; NULLs do not count).
Unique = _Marker("Unique")
#: An index on the column (the application looks users up by it).
Indexed = _Marker("Indexed")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One declared field as storage and the HTTP layer need it."""

    name: str
    kind: Kind
    nullable: bool
    #: The longest text (`Field(max_length=...)`, a `Literal`'s or an enum's longest value); None: any.
    max_length: int | None
    #: False when the declaration has no default (registration must then give it).
    has_default: bool
    default: Any
    #: `Writable`: settable at registration and through `PATCH /auth/me`.
    writable: bool
    #: `Writable` or `SetOnce`: settable at registration.
    at_registration: bool
    unique: bool
    indexed: bool


def describe(model: type[UserFields] | None) -> tuple[FieldSpec, ...]:
    """The `FieldSpec`s of `model` in declaration order (none for None or `UserFields` itself);
    `ConfigError` saying what to change for a reserved name or a type no column can hold."""
    if model is None:
        return ()
    return _describe(model)


@functools.cache
def _describe(model: type[UserFields]) -> tuple[FieldSpec, ...]:
    if not (isinstance(model, type) and issubclass(model, UserFields)):
        raise ConfigError(f"user fields must be a subclass of fastauth.UserFields, not {model!r}")
    specs = []
    for name, info in model.model_fields.items():
        where = f"{model.__name__}.{name}"
        if name in RESERVED or name.startswith("_"):
            raise ConfigError(f"{where}: the name {name!r} is fastauth's own; choose another")
        aliases = (info.alias, info.validation_alias, info.serialization_alias)
        if any(alias is not None and alias != name for alias in aliases):
            raise ConfigError(
                f"{where}: aliases are not supported (the column, the JSON key and the name agree)"
            )
        kind, nullable, longest = _kind(info.annotation, where)
        marks = {getattr(mark, "name", None) for mark in info.metadata if isinstance(mark, _Marker)}
        has_default = not info.is_required()
        default = None if not has_default else info.get_default(call_default_factory=True)
        specs.append(
            FieldSpec(
                name=name,
                kind=kind,
                nullable=nullable,
                max_length=_max_length(info, longest),
                has_default=has_default,
                default=default,
                writable="Writable" in marks,
                at_registration=bool(marks & {"Writable", "SetOnce"}),
                unique="Unique" in marks,
                indexed="Indexed" in marks,
            )
        )
    return tuple(specs)


_KINDS: tuple[tuple[type, Kind], ...] = (
    (bool, "bool"),  # before int: a bool is an int
    (int, "int"),
    (float, "float"),
    (str, "str"),
    (dt.datetime, "datetime"),  # before date: a datetime is a date
    (dt.date, "date"),
    (uuid.UUID, "uuid"),
)


def _kind(annotation: Any, where: str) -> tuple[Kind, bool, int | None]:
    """(kind, nullable, longest literal or enum value) of a field's type."""
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise ConfigError(
                f"{where}: a union of several types has no column type; use one type (or X | None)"
            )
        annotation = members[0]
        origin = typing.get_origin(annotation)
    if origin is Literal:
        values = typing.get_args(annotation)
        return _values_kind(values, where), nullable, _longest(values)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = tuple(member.value for member in annotation)
        return _values_kind(values, where), nullable, _longest(values)
    for python, kind in _KINDS:
        if isinstance(annotation, type) and issubclass(annotation, python):
            return kind, nullable, None
    raise ConfigError(
        f"{where}: the type {annotation!r} has no column type; use str, int, float, bool, datetime, "
        "date, UUID, a Literal or an Enum of str or int values (or one of them | None)"
    )


def _values_kind(values: tuple[Any, ...], where: str) -> Kind:
    if values and all(isinstance(value, str) for value in values):
        return "str"
    if values and all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "int"
    raise ConfigError(f"{where}: Literal and Enum values must all be str or all be int")


def _longest(values: tuple[Any, ...]) -> int | None:
    texts = [len(value) for value in values if isinstance(value, str)]
    return max(texts) if texts else None


def _max_length(info: FieldInfo, longest: int | None) -> int | None:
    for mark in info.metadata:
        limit = getattr(mark, "max_length", None)
        if isinstance(limit, int):
            return limit
    return longest


def import_fields(path: str) -> type[UserFields]:
    """The model `module:Name` names (`FASTAUTH_USER_FIELDS`); `ConfigError` when it is not one."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"user_fields must be 'package.module:ClassName', not {path!r}")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"user_fields: cannot import {module_name!r} ({error})") from None
    model = getattr(module, attribute, None)
    if not (isinstance(model, type) and issubclass(model, UserFields)):
        raise ConfigError(f"user_fields: {path!r} is not a subclass of fastauth.UserFields")
    return model


class Username:
    """The `Unique` text field that signs in as well as the email (`username_field`): its name, and
    the field's own type and constraints, so a sign-in looks up what registration would have stored."""

    def __init__(self, model: type[UserFields], name: str) -> None:
        spec = next((spec for spec in describe(model) if spec.name == name), None)
        if spec is None or spec.kind != "str" or not spec.unique:
            raise ConfigError(
                f"username_field {name!r} must name a Unique str field of {model.__name__} "
                f"(like `{name}: Annotated[str, SetOnce, Unique, Field(max_length=30)]`)"
            )
        info = model.model_fields[name]
        self.name = name
        annotated: Any = Annotated[(info.annotation, *info.metadata)]
        self._adapter: TypeAdapter[Any] = TypeAdapter(annotated)

    def value(self, text: str) -> Any:
        """`text` as the field stores it (its validators applied); `ValueError` when no username is it."""
        try:
            return self._adapter.validate_python(text)
        except ValidationError:
            raise ValueError("not a username") from None
