"""oauth4webapi (Node) introspects and revokes at a live `fastauth serve`: it finds both endpoints in the
RFC 8414 metadata, reads the RFC 7662 answers, takes the RFC 6749 error body of a refused caller, and a
revocation of the refresh token ends the session. The caller's bearer credential is its `ClientAuth`.

The Node packages are pinned in tests/node/package.json and installed by the `node` fixture."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from support.servers import clean_env, fastauth_serve, free_port, login, register, running

HERE = Path(__file__).resolve().parent
SECRET = "node-introspection-" + "x" * 50
PASSWORD = "correct horse battery"
ROOT = "root@example.com"

pytestmark = pytest.mark.timeout(180)


def test_oauth4webapi_introspects_and_revokes(node: str, tmp_path: Path) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = clean_env(
        FASTAUTH_SECRET=SECRET,
        FASTAUTH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
        FASTAUTH_JWT__ALGORITHM="ES256",
        FASTAUTH_PUBLIC_URL=issuer,  # the issuer follows it
        FASTAUTH_RATE_LIMIT_ENABLED="false",
        FASTAUTH_AUTHZ__FIRST_SUPERUSER_EMAIL=ROOT,
        FASTAUTH_AUTHZ__FIRST_SUPERUSER_PASSWORD=PASSWORD,
    )
    with running(fastauth_serve(tmp_path, env, port=port)) as (server,):
        root = login(server.base, ROOT, PASSWORD)
        made = httpx.post(
            f"{server.base}/auth/api-keys",
            json={"name": "node resource server", "scopes": ["fastauth:introspect"]},
            headers={"Authorization": f"Bearer {root['access_token']}"},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        ada = register(server.base, "ada@example.com", PASSWORD)
        argument = json.dumps(
            {
                "issuer": issuer,
                "key": made.json()["key"],
                "access": ada["access_token"],
                "refresh": ada["refresh_token"],
            }
        )
        result = subprocess.run(
            [node, "introspect.mjs", argument],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        said = json.loads(result.stdout)
        assert server.unhandled() is None
    assert said["endpoints"] == {
        "introspection": f"{issuer}/auth/introspect",
        "revocation": f"{issuer}/auth/revoke",
    }
    live = said["live"]
    assert live["ok"] and live["value"]["active"] is True and live["value"]["token_use"] == "access_token"
    assert live["value"]["username"] == "ada@example.com"
    assert said["garbage"] == {"ok": True, "value": {"active": False}}
    # A person's access token as the caller: the RFC 6750 challenge, which oauth4webapi reads first.
    assert said["byAPerson"] == {
        "ok": False,
        "challenges": [{"scheme": "bearer", "error": "insufficient_scope", "scope": "fastauth:introspect"}],
        "status": 403,
    }
    assert said["revoked"] == {"ok": True, "value": None}
    assert said["afterwards"] == {"ok": True, "value": {"active": False}}
