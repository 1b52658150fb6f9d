"""The OpenAPI side of the HTTP contract: one error schema, each route's answers named by their codes
(built from the error table, `fastauth.web.errors.TABLE`), and the request bodies the routes read by hand.

Routes read their bodies themselves (`fastauth.web.requests`: a size cap held while streaming), so
FastAPI sees no body parameter; `body(...)` declares it for the document through `openapi_extra`.
A route names the codes it can answer once: `responses=answers("invalid_credentials", ...)` documents
each status with `ErrorOut`, the headers that come with it and an example per code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from fastauth.fields import UserFields, describe
from fastauth.web.errors import PUBLIC_CODE, TABLE

__all__ = [
    "AUTH",
    "BODY",
    "EMAIL",
    "NO_STORE_HEADERS",
    "OAUTH_AUTHORIZE",
    "OAUTH_CALLBACK",
    "OAUTH_EXCHANGE",
    "REDIRECT_DOC",
    "ErrorOut",
    "answers",
    "body",
    "no_store",
    "password_schema",
    "register_schema",
    "update_me_schema",
    "with_properties",
]

#: What every route behind `get_current_user` can answer (a cookie-borne token on an unsafe method
#: may also fail its CSRF check).
AUTH = ("not_authenticated", "invalid_token", "csrf_failed", "store_unavailable")
#: What every route that reads a body can answer.
BODY = ("body_too_large", "invalid_body")

_HEADERS: Mapping[str, dict[str, Any]] = {
    "WWW-Authenticate": {
        "description": 'The Bearer challenge (RFC 6750), e.g. `Bearer error="invalid_token"`',
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}},
}
#: `Cache-Control: no-store` on an answer that carries tokens or per-user data.
NO_STORE_HEADERS: Mapping[str, dict[str, Any]] = {
    "Cache-Control": {"description": "`no-store`: never cached", "schema": {"type": "string"}},
}


class ErrorOut(BaseModel):
    """Every error answer of fastauth's routes: the text, and the error table's stable code."""

    detail: str = Field(description="What went wrong, for people (never a secret, never an input's value)")
    code: str = Field(
        description="The stable code of the error table (docs/architecture.md); every token refusal "
        "is `invalid_token`",
        json_schema_extra={"examples": ["invalid_token"]},
    )


def _example_detail(code: str) -> str:
    answer = TABLE[code]
    return answer.detail if answer.detail is not None else answer.prefix + "(the error's own message)"


def answers(
    *codes: str, extra: Mapping[int, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for the error `codes` (grouped by status, each with `ErrorOut`, its headers
    and an example per code), plus `extra` (success answers: headers, other statuses)."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        public = PUBLIC_CODE[code]  # KeyError: a code that is not in the table
        listed = by_status.setdefault(TABLE[code].status, [])
        if public not in listed:
            listed.append(public)
    out: dict[int | str, dict[str, Any]] = {}
    for status, listed in sorted(by_status.items()):
        headers: dict[str, Any] = {}
        for code in listed:
            for name in TABLE[code].headers:
                headers[name] = _HEADERS.get(name, {"schema": {"type": "string"}})
            if code == "rate_limited":
                headers["Retry-After"] = _HEADERS["Retry-After"]
        entry: dict[str, Any] = {
            "model": ErrorOut,
            "description": ", ".join(f"`{code}`" for code in listed),
            "content": {
                "application/json": {
                    "examples": {
                        code: {"value": {"detail": _example_detail(code), "code": code}} for code in listed
                    }
                }
            },
        }
        if headers:
            entry["headers"] = headers
        out[status] = entry
    for status, value in (extra or {}).items():
        out[status] = {**out.get(status, {}), **value}
    return out


def no_store(description: str = "Success") -> dict[str, Any]:
    """A success answer's entry with `Cache-Control: no-store`, for `answers(extra=...)`."""
    return {"description": description, "headers": dict(NO_STORE_HEADERS)}


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    """`node` with every `#/$defs/...` reference replaced by its definition (an enum field's type), so
    the schema stands alone inside the OpenAPI document."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline(value, defs) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    return inlined


def password_schema(min_length: int, max_length: int) -> dict[str, Any]:
    """A new password's schema: the policy's lengths (any Unicode, no composition rules)."""
    return {"type": "string", "format": "password", "minLength": min_length, "maxLength": max_length}


#: An email address's schema (email-validator has the last word: 422 `invalid_email`).
EMAIL: Mapping[str, Any] = {"type": "string", "format": "email", "maxLength": 254}


def with_properties(schema: type[BaseModel] | Mapping[str, Any], **properties: Any) -> dict[str, Any]:
    """`schema` (or the model's) with some properties' schemas replaced."""
    out = _schema(schema) if isinstance(schema, type) else dict(schema)
    out["properties"] = {**out.get("properties", {}), **properties}
    return out


def body(
    schema: type[BaseModel] | Mapping[str, Any],
    *,
    form: Mapping[str, Any] | None = None,
    required: bool = True,
    example: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`openapi_extra` declaring the JSON body the route reads by hand (and the form, where it takes one)."""
    json_schema = _schema(schema) if isinstance(schema, type) else dict(schema)
    media: dict[str, Any] = {"schema": json_schema}
    if example is not None:
        media["example"] = dict(example)
    content: dict[str, Any] = {"application/json": media}
    if form is not None:
        content["application/x-www-form-urlencoded"] = {"schema": dict(form)}
    return {"requestBody": {"required": required, "content": content}}


def _fields_schema(fields: type[UserFields], names: Iterable[str], *, optional: bool) -> dict[str, Any]:
    schema = _schema(fields)
    wanted = set(names)
    properties = {name: value for name, value in schema.get("properties", {}).items() if name in wanted}
    required = [] if optional else [name for name in schema.get("required", []) if name in wanted]
    out: dict[str, Any] = {"properties": properties}
    if required:
        out["required"] = required
    return out


def register_schema(fields: type[UserFields], credentials: type[BaseModel]) -> dict[str, Any]:
    """`POST /register`'s body: email and password, and the application's fields a user sets there."""
    base = _schema(credentials)
    names = [spec.name for spec in describe(fields) if spec.at_registration]
    extra = _fields_schema(fields, names, optional=False)
    return {
        "title": "UserCreate",
        "type": "object",
        "properties": {**base["properties"], **extra["properties"]},
        "required": [*base.get("required", []), *extra.get("required", [])],
    }


def update_me_schema(fields: type[UserFields]) -> dict[str, Any]:
    """`PATCH /me`'s body: the application's `Writable` fields, each optional; nothing else is accepted."""
    names = [spec.name for spec in describe(fields) if spec.writable]
    extra = _fields_schema(fields, names, optional=True)
    return {
        "title": "UserUpdate",
        "type": "object",
        "properties": extra["properties"],
        "additionalProperties": False,
    }


#: `GET /oauth/{provider}/authorize` and `POST /oauth/{provider}/link`: starting a provider sign-in.
OAUTH_AUTHORIZE = (
    "unknown_provider",
    "redirect_not_allowed",
    "rate_limited",
    "store_unavailable",
    "invalid_body",
)
#: `GET /oauth/{provider}/callback`: the provider's answer checked, the account found or made.
OAUTH_CALLBACK = (
    *OAUTH_AUTHORIZE,
    "oauth_failed",
    "oauth_state_invalid",
    "provider_unavailable",
    "provider_email_unverified",
    "oauth_account_exists",
    "identity_taken",
    "signin_not_allowed",
    "recent_sign_in_required",
    "invalid_email",
    "invalid_user_fields",
    "field_taken",
)
#: `POST /oauth/token`: the one-time code traded for tokens.
OAUTH_EXCHANGE = (
    "invalid_code",
    "signin_not_allowed",
    "cross_site_signin",
    "rate_limited",
    "store_unavailable",
)
#: A redirect: where the browser goes next.
REDIRECT_DOC: Mapping[str, Any] = {
    "description": "Redirect: the browser goes to `Location`",
    "headers": {
        "Location": {"description": "Where to go", "schema": {"type": "string"}},
        **NO_STORE_HEADERS,
    },
}
