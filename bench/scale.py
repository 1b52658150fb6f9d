"""Scale benchmark: `fastauth serve` with 1 and 2 workers on PostgreSQL + Redis, then growth to 1M rows.

    .venv/bin/python bench/scale.py                 # full run (about 3 minutes on 2 CPUs)
    .venv/bin/python bench/scale.py --quick         # a smoke run, about 20 s: 2 s runs, 1k and 10k rows
    .venv/bin/python bench/scale.py --duration 60 --sizes 10000 100000 1000000

Everything runs on this machine, on 127.0.0.1: a PostgreSQL cluster (durable settings: fsync on) and
a redis-server of its own, started in temporary directories and removed at the end (as root,
PostgreSQL runs as the `postgres` user). Needs PostgreSQL's binaries, redis-server and wrk.

1. **Mixed workload**: `fastauth serve --workers 1`, then `--workers 2` (rate limits off), each on a
   fresh database with 1,000 users. wrk (a Lua script, `-t 2 -c C`) sends 90% `GET /auth/me`
   (a protected read: token check, revocation check in Redis, user from the per-process cache), 8%
   `POST /auth/refresh` (each refresh token used once: the script chains the new ones) and 2%
   `POST /auth/login` (argon2id with the default OWASP parameters) for a bounded time. Reported:
   requests/s, latency percentiles over all requests, errors (must be 0: any non-200 answer, connect,
   read or timeout error), and the resident memory of each worker process.
2. **Growth**: users and sessions inserted straight into PostgreSQL with `INSERT ... SELECT
   generate_series` (one argon2id hash reused; no million hashes), up to each size, followed by
   `VACUUM ANALYZE` (what autovacuum would soon do, so it does not run while measuring); then single
   requests one after another (no queueing): login of a random user, refresh of a random session,
   and a protected GET (the revocation check) for a random user whose token was never seen before
   (so the user is read from the database). Latency must stay flat as the tables grow.

The benchmark mints the tokens of inserted sessions itself, with the server's secret (HS256), exactly
as the server would. It prints markdown; progress goes to stderr. A benchmark, not a test: it exits
with 1 only when a request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_support.py, also when run from elsewhere

from _support import machine as describe_machine
from _support import servers, tool_version

# The test suite's process helpers (PostgreSQL cluster, redis-server, `fastauth serve` processes).
_servers = servers()
PgCluster = _servers.PgCluster
RedisServer = _servers.RedisServer
create_database = _servers.create_database

SECRET = "scale-bench-secret-" + "s" * 50

PASSWORD = "correct horse battery staple"
MIXED_USERS = 1000
SESSION_AGE = 30 * 24 * 3600

LUA = r"""
-- fastauth mixed workload: 90% GET /auth/me, 8% POST /auth/refresh, 2% POST /auth/login.
-- wrk -s mixed.lua URL -- TOKENS_FILE PASSWORD THREADS
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  access, refresh, emails = {}, {}, {}
  password = args[2]
  local nthreads = tonumber(args[3])
  local n = 0
  for line in io.lines(args[1]) do
    if n % nthreads == id then
      local email, at, rt = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)")
      table.insert(emails, email)
      table.insert(access, at)
      table.insert(refresh, rt)
    end
    n = n + 1
  end
  math.randomseed(os.time() + id * 7919)
  sent = {me = 0, refresh = 0, login = 0}
  bad = 0
  bad_sample = ""
end

local json = {["Content-Type"] = "application/json"}

function request()
  local r = math.random()
  if r < 0.02 then
    sent.login = sent.login + 1
    local body = '{"email":"' .. emails[math.random(#emails)] .. '","password":"' .. password .. '"}'
    return wrk.format("POST", "/auth/login", json, body)
  elseif r < 0.10 and #refresh > 0 then
    sent.refresh = sent.refresh + 1
    local token = table.remove(refresh, math.random(#refresh))
    return wrk.format("POST", "/auth/refresh", json, '{"refresh_token":"' .. token .. '"}')
  end
  sent.me = sent.me + 1
  return wrk.format("GET", "/auth/me", {["Authorization"] = "Bearer " .. access[math.random(#access)]})
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    bad_sample = status .. " " .. string.sub(body, 1, 200)
    return
  end
  local rt = body:match('"refresh_token":"([^"]+)"')
  if rt then
    table.insert(refresh, rt)
    access[math.random(#access)] = body:match('"access_token":"([^"]+)"')
  end
end

function done(summary, latency, requests)
  local me, rf, lg, b, sample = 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    local s = t:get("sent")
    me, rf, lg = me + s.me, rf + s.refresh, lg + s.login
    b = b + t:get("bad")
    if t:get("bad_sample") ~= "" then sample = t:get("bad_sample") end
  end
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"timeout":%d,"non200":%d,"me":%d,"refresh":%d,"login":%d,' ..
    '"sample":%q}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, b, me, rf, lg,
    sample))
end
"""


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """A production-like configuration (no development mode): shared database and Redis, no rate limits."""
    return dict(
        _servers.clean_env(
            FASTAUTH_SECRET=SECRET,
            FASTAUTH_DATABASE_URL=database_url,
            FASTAUTH_REDIS_URL=redis_url,
            FASTAUTH_RATE_LIMIT_ENABLED="false",
            FASTAUTH_UI_ENABLED="false",
        )
    )


def plain_url(database_url: str) -> str:
    """The asyncpg form of a SQLAlchemy `postgresql+asyncpg://` URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def user_id(i: int) -> str:
    return md5(f"u{i}")


def session_id(i: int) -> str:
    return md5(f"s{i}")


def jti(i: int) -> str:
    return md5(f"j{i}")


def email(prefix: str, i: int) -> str:
    return f"{prefix}{i}@bench.example"


# memory


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process: psutil when installed, else /proc/PID/status."""
    try:
        import psutil  # type: ignore[import-untyped]

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        pass
    except Exception:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MemorySampler:
    """Peak and last RSS of the serving processes, sampled every 0.25 s in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.sample()

    def sample(self) -> None:
        for pid in self.pids:
            value = rss_mib(pid)
            if value is not None:
                self.last[pid] = value
                self.peak[pid] = max(value, self.peak.get(pid, 0.0))

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


# database seeding


def token_engine() -> Any:
    from fastauth.config import FastAuthConfig
    from fastauth.tokens.engine import TokenEngine

    return TokenEngine.from_config(FastAuthConfig(secret=SECRET))


async def password_hash() -> str:
    from fastauth.passwords import PasswordHasher

    return await PasswordHasher().hash(PASSWORD)  # the server's default (OWASP) parameters


async def insert_rows(database: str, prefix: str, start: int, stop: int, hashed: str, now: int) -> None:
    """Users start..stop-1 and one live session each, with bulk SQL."""
    import asyncpg

    conn = await asyncpg.connect(plain_url(database))
    try:
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO fastauth_users
                    (id, email, hashed_password, is_active, is_verified, is_superuser, roles, created_at)
                SELECT md5('u' || g), $1 || g || '@bench.example', $2, true, true, false, '', $3
                FROM generate_series($4::bigint, $5::bigint) AS g
                """,
                prefix,
                hashed,
                now,
                start,
                stop - 1,
            )
            await conn.execute(
                """
                INSERT INTO fastauth_sessions
                    (id, user_id, refresh_jti, created_at, last_used_at, expires_at, ip, user_agent)
                SELECT md5('s' || g), md5('u' || g), md5('j' || g), $1, $1, $2, '127.0.0.1', 'bench'
                FROM generate_series($3::bigint, $4::bigint) AS g
                """,
                now,
                now + SESSION_AGE,
                start,
                stop - 1,
            )
        # What autovacuum would do soon after a bulk insert anyway; done now so it does not run (and
        # compete) while latency is measured.
        await conn.execute("VACUUM ANALYZE fastauth_users")
        await conn.execute("VACUUM ANALYZE fastauth_sessions")
    finally:
        await conn.close()


async def table_info(database: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(plain_url(database))
    try:
        users = await conn.fetchval("SELECT count(*) FROM fastauth_users")
        sessions = await conn.fetchval("SELECT count(*) FROM fastauth_sessions")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        plans = {}
        for name, sql in (
            ("user by email", "SELECT * FROM fastauth_users WHERE email = 'x@bench.example'"),
            ("user by id", "SELECT * FROM fastauth_users WHERE id = 'x'"),
            ("session by id", "SELECT * FROM fastauth_sessions WHERE id = 'x'"),
        ):
            plan = await conn.fetch(f"EXPLAIN {sql}")
            plans[name] = plan[0][0].split("  (")[0].strip()
    finally:
        await conn.close()
    return {"users": users, "sessions": sessions, "size": size, "plans": plans}


# mixed workload


@dataclass
class MixedResult:
    workers: int
    connections: int
    duration: float
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    errors: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    memory: list[tuple[str, float, float]] = field(default_factory=list)  # (process, last, peak) MiB
    sample: str = ""


def write_tokens(path: Path, users: range, now: int) -> Path:
    """One line per user: email, an access token and a refresh token of the user's session."""
    engine = token_engine()
    with path.open("w") as handle:
        for i in users:
            access = engine.issue_access(user_id(i), session_id(i), not_after=now + SESSION_AGE).token
            refresh = engine.issue_refresh(user_id(i), session_id(i), jti=jti(i), not_after=now + SESSION_AGE)
            handle.write(f"{email('mixed', i)}\t{access}\t{refresh.token}\n")
    return path


def run_wrk(base: str, script: Path, tokens: Path, duration: float, connections: int) -> dict[str, Any]:
    argv = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base,
        "--",
        str(tokens),
        PASSWORD,
        "2",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    raise RuntimeError(f"wrk gave no result:\n{out.stdout}\n{out.stderr}")


async def mixed(
    pg: Any, redis: Any, workdir: Path, workers: int, duration: float, connections: int
) -> MixedResult:
    log(f"mixed workload, {workers} worker(s): starting the server")
    database = await create_database(pg.url, f"bench_mixed_{workers}")
    await flush_redis(redis)
    env = server_env(database, redis.url)
    server = _servers.fastauth_serve(workdir, env, "--workers", str(workers), name=f"mixed{workers}")
    try:
        await asyncio.to_thread(server.wait_ready)
        log(f"mixed workload, {workers} worker(s): {2 * MIXED_USERS} users and sessions")
        now = int(time.time())
        await insert_rows(database, "mixed", 0, 2 * MIXED_USERS, await password_hash(), now)
        # Two sets of sessions: the warm-up spends refresh tokens of the first, the run those of the second.
        warm_tokens = write_tokens(workdir / f"warmup-{workers}.tsv", range(MIXED_USERS), now)
        tokens = write_tokens(workdir / f"tokens-{workers}.tsv", range(MIXED_USERS, 2 * MIXED_USERS), now)
        script = workdir / "mixed.lua"
        script.write_text(LUA)

        warmup = min(5.0, duration / 3)
        log(f"mixed workload, {workers} worker(s): warm-up {warmup:.0f} s")
        await asyncio.to_thread(run_wrk, server.base, script, warm_tokens, warmup, connections)

        pids = [server.proc.pid, *server.worker_pids()]
        log(f"mixed workload, {workers} worker(s): {duration:.0f} s at {connections} connections")
        with MemorySampler(pids) as memory:
            raw = await asyncio.to_thread(run_wrk, server.base, script, tokens, duration, connections)
        result = MixedResult(workers, connections, raw["duration_us"] / 1e6)
        result.requests = raw["requests"]
        result.rps = raw["requests"] / result.duration
        result.p50_ms, result.p90_ms = raw["p50_us"] / 1000, raw["p90_us"] / 1000
        result.p99_ms, result.max_ms = raw["p99_us"] / 1000, raw["max_us"] / 1000
        result.errors = sum(raw[k] for k in ("connect", "read", "write", "timeout", "non200"))
        result.counts = {k: raw[k] for k in ("me", "refresh", "login")}
        result.sample = raw["sample"]
        for pid in pids:
            role = "worker" if pid != server.proc.pid or workers == 1 else "supervisor"
            result.memory.append((f"{role} {pid}", memory.last.get(pid, 0.0), memory.peak.get(pid, 0.0)))
        if server.unhandled():
            result.errors += 1
            result.sample = result.sample or "unhandled exception in the server log"
        return result
    finally:
        server.stop()


async def flush_redis(redis: Any) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis.url)
    try:
        await client.flushall()
    finally:
        await client.aclose()


# growth


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class GrowthRow:
    size: int
    insert_s: float
    db_size: str
    latency: dict[str, tuple[float, float]]  # op -> (p50 ms, p99 ms)
    failures: int


def client() -> httpx.Client:
    nodelay = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(transport=nodelay, timeout=30)


def measure(
    http: httpx.Client, base: str, size: int, samples: int, used: set[int]
) -> tuple[dict[str, list[float]], int]:
    """Sequential requests for random, not yet used users/sessions below `size`."""
    engine = token_engine()
    now = int(time.time())
    picks = iter(i for i in random.sample(range(size), min(size, samples * 3 + len(used))) if i not in used)
    times: dict[str, list[float]] = {"login": [], "refresh": [], "me": []}
    failures = 0
    for _ in range(samples):
        for op in ("login", "refresh", "me"):
            i = next(picks)
            used.add(i)
            if op == "login":
                request = http.build_request(
                    "POST", f"{base}/auth/login", json={"email": email("grow", i), "password": PASSWORD}
                )
            elif op == "refresh":
                token = engine.issue_refresh(
                    user_id(i), session_id(i), jti=jti(i), not_after=now + SESSION_AGE
                )
                request = http.build_request(
                    "POST", f"{base}/auth/refresh", json={"refresh_token": token.token}
                )
            else:
                token = engine.issue_access(user_id(i), session_id(i), not_after=now + SESSION_AGE)
                request = http.build_request(
                    "GET", f"{base}/auth/me", headers={"Authorization": f"Bearer {token.token}"}
                )
            start = time.perf_counter()
            response = http.send(request)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                failures += 1
                log(f"  {op} for #{i}: {response.status_code} {response.text[:200]}")
            times[op].append(elapsed)
    return times, failures


async def growth(
    pg: Any, redis: Any, workdir: Path, sizes: list[int], samples: int
) -> tuple[list[GrowthRow], dict[str, str]]:
    database = await create_database(pg.url, "bench_growth")
    await flush_redis(redis)
    server = _servers.fastauth_serve(
        workdir, server_env(database, redis.url), "--workers", "1", name="growth"
    )
    rows: list[GrowthRow] = []
    plans: dict[str, str] = {}
    try:
        await asyncio.to_thread(server.wait_ready)
        hashed = await password_hash()
        inserted, used = 0, set()
        with client() as http:
            for size in sizes:
                log(f"growth: inserting users and sessions {inserted:,} .. {size:,}")
                start = time.perf_counter()
                step = 250_000  # one transaction per step keeps memory and WAL bounded
                for low in range(inserted, size, step):
                    await insert_rows(database, "grow", low, min(size, low + step), hashed, int(time.time()))
                insert_s = time.perf_counter() - start
                inserted = size
                info = await table_info(database)
                plans = info["plans"]
                log(
                    f"growth: {size:,} rows in {insert_s:.1f} s ({info['size']}); measuring {samples} of each"
                )
                # a few untimed requests first (connection, caches of this size's first pages)
                await asyncio.to_thread(measure, http, server.base, size, 5, used)
                times, failures = await asyncio.to_thread(measure, http, server.base, size, samples, used)
                latency = {op: (percentile(v, 50), percentile(v, 99)) for op, v in times.items()}
                rows.append(GrowthRow(size, insert_s, info["size"], latency, failures))
        if server.unhandled():
            rows[-1].failures += 1
    finally:
        server.stop()
    return rows, plans


# report


def machine() -> list[str]:
    postgres = _servers.pg_bin("postgres")
    return [
        *(
            line
            for line in describe_machine(("fastauth", "uvicorn", "sqlalchemy", "asyncpg", "redis"))
            if not line.startswith("Load average")  # reported below, step by step
        ),
        f"PostgreSQL: {tool_version([postgres, '--version']) if postgres else '?'}; "
        f"Redis: {tool_version(['redis-server', '--version'])}",
        f"Load generator: {tool_version(['wrk', '--version'])}",
    ]


def report(
    mixed_results: list[MixedResult], rows: list[GrowthRow], plans: dict[str, str], load: list[str]
) -> str:
    out = []
    if mixed_results:
        out.append("### Mixed workload (90% GET /auth/me, 8% refresh, 2% login)\n")
        out.append(
            "| workers | connections | duration | requests | requests/s | p50 | p90 | p99 | max | errors |"
        )
        out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in mixed_results:
            out.append(
                f"| {r.workers} | {r.connections} | {r.duration:.0f} s | {r.requests:,} | {r.rps:,.0f} | "
                f"{r.p50_ms:.1f} ms | {r.p90_ms:.1f} ms | {r.p99_ms:.1f} ms | {r.max_ms:.0f} ms | {r.errors} |"
            )
        out.append("")
        out.append("| workers | requests sent: me / refresh / login | memory (RSS, at the end / peak) |")
        out.append("|---:|---|---|")
        for r in mixed_results:
            mem = "; ".join(f"{name}: {last:.0f} / {peak:.0f} MiB" for name, last, peak in r.memory)
            c = r.counts
            out.append(f"| {r.workers} | {c['me']:,} / {c['refresh']:,} / {c['login']:,} | {mem} |")
        out.append("")
    if rows:
        out.append("### Growth (sequential requests, no queueing)\n")
        out.append(
            "| users = sessions | insert + VACUUM ANALYZE | database size | login p50 / p99 | refresh p50 / p99 "
            "| protected GET p50 / p99 | failures |"
        )
        out.append("|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            cells = " | ".join(
                f"{row.latency[op][0]:.1f} / {row.latency[op][1]:.1f} ms" for op in ("login", "refresh", "me")
            )
            out.append(f"| {row.size:,} | {row.insert_s:.1f} s | {row.db_size} | {cells} | {row.failures} |")
        out.append("")
        if plans:
            out.append(
                "Query plans at the largest size: " + "; ".join(f"{k}: `{v}`" for k, v in plans.items()) + "."
            )
            out.append("")
    out.append("Machine:\n")
    out.extend(f"- {line}" for line in machine())
    out.append(f"- Load average (1 min): {'; '.join(load)} (the benchmark itself keeps both CPUs busy)")
    return "\n".join(out)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="seconds per mixed run (default 30; --quick 2)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 s runs, sizes 1k and 10k, 10 samples"
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="growth sizes (default 10000 100000 1000000)")
    parser.add_argument(
        "--samples", type=int, help="requests of each kind per size (default 300; --quick 10)"
    )
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--skip-mixed", action="store_true")
    parser.add_argument("--skip-growth", action="store_true")
    args = parser.parse_args()
    duration = args.duration or (2.0 if args.quick else 30.0)
    sizes = sorted(args.sizes or ([1_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000]))
    samples = args.samples or (10 if args.quick else 300)
    for tool in ("wrk", "redis-server"):
        if not args.skip_mixed and shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")

    for name in list(os.environ):  # the tokens minted here must match the servers' configuration
        if name.upper().startswith("FASTAUTH_"):
            del os.environ[name]
    workdir = Path(tempfile.mkdtemp(prefix="fastauth-bench-"))
    log("starting PostgreSQL (durable: fsync on) and Redis")
    pg = PgCluster(durable=True, options="-c shared_buffers=256MB")
    redis = RedisServer()
    mixed_results: list[MixedResult] = []
    rows: list[GrowthRow] = []
    plans: dict[str, str] = {}
    started = time.perf_counter()
    load = [f"{os.getloadavg()[0]:.2f} before the start (0: an idle machine)"]
    try:
        if not args.skip_mixed:
            for workers in (1, 2):
                mixed_results.append(await mixed(pg, redis, workdir, workers, duration, args.connections))
                load.append(f"{os.getloadavg()[0]:.2f} after {workers} worker(s)")
        if not args.skip_growth:
            rows, plans = await growth(pg, redis, workdir, sizes, samples)
            load.append(f"{os.getloadavg()[0]:.2f} after the growth run")
    finally:
        redis.close()
        pg.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(mixed_results, rows, plans, load))
    log(f"done in {time.perf_counter() - started:.0f} s")
    failed = sum(r.errors for r in mixed_results) + sum(r.failures for r in rows)
    for r in mixed_results:
        if r.errors:
            log(f"{r.workers} worker(s): {r.errors} errors, e.g. {r.sample}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
