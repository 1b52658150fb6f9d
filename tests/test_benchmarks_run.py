"""Every benchmark command docs/benchmarks.md gives runs as written, from the repository root.

Each command is read from the page's bash blocks and run in its quick mode (`--quick` added when the
page leaves it out) in a fresh interpreter; the test checks the exit code and that the result lines
are printed, never the figures (speed is for the benchmarks to report, not for tests to assert).
Commands that need wrk, redis-server or PostgreSQL are skipped without them, except under
`FASTAUTH_TEST_REQUIRE_SERVICES=1` (CI), where a missing tool is a failure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
REQUIRE_SERVICES = os.environ.get("FASTAUTH_TEST_REQUIRE_SERVICES") == "1"


@dataclass(frozen=True)
class Script:
    needs: tuple[str, ...]  # programs that must be on the machine
    expect: tuple[str, ...]  # lines (or parts of lines) the output must hold


SCRIPTS = {
    "bench/tokens.py": Script((), ("| alg |", "verify fastauth / joserfc", "### Machine")),
    "bench/endpoints.py": Script(
        ("wrk",),
        (
            "### Endpoints",
            "| unrelated route, no fastauth in the app | plain |",
            "| unrelated route, declared after mount() | fastauth |",
            "| unrelated route, declared before mount() | fastauth |",
            "| Depends(auth.get_current_claims) | fastauth |",
            "| Depends(auth.get_current_user), user cached | fastauth |",
            "| HTTPBearer (FastAPI's, token not checked) | fastauth |",
            "| hand-written PyJWT dependency | fastauth |",
            "| unrelated route after mount() / without fastauth, req/s |",
            "| get_current_claims over HTTPBearer, server CPU µs/request |",
            "| get_current_user (cached) over HTTPBearer, server CPU µs/request |",
            "Machine:",
        ),
    ),
    "bench/login.py": Script(
        ("wrk",),
        (
            "### Login at equal argon2id parameters",
            "| OWASP (fastauth's default): m=19 MiB, t=2, p=1 |",
            "| argon2-cffi defaults (peers): m=64 MiB, t=3, p=4 |",
            "| raw hash, peers' profile / OWASP |",
            "Machine:",
        ),
    ),
    "bench/scale.py": Script(
        ("wrk", "redis-server", "initdb", "pg_ctl"),
        ("### Mixed workload", "### Growth", "Machine:"),
    ),
    "bench/scale_users.py": Script(
        (), ("### Admin listing", "| users | first page | deep page |", "| 10,000 |", "Machine:")
    ),
    "bench/dependencies.py": Script(
        (), ("| dependency | CPU µs per call (median) |", "| `get_current_claims` |", "### Machine")
    ),
    "bench/cli.py": Script(
        (),
        ("### Command line", "| fastauth --help (this tree) |", "| fastauth generate-secret (this tree) |"),
    ),
}


def documented_commands() -> list[list[str]]:
    """Every `python bench/...` line of the page's bash blocks, as argv in its quick mode: `--quick`
    added when missing (comments dropped; commands that are then the same are run once)."""
    commands: list[list[str]] = []
    for block in re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.DOTALL):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            if len(argv) >= 2 and argv[0] == "python" and argv[1].startswith("bench/"):
                argv += [] if "--quick" in argv else ["--quick"]
                if argv not in commands:
                    commands.append(argv)
    return commands


def found(program: str) -> bool:
    if shutil.which(program):
        return True
    return any(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"))


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (FASTAUTH_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def test_the_page_gives_a_command_for_every_benchmark() -> None:
    scripts = {argv[1] for argv in documented_commands()}
    on_disk = {f"bench/{p.name}" for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(SCRIPTS) == on_disk - {"bench/endpoints_app.py"}


@pytest.mark.parametrize("argv", documented_commands(), ids=lambda argv: " ".join(argv[1:]))
def test_documented_command_runs(argv: list[str]) -> None:
    script = SCRIPTS.get(argv[1])
    assert script is not None, f"{argv[1]} has no expected output in this test"
    for program in script.needs:
        if not found(program):
            _missing(f"{program} is not installed")
    if "--compare" in argv:
        rev = argv[argv.index("--compare") + 1]
        known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{rev}^{{commit}}"], check=False)
        if known.returncode != 0:
            pytest.skip(f"commit {rev} is not in this clone's history")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("FASTAUTH_")}
    result = subprocess.run(
        [sys.executable, *argv[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(argv)} exited with {result.returncode}:\n{result.stderr[-3000:]}"
    )
    missing = [line for line in script.expect if line not in result.stdout]
    if "--skip-growth" in argv:
        missing = [line for line in missing if line != "### Growth"]
    if "--skip-mixed" in argv:
        missing = [line for line in missing if line != "### Mixed workload"]
    if argv[1] == "bench/cli.py" and "--compare" in argv:
        rev = argv[argv.index("--compare") + 1]
        missing += [f"(commit {rev})"] if f"(commit {rev})" not in result.stdout else []
    assert not missing, f"{' '.join(argv)} did not print {missing}:\n{result.stdout[-3000:]}"
