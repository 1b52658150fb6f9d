"""The OpenAPI document is the HTTP contract: valid OpenAPI 3.1, a request body for every route that reads
one, every status a route answers with one error schema (`{"detail", "code"}`, the table's codes), the
headers that matter, and the JWKS under its own media type. Answers of a live app are held to it.

tests/web/test_schemathesis.py fuzzes a running `fastauth serve` against the same document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from openapi_spec_validator import validate
from pydantic import Field

from fastauth import FastAuthConfig
from fastauth.fields import SetOnce, UserFields, Writable
from fastauth.server import create_app
from fastauth.web.errors import PUBLIC_CODE, TABLE
from support.http import bearer

#: The routes that read a body, and whether it may be left out.
BODIES = {
    ("post", "/auth/register"): True,
    ("post", "/auth/login"): True,
    ("post", "/auth/refresh"): False,
    ("post", "/auth/logout"): False,
    ("post", "/auth/token"): True,
    ("patch", "/auth/me"): False,  # no body changes nothing
    ("delete", "/auth/me"): False,
    ("post", "/auth/change-password"): True,
    ("post", "/auth/change-email"): True,
    ("post", "/auth/change-email/confirm"): True,
    ("post", "/auth/request-verify-token"): True,
    ("post", "/auth/verify"): True,
    ("post", "/auth/forgot-password"): True,
    ("post", "/auth/reset-password"): True,
    ("post", "/auth/oauth/token"): True,
    ("post", "/auth/mfa/verify"): True,
    ("post", "/auth/mfa/totp/confirm"): True,
    ("post", "/auth/mfa/recovery-codes"): True,
    ("post", "/auth/mfa/totp/disable"): True,
    ("post", "/auth/mfa/passkey/options"): False,  # the MFA token may be in its cookie
    ("post", "/auth/passkeys/register/verify"): True,
    ("post", "/auth/passkeys/login/verify"): True,
    ("patch", "/auth/passkeys/{passkey_id}"): True,
    ("patch", "/auth/admin/users/{user_id}"): False,  # no body changes nothing
    ("post", "/auth/admin/roles"): True,
    ("patch", "/auth/admin/roles/{name}"): False,
    ("post", "/auth/api-keys"): True,
    ("post", "/auth/introspect"): True,
    ("post", "/auth/revoke"): True,
}
#: The routes for OAuth 2.0 clients: RFC 6749 form bodies and §5.2 errors, not fastauth's JSON.
OAUTH_FORMS = {"/auth/token", "/auth/introspect", "/auth/revoke"}
#: The statuses a route behind `get_current_user` always documents.
AUTHENTICATED = {"401", "403", "503"}


class Profile(UserFields):
    name: Annotated[str | None, Writable, Field(max_length=100)] = None
    username: Annotated[str | None, SetOnce, Field(min_length=3, max_length=30)] = None
    tenant_id: Annotated[str, Field(max_length=64)] = "default"


def document(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    config = FastAuthConfig(
        secret="s" * 64, database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", **settings
    )
    return create_app(config).openapi()


@pytest.fixture
def doc(tmp_path: Path) -> dict[str, Any]:
    return document(tmp_path, jwt={"algorithm": "EdDSA"}, revocation_list_enabled=True)


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return dict(doc["components"]["schemas"][ref.rsplit("/", 1)[1]])


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any], tmp_path: Path) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    validate(document(tmp_path / "hs", user_fields=Profile))  # HMAC, the application's fields


def test_every_route_that_reads_a_body_declares_it(doc: dict[str, Any]) -> None:
    declared = {(m, p): op["requestBody"] for m, p, op in operations(doc) if "requestBody" in op}
    assert set(declared) == set(BODIES)
    for key, required in BODIES.items():
        body = declared[key]
        assert body.get("required", False) is required, key
        if key[1] not in OAUTH_FORMS:
            assert "application/json" in body["content"], key
    assert set(declared["post", "/auth/login"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    form = declared["post", "/auth/token"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["grant_type"]


def test_every_error_is_one_schema_with_the_tables_codes(doc: dict[str, Any]) -> None:
    error = doc["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["detail", "code"]
    codes = set(PUBLIC_CODE.values())
    for method, path, op in operations(doc):
        for status, answer in op["responses"].items():
            if int(status) < 400 or path in OAUTH_FORMS:  # these speak RFC 6749 §5.2
                continue
            media = answer["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
            for name, example in media["examples"].items():
                assert name in codes and example["value"]["code"] == name, (method, path, status)
                assert TABLE[name].status == int(status), (method, path, status, name)
    # Never FastAPI's own validation schema: fastauth's 422 is the table's `invalid_body`.
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_routes_document_the_statuses_and_headers_they_answer_with(doc: dict[str, Any]) -> None:
    ops = {(m, p): op for m, p, op in operations(doc)}
    for key in [k for k, op in ops.items() if op.get("security")]:
        assert set(ops[key]["responses"]) >= AUTHENTICATED, key
        challenge = ops[key]["responses"]["401"]["headers"]
        assert "WWW-Authenticate" in challenge, key
    for key in BODIES:
        if key[1] not in OAUTH_FORMS:
            assert {"413", "422"} <= set(ops[key]["responses"]), key
    for (method, path), op in ops.items():
        if "429" in op["responses"]:
            assert "Retry-After" in op["responses"]["429"]["headers"], (method, path)
        if "503" in op["responses"]:
            assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)
    login = ops["post", "/auth/login"]["responses"]
    assert set(login) == {"200", "401", "403", "413", "422", "429", "503"}
    assert "Cache-Control" in login["200"]["headers"]
    assert login["401"]["content"]["application/json"]["examples"]["invalid_credentials"]["value"] == {
        "detail": "Invalid email or password",
        "code": "invalid_credentials",
    }
    assert {"409", "422", "429"} <= set(ops["post", "/auth/register"]["responses"])
    assert "404" in ops["delete", "/auth/sessions/{session_id}"]["responses"]
    assert "403" in ops["get", "/auth/admin/audit"]["responses"]
    # Logout reads an optional bearer token: secured, or not at all.
    assert ops["post", "/auth/logout"]["security"] == [{"OAuth2PasswordBearer": []}, {}]
    authorize = ops["get", "/auth/oauth/{provider}/authorize"]["responses"]
    assert {"200", "302", "400", "404"} <= set(authorize)
    assert "Location" in authorize["302"]["headers"]


def test_the_jwks_is_documented_as_served(doc: dict[str, Any]) -> None:
    jwks = doc["paths"]["/.well-known/jwks.json"]["get"]
    answers = jwks["responses"]
    assert set(answers["200"]["content"]) == {"application/jwk-set+json"}
    assert {"ETag", "Cache-Control"} <= set(answers["200"]["headers"])
    assert {"ETag", "Cache-Control"} <= set(answers["304"]["headers"])
    assert "content" not in answers["304"]
    assert answers["404"]["content"]["application/json"]["examples"]["no_jwks"]["value"]["code"] == "no_jwks"
    assert [p["name"] for p in jwks["parameters"]] == ["If-None-Match"]


def test_the_bodies_declare_the_applications_fields(tmp_path: Path) -> None:
    doc = document(tmp_path, user_fields=Profile)
    paths = doc["paths"]
    register = paths["/auth/register"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(register["properties"]) == {"email", "password", "name", "username"}  # not tenant_id
    assert register["required"] == ["email", "password"]
    update = paths["/auth/me"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(update["properties"]) == {"name"} and update["additionalProperties"] is False
    read = resolve(doc, paths["/auth/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"name", "username", "tenant_id", "email"} <= set(read["properties"])


async def test_live_answers_keep_to_the_document(make_app: Any) -> None:
    app = await make_app(jwt={"algorithm": "EdDSA"})
    client: httpx.AsyncClient = app.client
    token = (await app.register())["access_token"]

    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.headers["content-type"] == "application/jwk-set+json"
    again = await client.get("/.well-known/jwks.json", headers={"If-None-Match": jwks.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == jwks.headers["etag"]

    expired = await client.get("/auth/me", headers=bearer(token + "x"))
    assert (expired.status_code, expired.json()) == (
        401,
        {"detail": "Invalid or expired token", "code": "invalid_token"},
    )  # a signature check failed: the code never says which check
    none = await client.get("/auth/me")
    assert none.json() == {"detail": "Not authenticated", "code": "not_authenticated"}
    bad = await client.post("/auth/login", content=b"[", headers={"content-type": "application/json"})
    assert (bad.status_code, bad.json()) == (
        422,
        {"detail": "Request body is not valid JSON", "code": "invalid_body"},
    )
    query = await client.get("/auth/admin/audit", params={"limit": 0}, headers=bearer(token))
    assert query.status_code in (403, 422) and set(query.json()) == {"detail", "code"}
    wrong = await client.put("/auth/me", headers=bearer(token))
    assert (wrong.status_code, wrong.headers["allow"], wrong.json()["code"]) == (
        405,
        "DELETE, GET, PATCH",
        "method_not_allowed",
    )


async def test_the_jwks_of_an_hmac_server_is_a_documented_404(make_app: Any) -> None:
    app = await make_app()
    r = await app.client.get("/.well-known/jwks.json")
    assert r.status_code == 404
    assert r.json() == {
        "detail": "HS256 tokens are verified with the shared secret; no JWKS",
        "code": "no_jwks",
    }
