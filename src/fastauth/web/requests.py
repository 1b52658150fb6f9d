"""Reading request bodies: JSON object or HTML/OAuth2 form, with a size cap; 413/422 otherwise."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from fastauth.web.errors import web_error

__all__ = ["MAX_BODY", "client_ip", "read_body", "read_model", "seen"]

MAX_BODY = 16 * 1024
M = TypeVar("M", bound=BaseModel)


def client_ip(request: Request) -> str | None:
    """The peer address (behind a proxy, uvicorn's `--proxy-headers` makes it the client's)."""
    return request.client.host if request.client else None


def seen(request: Request) -> dict[str, str | None]:
    """Where a request came from, as the service's flows take it for the audit (`ip`, `user_agent`)."""
    return {"ip": client_ip(request), "user_agent": request.headers.get("user-agent")}


async def read_body(request: Request) -> dict[str, Any]:
    """JSON object or HTML/OAuth2 form, read with a size cap. 422 `invalid_body` when it is neither.

    The cap holds while reading: a declared or streamed body over `MAX_BODY` is refused without being
    buffered, so nobody can make the server hold megabytes for a login.
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise web_error("body_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise web_error("body_too_large")
        chunks.append(chunk)
    raw = b"".join(chunks)
    request._body = raw  # so request.form() below parses what was read (Starlette's own cache)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise web_error("invalid_body", "Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise web_error("invalid_body", "Request body must be a JSON object")
    return data


async def read_model(request: Request, model: type[M], data: dict[str, Any] | None = None) -> M:
    """The body (or `data`) validated as `model`; 422 naming the fields otherwise (never their values)."""
    if data is None:
        data = await read_body(request)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in error.errors())
        raise web_error("invalid_body", f"Missing or invalid fields: {fields}") from None
