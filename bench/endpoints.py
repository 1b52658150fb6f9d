"""Endpoint benchmark: requests/s and latency of fastauth's dependencies against a bare route.

    .venv/bin/python bench/endpoints.py [--duration 5] [--rounds 3] [--connections 32]

Starts `bench/endpoints_app.py` under uvicorn (one worker) on 127.0.0.1, loads it with wrk
(`apt-get install wrk`) in interleaved rounds: (a) a bare route, (b) `get_current_claims`,
(c) `get_current_user`; then (d) login and refresh with an asyncio httpx client. Prints a markdown
table of medians. A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
PASSWORD = "benchmark password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, workdir: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/bench.db",
        "PYTHONPATH": str(HERE),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "endpoints_app:app", "--port", str(port), "--host", "127.0.0.1",
         "--log-level", "warning", "--no-access-log"],
        cwd=workdir, env=env,
    )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/bare", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def wrk(url: str, seconds: int, connections: int, token: str | None) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        argv[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


async def login_refresh(base: str, seconds: float, concurrency: int) -> dict[str, dict[str, float]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        latencies: dict[str, list[float]] = {"login": [], "refresh": []}
        errors = {"login": 0, "refresh": 0}

        async def worker(i: int) -> None:
            email = f"bench{i}@example.com"
            deadline = time.perf_counter() + seconds
            refresh_token = None
            while time.perf_counter() < deadline:
                kind = "refresh" if refresh_token else "login"
                start = time.perf_counter()
                if refresh_token:
                    r = await client.post("/auth/refresh", json={"refresh_token": refresh_token})
                else:
                    r = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
                latencies[kind].append((time.perf_counter() - start) * 1000)
                if r.status_code != 200:
                    errors[kind] += 1
                    refresh_token = None
                    continue
                # 1 login, then 9 refreshes, so both paths are measured.
                refresh_token = r.json()["refresh_token"] if len(latencies["refresh"]) % 10 != 9 else None

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        result = {}
        for kind, values in latencies.items():
            values.sort()
            result[kind] = {
                "rps": len(values) / seconds,
                "p50": values[len(values) // 2] if values else 0.0,
                "p99": values[int(len(values) * 0.99) - 1] if values else 0.0,
                "errors": float(errors[kind]),
            }
        return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    workdir = tempfile.mkdtemp(prefix="fastauth-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(port, workdir)
    try:
        concurrency = 4
        for i in range(concurrency):
            httpx.post(
                f"{base}/auth/register",
                json={"email": f"bench{i}@example.com", "password": PASSWORD},
                timeout=30,
            )
        token = httpx.post(
            f"{base}/auth/login", json={"email": "bench0@example.com", "password": PASSWORD}, timeout=30
        ).json()["access_token"]
        routes = {"(a) bare route": ("/bare", None), "(b) get_current_claims": ("/claims", token),
                  "(c) get_current_user": ("/user", token)}  # fmt: skip
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in routes}
        for _ in range(args.rounds):
            for name, (path, tok) in routes.items():
                samples[name].append(wrk(base + path, args.duration, args.connections, tok))
        lr = asyncio.run(login_refresh(base, args.duration * 2, concurrency))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    bare = statistics.median(s["rps"] for s in samples["(a) bare route"])
    print(
        f"\n{args.rounds} interleaved rounds of {args.duration} s, wrk -t1 -c{args.connections}, one uvicorn worker\n"
    )
    print("| endpoint | req/s (median) | p50 ms | p99 ms | vs bare | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in samples.items():
        rps = statistics.median(r["rps"] for r in runs)
        print(
            f"| {name} | {rps:,.0f} | {statistics.median(r['p50'] for r in runs):.2f} | "
            f"{statistics.median(r['p99'] for r in runs):.2f} | {rps / bare:.2f}x | {sum(r['errors'] for r in runs):.0f} |"
        )
    for kind in ("login", "refresh"):
        r = lr[kind]
        print(
            f"| (d) {kind} ({concurrency} clients) | {r['rps']:,.1f} | {r['p50']:.2f} | {r['p99']:.2f} | - | {r['errors']:.0f} |"
        )


if __name__ == "__main__":
    main()
