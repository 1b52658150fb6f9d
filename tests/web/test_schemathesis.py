"""Schemathesis (4.x) against a running `fastauth serve`: every check, every phase (examples, coverage,
fuzzing, stateful), signed in as a user, bounded in time; it must find nothing but `ACCEPTED`.

What the document cannot say is said in the configuration: a schema-valid but unknown mailed or
one-time code, or a password that is not the account's, is refused (400) by design; a second
registration of the document's example address is refused (409); email-validator refuses some
addresses JSON Schema's `email` format allows (422 `invalid_email`). `GET /auth/reset-password` is the
sign-in page's HTML page that the mailed link opens (not an API operation, so not in the document),
which `unsupported_method` reports for the POST route: the one accepted finding. A schema-valid
WebAuthn answer no authenticator made is refused (400 invalid_passkey), as is a passkey name with
control characters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from support.servers import clean_env, serve

ST = shutil.which("st", path=os.path.dirname(sys.executable))
#: The run's budget: the whole test stays well under two minutes.
MAX_TIME = 60

#: Findings that are not bugs: none.
ACCEPTED: list[tuple[str, list[str]]] = []

CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404"]

# Signed in as the user the test registers; a new token whenever the fuzzer has ended its sessions.
[auth.dynamic.openapi.OAuth2PasswordBearer]
path = "/auth/login"
payload = { email = "fuzz@example.com", password = "password123" }
extract_selector = "/access_token"
retry_on = [401]

# 409: the document's example address, registered twice; 422: email-validator refuses addresses the
# `email` format allows (special-use domains such as `.test`).
[[operations]]
include-path = "/auth/register"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-path = "/auth/reset-password"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-path = ["/auth/verify", "/auth/change-email/confirm", "/auth/oauth/token"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

# A schema-valid password that is not the account's: 400 current_password_wrong.
[[operations]]
include-path = ["/auth/change-password", "/auth/change-email"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

# A schema-valid TOTP or recovery code that is not the current one: 400 invalid_mfa_code, by design.
[[operations]]
include-path = ["/auth/mfa/totp/confirm", "/auth/mfa/totp/disable", "/auth/mfa/recovery-codes", "/auth/mfa/verify"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

# A schema-valid WebAuthn answer that no authenticator made: 400 invalid_passkey, by design; second-
# factor options for a sign-in that is not pending: 400 invalid_code.
[[operations]]
include-path = ["/auth/passkeys/register/verify", "/auth/passkeys/login/verify", "/auth/mfa/passkey/options"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

# A schema-valid but unclean name (control characters, only spaces): 400 invalid_passkey.
[[operations]]
include-path = "/auth/passkeys/{passkey_id}"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

# Schema-valid scopes the user does not hold, a lifetime over api_key_max_ttl, or the 51st live key:
# 400 invalid_scope, by design.
[[operations]]
include-path = "/auth/api-keys"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-path = "/auth/me"
include-method = "DELETE"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]
"""


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    assert ST, "schemathesis is in the test extra"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    # Rate limits off: the fuzzer's thousands of logins would otherwise be (rightly) throttled.
    # Passkeys on (the server listens on 127.0.0.1, an IP, so the relying party is given): the fuzzer
    # reaches every passkey route's own checks instead of 501 passkeys_off.
    env = clean_env(
        FASTAUTH_RATE_LIMIT_ENABLED="false",
        FASTAUTH_PASSKEYS__RP_ID="localhost",
        FASTAUTH_PASSKEYS__ORIGINS='["http://localhost"]',
    )
    with serve(tmp_path, env) as process:
        base = process.base
        r = httpx.post(f"{base}/auth/register", json={"email": "fuzz@example.com", "password": "password123"})
        assert r.status_code == 201, r.text
        result = subprocess.run(
            [
                ST,
                "--config-file",
                str(config),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                "15",
                "--max-time",
                str(MAX_TIME),
                "--seed",
                "16",
                "--workers",
                "2",
                "--generation-database",
                "none",
                "--request-timeout",
                "10",
                "--report",
                "json",
                "--report-json-path",
                str(tmp_path / "report.json"),
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=MAX_TIME + 60,
        )
        unhandled = process.unhandled()
    output = result.stdout[-12000:] + result.stderr[-3000:]
    assert unhandled is None, unhandled
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["complete"] and report["errors"] == [], output
    assert report["operations"]["tested"] == report["operations"]["total"] >= 25, output
    ran = {name: phase["status"] for name, phase in report["phases"].items()}
    assert set(ran) == {"examples", "coverage", "fuzzing", "stateful"}, ran
    assert "skip" not in ran.values() and "error" not in ran.values(), ran
    found = [(f["code"], sorted(f["operations"])) for f in report["failures"]]
    assert [f for f in found if f not in ACCEPTED] == [], output
