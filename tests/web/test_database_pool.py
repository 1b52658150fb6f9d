"""`database_pool_size` / `database_max_overflow` reach the SQLAlchemy pool of a server database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.pool import QueuePool

from fastauth import FastAuthConfig
from fastauth.errors import ConfigError


async def test_pool_settings_reach_the_engine_and_bound_connections(database_url: str, make_app: Any) -> None:
    app = await make_app(database_pool_size=2, database_max_overflow=1)
    engine = app.auth.adapter.engine
    if database_url.startswith("sqlite"):
        # SQLite ignores them: the file database keeps SQLAlchemy's own pool choice.
        assert not (isinstance(engine.pool, QueuePool) and engine.pool.size() == 2)
    else:
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.size() == 2
        assert engine.pool._max_overflow == 1  # no public accessor; the value the engine enforces
    # Twelve concurrent registrations through at most three connections: all succeed (they queue).
    results = await asyncio.gather(*(app.register(email=f"user{n}@example.com") for n in range(12)))
    assert len({tokens["access_token"] for tokens in results}) == 12
    if not database_url.startswith("sqlite"):
        assert engine.pool.checkedout() == 0


def test_pool_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", "s" * 64)
    monkeypatch.setenv("FASTAUTH_DATABASE_POOL_SIZE", "20")
    monkeypatch.setenv("FASTAUTH_DATABASE_MAX_OVERFLOW", "0")
    config = FastAuthConfig()  # type: ignore[call-arg]
    assert (config.database_pool_size, config.database_max_overflow) == (20, 0)


@pytest.mark.parametrize("name, value", [("DATABASE_POOL_SIZE", "0"), ("DATABASE_MAX_OVERFLOW", "-1")])
def test_pool_settings_out_of_range_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", "s" * 64)
    monkeypatch.setenv(f"FASTAUTH_{name}", value)
    with pytest.raises(ConfigError) as info:
        FastAuthConfig()  # type: ignore[call-arg]
    assert name.lower() in str(info.value)
