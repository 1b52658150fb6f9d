"""Login benchmark at equal argon2id parameters: fastauth's login next to the raw hash it is built on.

    .venv/bin/python bench/login.py            # 5 interleaved rounds of 5 s per profile
    .venv/bin/python bench/login.py --quick    # a smoke run: 1 round of 1 s (rough numbers)

A login is one argon2id verification plus the rest (parsing, the user read, a new session written,
two tokens signed). fastauth's default is the OWASP profile (m=19 MiB, t=2, p=1); many peers use
argon2-cffi's defaults (m=64 MiB, t=3, p=4), which cost several times more by design. To compare
login throughput across libraries, compare at the same parameters: so this measures fastauth's login
with each profile (`FastAuth(config, password_hasher=PasswordHasher(Argon2Params(...)))`, from
`bench/endpoints_app.py:login_app`) next to the raw argon2-cffi verification at that profile.

Each profile runs in its own uvicorn worker, pinned to one CPU (taskset); `wrk -t1 -c4` on another
CPU posts the same login again and again. The raw hash is timed in this process, pinned to the
server's CPU while both servers are idle. Rounds interleave the profiles; figures are medians.
Server CPU per login is the server process's CPU time (/proc/PID/stat, all threads) over the logins;
its inverse, logins per CPU second, is the throughput of one CPU given to the server alone.
Prints markdown; progress on stderr. A benchmark, not a test: it exits with 1 only when a login failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_support.py, also when run from elsewhere

from _support import App, Load, cpus, event_loop, machine, median, tool_version, wrk

EMAIL, PASSWORD = "login@bench.example", "benchmark password 1"
#: name -> (memory KiB, time cost, parallelism)
PROFILES = {
    "OWASP (fastauth's default): m=19 MiB, t=2, p=1": (19456, 2, 1),
    "argon2-cffi defaults (peers): m=64 MiB, t=3, p=4": (65536, 3, 4),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def raw_hash_ms(params: tuple[int, int, int], cpu: int | None, seconds: float) -> float:
    """CPU milliseconds of one argon2-cffi verification at `params`, on CPU `cpu`."""
    import argon2

    memory, time_cost, parallelism = params
    hasher = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory, parallelism=parallelism)
    hashed = hasher.hash(PASSWORD)
    mask = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        hasher.verify(hashed, PASSWORD)  # the memory is touched once before timing
        count, start, deadline = 0, time.process_time(), time.perf_counter() + seconds
        while count < 3 or time.perf_counter() < deadline:
            hasher.verify(hashed, PASSWORD)
            count += 1
        return (time.process_time() - start) / count * 1000
    finally:
        os.sched_setaffinity(0, mask)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 1 s per profile")
    parser.add_argument("--duration", type=float, help="seconds of logins per profile and round (default 5)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; --quick 1)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    duration = args.duration or (1.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 5)
    if shutil.which("wrk") is None:
        log("wrk is needed: apt-get install -y wrk")
        return 2

    server_cpu, client_cpu = cpus()
    workdir = Path(tempfile.mkdtemp(prefix="fastauth-bench-"))
    script = workdir / "login.lua"
    body = json.dumps({"email": EMAIL, "password": PASSWORD})
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{body}'\nwrk.headers['Content-Type'] = 'application/json'\n"
    )
    names = list(PROFILES)
    apps = {}
    for i, name in enumerate(names):
        (workdir / str(i)).mkdir()
        params = ",".join(map(str, PROFILES[name]))
        apps[name] = App("login_app", workdir / str(i), server_cpu, BENCH_ARGON2=params)
    logins: dict[str, list[Load]] = {name: [] for name in names}
    raw: dict[str, list[float]] = {name: [] for name in names}
    failed = 0
    try:
        for app in apps.values():
            app.wait_ready()
            account = {"email": EMAIL, "password": PASSWORD}
            with httpx.Client(base_url=app.base, timeout=60) as client:
                client.post("/auth/register", json=account)
                client.post("/auth/login", json=account).raise_for_status()
        for round_no in range(rounds):
            order = names[round_no % 2 :] + names[: round_no % 2]
            for name in order:
                log(f"round {round_no + 1}/{rounds}: {name}")
                raw[name].append(raw_hash_ms(PROFILES[name], server_cpu, 0.5 if args.quick else 3.0))
                load = wrk(apps[name], "/auth/login", duration, args.connections, client_cpu, script=script)
                logins[name].append(load)
                failed += load.failed
    finally:
        for app in apps.values():
            app.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    pinning = (
        f"server on CPU {server_cpu}, wrk on CPU {client_cpu}" if server_cpu is not None else "no pinning"
    )
    out = [
        "### Login at equal argon2id parameters",
        "",
        f"{rounds} interleaved round(s) of {duration:g} s per profile; wrk -t1 -c{args.connections}; one uvicorn "
        f"worker per profile, SQLite; {pinning}. Medians over the rounds.",
        "",
        "| argon2id profile | raw hash, CPU ms | login, server CPU ms | login minus hash, ms "
        "| logins/s measured | logins per CPU second | p50 ms | p99 ms | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        runs, hashes = logins[name], raw[name]
        login_ms = [r.cpu_us / 1000 for r in runs]
        extra = [cost - h for cost, h in zip(login_ms, hashes, strict=True)]
        out.append(
            f"| {name} | {median(hashes):.1f} | {median(login_ms):.1f} | {median(extra):.1f} | "
            f"{median([r.rps for r in runs]):.1f} | {1000 / median(login_ms):.1f} | "
            f"{median([r.p50_ms for r in runs]):.0f} | "
            f"{median([r.p99_ms for r in runs]):.0f} | {sum(r.failed for r in runs)} |"
        )
    owasp, peers = names

    def ratio(pairs: Iterable[tuple[float, float]], fmt: str, unit: str = "") -> str:
        """The median of a/b over the rounds where b is not 0 (a 1-second smoke round on a loaded
        machine may complete no login at all): "n/a" when there is none."""
        kept = [a / b for a, b in pairs if b]
        return format(median(kept), fmt) + unit if kept else "n/a"

    def share(name: str) -> str:
        return ratio(((h, r.cpu_us / 1000) for h, r in zip(raw[name], logins[name], strict=True)), ".0%")

    out += [
        "",
        "| comparison (within each round, then the median) | figure |",
        "|---|---:|",
        f"| raw hash, peers' profile / OWASP | {ratio(zip(raw[peers], raw[owasp], strict=True), '.2f', 'x')} |",
        "| login server CPU, peers' profile / OWASP | "
        f"{ratio(((p.cpu_us, o.cpu_us) for p, o in zip(logins[peers], logins[owasp], strict=True)), '.2f', 'x')} |",
        "| logins/s, OWASP / peers' profile | "
        f"{ratio(((o.rps, p.rps) for p, o in zip(logins[peers], logins[owasp], strict=True)), '.2f', 'x')} |",
        f"| share of a login's server CPU that is the hash: OWASP / peers' profile | "
        f"{share(owasp)} / {share(peers)} |",
        "",
        "Machine:",
        "",
        *(f"- {line}" for line in machine(("fastauth", "argon2-cffi", "fastapi", "uvicorn"), load_at_start)),
        f"- Server: uvicorn --loop {event_loop()[0]} --http {event_loop()[1]}; load: "
        + " ".join(tool_version(["wrk", "-v"]).split()[:2]),
    ]
    print("\n".join(out))
    if failed:
        log(f"{failed} logins failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
