"""`Roles` on `MemoryStore`, SQLite and PostgreSQL: created, changed, deleted (taken from their holders),
refused with the right error; the cached table serves `permissions_of` and is dropped at once after a
change made here, read again after `cache_ttl` for a change made elsewhere; configured roles are
seeded and cannot be changed here; `check_assignable` accepts only defined roles."""

from __future__ import annotations

import pytest

from fastauth.authz import Roles
from fastauth.errors import InvalidRole, RoleExists, RoleInConfig, RoleNotFound
from fastauth.storage.base import RoleRecord, Store, User

NOW = 1_800_000_000


class Ticks:
    """A wall clock and a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.wall, self.mono = float(NOW), 0.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def roles_on(store: Store, ticks: Ticks, configured: dict[str, list[str]] | None = None) -> Roles:
    return Roles(
        store,
        configured=configured,
        cache_ttl=30,
        clock=lambda: ticks.wall,
        monotonic=lambda: ticks.mono,
    )


async def holder(store: Store, number: int, *roles: str) -> None:
    await store.create_user(
        User(
            id=f"user{number}",
            email=f"user{number}@example.com",
            hashed_password="$argon2id$x",
            roles=roles,
            created_at=NOW,
        )
    )


async def roles_of(store: Store, user_id: str) -> tuple[str, ...]:
    found = await store.get_user(user_id)
    assert found is not None
    return found.roles


async def test_create_stores_a_role_with_sorted_unique_permissions(store: Store, ticks: Ticks) -> None:
    roles = roles_on(store, ticks)
    made = await roles.create("editor", ["posts:write", "posts:read", "posts:write"], "writes posts")
    assert made == RoleRecord("editor", ("posts:read", "posts:write"), "writes posts", NOW, NOW)
    assert await store.get_role("editor") == made
    assert await roles.get("editor") == made
    assert await roles.list() == [made]
    assert await roles.permissions_of(["editor"]) == {"posts:read", "posts:write"}


async def test_a_taken_name_is_role_exists_and_changes_nothing(store: Store, ticks: Ticks) -> None:
    roles = roles_on(store, ticks)
    first = await roles.create("editor", ["posts:write"])
    with pytest.raises(RoleExists):
        await roles.create("editor", ["everything"])
    assert await store.get_role("editor") == first


@pytest.mark.parametrize(
    ("name", "permissions"),
    [("", ["posts:write"]), ("a b", []), ("x" * 65, []), ("editor", ["posts write"]), ("editor", [""])],
)
async def test_a_bad_name_or_permission_is_invalid_role_and_writes_nothing(
    store: Store, ticks: Ticks, name: str, permissions: list[str]
) -> None:
    roles = roles_on(store, ticks)
    with pytest.raises(InvalidRole):
        await roles.create(name, permissions)
    assert await store.list_roles() == []


async def test_get_of_an_unknown_role_is_role_not_found_and_of_a_bad_name_invalid_role(
    store: Store, ticks: Ticks
) -> None:
    roles = roles_on(store, ticks)
    with pytest.raises(RoleNotFound):
        await roles.get("ghost")
    with pytest.raises(InvalidRole):
        await roles.get("a%")


async def test_update_changes_permissions_or_description_and_the_cache_follows(
    store: Store, ticks: Ticks
) -> None:
    roles = roles_on(store, ticks)
    await roles.create("editor", ["posts:write"], "writes")
    assert await roles.permissions_of(["editor"]) == {"posts:write"}  # cached now
    ticks.advance(5)
    changed = await roles.update("editor", permissions=["posts:read", "posts:delete"])
    assert changed == RoleRecord("editor", ("posts:delete", "posts:read"), "writes", NOW, NOW + 5)
    assert await roles.permissions_of(["editor"]) == {"posts:read", "posts:delete"}  # at once
    described = await roles.update("editor", description="moderates")
    assert described.permissions == ("posts:delete", "posts:read")
    assert await store.get_role("editor") == described


async def test_update_of_an_unknown_role_is_role_not_found(store: Store, ticks: Ticks) -> None:
    with pytest.raises(RoleNotFound):
        await roles_on(store, ticks).update("ghost", permissions=["posts:write"])
    assert await store.list_roles() == []


async def test_update_with_a_bad_permission_is_invalid_role_and_changes_nothing(
    store: Store, ticks: Ticks
) -> None:
    roles = roles_on(store, ticks)
    made = await roles.create("editor", ["posts:write"])
    with pytest.raises(InvalidRole):
        await roles.update("editor", permissions=["posts:write", "no spaces"])
    assert await store.get_role("editor") == made


async def test_delete_takes_the_role_from_its_holders_and_counts_them(store: Store, ticks: Ticks) -> None:
    roles = roles_on(store, ticks)
    await roles.create("editor", ["posts:write"])
    await roles.create("viewer", ["posts:read"])
    await holder(store, 1, "editor", "viewer")
    await holder(store, 2, "viewer")
    await holder(store, 3, "editor")
    assert await roles.permissions_of(["editor"]) == {"posts:write"}
    assert await roles.delete("editor") == 2
    assert await store.get_role("editor") is None
    assert [await roles_of(store, f"user{n}") for n in (1, 2, 3)] == [("viewer",), ("viewer",), ()]
    assert await roles.permissions_of(["editor"]) == frozenset()  # the cache followed
    with pytest.raises(RoleNotFound):
        await roles.delete("editor")


async def test_a_configured_role_cannot_be_changed_or_deleted_here(store: Store, ticks: Ticks) -> None:
    roles = roles_on(store, ticks, {"editor": ["posts:write"]})
    await roles.seed()
    await holder(store, 1, "editor")
    with pytest.raises(RoleInConfig):
        await roles.update("editor", permissions=["everything"])
    with pytest.raises(RoleInConfig):
        await roles.delete("editor")
    with pytest.raises(RoleExists):
        await roles.create("editor", ["everything"])
    assert (await store.get_role("editor")).permissions == ("posts:write",)  # type: ignore[union-attr]
    assert await roles_of(store, "user1") == ("editor",)


async def test_a_configured_role_with_a_bad_name_is_refused_when_built(store: Store, ticks: Ticks) -> None:
    with pytest.raises(InvalidRole):
        roles_on(store, ticks, {"a b": ["posts:write"]})
    with pytest.raises(InvalidRole):
        roles_on(store, ticks, {"editor": ["posts write"]})


async def test_permissions_of_is_the_union_and_unknown_names_grant_nothing(
    store: Store, ticks: Ticks
) -> None:
    roles = roles_on(store, ticks)
    await roles.create("editor", ["posts:read", "posts:write"])
    await roles.create("moderator", ["posts:delete", "posts:read"])
    assert await roles.permissions_of(["editor", "moderator"]) == {
        "posts:read",
        "posts:write",
        "posts:delete",
    }
    assert await roles.permissions_of(["ghost", "editor"]) == {"posts:read", "posts:write"}
    assert await roles.permissions_of([]) == frozenset()
    assert await roles.permissions_of(["Editor"]) == frozenset()


async def test_a_change_made_elsewhere_is_seen_after_the_cache_ttl(store: Store, ticks: Ticks) -> None:
    here, there = roles_on(store, ticks), roles_on(store, ticks)  # two processes, one database
    await here.create("editor", ["posts:write"])
    assert await here.permissions_of(["editor"]) == {"posts:write"}
    await there.update("editor", permissions=["posts:read"])
    ticks.advance(29)
    assert await here.permissions_of(["editor"]) == {"posts:write"}  # still the cached table
    ticks.advance(2)
    assert await here.permissions_of(["editor"]) == {"posts:read"}
    await there.update("editor", permissions=["posts:delete"])
    here.invalidate()  # what the event bus does with Redis
    assert await here.permissions_of(["editor"]) == {"posts:delete"}


async def test_check_assignable_deduplicates_in_order(store: Store, ticks: Ticks) -> None:
    roles = roles_on(store, ticks)
    for name in ("editor", "viewer", "moderator"):
        await roles.create(name, [])
    assert await roles.check_assignable(["viewer", "editor", "viewer", "moderator", "editor"]) == (
        "viewer",
        "editor",
        "moderator",
    )
    assert await roles.check_assignable([]) == ()


async def test_check_assignable_refuses_an_undefined_or_malformed_name(store: Store, ticks: Ticks) -> None:
    roles = roles_on(store, ticks)
    await roles.create("editor", ["posts:write"])
    with pytest.raises(RoleNotFound):
        await roles.check_assignable(["editor", "edtior"])
    with pytest.raises(InvalidRole):
        await roles.check_assignable(["editor", "a b"])
    with pytest.raises(InvalidRole):
        await roles.check_assignable(["editor", 7])  # type: ignore[list-item]


async def test_check_assignable_finds_a_role_another_process_just_created(store: Store, ticks: Ticks) -> None:
    here, there = roles_on(store, ticks), roles_on(store, ticks)
    await here.create("editor", [])
    assert await here.check_assignable(["editor"]) == ("editor",)  # the table is cached now
    await there.create("viewer", ["posts:read"])
    assert await here.check_assignable(["viewer"]) == ("viewer",)  # a miss reads the table again


async def test_seed_writes_the_configured_roles(store: Store, ticks: Ticks) -> None:
    roles = roles_on(store, ticks, {"editor": ["posts:write", "posts:read"], "viewer": ["posts:read"]})
    await roles.seed()
    assert await store.list_roles() == [
        RoleRecord("editor", ("posts:read", "posts:write"), "declared in the configuration", NOW, NOW),
        RoleRecord("viewer", ("posts:read",), "declared in the configuration", NOW, NOW),
    ]
    assert await roles.permissions_of(["viewer"]) == {"posts:read"}


async def test_seed_again_writes_nothing(store: Store, ticks: Ticks) -> None:
    roles = roles_on(store, ticks, {"editor": ["posts:write"]})
    await roles.seed()
    ticks.advance(100)
    await roles_on(store, ticks, {"editor": ["posts:write"]}).seed()
    assert (await store.get_role("editor")).updated_at == NOW  # type: ignore[union-attr]


async def test_seed_puts_back_what_the_configuration_says(store: Store, ticks: Ticks) -> None:
    await roles_on(store, ticks, {"editor": ["posts:write"]}).seed()
    # changed behind the configuration's back (by hand in the database)
    await store.put_role(RoleRecord("editor", ("everything",), "kept", NOW, NOW), create=False)
    ticks.advance(60)
    await roles_on(store, ticks, {"editor": ["posts:write", "posts:read"]}).seed()
    assert await store.get_role("editor") == RoleRecord(
        "editor", ("posts:read", "posts:write"), "kept", NOW, NOW + 60
    )


async def test_seed_leaves_roles_the_configuration_does_not_name(store: Store, ticks: Ticks) -> None:
    await roles_on(store, ticks).create("auditor", ["audit:read"])
    await roles_on(store, ticks, {"editor": ["posts:write"]}).seed()
    assert [role.name for role in await store.list_roles()] == ["auditor", "editor"]


async def test_seed_without_configured_roles_reads_nothing(store: Store, ticks: Ticks) -> None:
    await roles_on(store, ticks).seed()
    assert await store.list_roles() == []
