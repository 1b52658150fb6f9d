"""Helpers for the HTTP flow tests: headers, hand-made token variants, a settable clock, Set-Cookie parsing.

Tokens are taken apart and re-signed here with `hmac`/`base64` directly, so the hostile cases never
depend on the code under test to build them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

#: The one body every bad token gets, and its challenge (RFC 6750 §3).
INVALID_TOKEN_BODY = {"detail": "Invalid or expired token"}
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'
#: No token at all.
NOT_AUTHENTICATED_BODY = {"detail": "Not authenticated"}
#: Wrong password, unknown email, inactive account.
BAD_LOGIN_BODY = {"detail": "Invalid email or password"}
PASSWORD = "correct horse"


class Clock:
    """A clock the test moves by hand: pass it as `make_app(clock=...)`."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time() if start is None else start))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_segment(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a compact JWS, unverified."""
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def claims(token: str) -> dict[str, Any]:
    return decode(token)[1]


def resign(token: str, secret: str, **payload_changes: Any) -> str:
    """The same header (same `kid`) and payload, HS256-signed with another secret."""
    header, payload = decode(token)
    payload.update(payload_changes)
    signing_input = f"{_json_segment(header)}.{_json_segment(payload)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def alg_none(token: str, *, keep_kid: bool = True, alg: str = "none") -> str:
    """The token's claims under `alg: none` (or another spelling) and an empty signature."""
    header, payload = decode(token)
    header["alg"] = alg
    if not keep_kid:
        del header["kid"]
    return f"{_json_segment(header)}.{_json_segment(payload)}."


def tampered(token: str, **payload_changes: Any) -> str:
    """Changed claims, original signature."""
    header, payload, signature = token.split(".")
    body = json.loads(b64url_decode(payload))
    body.update(payload_changes)
    return f"{header}.{_json_segment(body)}.{signature}"


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
