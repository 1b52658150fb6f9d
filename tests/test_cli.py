"""The `fastauth` console script, run for real in a subprocess (as users run it)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from fastauth.keys.pem import load_pem_pair
from fastauth.tokens import KeyRing, SigningKey, TokenEngine
from support.forge import tampered
from support.servers import clean_env

FASTAUTH = shutil.which("fastauth", path=os.path.dirname(sys.executable))
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "full" / "generate_keys.py"
SECRET = "test-secret-" + "x" * 40  # long enough for HS256
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")

pytestmark = pytest.mark.skipif(FASTAUTH is None, reason="console script not installed (pip install -e .)")


def start(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    assert FASTAUTH is not None
    return subprocess.Popen(
        [FASTAUTH, *args],
        cwd=cwd,  # a tmp dir: no stray .env is read
        env=clean_env(**(env or {})),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        stdout, stderr = process.communicate(stdin, timeout=60)  # stdin is closed either way
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return finish(start(cwd, *args, env=env), stdin)


def run_all(
    cwd: Path, commands: list[list[str]], env: Mapping[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands run concurrently: most of each run is interpreter start-up."""
    processes = [start(cwd, *command, env=env) for command in commands]
    return [finish(process) for process in processes]


def hs256_engine(secret: str = SECRET) -> TokenEngine:
    # Built directly (not from FastAuthConfig) so the test process's own environment plays no part.
    return TokenEngine(KeyRing([SigningKey.from_secret(secret, "HS256")]))


def json_after_marker(stdout: str, marker: str) -> dict[str, dict[str, object]]:
    first, _, rest = stdout.partition("\n")
    assert first.startswith(marker), stdout
    value = json.loads(rest)
    assert isinstance(value, dict)
    return value


# --- generate-secret ----------------------------------------------------------------------------------


def test_generate_secret_is_86_urlsafe_chars_of_64_random_bytes(tmp_path: Path) -> None:
    first, second = run_all(tmp_path, [["generate-secret"], ["generate-secret"]])
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1  # nothing else on stdout
        secret = result.stdout.strip()
        assert len(secret) == 86
        assert URLSAFE.fullmatch(secret)
        assert len(base64.urlsafe_b64decode(secret + "==")) == 64
    assert first.stdout != second.stdout


# --- generate-keys ------------------------------------------------------------------------------------


def check_key_files(out: Path, algorithm: str, stdout: str) -> None:
    private_pem = (out / "private.pem").read_text()
    public_pem = (out / "public.pem").read_text()
    assert stat.S_IMODE((out / "private.pem").stat().st_mode) == 0o600
    serialization.load_pem_private_key(private_pem.encode(), password=None)
    serialization.load_pem_public_key(public_pem.encode())
    private, public = load_pem_pair(algorithm, private_pem, public_pem)  # checks they fit and match
    kid = SigningKey.from_keys(algorithm, private, public).kid
    assert f"kid: {kid}" in stdout
    assert str(out / "private.pem") in stdout and str(out / "public.pem") in stdout
    assert "PRIVATE KEY" not in stdout


def test_generate_keys_for_each_key_type(tmp_path: Path) -> None:
    algorithms = ["RS256", "ES256", "ES384", "ES512", "EdDSA"]  # RSA once: the slow one
    commands = [["generate-keys", "--algorithm", alg, "--out", str(tmp_path / alg)] for alg in algorithms]
    for algorithm, result in zip(algorithms, run_all(tmp_path, commands), strict=True):
        assert result.returncode == 0, (algorithm, result.stderr)
        check_key_files(tmp_path / algorithm, algorithm, result.stdout)
    private = serialization.load_pem_private_key((tmp_path / "RS256" / "private.pem").read_bytes(), None)
    assert getattr(private, "key_size", None) == 2048


def test_generate_keys_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    out.mkdir()
    (out / "private.pem").write_text("precious")
    refused = run(tmp_path, "generate-keys", "--algorithm", "ES256", "--out", str(out))
    assert refused.returncode != 0
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert (out / "private.pem").read_text() == "precious"
    assert not (out / "public.pem").exists()

    (out / "private.pem").chmod(0o644)  # the replacement must not inherit a wider mode
    forced = run(tmp_path, "generate-keys", "--algorithm", "ES256", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    check_key_files(out, "ES256", forced.stdout)
    assert sorted(p.name for p in out.iterdir()) == ["private.pem", "public.pem"]  # no temp files left


def test_generate_keys_refuses_weak_or_symmetric(tmp_path: Path) -> None:
    cases = {"bits-1024": (["RS256", "--bits", "1024"], "2048"), "HS256": (["HS256"], "generate-secret")}
    commands = [
        ["generate-keys", "--out", str(tmp_path / name), "--algorithm", *args]
        for name, (args, _) in cases.items()
    ]
    for (name, (_, message)), result in zip(cases.items(), run_all(tmp_path, commands), strict=True):
        assert result.returncode == 2, name
        assert message in result.stderr, (name, result.stderr)
        assert result.stdout == ""
        assert not (tmp_path / name).exists()


# --- decode -------------------------------------------------------------------------------------------


def test_decode_unverified_is_marked(tmp_path: Path) -> None:
    issued = hs256_engine().issue_access("user-1", "session-1")
    result = run(tmp_path, "decode", issued.token)  # no configuration needed
    assert result.returncode == 0, result.stderr
    shown = json_after_marker(result.stdout, "UNVERIFIED")
    assert shown["claims"] == issued.claims
    assert shown["header"]["alg"] == "HS256" and shown["header"]["typ"] == "at+jwt"


def test_decode_verify_accepts_a_valid_token(tmp_path: Path) -> None:
    issued = hs256_engine().issue_access("user-1", "session-1")
    result = run(tmp_path, "decode", "--verify", issued.token, env={"FASTAUTH_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    shown = json_after_marker(result.stdout, "VERIFIED")
    assert shown["claims"] == issued.claims
    assert "UNVERIFIED" not in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_decode_verify_refresh_type(tmp_path: Path) -> None:
    engine = hs256_engine()
    refresh = engine.issue_refresh("user-1", "session-1").token
    env = {"FASTAUTH_SECRET": SECRET}
    accepted = run(tmp_path, "decode", "--verify", "--type", "refresh", refresh, env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert json_after_marker(accepted.stdout, "VERIFIED")["claims"]["type"] == "refresh"
    refused = run(tmp_path, "decode", "--verify", refresh, env=env)  # expected: access
    assert refused.returncode == 1
    assert refused.stderr.startswith("REFUSED:")


def test_decode_verify_refuses_with_reason_and_never_echoes_the_token(tmp_path: Path) -> None:
    engine = hs256_engine()
    cases = {  # token, expected reason
        "tampered": (
            tampered(engine.issue_access("user-1", "s").token, sub="admin"),
            "signature does not verify",
        ),
        "other secret": (hs256_engine("another-" + SECRET).issue_access("user-1", "s").token, "unknown kid"),
        "expired": (engine.issue_access("user-1", "s", now=1_000_000).token, "expired"),
    }
    commands = [["decode", "--verify", token] for token, _ in cases.values()]
    results = run_all(tmp_path, commands, env={"FASTAUTH_SECRET": SECRET})
    for (name, (token, reason)), result in zip(cases.items(), results, strict=True):
        assert result.returncode == 1, name
        assert result.stdout == ""
        assert result.stderr.startswith("REFUSED: ") and reason in result.stderr, (name, result.stderr)
        output = result.stdout + result.stderr
        for part in [token, *token.split(".")]:
            assert part not in output
        assert SECRET not in output


def test_decode_garbage_is_a_one_line_error(tmp_path: Path) -> None:
    garbage = [
        ["not-a-token"],
        ["x" * 10_000],  # over the size limit
        ["e30.e30.e30.e30"],  # four segments
        ["--verify", "e30.e30.e30.e30"],
    ]
    commands = [["decode", *flags[:-1], "--", flags[-1]] for flags in garbage]
    results = run_all(tmp_path, commands, env={"FASTAUTH_SECRET": SECRET})
    for command, result in zip(commands, results, strict=True):
        assert result.returncode == 1, (command[:3], result.stderr)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert command[-1] not in result.stderr


def test_decode_reads_the_token_from_stdin(tmp_path: Path) -> None:
    issued = hs256_engine().issue_access("user-1", "session-1")
    result = run(
        tmp_path, "decode", "--verify", "-", env={"FASTAUTH_SECRET": SECRET}, stdin=issued.token + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert json_after_marker(result.stdout, "VERIFIED")["claims"] == issued.claims
    empty = run(tmp_path, "decode", "-", stdin="")
    assert empty.returncode == 1 and "no token" in empty.stderr


def test_decode_verify_configuration_error_exits_2_without_the_secret(tmp_path: Path) -> None:
    token = hs256_engine().issue_access("user-1", "s").token
    short_secret = "short-secret-value"
    result = run(tmp_path, "decode", "--verify", token, env={"FASTAUTH_SECRET": short_secret})
    assert result.returncode == 2
    assert "too short" in result.stderr
    assert "Traceback" not in result.stderr
    assert short_secret not in result.stdout + result.stderr
    missing = run(tmp_path, "decode", "--verify", token)  # no secret at all
    assert missing.returncode == 2 and "secret" in missing.stderr


def test_rs256_keys_from_the_cli_verify_tokens(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    made = run(tmp_path, "generate-keys", "--algorithm", "RS256", "--out", str(out))
    assert made.returncode == 0, made.stderr
    private_pem = (out / "private.pem").read_text()
    engine = TokenEngine(KeyRing([SigningKey.from_pem("RS256", private_pem)]))
    issued = engine.issue_access("user-1", "session-1")
    env = {
        "FASTAUTH_JWT__ALGORITHM": "RS256",
        "FASTAUTH_JWT__PRIVATE_KEY": private_pem,
        "FASTAUTH_SECRET": "still-required-for-the-config",  # the FastAuth docs' example
    }
    result = run(tmp_path, "decode", "--verify", issued.token, env=env)
    assert result.returncode == 0, result.stderr
    assert json_after_marker(result.stdout, "VERIFIED")["claims"] == issued.claims
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert "still-required-for-the-config" not in result.stdout + result.stderr


# --- examples/full/generate_keys.py -------------------------------------------------------------------


def run_example(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(EXAMPLE), *args]
    return subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=60)


def test_example_generate_keys_script(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    result = run_example(tmp_path, "--algorithm", "ES256", "--out", str(out))
    assert result.returncode == 0, result.stderr
    check_key_files(out, "ES256", result.stdout)
    again = run_example(tmp_path, "--algorithm", "ES256", "--out", str(out))
    assert again.returncode != 0 and "already exists" in again.stderr
