"""Claims fastauth writes, and the strict rules a token's claims must pass.

Required in every token: `sub`, `type`, `iat`, `exp`, `iss`, `aud`, `jti`, `sid`. Access tokens also
carry `client_id` (RFC 9068 §2.2); it is checked only when present (a non-empty string), so access
tokens issued before it existed keep verifying until they expire. Times are whole seconds (NumericDate
as an integer). A token is valid while `now < exp + leeway`; `iat` and `nbf`
may not lie more than `leeway` in the future. `aud` may be a string or a list of strings and must
contain ours; `iss` must equal ours exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastauth.errors import ExpiredToken, HookError, InvalidClaims, WrongTokenType
from fastauth.tokens.kinds import ACCESS, KINDS, REFRESH, TokenKind

__all__ = [
    "ACCESS",
    "ACCESS_TYP",
    "AUTHZ_CLAIMS",
    "REFRESH",
    "REFRESH_TYP",
    "RESERVED_CLAIMS",
    "custom_claims",
    "validate_claims",
    "validate_typ",
]

#: The `typ` headers of the two built-in kinds (see `fastauth.tokens.kinds`).
ACCESS_TYP = KINDS[ACCESS].typ
REFRESH_TYP = KINDS[REFRESH].typ

RESERVED_CLAIMS = frozenset(
    {"sub", "type", "iat", "exp", "nbf", "iss", "aud", "jti", "sid", "client_id", "amr", "auth_time"}
)
#: What an access token says the user may do (RFC 9068 §2.2.3): role names and their permissions.
#: Reserved for `modify_jwt` too when fastauth writes them (`authz.roles_in_token`).
AUTHZ_CLAIMS = frozenset({"roles", "scope"})
_MAX_NUMERIC_DATE = 2**53
_MAX_ID = 256


def validate_typ(header: Mapping[str, Any], kind: TokenKind) -> None:
    """Raise `WrongTokenType` unless the header's `typ` is one `kind` is written with."""
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in kind.accepted_typs:
        raise WrongTokenType("typ does not match the expected token type")


def validate_claims(
    claims: Mapping[str, Any],
    *,
    expected_type: str,
    issuer: str,
    audience: str,
    leeway: int,
    now: int,
    require_exp: bool = True,
    also_issuers: tuple[str, ...] = (),
) -> None:
    """Raise a `TokenError` subclass unless `claims` are a valid token of `expected_type` for us
    (`also_issuers`: earlier `iss` values of this server, still accepted after an issuer change).

    Written out check by check, without helper calls: this runs on every authenticated request.
    `type(x) is int` refuses bool (a subclass of int), floats and numeric strings.
    """
    get = claims.get
    if get("type") != expected_type:
        raise WrongTokenType("type claim does not match the expected token type")
    value = get("sub")
    if type(value) is not str or not 0 < len(value) <= _MAX_ID:
        raise InvalidClaims("sub is missing or not a non-empty string")
    value = get("jti")
    if type(value) is not str or not 0 < len(value) <= _MAX_ID:
        raise InvalidClaims("jti is missing or not a non-empty string")
    value = get("sid")
    if type(value) is not str or not 0 < len(value) <= _MAX_ID:
        raise InvalidClaims("sid is missing or not a non-empty string")
    if "client_id" in claims:
        value = claims["client_id"]
        if type(value) is not str or not 0 < len(value) <= _MAX_ID:
            raise InvalidClaims("client_id is not a non-empty string")
    value = get("iss")
    if type(value) is not str or (value != issuer and value not in also_issuers):
        raise InvalidClaims("iss is not ours")
    value = get("aud")
    if type(value) is list:
        if audience not in value:
            raise InvalidClaims("aud does not include ours")
        for item in value:
            if type(item) is not str:
                raise InvalidClaims("aud does not include ours")
    elif type(value) is str:
        if value != audience:
            raise InvalidClaims("aud does not include ours")
    else:
        raise InvalidClaims("aud is missing or not a string or list of strings")
    if "iat" not in claims:
        raise InvalidClaims("iat is missing")
    value = claims["iat"]
    if type(value) is not int or not 0 <= value <= _MAX_NUMERIC_DATE:
        raise InvalidClaims("iat is not a NumericDate")
    if value > now + leeway:
        raise InvalidClaims("iat is in the future")
    if "nbf" in claims:
        value = claims["nbf"]
        if type(value) is not int or not 0 <= value <= _MAX_NUMERIC_DATE:
            raise InvalidClaims("nbf is not a NumericDate")
        if value > now + leeway:
            raise InvalidClaims("nbf is in the future")
    if "exp" in claims:
        value = claims["exp"]
        if type(value) is not int or not 0 <= value <= _MAX_NUMERIC_DATE:
            raise InvalidClaims("exp is not a NumericDate")
        if now >= value + leeway:
            raise ExpiredToken("token has expired")
    elif require_exp:
        raise InvalidClaims("exp is missing")


def custom_claims(
    base: Mapping[str, Any], modified: Mapping[str, Any], reserved: frozenset[str] = RESERVED_CLAIMS
) -> dict[str, Any]:
    """The claims a `modify_jwt` hook added; raises `HookError` if it changed or dropped a reserved one."""
    if not isinstance(modified, Mapping):
        raise HookError("modify_jwt must return the claims dict")
    for name in reserved:
        if (name in base or name in modified) and (
            name not in modified or name not in base or modified[name] != base[name]
        ):
            raise HookError(
                f"modify_jwt may add claims but not change or remove the reserved claim {name!r}; "
                "put your value under another name"
                + (
                    " (fastauth writes roles and scope itself: FASTAUTH_AUTHZ__ROLES_IN_TOKEN=false "
                    "leaves them to the hook)."
                    if name in AUTHZ_CLAIMS
                    else "."
                )
            )
    return {name: value for name, value in modified.items() if name not in reserved}
