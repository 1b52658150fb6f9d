"""A test run stopped with SIGTERM (`timeout`, a CI runner) still stops the servers its fixtures started."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.servers import clean_env, eventually, listening

TESTS = Path(__file__).resolve().parent
PROBE = """


def test_hold(redis_server: str) -> None:
    print("URL", redis_server, flush=True)
    time.sleep(120)
"""


@pytest.mark.redis
def test_sigterm_tears_the_session_fixtures_down(tmp_path: Path, redis_server: str) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "conftest",
            "-p",
            "no:cacheprovider",
            "test_probe.py",
        ],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(TESTS)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("URL "):
                break
        else:
            pytest.fail("the probe run never reached its test:\n" + "".join(lines))
        port = int(line.split()[1].rsplit(":", 1)[1].split("/")[0])
        assert listening(port)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert eventually(lambda: not listening(port), timeout=10), "redis-server outlived the stopped run"
