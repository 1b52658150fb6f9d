"""A TOTP code is accepted once across two `fastauth serve` processes on one PostgreSQL database and one
Redis (RFC 6238 §5.2; account-security §5: with several processes the replay guard lives in the shared
store).

A and B are two servers started together on an empty database. The authenticator app here is a
`Totp` on the real clock, as the servers' is; every account enrols with the code of the step before
now (inside the drift window), so the code of the current step is a fresh one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fastauth.mfa import Totp
from support.forge import claims
from support.http import bearer
from support.scale import server_env
from support.servers import Process, create_database, fastauth_serve, register, running
from support.totp import now_step, settled_step

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"
BAD_CODE = {"detail": "Invalid or expired code", "code": "invalid_mfa_code"}
SPENT = {"detail": "Invalid or expired code", "code": "invalid_code"}
MFA_KEYS = {"mfa_required", "mfa_token", "methods"}
ROUNDS = 3
_counter = 0


def _email(tag: str) -> str:
    global _counter
    _counter += 1
    return f"{tag}-{_counter}@example.com"


def _clean(*servers: Process) -> None:
    for server in servers:
        assert server.unhandled() is None, f"a request ended in an unhandled exception:\n{server.output}"


@pytest.fixture(scope="module")
def cluster(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, Process]]:
    """Servers A and B, started together on one new database and one Redis."""
    database = asyncio.run(create_database(postgres_server, f"fastauth_mfa_processes_{os.getpid()}"))
    env = server_env(database, redis_server)
    cwd = tmp_path_factory.mktemp("mfa_processes")
    with running(fastauth_serve(cwd, env, name="a"), fastauth_serve(cwd, env, name="b")) as (a, b):
        yield a, b


def enrolled(a: Process, b: Process, tag: str) -> tuple[str, dict[str, str], Totp]:
    """A new account, registered and set up on A, confirmed on B: (email, its session's headers, TOTP)."""
    email = _email(tag)
    headers = bearer(register(a.base, email, PASSWORD)["access_token"])
    setup = httpx.post(f"{a.base}/auth/mfa/totp/setup", headers=headers, timeout=30)
    assert setup.status_code == 200, setup.text
    totp = Totp(setup.json()["secret"])
    confirm = httpx.post(
        f"{b.base}/auth/mfa/totp/confirm",
        headers=headers,
        json={"code": totp.code_at(settled_step() - 1)},
        timeout=30,
    )
    assert confirm.status_code == 200, confirm.text
    return email, headers, totp


def mfa_token(server: Process, email: str) -> str:
    answer = httpx.post(f"{server.base}/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == MFA_KEYS, answer.text
    return str(answer.json()["mfa_token"])


async def at_once(*requests: tuple[str, dict[str, Any]]) -> list[httpx.Response]:
    """POST each (url, keyword arguments) at the same moment, over connections opened beforehand."""
    async with httpx.AsyncClient(timeout=30) as client:
        for url, _ in requests:  # open the connections first, so the posts leave together
            await client.get(url.split("/auth/")[0] + "/health")
        start = asyncio.Event()

        async def post(url: str, kwargs: dict[str, Any]) -> httpx.Response:
            await start.wait()
            return await client.post(url, **kwargs)

        tasks = [asyncio.create_task(post(url, kwargs)) for url, kwargs in requests]
        await asyncio.sleep(0.05)
        start.set()
        return list(await asyncio.gather(*tasks))


def test_a_code_accepted_by_a_is_refused_by_b(cluster: tuple[Process, Process]) -> None:
    a, b = cluster
    email, _, totp = enrolled(a, b, "sequential")
    code = totp.code_at(now_step())
    done = httpx.post(f"{a.base}/auth/mfa/verify", json={"mfa_token": mfa_token(a, email), "code": code})
    assert done.status_code == 200, done.text
    replay = httpx.post(f"{b.base}/auth/mfa/verify", json={"mfa_token": mfa_token(b, email), "code": code})
    assert (replay.status_code, replay.json()) == (400, BAD_CODE)
    _clean(a, b)


@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_one_code_for_a_sign_in_on_a_and_a_confirmation_on_b_at_once_is_accepted_once(
    cluster: tuple[Process, Process], round_: int
) -> None:
    """A sign-in's MFA token on A and a signed-in confirmation (new recovery codes) on B, the same code
    at the same moment: only the time step's compare-and-set decides, so exactly one is 200 and the
    other is 400 invalid_mfa_code."""
    a, b = cluster
    email, headers, totp = enrolled(a, b, f"cross-{round_}")
    token = mfa_token(a, email)
    code = totp.code_at(now_step())
    sign_in, confirm = await at_once(
        (f"{a.base}/auth/mfa/verify", {"json": {"mfa_token": token, "code": code}}),
        (f"{b.base}/auth/mfa/recovery-codes", {"json": {"code": code}, "headers": headers}),
    )
    statuses = sorted([sign_in.status_code, confirm.status_code])
    assert statuses == [200, 400], (sign_in.text, confirm.text)
    loser = sign_in if sign_in.status_code == 400 else confirm
    assert loser.json() == BAD_CODE
    winner = confirm if loser is sign_in else sign_in
    assert ("access_token" in winner.json()) is (winner is sign_in)
    _clean(a, b)


@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_one_code_posted_to_both_for_new_recovery_codes_at_once_is_accepted_once(
    cluster: tuple[Process, Process], round_: int
) -> None:
    a, b = cluster
    _, headers, totp = enrolled(a, b, f"regen-{round_}")
    code = totp.code_at(now_step())
    answers = await at_once(
        *(
            (f"{server.base}/auth/mfa/recovery-codes", {"json": {"code": code}, "headers": headers})
            for server in (a, b)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 400], [r.text for r in answers]
    assert next(r for r in answers if r.status_code == 400).json() == BAD_CODE
    _clean(a, b)


@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_one_sign_in_completed_on_both_at_once_makes_one_session(
    cluster: tuple[Process, Process], round_: int
) -> None:
    """The issue's case: a sign-in's MFA token and its code posted to A and B at once. One is 200; the
    other is 400 "Invalid or expired code": `invalid_mfa_code` when it lost the time step's
    compare-and-set, `invalid_code` when it read the challenge after the winner had spent it (which
    of the two depends only on timing). A second sign-in of the account voids the first's token, so
    two live MFA tokens of one account, one per server, do not exist."""
    a, b = cluster
    email, headers, totp = enrolled(a, b, f"both-{round_}")
    token = mfa_token(a, email)
    code = totp.code_at(now_step())
    answers = await at_once(
        *(
            (f"{server.base}/auth/mfa/verify", {"json": {"mfa_token": token, "code": code}})
            for server in (a, b)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 400], [r.text for r in answers]
    winner = next(r for r in answers if r.status_code == 200).json()
    loser = next(r for r in answers if r.status_code == 400).json()
    assert loser in (BAD_CODE, SPENT), loser
    sessions = httpx.get(f"{b.base}/auth/sessions", headers=bearer(winner["access_token"]), timeout=30)
    assert sessions.status_code == 200, sessions.text
    enrolling = claims(headers["Authorization"].split()[1])["sid"]
    assert {s["id"] for s in sessions.json()} == {enrolling, claims(winner["access_token"])["sid"]}
    # And the code stays spent for the next sign-in, on either server.
    for server in (a, b):
        again = httpx.post(
            f"{server.base}/auth/mfa/verify", json={"mfa_token": mfa_token(server, email), "code": code}
        )
        assert (again.status_code, again.json()) == (400, BAD_CODE)
    _clean(a, b)
