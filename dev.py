#!/usr/bin/env python3
"""Quick-start helper that needs nothing but Python 3.11+.

    python3 dev.py serve [ARGS]   # a development auth server (`fastauth serve`) on SQLite
    python3 dev.py test [ARGS]    # the whole test suite (pytest ARGS)

It creates `.venv/` beside this file on first use and re-installs when `pyproject.toml` changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit("fastauth needs Python 3.11 or newer.")
    if not PYTHON.exists():
        print("dev.py: creating .venv ...", file=sys.stderr)
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".fastauth-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        print("dev.py: installing fastauth and its test tools into .venv ...", file=sys.stderr)
        pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{ROOT}[all,test]"], check=True)
        stamp.write_text(wanted)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test"}:
        sys.exit(__doc__)
    ensure_env()
    command, args = sys.argv[1], sys.argv[2:]
    if command == "serve":
        argv = [str(BIN / "fastauth"), "serve", *args]
    else:
        argv = [str(PYTHON), "-m", "pytest", *args]
    os.chdir(ROOT)
    if os.name == "nt":
        sys.exit(subprocess.call(argv))
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
