"""Login throttled per account and per client IP, registration per IP: 429 + Retry-After, before hashing;
change-password guesses count against the login budget."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from support.http import BAD_LOGIN_BODY, PASSWORD, bearer

TOO_MANY = {"detail": "Too many attempts; try again later", "code": "rate_limited"}


@pytest.fixture
async def client_from() -> AsyncIterator[Callable[[Any, str], httpx.AsyncClient]]:
    """`client_from(auth_app, ip)`: an httpx client whose requests come from that client address."""
    clients: list[httpx.AsyncClient] = []

    def make(a: Any, ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=a.app, client=(ip, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def _count_calls(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> list[Any]:
    calls: list[Any] = []
    original = getattr(obj, name)

    async def counting(*args: Any) -> Any:
        calls.append(args)
        return await original(*args)

    monkeypatch.setattr(obj, name, counting)
    return calls


def _assert_429(r: httpx.Response, window: int = 60) -> None:
    assert r.status_code == 429, r.text
    assert r.json() == TOO_MANY
    assert 1 <= int(r.headers["retry-after"]) <= window
    assert "access_token" not in r.text


async def _login(client: httpx.AsyncClient, email: str, password: str = "wrong password") -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_login_is_limited_per_account_before_any_hashing(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, client_from: Any
) -> None:
    a = await make_app(
        rate_limit_enabled=True, login_rate_limit_per_account="3/minute", login_rate_limit_per_ip="100/minute"
    )
    await a.register("alice@example.com")
    await a.register("bob@example.com")
    verifies = _count_calls(monkeypatch, a.auth.accounts.hasher, "verify")
    # three guesses from three addresses (distributed guessing) use up the account's budget
    for n in range(3):
        r = await _login(client_from(a, f"10.0.0.{n + 1}"), "alice@example.com")
        assert r.status_code == 401 and r.json() == BAD_LOGIN_BODY
    assert len(verifies) == 3
    fresh_ip = client_from(a, "10.0.0.99")
    _assert_429(await _login(fresh_ip, "alice@example.com"))
    _assert_429(await _login(fresh_ip, "alice@example.com", PASSWORD))  # even the right password waits
    _assert_429(
        await fresh_ip.post("/auth/login", data={"username": "alice@example.com", "password": PASSWORD})
    )
    assert len(verifies) == 3  # refused before the hasher ran
    # another account is not affected
    r = await _login(fresh_ip, "bob@example.com", PASSWORD)
    assert r.status_code == 200
    assert len(verifies) == 4


async def test_per_account_limit_holds_across_spellings_of_the_email(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, client_from: Any
) -> None:
    a = await make_app()  # no limits: first show that every spelling reaches the same account
    email = "zoë@exämple.com"
    await a.register(email)
    spellings = [
        email,
        "  ZOË@EXÄMPLE.COM ",
        unicodedata.normalize("NFD", email),  # decomposed: same account
        "zoë@xn--exmple-cua.com",  # the domain in punycode: same account
    ]
    # each spelling really reaches the same account
    for spelling in spellings:
        r = await _login(client_from(a, "10.1.0.1"), spelling, PASSWORD)
        assert r.status_code == 200, spelling
    a2 = await make_app(  # the same database, with limits
        rate_limit_enabled=True, login_rate_limit_per_account="3/minute", login_rate_limit_per_ip="100/minute"
    )
    verifies = _count_calls(monkeypatch, a2.auth.accounts.hasher, "verify")
    for n, spelling in enumerate(spellings[:3]):
        r = await _login(client_from(a2, f"10.2.0.{n}"), spelling)
        assert r.status_code == 401, spelling
    for n, spelling in enumerate(spellings):
        _assert_429(await _login(client_from(a2, f"10.3.0.{n}"), spelling))
    assert len(verifies) == 3


async def test_login_is_limited_per_ip(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, client_from: Any
) -> None:
    a = await make_app(
        rate_limit_enabled=True, login_rate_limit_per_account="100/minute", login_rate_limit_per_ip="3/minute"
    )
    await a.register("alice@example.com")
    verifies = _count_calls(monkeypatch, a.auth.accounts.hasher, "verify")
    sprayer = client_from(a, "192.0.2.7")
    for n in range(3):  # password spraying: one guess each at several accounts
        r = await _login(sprayer, f"user{n}@example.com")
        assert r.status_code == 401
    assert len(verifies) == 3
    _assert_429(await _login(sprayer, "user9@example.com"))
    _assert_429(await _login(sprayer, "alice@example.com", PASSWORD))
    assert len(verifies) == 3
    # another address, and the account itself, are fine
    r = await _login(client_from(a, "192.0.2.8"), "alice@example.com", PASSWORD)
    assert r.status_code == 200


async def test_registration_is_limited_per_ip(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, client_from: Any
) -> None:
    a = await make_app(rate_limit_enabled=True, register_rate_limit_per_ip="2/hour")
    hashes = _count_calls(monkeypatch, a.auth.accounts.hasher, "hash")
    one = client_from(a, "198.51.100.1")
    for n in range(2):
        r = await one.post("/auth/register", json={"email": f"u{n}@example.com", "password": PASSWORD})
        assert r.status_code == 201
    assert len(hashes) == 2
    r = await one.post("/auth/register", json={"email": "u2@example.com", "password": PASSWORD})
    _assert_429(r, window=3600)
    assert len(hashes) == 2
    assert await a.auth.accounts.store.get_user_by_email("u2@example.com") is None
    # login is a separate budget; another address may register
    assert (await _login(one, "u0@example.com", PASSWORD)).status_code == 200
    r = await client_from(a, "198.51.100.2").post(
        "/auth/register", json={"email": "u2@example.com", "password": PASSWORD}
    )
    assert r.status_code == 201


async def test_rate_limits_can_be_turned_off(make_app: Any, client_from: Any) -> None:
    a = await make_app(
        rate_limit_enabled=False,
        login_rate_limit_per_account="1/minute",
        login_rate_limit_per_ip="1/minute",
        register_rate_limit_per_ip="1/hour",
    )
    for n in range(3):
        await a.register(f"u{n}@example.com")
    for _ in range(3):
        r = await _login(a.client, "u0@example.com")
        assert r.status_code == 401
    assert (await _login(a.client, "u0@example.com", PASSWORD)).status_code == 200


async def test_change_password_counts_against_the_login_budget(make_app: Any) -> None:
    """L1: guessing the current password through change-password is throttled like login."""
    a = await make_app(rate_limit_enabled=True, login_rate_limit_per_account="3/minute")
    tokens = await a.register("c@example.com", "password123")
    codes = []
    for _ in range(4):
        r = await a.client.post(
            "/auth/change-password",
            json={"current_password": "wrong guess", "new_password": "another password"},
            headers=bearer(tokens["access_token"]),
        )
        codes.append(r.status_code)
    assert codes == [400, 400, 400, 429]
