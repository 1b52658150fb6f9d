"""`fastauth --help` and `fastauth generate-secret` import only what they need (start-up time).

The timings live in docs/benchmarks.md ("Command line"); these tests check which modules a command
loads, which is what the timings follow from.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("fastauth.config", "pydantic_settings", "cryptography", "joserfc", "fastapi", "sqlalchemy")


def imported_by(*args: str, watch: tuple[str, ...] = HEAVY) -> tuple[int, list[str], str]:
    """Run the CLI with `args` in a fresh interpreter: exit code, the `watch` modules loaded, stdout."""
    script = (
        "import json, sys\n"
        "args = json.loads(sys.argv[1])\n"
        "sys.argv = ['fastauth', *args]\n"
        "from fastauth.cli import main\n"
        "try:\n"
        "    main()\n"
        "    code = 0\n"
        "except SystemExit as exit:\n"
        "    code = exit.code or 0\n"
        f"heavy = [m for m in {watch!r} if m in sys.modules]\n"
        "print(json.dumps([code, heavy]), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    code, heavy = json.loads(result.stderr.strip().splitlines()[-1])
    return code, heavy, result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["generate-secret"],
        ["generate-keys", "--help"],
        ["decode", "--help"],
        ["keys", "--help"],
        ["create-user", "--help"],
        ["serve", "--help"],
    ],
)
def test_cheap_commands_import_no_heavy_module(args: list[str]) -> None:
    code, heavy, stdout = imported_by(*args)
    assert code == 0
    assert stdout.strip()
    assert heavy == []


def test_the_probe_sees_what_a_command_imports() -> None:
    # A command that needs the token code still loads it, inside the command.
    code, loaded, stdout = imported_by("decode", "not-a-token", watch=("fastauth.tokens.codec",))
    assert code == 1
    assert stdout == ""
    assert loaded == ["fastauth.tokens.codec"]


def test_decode_offers_the_token_kinds_of_the_library() -> None:
    from fastauth.cli import tokens
    from fastauth.tokens import ACCESS, REFRESH

    assert [kind.value for kind in tokens.TokenKind] == [ACCESS, REFRESH]
