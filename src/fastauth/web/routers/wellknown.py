"""`/.well-known/jwks.json` and the RFC 8414 metadata, at the application root."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, Response

from fastauth.errors import StoreUnavailable
from fastauth.web.errors import AnsweringRoute
from fastauth.web.etag import etag_of, not_modified
from fastauth.web.routers.token_endpoint import TOKEN_PATH

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["JWKS_PATH", "WELL_KNOWN", "build_wellknown_router"]

WELL_KNOWN = "/.well-known/"
JWKS_PATH = WELL_KNOWN + "jwks.json"


def build_wellknown_router(auth: FastAuth) -> APIRouter:
    """The JWKS and the authorization-server metadata of `auth`."""
    router = APIRouter(tags=["keys"], route_class=AnsweringRoute)
    service = auth.service
    cfg = auth.config

    @router.get(JWKS_PATH)
    async def jwks(request: Request) -> Response:
        """The public signing keys (next, active and retiring): public members only, never a secret."""
        await service.ensure_started()
        if service.keys is not None:
            with contextlib.suppress(StoreUnavailable):  # serve the keys we have; verifiers keep working
                await service.keys.maybe_refresh()
        ring = service.engine.keyring
        if cfg.jwt.is_hmac or ring is None:
            raise HTTPException(
                404, f"{cfg.jwt.algorithm} tokens are verified with the shared secret; no JWKS"
            )
        body = json.dumps(ring.jwks(), separators=(",", ":"), sort_keys=True).encode()
        etag = etag_of(body)
        headers = {"Cache-Control": f"public, max-age={cfg.jwt.jwks_cache_max_age}", "ETag": etag}
        if not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/jwk-set+json", headers=headers)

    @router.get(WELL_KNOWN + "oauth-authorization-server")
    async def metadata(request: Request, response: Response) -> dict[str, Any]:
        """RFC 8414 authorization server metadata: only what this server does.

        The token endpoint (password and refresh_token grants, no client authentication) and, for an
        asymmetric algorithm, the JWKS. There is no authorization endpoint, so none is listed; RFC 8414
        requires `response_types_supported` all the same, and it names only `none` (OAuth 2.0 Multiple
        Response Type Encoding Practices §4: a response that issues nothing).
        """
        base = cfg.public_url or str(request.base_url).rstrip("/")
        # Built from the request's Host: never let a shared cache keep one client's answer for another.
        response.headers["Cache-Control"] = "no-store"
        data: dict[str, Any] = {
            "issuer": cfg.jwt.issuer,
            "token_endpoint": f"{base}{cfg.route_prefix}{TOKEN_PATH}",
            "grant_types_supported": ["password", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": ["none"],
        }
        if not cfg.jwt.is_hmac:
            data["jwks_uri"] = f"{base}{JWKS_PATH}"
        return data

    return router
