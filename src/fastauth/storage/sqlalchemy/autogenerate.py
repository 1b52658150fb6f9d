"""What an application's Alembic autogenerate needs to write the revisions of its user fields.

The application's fields are columns of `fastauth_users` (`fastauth.UserFields`), but the rest of that
table, and every other fastauth table, belongs to fastauth's own revisions. `UserFieldsMigrations`
gives the application's `env.py` the table with the fields' columns as target metadata, and a filter
that shows autogenerate exactly those columns and their indexes, nothing else of fastauth's:

    fastauth = UserFieldsMigrations(Profile)
    target_metadata = [Base.metadata, fastauth.metadata]
    context.configure(connection=..., target_metadata=target_metadata,
                      include_object=fastauth.include_object)

`alembic revision --autogenerate` then writes `op.add_column("fastauth_users", ...)` (and
`op.create_index`) for a new field, `op.drop_column` for a removed one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData

from fastauth.fields import UserFields, describe
from fastauth.storage.sqlalchemy.tables import USERS, users_table

__all__ = ["UserFieldsMigrations"]


class UserFieldsMigrations:
    """The target metadata and the autogenerate filter for an application's user fields (`model`;
    None: the application declares none, and autogenerate leaves every fastauth table alone)."""

    def __init__(self, model: type[UserFields] | None) -> None:
        table = users_table(model)
        self.table_name = USERS.name
        self.columns = frozenset(spec.name for spec in describe(model))
        self.indexes = frozenset(
            str(index.name) for index in table.indexes if {c.name for c in index.columns} <= self.columns
        )
        #: `fastauth_users` with the fields' columns (empty without fields): add it to `target_metadata`.
        self.metadata: MetaData = table.metadata if self.columns else MetaData()

    def include_object(
        self, obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        """Alembic's `include_object`: of fastauth's tables only `fastauth_users`, and of it only the
        fields' columns and indexes; anything of the application's own is included."""
        if type_ == "table":
            return not (name or "").startswith("fastauth_") or (
                name == self.table_name and bool(self.columns)
            )
        table = getattr(obj, "table", None)
        if table is None or table.name != self.table_name:
            return True
        if type_ == "column":
            return name in self.columns
        if type_ == "index":
            return name in self.indexes
        return False  # fastauth's own constraints on the table
