"""Endpoint benchmark: what fastauth costs a FastAPI application per request, against its own baseline.

    .venv/bin/python bench/endpoints.py            # 7 interleaved rounds of 5 s per route (5 minutes)
    .venv/bin/python bench/endpoints.py --quick    # a smoke run: 1 round of 1 s (rough numbers)

Two applications from `bench/endpoints_app.py`, each one uvicorn worker (uvloop and httptools when
installed) pinned to one CPU with taskset, loaded by `wrk -t1 -c32` pinned to another:

- **plain**: FastAPI without fastauth, one route that does not use fastauth.
- **fastauth**: the same application with `auth.mount(app)`; the unrelated route once before it
  (`/before`, to tell routing cost from per-request cost) and, declared after it, the same unrelated
  route, a route behind FastAPI's `HTTPBearer` (header parsed, token not checked), one behind a
  hand-written PyJWT dependency, one behind `get_current_claims`, one behind `get_current_user`
  (the user comes from the per-process cache after the first request), and one behind
  `get_current_principal` called with an API key (`Bearer fa_...`: the checksum, then the key, its
  owner and the roles from the per-process caches; the last use is written once a minute).

Every round loads every route once, in an order rotated from round to round; the figures are medians
over the rounds, and each ratio or difference is computed within a round, then its median taken.
Server CPU per request is the server process's CPU time (/proc/PID/stat, all threads) over the
requests wrk completed. Prints markdown; progress goes to stderr. A benchmark, not a test: it exits
with 1 only when a request failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_support.py, also when run from elsewhere

from _support import App, Load, cpus, event_loop, machine, median, tool_version, wrk

PASSWORD = "benchmark password 1"


@dataclass(frozen=True)
class Route:
    label: str
    app: str  # "plain" or "fastauth"
    path: str
    authenticated: bool
    #: What the route is called with: the access token, or an API key of the same account.
    api_key: bool = False


ROUTES = (
    Route("unrelated route, no fastauth in the app", "plain", "/unrelated", False),
    Route("unrelated route, declared after mount()", "fastauth", "/unrelated", False),
    Route("unrelated route, declared before mount()", "fastauth", "/before", False),
    Route("HTTPBearer (FastAPI's, token not checked)", "fastauth", "/bearer", True),
    Route("hand-written PyJWT dependency", "fastauth", "/pyjwt", True),
    Route("Depends(auth.get_current_claims)", "fastauth", "/claims", True),
    Route("Depends(auth.get_current_user), user cached", "fastauth", "/user", True),
    Route("Depends(auth.get_current_principal), API key cached", "fastauth", "/apikey", True, api_key=True),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def credentials(app: App) -> tuple[str, str]:
    """Register a user over HTTP, log in and make an API key: a real access token of the running
    server, and a real key of the same account."""
    with httpx.Client(base_url=app.base, timeout=60) as client:
        account = {"email": "bench@example.com", "password": PASSWORD}
        client.post("/auth/register", json=account)
        response = client.post("/auth/login", json=account)
        response.raise_for_status()
        token = str(response.json()["access_token"])
        made = client.post(
            "/auth/api-keys", json={"name": "bench"}, headers={"Authorization": f"Bearer {token}"}
        )
        made.raise_for_status()
        return token, str(made.json()["key"])


def headers_for(route: Route, token: dict[str, str], key: dict[str, str]) -> dict[str, str] | None:
    """The Authorization header `route` is called with (None for an unauthenticated route)."""
    if not route.authenticated:
        return None
    return key if route.api_key else token


def warm_up(
    apps: dict[str, App], routes: list[Route], token: dict[str, str], key: dict[str, str], count: int
) -> None:
    """`count` requests per route (connections, caches, the user cache); each must succeed."""
    for route in routes:
        with httpx.Client(base_url=apps[route.app].base, timeout=30) as client:
            for _ in range(count):
                response = client.get(route.path, headers=headers_for(route, token, key))
                if response.status_code != 200:
                    raise SystemExit(f"{route.path}: {response.status_code} {response.text[:200]}")


def fmt_ratio(values: list[float]) -> str:
    return f"{median(values):.2f}x"


def report(
    routes: list[Route], samples: dict[Route, list[Load]], args: argparse.Namespace, pinning: str
) -> list[str]:
    by_path = {(r.app, r.path): samples[r] for r in routes}
    rounds = len(samples[routes[0]])
    out = [
        "### Endpoints",
        "",
        f"{rounds} interleaved round(s) of {args.duration:g} s per route; wrk -t1 -c{args.connections}; "
        f"one uvicorn worker; {pinning}. Medians over the rounds.",
        "",
        "| route | app | req/s | p50 ms | p99 ms | server CPU µs/request | failed |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for route in routes:
        runs = samples[route]
        out.append(
            f"| {route.label} | {route.app} | {median([r.rps for r in runs]):,.0f} | "
            f"{median([r.p50_ms for r in runs]):.2f} | {median([r.p99_ms for r in runs]):.2f} | "
            f"{median([r.cpu_us for r in runs]):.1f} | {sum(r.failed for r in runs)} |"
        )

    def per_round(a: tuple[str, str], b: tuple[str, str], what: str) -> list[float]:
        pairs = zip(by_path[a], by_path[b], strict=True)
        if what == "rps":
            return [x.rps / y.rps for x, y in pairs]
        return [x.cpu_us - y.cpu_us for x, y in pairs]

    out += [
        "",
        "| comparison (within each round, then the median) | figure | per round | target | met |",
        "|---|---:|---|---:|---|",
    ]
    plain, mounted = ("plain", "/unrelated"), ("fastauth", "/unrelated")
    bearer = ("fastauth", "/bearer")
    rows: list[tuple[str, list[float], str, float | None, bool]] = []  # label, values, op, target, ratio?
    if mounted in by_path and plain in by_path:
        from_cpu = [y.cpu_us / x.cpu_us for x, y in zip(by_path[mounted], by_path[plain], strict=True)]
        rows += [
            ("unrelated route after mount() / without fastauth, req/s", per_round(mounted, plain, "rps"),
             ">=", 0.97, True),
            ("the same from server CPU per request (without / after mount())", from_cpu, ">=", 0.97, True),
            ("unrelated route after mount() over without fastauth, server CPU µs/request",
             per_round(mounted, plain, "cpu"), "", None, False),
        ]  # fmt: skip
    if ("fastauth", "/before") in by_path and plain in by_path:
        rows.append(
            ("unrelated route before mount() over without fastauth, server CPU µs/request",
             per_round(("fastauth", "/before"), plain, "cpu"), "", None, False)
        )  # fmt: skip
    for path, label, target in (
        ("/claims", "get_current_claims", 30.0),
        ("/user", "get_current_user (cached)", 45.0),
        ("/pyjwt", "hand-written PyJWT", None),
        ("/apikey", "get_current_principal with an API key (cached)", None),
    ):
        if ("fastauth", path) not in by_path or bearer not in by_path:
            continue
        rows.append(
            (f"{label} over HTTPBearer, server CPU µs/request", per_round(("fastauth", path), bearer, "cpu"),
             "<=", target, False)
        )  # fmt: skip
        rows.append(
            (
                f"{label} / HTTPBearer, req/s",
                per_round(("fastauth", path), bearer, "rps"),
                "",
                None,
                True,
            )
        )
    met_all = True
    for label, values, op, target, is_ratio in rows:
        figure = median(values)
        shown = f"{figure:.2f}x" if is_ratio else f"{figure:+.1f} µs"
        each = ", ".join(f"{v:.2f}" if is_ratio else f"{v:+.1f}" for v in values)
        if target is None:
            out.append(f"| {label} | {shown} | {each} | - | - |")
            continue
        met = figure >= target if op == ">=" else figure <= target
        met_all = met_all and met
        goal = f"{op} {target:.2f}x" if is_ratio else f"{op} {target:.0f} µs"
        out.append(
            f"| {label} | {shown} | {each} | {goal.replace('>=', '≥').replace('<=', '≤')} | {'yes' if met else 'NO'} |"
        )
    out += ["", f"Targets: {'all met' if met_all else 'NOT all met'} in this run.", ""]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 1 s per route")
    parser.add_argument("--duration", type=float, help="seconds per route and round (default 5; --quick 1)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 7; --quick 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--routes",
        nargs="+",
        metavar="PATH",
        help="only these routes, e.g. --routes /bearer /claims (default all)",
    )
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    args.duration = args.duration or (1.0 if args.quick else 5.0)
    args.rounds = args.rounds or (1 if args.quick else 7)
    if shutil.which("wrk") is None:
        log("wrk is needed: apt-get install -y wrk")
        return 2
    try:
        import jwt  # noqa: F401
    except ImportError:
        log("PyJWT is not installed (pip install -e '.[bench]'): the PyJWT row is left out")
        routes = [r for r in ROUTES if r.path != "/pyjwt"]
    else:
        routes = list(ROUTES)
    if args.routes:
        unknown = set(args.routes) - {r.path for r in ROUTES}
        if unknown:
            parser.error(
                f"unknown route(s) {sorted(unknown)}; choose from " + " ".join(r.path for r in ROUTES)
            )
        routes = [r for r in routes if r.path in args.routes]

    server_cpu, client_cpu = cpus()
    pinning = (
        f"server on CPU {server_cpu}, wrk on CPU {client_cpu} (taskset)"
        if server_cpu is not None
        else "no pinning (one CPU)"
    )
    workdir = Path(tempfile.mkdtemp(prefix="fastauth-bench-"))
    apps = {name: App(f"{name}_app", workdir, server_cpu) for name in ("plain", "fastauth")}
    failed = 0
    try:
        for app in apps.values():
            app.wait_ready()
        token, key = credentials(apps["fastauth"])
        headers = {"Authorization": f"Bearer {token}"}
        key_headers = {"Authorization": f"Bearer {key}"}
        log("warming up")
        warm_up(apps, routes, headers, key_headers, 50 if args.quick else 500)
        samples: dict[Route, list[Load]] = {route: [] for route in routes}
        for round_no in range(args.rounds):
            shift = round_no % len(routes)
            for route in routes[shift:] + routes[:shift]:
                log(f"round {round_no + 1}/{args.rounds}: {route.app} {route.path}")
                load = wrk(
                    apps[route.app], route.path, args.duration, args.connections, client_cpu,
                    headers=headers_for(route, headers, key_headers),
                )  # fmt: skip
                samples[route].append(load)
                failed += load.failed
        for app in apps.values():
            output = Path(app.log.name).read_text()
            if "Traceback" in output:
                log(f"{app.name} logged an error:\n{output[-2000:]}")
                failed += 1
    finally:
        for app in apps.values():
            app.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    loop, http = event_loop()
    lines = report(routes, samples, args, pinning)
    lines += ["Machine:", ""]
    lines += [
        f"- {line}"
        for line in machine(("fastauth", "fastapi", "starlette", "uvicorn", "pyjwt"), load_at_start)
    ]
    lines.append(
        f"- Server: uvicorn --loop {loop} --http {http}, 1 worker, SQLite; load: {' '.join(tool_version(['wrk', '-v']).split()[:2])}"
    )
    print("\n".join(lines))
    if failed:
        log(f"{failed} requests failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
