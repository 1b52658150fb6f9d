"""The HTTP contract under `route_prefix`: register, login, refresh, logout, me, sessions, change-password
(and, when enabled, the revocation list other services poll)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, SecretStr, ValidationError

from fastauth.accounts import normalize_email
from fastauth.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    PasswordPolicyError,
    RateLimited,
    SigninNotAllowed,
    StoreUnavailable,
    TokenError,
)
from fastauth.sessions import TokenPair
from fastauth.storage.base import User
from fastauth.tokens.claims import REFRESH
from fastauth.web.auth import forbidden, unauthorized, unavailable

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build_router", "build_wellknown_router"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: With `cookie_opt_in`, `X-Fastauth-Delivery: cookie` asks for cookie delivery on this request.
DELIVERY_HEADER = "x-fastauth-delivery"
MAX_BODY = 16 * 1024


class Credentials(BaseModel):
    email: str
    password: str


class RefreshIn(BaseModel):
    refresh_token: str | None = None


class ChangePasswordIn(BaseModel):
    current_password: str
    new_password: str


class TokenOut(BaseModel):
    access_token: str | None = None
    refresh_token: str | None = None
    token_type: str = "bearer"
    expires_in: int | None = None


class UserOut(BaseModel):
    id: str
    email: str
    is_active: bool
    is_verified: bool
    is_superuser: bool
    roles: list[str]
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            is_active=user.is_active,
            is_verified=user.is_verified,
            is_superuser=user.is_superuser,
            roles=list(user.roles),
            created_at=_dt(user.created_at),
        )


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


def _dt(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _too_many(error: RateLimited) -> HTTPException:
    return HTTPException(
        429, "Too many attempts; try again later", headers={"Retry-After": str(error.retry_after)}
    )


async def _body(request: Request) -> dict[str, Any]:
    """JSON object or HTML/OAuth2 form, read with a size cap. 422 when it is neither.

    The cap holds while reading: a declared or streamed body over `MAX_BODY` is refused without being
    buffered, so nobody can make the server hold megabytes for a login.
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise HTTPException(413, "Request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, "Request body too large")
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
        raise HTTPException(422, "Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(422, "Request body must be a JSON object")
    return data


def _model(model: type[Any], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in error.errors())
        raise HTTPException(422, f"Missing or invalid fields: {fields}") from None


def build_router(auth: FastAuth) -> APIRouter:
    cfg = auth.config
    router = APIRouter(prefix=cfg.route_prefix, tags=["auth"])
    delivery = cfg.token_delivery
    cookie_names = (auth.cookies.access_name, auth.cookies.refresh_name, auth.cookies.csrf_name)

    def delivery_of(request: Request) -> str:
        """`token_delivery`, or "cookie" for a request that opts in (`cookie_opt_in`)."""
        if cfg.cookie_opt_in and request.headers.get(DELIVERY_HEADER, "").strip().lower() == "cookie":
            return "cookie"
        return delivery

    def refuse_cross_site_cookies(request: Request) -> None:
        """Login CSRF: a cross-site form must not sign a browser into someone else's account.

        Browsers mark such a request `Sec-Fetch-Site: cross-site` (a sandboxed one sends `Origin: null`);
        when the answer would set cookies, refuse it. Bearer-token (JSON) answers are unreadable
        cross-site and need no such check.
        """
        if delivery_of(request) == "json":
            return
        if request.headers.get("sec-fetch-site") == "cross-site" or request.headers.get("origin") == "null":
            raise forbidden("Cross-site sign-in refused")

    def uses_cookies(request: Request) -> bool:
        """Cookies may be in play: cookie delivery, or an opted-in request or one carrying our cookies."""
        if delivery != "json":
            return True
        return cfg.cookie_opt_in and (
            delivery_of(request) == "cookie" or any(name in request.cookies for name in cookie_names)
        )

    def token_response(pair: TokenPair, status: int = 200, mode: str = delivery) -> Response:
        body = TokenOut(token_type="bearer", expires_in=pair.expires_in)
        if mode in ("json", "refresh_cookie"):
            body.access_token = pair.access_token
        if mode == "json":
            body.refresh_token = pair.refresh_token
        response = Response(
            body.model_dump_json(exclude_none=True),
            status_code=status,
            media_type="application/json",
            headers=NO_STORE,
        )
        now = auth.sessions.now()
        refresh_age = (pair.refresh_expires_at - now) if pair.refresh_expires_at else None
        if mode == "cookie":
            auth.cookies.set_access(response, pair.access_token, pair.expires_in)
            auth.cookies.set_csrf(response, auth.csrf.issue(pair.session_id), refresh_age)
        if mode in ("cookie", "refresh_cookie"):
            auth.cookies.set_refresh(response, pair.refresh_token, refresh_age)
            if mode == "refresh_cookie":
                auth.cookies.set_csrf(response, auth.csrf.issue(pair.session_id), refresh_age)
        return response

    def cleared(request: Request, status: int = 204) -> Response:
        response = Response(status_code=status, headers=NO_STORE)
        if uses_cookies(request):
            auth.cookies.clear(response)
        return response

    @router.post("/register", status_code=201, response_model=TokenOut)
    async def register(request: Request) -> Response:
        """Create an account and sign it in."""
        await auth.ensure_started()
        try:
            await auth.rate_limits.check_register(_ip(request))
        except RateLimited as error:
            raise _too_many(error) from None
        except StoreUnavailable:
            raise unavailable() from None
        refuse_cross_site_cookies(request)
        creds = _model(Credentials, await _body(request))
        try:
            user = await auth.accounts.new_user(creds.email, creds.password)
            # One transaction for the user and the session: a failure leaves no half-registered account.
            pair = await auth.sessions.start(
                user, ip=_ip(request), user_agent=request.headers.get("user-agent"), create_user=True
            )
        except PasswordPolicyError as error:
            raise HTTPException(422, str(error)) from None
        except EmailTaken:
            raise HTTPException(409, "This email is already registered") from None
        except InvalidEmail as error:
            raise HTTPException(422, f"Invalid email address: {error}") from None
        except SigninNotAllowed:
            await auth.hooks.on_signup(user)  # the account exists; only the sign-in was refused
            raise forbidden("Sign-in not allowed") from None
        except StoreUnavailable:
            raise unavailable() from None
        await auth.hooks.on_signup(user)
        await auth.hooks.on_signin(user)
        return token_response(pair, 201, delivery_of(request))

    @router.post(
        "/login",
        response_model=TokenOut,
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                            "required": ["username", "password"],
                        }
                    },
                    "application/json": {"schema": Credentials.model_json_schema()},
                },
                "required": True,
            }
        },
    )
    async def login(request: Request) -> Response:
        """Email and password, as JSON `{email, password}` or the OAuth2 form (`username`, `password`)."""
        await auth.ensure_started()
        refuse_cross_site_cookies(request)
        data = await _body(request)
        if "email" not in data and "username" in data:
            data["email"] = data["username"]
        creds = _model(Credentials, data)
        ip = _ip(request)
        try:
            # One budget per account, whatever the spelling (case, NFC/NFD, punycode domain).
            account = normalize_email(creds.email)
        except InvalidEmail:
            account = creds.email.strip().lower()
        try:
            await auth.rate_limits.check_login(account, ip)
        except RateLimited as error:
            raise _too_many(error) from None
        except StoreUnavailable:
            raise unavailable() from None
        try:
            user = await auth.accounts.authenticate(creds.email, creds.password, ip)
            pair = await auth.sessions.start(user, ip=ip, user_agent=request.headers.get("user-agent"))
        except InvalidCredentials:
            raise HTTPException(
                401, "Invalid email or password", headers={"WWW-Authenticate": "Bearer"}
            ) from None
        except SigninNotAllowed:
            raise forbidden("Sign-in not allowed") from None
        except StoreUnavailable:
            raise unavailable() from None
        await auth.hooks.on_signin(user)
        return token_response(pair, mode=delivery_of(request))

    @router.post("/refresh", response_model=TokenOut)
    async def refresh(request: Request) -> Response:
        """Rotate: a new pair for a refresh token (body or cookie); the old one is spent."""
        await auth.ensure_started()
        body = _model(RefreshIn, await _body(request))
        raw: str | None = body.refresh_token
        from_cookie = False
        if raw is None and delivery_of(request) != "json":
            raw, from_cookie = auth.cookies.refresh(request), True
        if not raw:
            raise unauthorized(False)
        try:
            if from_cookie:
                auth.check_csrf(request, (await auth.sessions.verify(raw, REFRESH)).sid)
            _, pair = await auth.sessions.refresh(raw)
        except TokenError:
            if from_cookie:  # a dead refresh cookie is of no use to the browser: clear them all
                error = unauthorized(True)
                response = JSONResponse(
                    {"detail": error.detail}, 401, headers={**(error.headers or {}), **NO_STORE}
                )
                auth.cookies.clear(response)
                return response
            raise unauthorized(True) from None
        except SigninNotAllowed:
            raise forbidden("Sign-in not allowed") from None
        except StoreUnavailable:
            raise unavailable() from None
        return token_response(pair, mode=delivery_of(request))

    @router.post("/logout", status_code=204)
    async def logout(request: Request) -> Response:
        """End the session of the access token and/or of the refresh token (body or cookie).

        An expired access token is fine as long as the refresh token identifies the session.
        """
        await auth.ensure_started()
        body = _model(RefreshIn, await _body(request))
        sessions: dict[str, str] = {}
        try:
            token = await auth.authenticate(request)
            sessions[token.sid] = token.sub
        except HTTPException as error:
            if error.status_code not in (401,):
                raise
        raw = body.refresh_token
        from_cookie = False
        if raw is None and uses_cookies(request):
            raw, from_cookie = auth.cookies.refresh(request), True
        if raw:
            try:
                refresh_token = await auth.sessions.verify(raw, REFRESH)
            except TokenError:
                refresh_token = None
            if refresh_token is not None and (not sessions or refresh_token.sub in sessions.values()):
                if from_cookie and not sessions:
                    auth.check_csrf(request, refresh_token.sid)
                sessions[refresh_token.sid] = refresh_token.sub
        if not sessions:
            raise unauthorized(bool(raw) or bool(request.headers.get("authorization")))
        try:
            for sid in sessions:
                await auth.sessions.revoke(sid)
            user = await auth.accounts.get_user(next(iter(sessions.values())))
        except StoreUnavailable:
            raise unavailable() from None
        if user is not None:
            await auth.hooks.on_signout(user)
        return cleared(request)

    @router.get("/me", response_model=UserOut)
    async def me(user: User = Depends(auth.get_current_user)) -> UserOut:
        """The signed-in user (never the password hash)."""
        return UserOut.of(user)

    @router.get("/sessions", response_model=list[SessionOut])
    async def list_sessions(
        request: Request, user: User = Depends(auth.get_current_user)
    ) -> list[SessionOut]:
        """The user's live sessions; `current` marks the caller's."""
        current = request.state.fastauth_token.sid
        try:
            records = await auth.sessions.list(user.id)
        except StoreUnavailable:
            raise unavailable() from None
        return [
            SessionOut(
                id=s.id,
                created_at=_dt(s.created_at),
                last_used_at=_dt(s.last_used_at),
                expires_at=_dt(s.expires_at),
                ip=s.ip,
                user_agent=s.user_agent,
                current=s.id == current,
            )
            for s in records
        ]

    @router.delete("/sessions/{session_id}", status_code=204)
    async def revoke_session(
        request: Request, session_id: str, user: User = Depends(auth.get_current_user)
    ) -> Response:
        """Revoke one of the user's sessions (404 for anyone else's)."""
        try:
            record = await auth.sessions.store.get_session(session_id)
            if record is None or record.user_id != user.id or record.revoked_at is not None:
                raise HTTPException(404, "No such session")
            await auth.sessions.revoke(session_id)
        except StoreUnavailable:
            raise unavailable() from None
        if session_id == request.state.fastauth_token.sid:
            return cleared(request)
        return Response(status_code=204)

    @router.delete("/sessions", status_code=204)
    async def revoke_all_sessions(request: Request, user: User = Depends(auth.get_current_user)) -> Response:
        """Sign out everywhere, this session included."""
        try:
            await auth.sessions.revoke_all(user.id)
        except StoreUnavailable:
            raise unavailable() from None
        await auth.hooks.on_signout(user)
        return cleared(request)

    @router.post("/change-password", status_code=204)
    async def change_password(request: Request, user: User = Depends(auth.get_current_user)) -> Response:
        """Needs the current password; every other session of the user is revoked."""
        body = _model(ChangePasswordIn, await _body(request))
        try:
            # The login budget guards this guess at the current password too.
            await auth.rate_limits.check_login(user.email, _ip(request))
        except RateLimited as error:
            raise _too_many(error) from None
        except StoreUnavailable:
            raise unavailable() from None
        try:
            await auth.accounts.change_password(user, body.current_password, body.new_password)
            await auth.sessions.revoke_all(user.id, except_session=request.state.fastauth_token.sid)
        except InvalidCredentials:
            raise HTTPException(400, "The current password is wrong") from None
        except PasswordPolicyError as error:
            raise HTTPException(422, str(error)) from None
        except StoreUnavailable:
            raise unavailable() from None
        return Response(status_code=204)

    if cfg.revocation_list_enabled:

        @router.get("/revocations")
        async def revocations(request: Request) -> Response:
            """Sessions revoked recently enough that their access tokens could still verify.

            `{"sessions": [{"sid": ..., "until": ...}]}`: refuse tokens of `sid` until `until` (epoch
            seconds). For other services verifying with `JWKSVerifier(revocation_url=...)`.
            """
            if not _revocation_reader(request, cfg.revocation_list_token):
                return JSONResponse(
                    {"detail": "Not authenticated"}, 401, headers={"WWW-Authenticate": "Bearer", **NO_STORE}
                )
            await auth.ensure_started()
            horizon = auth.sessions.revocation_horizon
            now = auth.sessions.now()
            try:
                revoked = await auth.sessions.store.revoked_since(now - horizon)
            except StoreUnavailable:
                raise unavailable() from None
            sessions = [
                {"sid": sid, "until": revoked_at + horizon}
                for sid, revoked_at in revoked
                if revoked_at + horizon > now
            ]
            body = json.dumps({"sessions": sessions}, separators=(",", ":"))
            return Response(body, media_type="application/json", headers=NO_STORE)

    _ = unauthorized
    return router


def _revocation_reader(request: Request, token: SecretStr | None) -> bool:
    """Whether the request may read the revocation list: anyone without a token configured, else the
    bearer of exactly that token (compared in constant time)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode("utf-8")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), expected)


def build_wellknown_router(auth: FastAuth) -> APIRouter:
    """`/.well-known/jwks.json` and RFC 8414 metadata, at the application root."""
    router = APIRouter(tags=["keys"])
    cfg = auth.config
    jwks_path = "/.well-known/jwks.json"

    @router.get(jwks_path)
    async def jwks(request: Request) -> Response:
        """The public signing keys (next, active and retiring): public members only, never a secret."""
        await auth.ensure_started()
        if auth.keys is not None:
            with contextlib.suppress(StoreUnavailable):  # serve the keys we have; verifiers keep working
                await auth.keys.maybe_refresh()
        ring = auth.engine.keyring
        if cfg.jwt.is_hmac or ring is None:
            raise HTTPException(
                404, f"{cfg.jwt.algorithm} tokens are verified with the shared secret; no JWKS"
            )
        body = json.dumps(ring.jwks(), separators=(",", ":"), sort_keys=True).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"Cache-Control": f"public, max-age={cfg.jwt.jwks_cache_max_age}", "ETag": etag}
        # Weak comparison (RFC 9110 §13.1.2): a proxy that compresses may have turned ours into W/"...".
        tags = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
        if etag in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/jwk-set+json", headers=headers)

    @router.get("/.well-known/oauth-authorization-server")
    async def metadata(request: Request, response: Response) -> dict[str, Any]:
        """RFC 8414 authorization server metadata, so standard tools can find the JWKS."""
        base = cfg.public_url or str(request.base_url).rstrip("/")
        # Built from the request's Host: never let a shared cache keep one client's answer for another.
        response.headers["Cache-Control"] = "no-store"
        data: dict[str, Any] = {
            "issuer": cfg.jwt.issuer,
            "token_endpoint": f"{base}{cfg.route_prefix}/login",
            "grant_types_supported": ["password", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": ["token"],
            "token_endpoint_auth_signing_alg_values_supported": [cfg.jwt.algorithm],
        }
        if not cfg.jwt.is_hmac:
            data["jwks_uri"] = f"{base}{jwks_path}"
        return data

    return router
