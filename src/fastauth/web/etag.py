"""ETags: one rule for every cacheable answer fastauth serves (the JWKS, the sign-in page's files)."""

from __future__ import annotations

import hashlib

from starlette.requests import Request

__all__ = ["etag_of", "not_modified"]


def etag_of(body: bytes, length: int = 32) -> str:
    """A strong ETag for `body`: a quoted prefix of its SHA-256."""
    return '"' + hashlib.sha256(body).hexdigest()[:length] + '"'


def not_modified(request: Request, etag: str) -> bool:
    """Whether `If-None-Match` names `etag`, compared weakly (RFC 9110 §13.1.2: a proxy that compresses
    may have turned it into `W/"..."`), or is `*`."""
    tags = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    return etag in tags or "*" in tags
