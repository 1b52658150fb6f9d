"""What the HTTP flow tests send and expect: the Authorization header, the error bodies and challenges,
Set-Cookie parsing, and a few requests through an ASGI client (`login`, `post_refresh`, ...).

Hand-made token variants are in `support.forge`, the settable clock in `support.clock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

#: The one body every bad token gets, and its challenge (RFC 6750 §3).
INVALID_TOKEN_BODY = {"detail": "Invalid or expired token", "code": "invalid_token"}
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'
#: No token at all.
NOT_AUTHENTICATED_BODY = {"detail": "Not authenticated", "code": "not_authenticated"}
#: Wrong password, unknown email, inactive account.
BAD_LOGIN_BODY = {"detail": "Invalid email or password", "code": "invalid_credentials"}
PASSWORD = "correct horse"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == INVALID_TOKEN_BODY
    assert response.headers.get_list("www-authenticate") == [INVALID_TOKEN_CHALLENGE]


def assert_not_authenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == NOT_AUTHENTICATED_BODY
    assert response.headers.get_list("www-authenticate") == ["Bearer"]


@dataclass(frozen=True)
class SetCookie:
    """One parsed `Set-Cookie` header: attribute names lower-cased; flags map to True."""

    name: str
    value: str
    attrs: dict[str, str | bool]

    def attr(self, name: str) -> str | bool | None:
        return self.attrs.get(name)


def set_cookies(response: httpx.Response) -> dict[str, SetCookie]:
    """Every `Set-Cookie` of the response by cookie name (a name set twice is an error)."""
    found: dict[str, SetCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        first, *rest = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        attrs: dict[str, str | bool] = {}
        for part in rest:
            if not part:
                continue
            key, eq, val = part.partition("=")
            attrs[key.strip().lower()] = val.strip() if eq else True
        assert name not in found, f"cookie {name} set twice: {response.headers.get_list('set-cookie')}"
        found[name] = SetCookie(name, value.strip('"'), attrs)
    return found


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def set_user(auth: Any, email: str, /, **changes: Any) -> Any:
    """Change a stored user through `accounts.save` (the path that invalidates the user cache)."""
    user = await auth.accounts.store.get_user_by_email(email)
    assert user is not None, email
    for name, value in changes.items():
        setattr(user, name, value)
    await auth.accounts.save(user)
    return user


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, *, prefix: str = "/auth", **kwargs: Any
) -> dict[str, Any]:
    response = await client.post(f"{prefix}/login", json={"email": email, "password": password}, **kwargs)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def post_refresh(a: Any, token: str) -> httpx.Response:
    """POST /auth/refresh with `token` in the body, on an `AuthApp`."""
    return await a.client.post("/auth/refresh", json={"refresh_token": token})


async def private_status(a: Any, token: str) -> int:
    """The status of GET /private (the test app's protected route) with `token` as bearer."""
    return int((await a.client.get("/private", headers=bearer(token))).status_code)
