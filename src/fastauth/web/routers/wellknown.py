"""`/.well-known/jwks.json` and the RFC 8414 metadata, at the application root."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from fastauth.errors import StoreUnavailable
from fastauth.web.errors import AnsweringRoute, web_error
from fastauth.web.etag import etag_of, not_modified
from fastauth.web.openapi import answers, no_store
from fastauth.web.routers.introspection import INTROSPECT_PATH, REVOKE_PATH
from fastauth.web.routers.token_endpoint import TOKEN_PATH

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["JWKS_MEDIA_TYPE", "JWKS_PATH", "WELL_KNOWN", "JWKSResponse", "build_wellknown_router"]

WELL_KNOWN = "/.well-known/"
JWKS_PATH = WELL_KNOWN + "jwks.json"


#: RFC 7517 §8.5: the media type of a JWK Set.
JWKS_MEDIA_TYPE = "application/jwk-set+json"


class JWKSResponse(Response):
    """The JWKS answer (its media type is what the document declares for the route)."""

    media_type = JWKS_MEDIA_TYPE


_CACHE_HEADERS = {
    "ETag": {
        "description": "A strong tag of the key set: send it back in `If-None-Match`",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`public, max-age=N` (`jwt.jwks_cache_max_age`)",
        "schema": {"type": "string"},
    },
}
_JWKS_SCHEMA = {
    "type": "object",
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kty": {"type": "string"},
                    "kid": {"type": "string"},
                    "use": {"type": "string"},
                    "alg": {"type": "string"},
                },
                "required": ["kty"],
                "additionalProperties": True,
            },
        }
    },
    "required": ["keys"],
}
_JWKS_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "The `ETag` of a key set already held: 304 when it is still current",
            "schema": {"type": "string"},
        }
    ],
}
_JWKS_ANSWERS = answers(
    "no_jwks",
    extra={
        200: {
            "description": "The public keys (RFC 7517 JWK Set)",
            "headers": _CACHE_HEADERS,
            "content": {
                JWKS_MEDIA_TYPE: {
                    "schema": _JWKS_SCHEMA,
                    "example": {
                        "keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA", "x": "..."}]
                    },
                }
            },
        },
        304: {"description": "Not modified: the `If-None-Match` tag is current", "headers": _CACHE_HEADERS},
    },
)
# The route's own media type is the JWK Set's, where FastAPI would put the error model: the 404 names
# the error schema itself (the auth router, always mounted beside this one, puts it in the components).
_JWKS_ANSWERS[404].pop("model")
_JWKS_ANSWERS[404]["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/ErrorOut"}
_METADATA_SCHEMA = {
    "type": "object",
    "properties": {
        "issuer": {"type": "string"},
        "token_endpoint": {"type": "string"},
        "jwks_uri": {"type": "string"},
        "grant_types_supported": {"type": "array", "items": {"type": "string"}},
        "token_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
        "response_types_supported": {"type": "array", "items": {"type": "string"}},
        "introspection_endpoint": {"type": "string"},
        "introspection_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
        "revocation_endpoint": {"type": "string"},
        "revocation_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["issuer", "token_endpoint", "response_types_supported"],
}


def build_wellknown_router(auth: FastAuth) -> APIRouter:
    """The JWKS and the authorization-server metadata of `auth`."""
    router = APIRouter(tags=["keys"], route_class=AnsweringRoute)
    service = auth.service
    cfg = auth.config

    @router.get(JWKS_PATH, response_class=JWKSResponse, responses=_JWKS_ANSWERS, openapi_extra=_JWKS_DOC)
    async def jwks(request: Request) -> Response:
        """The public signing keys (next, active and retiring): public members only, never a secret."""
        await service.ensure_started()
        if service.keys is not None:
            with contextlib.suppress(StoreUnavailable):  # serve the keys we have; verifiers keep working
                await service.keys.maybe_refresh()
        ring = service.engine.keyring
        if cfg.jwt.is_hmac or ring is None:
            raise web_error(
                "no_jwks", f"{cfg.jwt.algorithm} tokens are verified with the shared secret; no JWKS"
            )
        body = json.dumps(ring.jwks(), separators=(",", ":"), sort_keys=True).encode()
        etag = etag_of(body)
        headers = {"Cache-Control": f"public, max-age={cfg.jwt.jwks_cache_max_age}", "ETag": etag}
        if not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        return JWKSResponse(body, headers=headers)

    @router.get(
        WELL_KNOWN + "oauth-authorization-server",
        responses=answers(
            extra={
                200: {
                    **no_store("RFC 8414 metadata"),
                    "content": {"application/json": {"schema": _METADATA_SCHEMA}},
                }
            }
        ),
    )
    async def metadata(request: Request, response: Response) -> dict[str, Any]:
        """RFC 8414 authorization server metadata: only what this server does.

        The token endpoint (password and refresh_token grants, no client authentication) and, for an
        asymmetric algorithm, the JWKS. There is no authorization endpoint, so none is listed; RFC 8414
        requires `response_types_supported` all the same, and it names only `none` (OAuth 2.0 Multiple
        Response Type Encoding Practices §4: a response that issues nothing).

        The revocation endpoint (RFC 7009) and, when API keys are on (its only callers), the
        introspection endpoint (RFC 7662). Both authenticate their caller with a bearer credential
        only, so each lists `Bearer`: RFC 8414 §2 allows an access token type for introspection; for
        revocation it names only client authentication methods, none of which this server takes, and
        leaving the entry out would promise its default, `client_secret_basic`.
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
        if cfg.authz.api_keys_enabled:
            data["introspection_endpoint"] = f"{base}{cfg.route_prefix}{INTROSPECT_PATH}"
            data["introspection_endpoint_auth_methods_supported"] = ["Bearer"]
        data["revocation_endpoint"] = f"{base}{cfg.route_prefix}{REVOKE_PATH}"
        data["revocation_endpoint_auth_methods_supported"] = ["Bearer"]
        return data

    return router
