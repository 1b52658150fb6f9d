"""Module-level dependencies, for code written against a FastAPI boilerplate's `deps.py`.

    from fastauth.dependencies import get_current_user

    @app.get("/items")
    async def items(user: User = Depends(get_current_user)) -> ...: ...

Each one finds the application's `FastAuth` through `request.app.state.fastauth` (set by
`auth.mount(app)`) and delegates to the instance's dependency of the same name, so the answers are
identical: 401 for a missing, bad, expired or revoked token or an unknown/inactive user, 403 for a
non-superuser at `get_current_superuser`, None (never an error) from `get_optional_user`. An app on
which no `FastAuth` was mounted gets a `ConfigError` naming the fix at the first request.

Swagger: every dependency is itself an `OAuth2PasswordBearer` security scheme under the same scheme
name as `FastAuth`'s own, so the docs show one "Authorize" button. The route prefix is not known
when this module is imported, so its `tokenUrl` is the relative `auth/token` (the RFC 6749 token
endpoint): right for the default `route_prefix="/auth"`, also behind a proxy `root_path`. With another
prefix, call `set_token_url("/api/v1/auth/token")` once before the OpenAPI document is first served (the
scheme name is shared, so a stale URL here would also override the one `FastAuth`'s own routes declare).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.security import OAuth2PasswordBearer

from fastauth.errors import ConfigError
from fastauth.web import security
from fastauth.web.security import SCHEME_NAME, AuthDependency

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = [
    "get_current_claims",
    "get_current_superuser",
    "get_current_user",
    "get_current_verified_user",
    "get_fastauth",
    "get_optional_user",
    "oauth2_scheme",
    "set_token_url",
]

#: The security scheme the dependencies declare: only for the OpenAPI document (the token is read and
#: checked by `FastAuth` itself). The scheme name is `FastAuth`'s, so Swagger shows one Authorize button.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token", scheme_name=SCHEME_NAME, auto_error=False)
_MODEL = oauth2_scheme.model
assert isinstance(_MODEL, OAuth2Model)


def set_token_url(url: str) -> None:
    """Where Swagger's Authorize dialog posts the login form: `f"{route_prefix}/token"`, a relative path,
    or the full URL of a separate auth server.

    Only the OpenAPI document reads it; FastAPI caches that document, so call this before it is served.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("set_token_url needs a URL such as '/api/v1/auth/token' or 'auth/token'.")
    model = oauth2_scheme.model
    assert isinstance(model, OAuth2Model) and model.flows.password is not None  # as built above
    model.flows.password.tokenUrl = url


def get_fastauth(request: Request) -> FastAuth:
    """The `FastAuth` mounted on the request's application (`auth.mount(app)`), or a `ConfigError`."""
    auth = getattr(request.app.state, "fastauth", None)
    if auth is None:
        raise ConfigError(
            "fastauth.dependencies found no FastAuth on this application: call `auth.mount(app)` on the "
            "FastAPI app that serves the route (for a mounted sub-application, set "
            "`sub_app.state.fastauth = auth` too)."
        )
    from fastauth.web.auth import FastAuth

    if not isinstance(auth, FastAuth):
        raise ConfigError(
            f"app.state.fastauth holds a {type(auth).__name__}, not a FastAuth; it is reserved for the "
            "instance `auth.mount(app)` records."
        )
    return auth


def _module_dependency(resolve: Any) -> AuthDependency:
    return AuthDependency(
        resolve, model=_MODEL, find=get_fastauth, name=resolve.__name__, doc=resolve.__doc__ or ""
    )


#: The verified claims of the access token, without a database read; 401 otherwise.
get_current_claims = _module_dependency(security.claims)
#: The active user of a valid, unrevoked access token; 401 otherwise.
get_current_user = _module_dependency(security.current_user)
#: As `get_current_user`, and 403 unless the user's email address is verified.
get_current_verified_user = _module_dependency(security.current_verified_user)
#: As `get_current_user`, and 403 unless the user is a superuser.
get_current_superuser = _module_dependency(security.current_superuser)
#: The user, or None when there is no token or a bad one: never a 401.
get_optional_user = _module_dependency(security.optional_user)
