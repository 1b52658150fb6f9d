"""`fastauth serve` keeps the mailed codes out of its access log: a link's `?token=` is logged as `***`."""

from __future__ import annotations

from pathlib import Path

import httpx

from support.servers import clean_env, fastauth_serve, running


def test_the_access_log_never_holds_a_code(tmp_path: Path) -> None:
    secret_code = "NotARealCodeButLongEnough_0123456789abcdef"
    with running(fastauth_serve(tmp_path, clean_env(), "--log-level", "info")) as (server,):
        for method in ("GET", "HEAD"):
            for path in ("/auth/reset-password", "/auth/verify-email", "/auth/confirm-email-change"):
                r = httpx.request(method, f"{server.base}{path}?token={secret_code}&x=1", timeout=10)
                assert r.status_code == 200
        # A provider's code and the state at a sign-in callback (refused here: no such provider).
        httpx.get(
            f"{server.base}/auth/oauth/google/callback?code={secret_code}&state={secret_code}", timeout=10
        )
    log = server.log_path.read_text()
    assert "GET /auth/oauth/google/callback?code=***&state=***" in log
    assert "GET /auth/reset-password?token=***&x=1" in log
    assert "HEAD /auth/verify-email?token=***&x=1" in log
    assert secret_code not in log
