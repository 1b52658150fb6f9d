"""In-process cost of fastauth's request dependencies: CPU per call, no HTTP, no server.

    .venv/bin/python bench/dependencies.py            # 15 repeats of 5,000 calls per dependency
    .venv/bin/python bench/dependencies.py --quick    # 5 repeats of 1,000 (rough numbers)

Each dependency is called as FastAPI would call it, with a Starlette `Request` carrying
`Authorization: Bearer <token>` of a signed-in user (memory store, HS256, rate limits off; the user
and the revocation check come from memory after the warm-up). Figures are process CPU microseconds per
call, the median of the repeats. Run it with `PYTHONPATH=<another checkout>/src` to time another
version of fastauth on the same machine (docs/benchmarks.md, "Dependencies"). Prints markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_support.py, also when run from elsewhere

from _support import machine

PASSWORD = "benchmark password 1"


async def measure(repeats: int, calls: int) -> dict[str, float]:
    from starlette.requests import Request

    from fastauth import FastAuth, FastAuthConfig
    from fastauth.storage.memory import MemoryStore

    auth = FastAuth(FastAuthConfig(secret="s" * 64, rate_limit_enabled=False), adapter=MemoryStore())
    await auth.startup()
    try:
        await auth.service.create_user("bench@example.com", PASSWORD, is_verified=True)
        _, pair = await auth.service.sign_in("bench@example.com", PASSWORD)
        headers = [(b"authorization", f"Bearer {pair.access_token}".encode())]
        scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": headers}
        scope["query_string"] = b""
        out: dict[str, float] = {}
        for name in ("get_current_claims", "get_current_user"):
            dependency = getattr(auth, name)
            for _ in range(calls):  # warm the caches
                await dependency(Request(scope))
            samples = []
            for _ in range(repeats):
                start = time.process_time()
                for _ in range(calls):
                    await dependency(Request(scope))
                samples.append((time.process_time() - start) / calls * 1e6)
            out[name] = statistics.median(samples)
        out["token bytes"] = len(pair.access_token)
        return out
    finally:
        await auth.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 repeats of 1,000 calls (rough numbers)")
    args = parser.parse_args()
    import os

    load = os.getloadavg()[0]
    repeats, calls = (5, 1000) if args.quick else (15, 5000)
    figures = asyncio.run(measure(repeats, calls))
    print("| dependency | CPU µs per call (median) |")
    print("|---|---:|")
    for name in ("get_current_claims", "get_current_user"):
        print(f"| `{name}` | {figures[name]:.2f} |")
    print(f"\naccess token: {int(figures['token bytes'])} bytes\n")
    print("### Machine\n")
    for line in machine(("fastapi", "starlette"), load_at_start=load):
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
