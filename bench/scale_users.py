"""Admin listing at scale: `GET /auth/admin/users` pages on SQLite as the user table grows to 1M rows.

    .venv/bin/python bench/scale_users.py                   # 10k, 100k and 1M users (a few minutes)
    .venv/bin/python bench/scale_users.py --quick           # 1k and 10k: checks that it runs
    .venv/bin/python bench/scale_users.py --sizes 100000 1000000 --repeat 50

One process: fastauth mounted on FastAPI, called in-process through httpx's ASGI transport (no
socket: the figures are the route's own cost, token check and JSON included). Each size is a SQLite
file of its own in a temporary directory, with its own app, and all sizes are measured in the same
rounds, so a change of load on the machine falls on every size alike. Users are inserted straight into `fastauth_users` with `executemany` (one
argon2id hash reused; addresses `<10 hex digits>.<n>@example.com`, so they spread evenly over every
prefix); a superuser signed in reads, one request at a time (median of `--repeat` rounds, after
three untimed ones):

- the first page (50 users), and a deep page: the cursor the server writes after the address 90% of
  the way through the table;
- a prefix query (`query=7f`: about 1/256 of the table) on its first page and deep inside its range
  (after the middle of its matches), and a prefix nothing matches;
- the deep page as a service call (`AuthService.admin_list_users`): the query and the cursor, without
  HTTP, the token check or JSON;
- for reference, not a fastauth request: the same deep page read with `LIMIT 50 OFFSET`, in SQL,
  which is what keyset pagination avoids (in rounds of its own, after the others: reading 900,000
  rows churns the caches the next request would find).

Keyset pages are a range of the unique email index, so they should stay flat as the table grows; the
OFFSET row grows with the depth. Prints markdown; progress on stderr. A benchmark, not a test: it
exits 1 only when a request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_support.py, also when run from elsewhere

from _support import machine, median

SECRET = "scale-users-bench-secret-" + "s" * 40
PASSWORD = "correct horse battery staple"
ROOT = "root@example.com"
PAGE = 50
PREFIX = "7f"
BATCH = 50_000


def email_of(n: int) -> str:
    return f"{hashlib.sha1(str(n).encode()).hexdigest()[:10]}.{n}@example.com"


def insert_users(path: Path, start: int, stop: int, hashed: str, now: int) -> None:
    """Users `start`..`stop - 1` into `fastauth_users`, in batches, each batch sorted by address."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # loading only; the app's own connections are as configured
        for low in range(start, stop, BATCH):
            rows = [
                (f"bench{n:019d}", email_of(n), hashed, 1, 1, 0, "", now)
                for n in range(low, min(low + BATCH, stop))
            ]
            rows.sort(key=lambda row: row[1])  # index pages fill in order
            conn.executemany(
                "INSERT INTO fastauth_users (id, email, hashed_password, is_active, is_verified, "
                "is_superuser, roles, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.commit()
            print(f"  {min(low + BATCH, stop):,} users", file=sys.stderr, flush=True)
    finally:
        conn.close()


def nth_email(path: Path, offset: int, prefix: str = "") -> str:
    """The address at `offset` in email order (among those starting with `prefix`)."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(
            "SELECT email FROM fastauth_users WHERE email >= ? AND email LIKE ? ORDER BY email LIMIT 1 OFFSET ?",
            (prefix, prefix + "%", offset),
        ).fetchone()
        return str(row[0])
    finally:
        conn.close()


def count(path: Path, prefix: str = "") -> int:
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute(
                "SELECT count(*) FROM fastauth_users WHERE email >= ? AND email LIKE ?",
                (prefix, prefix + "%"),
            ).fetchone()[0]
        )
    finally:
        conn.close()


@dataclass
class Table:
    """One size: its own SQLite file and app, a superuser signed in, and what is asked of it."""

    size: int
    path: Path
    auth: Any
    client: httpx.AsyncClient
    headers: dict[str, str]
    cases: dict[str, dict[str, Any]]
    deep_at: int
    matches: int
    built: float
    samples: dict[str, list[float]] = field(default_factory=dict)


async def open_table(workdir: Path, size: int) -> Table:
    """A database of `size` users (and the superuser), its app started, the cursors to ask with."""
    from fastapi import FastAPI

    from fastauth import FastAuth, FastAuthConfig

    path = workdir / f"users-{size}.db"
    config = FastAuthConfig(
        secret=SECRET,
        database_url=f"sqlite+aiosqlite:///{path}",
        rate_limit_enabled=False,
        audit_enabled=False,
    )
    auth = FastAuth(config)
    app = FastAPI()
    auth.mount(app)
    await auth.startup()
    service = auth.service
    root = await service.create_user(ROOT, PASSWORD, is_superuser=True, is_verified=True)
    print(f"{size:,} users", file=sys.stderr, flush=True)
    started = time.perf_counter()
    insert_users(path, 0, size, root.hashed_password, int(time.time()))
    built = time.perf_counter() - started
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    login = await client.post("/auth/login", json={"email": ROOT, "password": PASSWORD})
    login.raise_for_status()
    deep_at = int(size * 0.9)
    matches = count(path, PREFIX)
    # The cursors the server writes after those addresses (as a page ending there would carry).
    deep = service._cursor("", nth_email(path, deep_at))
    prefix_deep = service._cursor(PREFIX, nth_email(path, matches // 2, PREFIX))
    cases: dict[str, dict[str, Any]] = {
        "first": {"limit": PAGE},
        "deep": {"limit": PAGE, "cursor": deep},
        "prefix": {"limit": PAGE, "query": PREFIX},
        "prefix_deep": {"limit": PAGE, "query": PREFIX, "cursor": prefix_deep},
        "none": {"limit": PAGE, "query": "zz"},
    }
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return Table(size, path, auth, client, headers, cases, deep_at, matches, built)


async def one_round(tables: list[Table], timed: bool) -> None:
    """One request of each kind on each table, and one service call each."""
    for table in tables:
        for name, params in table.cases.items():
            started = time.perf_counter()
            answer = await table.client.get("/auth/admin/users", params=params, headers=table.headers)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise SystemExit(f"GET /auth/admin/users {params}: {answer.status_code} {answer.text[:300]}")
            items = len(answer.json()["items"])
            expected = {"first": PAGE, "deep": PAGE, "prefix": min(PAGE, table.matches), "none": 0}
            assert items == expected.get(name, items), (table.size, name, items)
            if timed:
                table.samples.setdefault(name, []).append(elapsed)
        started = time.perf_counter()
        users, _ = await table.auth.service.admin_list_users(limit=PAGE, cursor=table.cases["deep"]["cursor"])
        elapsed = (time.perf_counter() - started) * 1000
        assert len(users) == PAGE
        if timed:
            table.samples.setdefault("service", []).append(elapsed)


def offset_round(tables: list[Table], timed: bool) -> None:
    """The OFFSET query once on each table (its own rounds: reading 900,000 rows churns the caches
    the next request would find)."""
    for table in tables:
        conn = sqlite3.connect(table.path)
        try:
            started = time.perf_counter()
            rows = conn.execute(
                "SELECT * FROM fastauth_users ORDER BY email LIMIT ? OFFSET ?", (PAGE, table.deep_at)
            ).fetchall()
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            conn.close()
        assert len(rows) == PAGE
        if timed:
            table.samples.setdefault("offset", []).append(elapsed)


async def run(sizes: list[int], repeat: int) -> tuple[list[str], list[str]]:
    """Build every table, then measure them all in the same rounds: the table rows of the medians,
    and of the fastest requests (what a request costs when nothing else runs)."""
    workdir = Path(tempfile.mkdtemp(prefix="fastauth-bench-users-"))
    tables: list[Table] = []
    try:
        for size in sorted(sizes):
            tables.append(await open_table(workdir, size))
        for round_no in range(repeat + 3):
            if round_no % 20 == 0:
                print(f"round {round_no + 1}/{repeat + 3}", file=sys.stderr, flush=True)
            await one_round(tables, timed=round_no >= 3)
        for round_no in range(repeat + 3):
            offset_round(tables, timed=round_no >= 3)
        columns = ("first", "deep", "prefix", "prefix_deep", "none", "service", "offset")

        def row(table: Table, statistic: Any) -> str:
            figures = " | ".join(f"{statistic(table.samples[c]):.2f}" for c in columns)
            return f"| {table.size:,} | {figures} | {table.matches:,} | {table.built:.0f} |"

        return [row(t, median) for t in tables], [row(t, min) for t in tables]
    finally:
        for table in tables:
            await table.client.aclose()
            await table.auth.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1k and 10k users, 5 requests each")
    parser.add_argument("--sizes", type=int, nargs="+", help="table sizes (default 10000 100000 1000000)")
    parser.add_argument("--repeat", type=int, help="timed rounds (default 200; --quick 5)")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    sizes = args.sizes or ([1000, 10_000] if args.quick else [10_000, 100_000, 1_000_000])
    repeat = args.repeat or (5 if args.quick else 200)
    medians, fastest = asyncio.run(run(sizes, repeat))
    header = [
        "| users | first page | deep page | prefix, first | prefix, deep | prefix, no match "
        "| deep page, service call | OFFSET (SQL) | prefix matches | insert s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    out = [
        "### Admin listing",
        "",
        f"`GET /auth/admin/users`, {PAGE} users a page, in-process (ASGI), SQLite; milliseconds over {repeat} "
        "rounds, in each of which every table gets one request of each kind, one at a time. Deep: the "
        f"cursor after 90% of the table; prefix: `query={PREFIX}`, its first page and the page after the "
        "middle of its matches; service call: the deep page from `admin_list_users`, without HTTP; "
        "OFFSET: the same deep page by `LIMIT 50 OFFSET` in SQL, for reference (not a fastauth request).",
        "",
        "Median:",
        "",
        *header,
        *medians,
        "",
        "Fastest (what a request costs when nothing else competes for the CPU):",
        "",
        *header,
        *fastest,
        "",
        "Machine:",
        "",
        *(f"- {line}" for line in machine(("fastauth", "sqlalchemy", "aiosqlite", "fastapi"), load_at_start)),
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
