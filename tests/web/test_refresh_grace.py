"""`jwt.refresh_reuse_grace`: concurrent refreshes from one client must not end its session."""

from __future__ import annotations

import asyncio
from typing import Any

from support.http import bearer


async def test_concurrent_refreshes_within_the_grace_keep_the_session(make_app: Any) -> None:
    a = await make_app(jwt={"refresh_reuse_grace": 10})
    tokens = await a.register()
    answers = await asyncio.gather(
        *(a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}) for _ in range(10))
    )
    winners = [r for r in answers if r.status_code == 200]
    assert len(winners) == 1
    assert sorted(r.status_code for r in answers) == [200] + [401] * 9
    # The session survived the losers: the winner's pair keeps working and rotates again.
    new = winners[0].json()
    assert (await a.client.get("/private", headers=bearer(new["access_token"]))).status_code == 200
    assert (
        await a.client.post("/auth/refresh", json={"refresh_token": new["refresh_token"]})
    ).status_code == 200


async def test_an_older_token_still_revokes_within_the_grace(make_app: Any) -> None:
    a = await make_app(jwt={"refresh_reuse_grace": 10})
    first = await a.register()
    second = (await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    third = (await a.client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})).json()
    # `first` is two rotations old: that is a replay, grace or not.
    assert (
        await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).status_code == 401
    assert (await a.client.get("/private", headers=bearer(third["access_token"]))).status_code == 401


async def test_the_previous_token_after_the_grace_revokes(make_app: Any, clock: Any) -> None:
    a = await make_app(jwt={"refresh_reuse_grace": 5}, clock=clock)
    first = await a.register()
    second = (await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    clock.advance(6)
    assert (
        await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).status_code == 401
    assert (await a.client.get("/private", headers=bearer(second["access_token"]))).status_code == 401


async def test_without_grace_every_reuse_revokes(make_app: Any) -> None:
    a = await make_app()
    first = await a.register()
    second = (await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert (
        await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).status_code == 401
    assert (await a.client.get("/private", headers=bearer(second["access_token"]))).status_code == 401
