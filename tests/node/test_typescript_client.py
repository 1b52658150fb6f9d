"""A TypeScript client generated from the served OpenAPI document can call the API (issue 16).

Against a live `fastauth serve`: its `/openapi.json` goes through `openapi-typescript` into `api.d.ts`;
tests/node/client.ts, a small program on openapi-fetch's `createClient<paths>()` (register, sign in with the
JSON body, refresh, list the sessions with the bearer token, sign out, then see both tokens refused), is checked
by `tsc --noEmit --strict`, compiled and run against the server, and every step's status is asserted.

The check is real: the program takes its bodies and reads its answers only through the generated types, so a
copy with a misspelt body field, and the same program against a document without the sign-in route's request
body or with the sessions' answer typed `unknown`, fail tsc.

openapi-typescript, openapi-fetch and typescript are pinned in tests/node/package.json (installed by the `node`
fixture of tests/node/conftest.py); `npx --no-install` never downloads anything.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.servers import Process, clean_env, fastauth_serve, running

HERE = Path(__file__).resolve().parent
SECRET = "typescript-client-" + "x" * 50
#: Type-check only; `tsc` emits nothing and exits 2 on any error.
TSC_CHECK = ["--noEmit", "--strict", "--target", "es2022", "--module", "nodenext"]
TSC_CHECK += ["--moduleResolution", "nodenext", "--lib", "es2022,dom"]
#: The marked line of client.ts that the negative check spoils.
LOGIN_BODY = "body: { email, password }, // login"

pytestmark = pytest.mark.timeout(180)


@dataclass
class Generated:
    server: Process
    document: dict[str, Any]
    project: Path  # api.d.ts, server.ts, client.ts, package.json and node_modules (a link to tests/node's)


def _run(argv: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def _project(root: Path, document: dict[str, Any], base: str, source: str) -> Path:
    """A directory with `source` as client.ts, the types openapi-typescript generates from `document` as
    api.d.ts, `server.ts` exporting `baseUrl`, and tests/node's packages; fails when generation fails."""
    root.mkdir()
    (root / "node_modules").symlink_to(HERE / "node_modules", target_is_directory=True)
    (root / "package.json").write_text('{"private": true, "type": "module"}\n')
    (root / "openapi.json").write_text(json.dumps(document))
    (root / "server.ts").write_text(f"export const baseUrl = {json.dumps(base)};\n")
    (root / "client.ts").write_text(source)
    result = _run(["npx", "--no-install", "openapi-typescript", "openapi.json", "-o", "api.d.ts"], root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def _tsc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(["npx", "--no-install", "tsc", *args, "client.ts"], project)


@pytest.fixture(scope="module")
def generated(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """A running `fastauth serve`, and a project typed from the document it serves."""
    tmp = tmp_path_factory.mktemp("typescript-client")
    env = clean_env(
        FASTAUTH_SECRET=SECRET,
        FASTAUTH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'auth.db'}",
        FASTAUTH_RATE_LIMIT_ENABLED="false",
        FASTAUTH_UI_ENABLED="false",
    )
    with running(fastauth_serve(tmp, env)) as (server,):
        answer = httpx.get(f"{server.base}/openapi.json", timeout=30)
        assert answer.status_code == 200, answer.text
        document = answer.json()
        source = (HERE / "client.ts").read_text()
        yield Generated(server, document, _project(tmp / "client", document, server.base, source))
        assert server.unhandled() is None


def test_the_generated_client_type_checks_and_signs_in_refreshes_lists_and_signs_out(
    node: str, generated: Generated
) -> None:
    project = generated.project
    checked = _tsc(project, *TSC_CHECK)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    built = _tsc(project, *TSC_CHECK[1:], "--outDir", "build")
    assert built.returncode == 0, built.stdout + built.stderr
    ran = _run([node, "build/client.js"], project)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    steps = json.loads(ran.stdout)

    statuses = {step: said["status"] for step, said in steps.items()}
    assert statuses == {
        "register": 201,
        "login": 200,
        "refresh": 200,
        "sessions": 200,
        "logout": 204,
        "refresh after logout": 401,
        "sessions after logout": 401,
    }
    for step in ("register", "login", "refresh"):
        assert steps[step]["token_type"] == "bearer" and steps[step]["expires_in"] > 0, steps[step]
    # Registering and signing in made two sessions; the refreshed one is the caller's.
    assert (steps["sessions"]["count"], steps["sessions"]["current"]) == (2, 1), steps["sessions"]
    assert steps["refresh after logout"]["code"] == "invalid_token"
    assert steps["sessions after logout"]["code"] == "invalid_token"


def test_a_wrong_body_field_fails_the_type_check(generated: Generated, tmp_path: Path) -> None:
    source = (HERE / "client.ts").read_text()
    assert source.count(LOGIN_BODY) == 1
    wrong = source.replace(LOGIN_BODY, "body: { email, pasword: password }, // login")
    project = _project(tmp_path / "wrong", generated.document, generated.server.base, wrong)
    checked = _tsc(project, *TSC_CHECK)
    assert checked.returncode != 0, checked.stdout
    assert "client.ts(" in checked.stdout and "'pasword' does not exist" in checked.stdout, checked.stdout


@pytest.mark.parametrize(
    ("gap", "message"),
    [
        ("no request body for POST /auth/login", "is not assignable to type 'undefined'"),
        ("GET /auth/sessions answers an empty schema", "Type 'unknown' is not assignable"),
    ],
    ids=["login-without-body", "sessions-answer-unknown"],
)
def test_a_gap_in_the_document_fails_the_type_check(
    generated: Generated, tmp_path: Path, gap: str, message: str
) -> None:
    document = json.loads(json.dumps(generated.document))
    if gap.startswith("no request body"):
        del document["paths"]["/auth/login"]["post"]["requestBody"]
    else:
        answer = document["paths"]["/auth/sessions"]["get"]["responses"]["200"]
        answer["content"]["application/json"]["schema"] = {}
    source = (HERE / "client.ts").read_text()
    project = _project(tmp_path / "gap", document, generated.server.base, source)
    checked = _tsc(project, *TSC_CHECK)
    assert checked.returncode != 0, checked.stdout
    assert message in checked.stdout, checked.stdout
