"""The authorization part of the store contract, on `MemoryStore`, SQLite and PostgreSQL alike: roles
(`put_role`'s create semantics, `delete_role`, `remove_role` taking exactly one whole name, never one
that a LIKE wildcard would match), `list_users` (prefix, keyset `after`, `limit`, prefixes holding `_`
and `%`) and API keys (unique hash, live listing, revocation by the owner only, monotonic last use,
deleted with their user)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fastauth.storage.base import ApiKeyRecord, RoleRecord, Store, User

NOW = 1_800_000_000


def user(number: int, email: str | None = None, roles: tuple[str, ...] = ()) -> User:
    return User(
        id=f"user{number}",
        email=email or f"user{number}@example.com",
        hashed_password=f"$argon2id$hash{number}",
        roles=roles,
        created_at=NOW - 1000 + number,
    )


def role(name: str, *permissions: str, **fields: object) -> RoleRecord:
    values: dict[str, object] = {
        "name": name,
        "permissions": permissions,
        "description": f"the {name} role",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return RoleRecord(**values)  # type: ignore[arg-type]


def api_key(number: int, user_id: str = "user1", **fields: object) -> ApiKeyRecord:
    values: dict[str, object] = {
        "id": f"key{number:02d}",
        "user_id": user_id,
        "name": f"key number {number}",
        "key_hash": f"{number:064x}",
        "prefix": f"fa_{number:04d}",
        "scopes": ("posts:read", "posts:write"),
        "created_at": NOW + number,
        "expires_at": NOW + 3600,
    }
    values.update(fields)
    return ApiKeyRecord(**values)  # type: ignore[arg-type]


async def roles_of(store: Store, user_id: str) -> tuple[str, ...]:
    found = await store.get_user(user_id)
    assert found is not None
    return found.roles


# --- roles -------------------------------------------------------------------------------------


async def test_a_role_is_stored_and_listed_by_name_with_its_permissions_in_order(store: Store) -> None:
    assert await store.list_roles() == []
    assert await store.get_role("editor") is None
    editor = role("editor", "posts:read", "posts:write", "media/*")
    admin = role("admin", "fastauth:admin")
    assert await store.put_role(editor, create=True) is True
    assert await store.put_role(admin, create=True) is True
    assert await store.get_role("editor") == editor
    assert await store.list_roles() == [admin, editor]
    assert await store.get_role("Editor") is None  # names are exact


async def test_a_role_without_permissions_round_trips(store: Store) -> None:
    empty = role("nobody", description="")
    assert await store.put_role(empty, create=True) is True
    assert await store.get_role("nobody") == empty


async def test_put_role_create_true_never_overwrites(store: Store) -> None:
    assert await store.put_role(role("editor", "posts:write"), create=True) is True
    assert await store.put_role(role("editor", "everything", description="taken over"), create=True) is False
    assert await store.get_role("editor") == role("editor", "posts:write")


async def test_put_role_create_false_only_updates_an_existing_role(store: Store) -> None:
    assert await store.put_role(role("ghost", "posts:write"), create=False) is False
    assert await store.get_role("ghost") is None
    await store.put_role(role("editor", "posts:write"), create=True)
    changed = role("editor", "posts:read", description="reads only", updated_at=NOW + 5)
    assert await store.put_role(changed, create=False) is True
    assert await store.get_role("editor") == changed


async def test_put_role_create_none_inserts_or_updates(store: Store) -> None:
    assert await store.put_role(role("editor", "posts:write")) is True
    assert await store.get_role("editor") == role("editor", "posts:write")
    assert await store.put_role(role("editor", "posts:read", updated_at=NOW + 1)) is True
    assert await store.list_roles() == [role("editor", "posts:read", updated_at=NOW + 1)]


async def test_updating_a_role_keeps_its_creation_time(store: Store) -> None:
    await store.put_role(role("editor", "posts:write"), create=True)
    for create in (False, None):
        later = role("editor", "posts:read", created_at=NOW + 99, updated_at=NOW + 100)
        assert await store.put_role(later, create=create) is True
        assert await store.get_role("editor") == replace(later, created_at=NOW)


async def test_delete_role_is_true_once_and_leaves_the_users_names(store: Store) -> None:
    await store.create_user(user(1, roles=("editor",)))
    await store.put_role(role("editor", "posts:write"), create=True)
    assert await store.delete_role("editor") is True
    assert await store.delete_role("editor") is False
    assert await store.delete_role("never") is False
    assert await store.get_role("editor") is None
    assert await roles_of(store, "user1") == ("editor",)  # until remove_role


async def test_returned_roles_are_copies(store: Store) -> None:
    await store.put_role(role("editor", "posts:write"), create=True)
    found = await store.get_role("editor")
    assert found is not None
    found.permissions, found.description = ("everything",), "changed"
    (listed,) = await store.list_roles()
    listed.permissions = ("everything",)
    assert await store.get_role("editor") == role("editor", "posts:write")


async def test_remove_role_takes_the_name_from_every_holder_and_keeps_the_order(store: Store) -> None:
    await store.create_user(user(1, roles=("editor",)))
    await store.create_user(user(2, roles=("viewer", "editor", "admin")))
    await store.create_user(user(3, roles=("admin", "editor")))
    await store.create_user(user(4, roles=("viewer",)))
    await store.create_user(user(5))
    assert await store.remove_role("editor") == 3
    assert [await roles_of(store, f"user{n}") for n in range(1, 6)] == [
        (),
        ("viewer", "admin"),
        ("admin",),
        ("viewer",),
        (),
    ]
    assert await store.remove_role("editor") == 0  # nobody holds it any more


TRICKY = ("a", "a.b", "a_b", "axb", "ab", "ba", "a:b", "a-b", "A", "aa")


@pytest.mark.parametrize(
    "removed",
    [
        "a",  # a prefix of every other name
        "a_b",  # `_` is LIKE's any-character: it must not take `axb`, `a.b`, `a:b` or `a-b`
        "a.b",
        "axb",
        "A",  # SQLite's LIKE ignores case: `A` is not `a`
        "aa",
    ],
)
async def test_remove_role_takes_exactly_one_whole_name(store: Store, removed: str) -> None:
    await store.create_user(user(1, roles=TRICKY))
    await store.create_user(user(2, roles=tuple(r for r in TRICKY if r != removed)))
    assert await store.remove_role(removed) == 1
    expected = tuple(r for r in TRICKY if r != removed)
    assert await roles_of(store, "user1") == expected
    assert await roles_of(store, "user2") == expected


@pytest.mark.parametrize("wildcard", ["%", "_", "a%", "%b", "a_", "_b"])
async def test_remove_role_of_a_wildcard_pattern_takes_nothing(store: Store, wildcard: str) -> None:
    # Not a valid role name, but a store must not read it as a pattern either.
    await store.create_user(user(1, roles=TRICKY))
    assert await store.remove_role(wildcard) == 0
    assert await roles_of(store, "user1") == TRICKY


# --- list_users --------------------------------------------------------------------------------

EMAILS = (
    "a_b@example.com",
    "a%b@example.com",
    "axb@example.com",
    "ab@example.com",
    "alice@example.com",
    "bob@example.com",
    "b@example.com",
    "carol@example.org",
)


async def emails_of(store: Store, **query: object) -> list[str]:
    return [u.email for u in await store.list_users(**query)]  # type: ignore[arg-type]


@pytest.fixture
async def people(store: Store) -> Store:
    for number, email in enumerate(EMAILS, start=1):
        await store.create_user(user(number, email=email))
    return store


async def test_list_users_orders_by_email(people: Store) -> None:
    assert await emails_of(people) == sorted(EMAILS)
    assert await emails_of(people, limit=3) == sorted(EMAILS)[:3]
    assert await emails_of(people, limit=0) == []


async def test_list_users_pages_after_an_email_without_gaps_or_repeats(people: Store) -> None:
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await emails_of(people, after=after, limit=3)
        if not page:
            break
        seen += page
        after = page[-1]
    assert seen == sorted(EMAILS)
    assert await emails_of(people, after="zzz") == []
    assert await emails_of(people, after="b") == ["b@example.com", "bob@example.com", "carol@example.org"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "a",
            ["a%b@example.com", "a_b@example.com", "ab@example.com", "alice@example.com", "axb@example.com"],
        ),
        ("a_", ["a_b@example.com"]),  # `_` is no wildcard: not `ab@`, `axb@`, `a%b@`
        ("a%", ["a%b@example.com"]),  # `%` is no wildcard
        ("%", []),
        ("_", []),
        ("b", ["b@example.com", "bob@example.com"]),
        ("b@", ["b@example.com"]),
        ("carol@example.org", ["carol@example.org"]),
        ("carol@example.orgx", []),
        ("z", []),
        ("A", []),  # as stored: addresses are lower case, the prefix is compared as given
    ],
)
async def test_list_users_with_a_prefix(people: Store, prefix: str, expected: list[str]) -> None:
    assert await emails_of(people, prefix=prefix) == sorted(expected)


async def test_list_users_with_a_prefix_pages_within_it(people: Store) -> None:
    assert await emails_of(people, prefix="a", limit=2) == ["a%b@example.com", "a_b@example.com"]
    assert await emails_of(people, prefix="a", after="a_b@example.com", limit=2) == [
        "ab@example.com",
        "alice@example.com",
    ]
    assert await emails_of(people, prefix="a", after="axb@example.com") == []
    # an `after` before the prefix's range starts at the range
    assert await emails_of(people, prefix="b", after="a") == ["b@example.com", "bob@example.com"]


async def test_listed_users_are_copies(people: Store) -> None:
    first = (await people.list_users(limit=1))[0]
    first.roles = ("admin",)
    assert (await people.list_users(limit=1))[0].roles == ()


# --- API keys ----------------------------------------------------------------------------------


async def test_an_api_key_is_found_by_hash_and_by_id(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_api_key(api_key(1))
    assert await store.get_api_key_by_hash(f"{1:064x}") == api_key(1)
    assert await store.get_api_key("key01") == api_key(1)
    assert await store.get_api_key_by_hash(f"{2:064x}") is None
    assert await store.get_api_key("key02") is None


async def test_an_api_key_without_expiry_or_scopes_round_trips(store: Store) -> None:
    await store.create_user(user(1))
    bare = api_key(1, scopes=(), expires_at=None)
    await store.insert_api_key(bare)
    assert await store.get_api_key("key01") == bare


async def test_a_duplicate_hash_is_a_value_error_and_changes_nothing(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    await store.insert_api_key(api_key(1))
    with pytest.raises(ValueError):
        await store.insert_api_key(api_key(2, user_id="user2", key_hash=f"{1:064x}"))
    assert await store.get_api_key("key02") is None
    assert await store.get_api_key_by_hash(f"{1:064x}") == api_key(1)


async def test_a_duplicate_id_is_a_value_error(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_api_key(api_key(1))
    with pytest.raises(ValueError):
        await store.insert_api_key(api_key(1, key_hash=f"{9:064x}"))
    assert await store.get_api_key_by_hash(f"{9:064x}") is None


async def test_a_key_of_an_unknown_user_is_a_value_error(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.insert_api_key(api_key(1, user_id="nobody"))
    assert await store.get_api_key("key01") is None


async def test_the_list_holds_the_users_live_keys_newest_first(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    for number in (1, 2, 3):
        await store.insert_api_key(api_key(number))
    await store.insert_api_key(api_key(4, user_id="user2"))
    assert await store.list_api_keys("user1") == [api_key(3), api_key(2), api_key(1)]
    assert await store.revoke_api_key("key02", NOW + 10) is True
    assert await store.list_api_keys("user1") == [api_key(3), api_key(1)]
    assert await store.list_api_keys("user2") == [api_key(4, user_id="user2")]
    assert await store.list_api_keys("nobody") == []
    # a revoked key is still found (so it is refused as revoked, not unknown)
    assert await store.get_api_key("key02") == api_key(2, revoked_at=NOW + 10)


async def test_revoke_is_true_once_and_only_for_the_owner(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    await store.insert_api_key(api_key(1))
    assert await store.revoke_api_key("key01", NOW, user_id="user2") is False
    assert await store.get_api_key("key01") == api_key(1)
    assert await store.revoke_api_key("key01", NOW, user_id="user1") is True
    assert await store.revoke_api_key("key01", NOW + 1, user_id="user1") is False
    assert await store.revoke_api_key("key01", NOW + 1) is False
    assert await store.get_api_key("key01") == api_key(1, revoked_at=NOW)  # the first time stays
    assert await store.revoke_api_key("nosuch", NOW) is False


async def test_touch_records_the_last_use_and_never_goes_back(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_api_key(api_key(1))
    await store.insert_api_key(api_key(2))
    await store.touch_api_keys({"key01": NOW + 50, "key02": NOW + 10, "nosuch": NOW})
    await store.touch_api_keys({"key01": NOW + 20})  # an older batch arriving late
    await store.touch_api_keys({})
    assert (await store.get_api_key("key01")) == api_key(1, last_used_at=NOW + 50)
    assert (await store.get_api_key("key02")) == api_key(2, last_used_at=NOW + 10)
    await store.touch_api_keys({"key02": NOW + 60})
    assert (await store.get_api_key("key02")) == api_key(2, last_used_at=NOW + 60)


async def test_deleting_a_user_deletes_their_keys(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    await store.insert_api_key(api_key(1))
    await store.insert_api_key(api_key(2, user_id="user2"))
    assert await store.delete_user("user1", now=NOW) is True
    assert await store.get_api_key("key01") is None
    assert await store.get_api_key_by_hash(f"{1:064x}") is None
    assert await store.list_api_keys("user1") == []
    assert await store.get_api_key("key02") == api_key(2, user_id="user2")
    # the hash is free again: a new user may (improbably) hold the same key
    await store.create_user(user(3))
    await store.insert_api_key(api_key(1, user_id="user3"))


async def test_returned_keys_are_copies(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_api_key(api_key(1))
    found = await store.get_api_key("key01")
    assert found is not None
    found.scopes, found.revoked_at = ("everything",), NOW
    assert await store.get_api_key("key01") == api_key(1)
    assert await store.list_api_keys("user1") == [api_key(1)]
