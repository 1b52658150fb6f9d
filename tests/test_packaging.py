"""The package as users get it: `python -m build` makes the sdist and, from it, the wheel; the wheel holds
every file of `src/fastauth` (migrations, templates, static files, `py.typed`); installed with its
dependencies into a new venv (no site packages, pip from the package index), its `fastauth serve` serves
the sign-in page, the API docs with their local assets, and migrates a new SQLite database to the head.

One test, about 30 s with a warm pip cache (most of it the install into the venv).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from support.servers import Process, clean_env, free_port

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "fastauth"
MIGRATIONS = PACKAGE / "storage" / "migrations"


def _run(*argv: str | Path, timeout: float = 240, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    assert result.returncode == 0, f"{argv[:4]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _source_files() -> set[str]:
    """Every file of the package in the source tree, as the wheel names it (`fastauth/...`)."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.timeout(420)
def test_the_built_wheel_installs_into_a_clean_venv_and_serves(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    (wheel,) = dist.glob("fastauth-*.whl")
    (sdist,) = dist.glob("fastauth-*.tar.gz")

    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "src/fastauth/__init__.py"} <= in_sdist

    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        (metadata,) = (n for n in in_wheel if n.endswith(".dist-info/METADATA"))
        requires = re.findall(r"^Requires-Dist: ([A-Za-z0-9_.-]+)", archive.read(metadata).decode(), re.M)
    assert _source_files() <= in_wheel, sorted(_source_files() - in_wheel)
    revisions = sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py"))
    assert revisions and all(f"fastauth/storage/migrations/versions/{r}" in in_wheel for r in revisions)
    for name in (
        "fastauth/py.typed",
        "fastauth/storage/migrations/script.py.mako",
        "fastauth/mail/templates/verify_email.html",
        "fastauth/mail/templates/reset_password.txt",
        "fastauth/ui/templates/index.html",
        "fastauth/ui/static/app.js",
        "fastauth/ui/static/style.css",
    ):
        assert name in in_wheel, name
    assert "fastapi-standalone-docs" in requires  # the Swagger UI and ReDoc files /docs and /redoc load

    # A new venv of the base interpreter (not this one's packages), the wheel installed with its deps.
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    env = {k: v for k, v in clean_env().items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, env=env, timeout=360)
    where = _run(
        venv / "bin" / "python", "-c", "import fastauth; print(fastauth.__file__)", env=env, cwd=tmp_path
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout

    work = tmp_path / "work"
    work.mkdir()
    db = work / "auth.db"
    env["FASTAUTH_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"  # and no secret: development mode
    port = free_port()
    argv = [str(venv / "bin" / "fastauth"), "serve", "--port", str(port), "--log-level", "warning"]
    server = Process(argv, work, env, port, name="installed").wait_ready()
    try:
        base = server.base
        page = httpx.get(f"{base}/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'id="login-form"' in page.text
        for asset in re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', page.text):
            assert httpx.get(f"{base}{asset}").status_code == 200, asset

        for path, marker in (("/docs", "SwaggerUIBundle"), ("/redoc", "<redoc")):
            html = httpx.get(f"{base}{path}")
            assert html.status_code == 200 and marker in html.text, path
            assert "https://" not in html.text and "http://" not in html.text, path  # nothing from a CDN
            assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html.text)
            assert len(assets) >= 2, assets
            for asset in assets:
                assert asset.startswith(path + "/"), asset
                assert httpx.get(f"{base}{asset}").status_code == 200, asset

        registered = httpx.post(
            f"{base}/auth/register", json={"email": "wheel@example.com", "password": "password123"}
        )
        assert registered.status_code == 201, registered.text
    finally:
        output = server.stop()
    assert server.unhandled() is None, output

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM fastauth_alembic_version").fetchall() == [(head,)]
    checked = _run(venv / "bin" / "fastauth", "db", "check", env=env, cwd=work)
    assert "up to date" in checked.stdout
