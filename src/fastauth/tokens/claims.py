"""Claims fastauth writes, and the strict rules a token's claims must pass.

Required in every token: `sub`, `type`, `iat`, `exp`, `iss`, `aud`, `jti`, `sid`. Times are whole
seconds (NumericDate as an integer). A token is valid while `now < exp + leeway`; `iat` and `nbf`
may not lie more than `leeway` in the future. `aud` may be a string or a list of strings and must
contain ours; `iss` must equal ours exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastauth.errors import ExpiredToken, HookError, InvalidClaims, WrongTokenType

__all__ = [
    "ACCESS",
    "ACCESS_TYP",
    "REFRESH",
    "REFRESH_TYP",
    "RESERVED_CLAIMS",
    "custom_claims",
    "validate_claims",
    "validate_typ",
]

ACCESS = "access"
REFRESH = "refresh"
#: RFC 9068 §2.1; `application/at+jwt` is accepted too, and media types compare case-insensitively.
ACCESS_TYP = "at+jwt"
REFRESH_TYP = "rt+jwt"
_TYPS = {
    ACCESS: frozenset({"at+jwt", "application/at+jwt"}),
    REFRESH: frozenset({"rt+jwt", "application/rt+jwt"}),
}

RESERVED_CLAIMS = frozenset({"sub", "type", "iat", "exp", "nbf", "iss", "aud", "jti", "sid"})
_MAX_NUMERIC_DATE = 2**53
_MAX_ID = 256


def validate_typ(header: Mapping[str, Any], expected_type: str) -> None:
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _TYPS[expected_type]:
        raise WrongTokenType("typ does not match the expected token type")


def _numeric_date(claims: Mapping[str, Any], name: str) -> int:
    value = claims[name]
    # `type(...) is int` refuses bool (a subclass of int), floats and numeric strings.
    if type(value) is not int or not 0 <= value <= _MAX_NUMERIC_DATE:
        raise InvalidClaims(f"{name} is not a NumericDate")
    return value


def _identifier(claims: Mapping[str, Any], name: str) -> None:
    value = claims.get(name)
    if type(value) is not str or not 0 < len(value) <= _MAX_ID:
        raise InvalidClaims(f"{name} is missing or not a non-empty string")


def validate_claims(
    claims: Mapping[str, Any],
    *,
    expected_type: str,
    issuer: str,
    audience: str,
    leeway: int,
    now: int,
    require_exp: bool = True,
) -> None:
    """Raise a `TokenError` subclass unless `claims` are a valid token of `expected_type` for us."""
    if claims.get("type") != expected_type:
        raise WrongTokenType("type claim does not match the expected token type")
    _identifier(claims, "sub")
    _identifier(claims, "jti")
    _identifier(claims, "sid")
    iss = claims.get("iss")
    if type(iss) is not str or iss != issuer:
        raise InvalidClaims("iss is not ours")
    aud = claims.get("aud")
    if type(aud) is str:
        if aud != audience:
            raise InvalidClaims("aud does not include ours")
    elif type(aud) is list:
        if not aud or not all(type(item) is str for item in aud) or audience not in aud:
            raise InvalidClaims("aud does not include ours")
    else:
        raise InvalidClaims("aud is missing or not a string or list of strings")
    if "iat" not in claims:
        raise InvalidClaims("iat is missing")
    if _numeric_date(claims, "iat") > now + leeway:
        raise InvalidClaims("iat is in the future")
    if "nbf" in claims and _numeric_date(claims, "nbf") > now + leeway:
        raise InvalidClaims("nbf is in the future")
    if "exp" in claims:
        if now >= _numeric_date(claims, "exp") + leeway:
            raise ExpiredToken("token has expired")
    elif require_exp:
        raise InvalidClaims("exp is missing")


def custom_claims(base: Mapping[str, Any], modified: Mapping[str, Any]) -> dict[str, Any]:
    """The claims a `modify_jwt` hook added; raises `HookError` if it changed or dropped a reserved one."""
    if not isinstance(modified, Mapping):
        raise HookError("modify_jwt must return the claims dict")
    for name in RESERVED_CLAIMS:
        if (name in base or name in modified) and (
            name not in modified or name not in base or modified[name] != base[name]
        ):
            raise HookError(
                f"modify_jwt may add claims but not change or remove the reserved claim {name!r}; "
                "put your value under another name."
            )
    return {name: value for name, value in modified.items() if name not in RESERVED_CLAIMS}
