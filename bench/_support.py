"""What the benchmarks share: the test suite's process helpers, the machine description, /proc readings.

The process helpers (`PgCluster`, `RedisServer`, `fastauth_serve`, ...) live with the tests, and the
tests reorganise their folders now and then; `servers()` finds the module by what it defines, not by
its path, so `python bench/scale.py` keeps working from any checkout.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
#: Where the helpers have lived, most recent first; any other file under tests/ is searched after these.
_KNOWN = ("tests/support/servers.py", "tests/servertools.py")
_MARKERS = ("class PgCluster", "class RedisServer", "def fastauth_serve")


@cache
def servers() -> ModuleType:
    """The test suite's process-helper module, loaded from its file under tests/."""
    candidates = [ROOT / path for path in _KNOWN] + sorted((ROOT / "tests").rglob("*.py"))
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        if all(marker in text for marker in _MARKERS):
            # Its own folder and tests/ on the path, for whatever it imports from beside itself.
            for folder in (path.parent, ROOT / "tests"):
                if str(folder) not in sys.path:
                    sys.path.append(str(folder))
            spec = importlib.util.spec_from_file_location("_fastauth_bench_servers", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            return module
    raise SystemExit(
        f"the test suite's process helpers (PgCluster, RedisServer) are not under {ROOT / 'tests'}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tool_version(argv: list[str]) -> str:
    """The first line a tool prints for its version, or `?`."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def machine(libraries: tuple[str, ...] = (), load_at_start: float | None = None) -> list[str]:
    """Markdown list items describing this machine, its load and the versions that matter.

    `load_at_start` is `os.getloadavg()[0]` taken before the benchmark ran; the load now is added.
    """
    from importlib.metadata import PackageNotFoundError, version

    cpu, mem = "unknown CPU", "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass

    def ver(name: str) -> str:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            return f"{name} (not installed)"

    lines = [
        f"CPU: {cpu}, {os.cpu_count()} CPUs, {mem} RAM ({platform.machine()})",
        f"OS: {platform.system()} {platform.release()}",
        f"Python: {platform.python_implementation()} {platform.python_version()}",
        "Load average (1 min): "
        + (f"{load_at_start:.2f} at the start, " if load_at_start is not None else "")
        + f"{os.getloadavg()[0]:.2f} at the end (2 CPUs: above 2 other work competes with the benchmark)",
    ]
    if libraries:
        lines.append("Libraries: " + ", ".join(ver(name) for name in libraries))
    return lines


# --- one pinned uvicorn worker, loaded by wrk from the other CPU ------------------------------------


def cpus() -> tuple[int | None, int | None]:
    """(server CPU, load-generator CPU): two different CPUs of this process's set, or no pinning."""
    mine = sorted(os.sched_getaffinity(0))
    return (mine[0], mine[1]) if len(mine) >= 2 else (None, None)


def pinned(cpu: int | None, argv: list[str]) -> list[str]:
    """`argv` run on CPU `cpu` (with taskset, which execs: the process id stays the same)."""
    if cpu is None or shutil.which("taskset") is None:
        return argv
    return ["taskset", "-c", str(cpu), *argv]


def event_loop() -> tuple[str, str]:
    """uvicorn's `--loop` and `--http`: uvloop and httptools when installed, else asyncio and h11."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class App:
    """`uvicorn --factory bench/endpoints_app:FACTORY` as one worker pinned to `cpu`, on a free port."""

    def __init__(self, factory: str, workdir: Path, cpu: int | None, **env: str) -> None:
        self.name, self.port = factory, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        loop, http = event_loop()
        argv = [
            sys.executable, "-m", "uvicorn", "--factory", f"endpoints_app:{factory}",
            "--host", "127.0.0.1", "--port", str(self.port), "--loop", loop, "--http", http,
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        environment = {
            **{k: v for k, v in os.environ.items() if not k.upper().startswith("FASTAUTH_")},
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")])
            ),
            "BENCH_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/{factory}.db",
            **env,
        }
        self.log = (workdir / f"{factory}.log").open("w")
        self.proc = subprocess.Popen(
            pinned(cpu, argv), cwd=workdir, env=environment, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, path: str = "/unrelated", timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"{self.name} did not start:\n{Path(self.log.name).read_text()}")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Load:
    """One wrk run against one URL, with the server's CPU time over it."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int  # non-2xx answers plus socket errors
    cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """Server CPU time per request, microseconds."""
        return self.cpu_s / max(1, self.requests) * 1e6


def wrk(
    app: App,
    path: str,
    seconds: float,
    connections: int,
    cpu: int | None,
    *,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> Load:
    """wrk -t1 against `app` for `seconds`, pinned to `cpu`; the server's CPU time is read around it."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "30s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(app.base + path)
    before = app.cpu()
    out = subprocess.run(pinned(cpu, argv), capture_output=True, text=True, check=True).stdout
    cpu_s = app.cpu() - before

    def find(pattern: str) -> re.Match[str]:
        found = re.search(pattern, out)
        if found is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        return found

    done = find(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}

    def percentile(p: str) -> float:
        value, unit = find(rf"\s{p}%\s+([\d.]+)(us|ms|s|m)\b").groups()
        return float(value) * scale[unit] * 1000

    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        failed += sum(int(n) for n in socket_errors.groups())
    return Load(
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * scale[done.group(3)],
        p50_ms=percentile("50"),
        p99_ms=percentile("99"),
        failed=failed,
        cpu_s=cpu_s,
    )


def median(values: list[float]) -> float:
    return statistics.median(values)
