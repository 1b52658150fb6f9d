"""The Node toolchain shared by tests/node: `node`, with the packages pinned in package.json and
package-lock.json installed once per run (`npm ci` into tests/node/node_modules, ignored by git).

Without `node` and `npm` the tests are skipped (a failure in CI, which installs Debian's `nodejs` and `npm`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.servers import missing

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def node() -> Iterator[str]:
    """The `node` binary, with tests/node's pinned packages installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("node and npm not installed (apt-get install nodejs npm)")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    yield node
