"""Node resource servers accept fastauth's access tokens: `jose`'s `jwtVerify` with `typ: "at+jwt"` and
oauth4webapi's `validateJwtAccessToken` (RFC 9068), against a live `fastauth serve` found through its RFC
8414 metadata and JWKS, for RS256 and ES256. Refresh tokens are refused by both.

The Node packages are pinned in tests/node/package.json and package-lock.json and installed by the `node`
fixture of tests/node/conftest.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.servers import clean_env, fastauth_serve, free_port, register, running

HERE = Path(__file__).resolve().parent
SECRET = "node-verifiers-" + "x" * 50
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.timeout(180)


def _verify(node: str, issuer: str, tokens: dict[str, str]) -> dict[str, Any]:
    argument = json.dumps({"issuer": issuer, "audience": "fastauth", "tokens": tokens})
    result = subprocess.run(
        [node, "verify.mjs", argument], cwd=HERE, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_node_verifiers_accept_access_tokens_and_refuse_refresh_tokens(
    node: str, algorithm: str, tmp_path: Path
) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = clean_env(
        FASTAUTH_SECRET=SECRET,
        FASTAUTH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
        FASTAUTH_JWT__ALGORITHM=algorithm,
        FASTAUTH_PUBLIC_URL=issuer,  # the issuer follows it
        FASTAUTH_RATE_LIMIT_ENABLED="false",
        FASTAUTH_UI_ENABLED="false",
    )
    with running(fastauth_serve(tmp_path, env, port=port)) as (server,):
        registered = register(server.base, "node@example.com", PASSWORD)
        form = {"grant_type": "password", "username": "node@example.com", "password": PASSWORD}
        granted = httpx.post(f"{server.base}/auth/token", data=form, timeout=30)
        assert granted.status_code == 200, granted.text
        refresh = {"grant_type": "refresh_token", "refresh_token": granted.json()["refresh_token"]}
        refreshed = httpx.post(f"{server.base}/auth/token", data=refresh, timeout=30)
        assert refreshed.status_code == 200, refreshed.text
        tokens = {
            "registered": registered["access_token"],
            "password grant": granted.json()["access_token"],
            "refresh grant": refreshed.json()["access_token"],
            "refresh token": refreshed.json()["refresh_token"],
        }
        said = _verify(node, issuer, tokens)
        assert server.unhandled() is None

    meta = said["metadata"]
    assert (meta["issuer"], meta["token_endpoint"]) == (issuer, f"{issuer}/auth/token")
    for name in ("registered", "password grant", "refresh grant"):
        for library in ("jose", "oauth4webapi"):
            outcome = said["results"][name][library]
            assert outcome["ok"], (name, library, outcome)
            claims = outcome["claims"]
            assert (claims["iss"], claims["aud"], claims["client_id"]) == (
                issuer,
                ["fastauth"],
                "fastauth",
            ), name
    refused = said["results"]["refresh token"]
    assert not refused["jose"]["ok"] and '"typ"' in refused["jose"]["error"], refused
    assert not refused["oauth4webapi"]["ok"] and '"typ"' in refused["oauth4webapi"]["error"], refused
