"""Issue and verify access and refresh tokens: the key ring, the codec and the claim rules together.

Framework-free and without I/O. Revocation is not checked here; it belongs to the session layer,
which keys it on `sid`/`jti` (never on the token text, which has several spellings).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastauth.errors import ConfigError, HookError, TokenError, UnknownKey
from fastauth.tokens import codec
from fastauth.tokens.claims import (
    ACCESS,
    ACCESS_TYP,
    REFRESH,
    REFRESH_TYP,
    RESERVED_CLAIMS,
    validate_claims,
    validate_typ,
)
from fastauth.tokens.keyring import KeyRing

__all__ = ["IssuedToken", "TokenEngine", "VerifiedToken", "checked", "new_token_id"]


def new_token_id() -> str:
    """128 random bits, URL-safe: for `jti` and `sid`."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: dict[str, Any]

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def expires_at(self) -> int | None:
        exp = self.claims.get("exp")
        return int(exp) if exp is not None else None


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and claims passed. `claims` is the whole payload."""

    claims: dict[str, Any]
    kid: str

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def sid(self) -> str:
        return str(self.claims["sid"])

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def type(self) -> str:
        return str(self.claims["type"])

    @property
    def expires_at(self) -> int | None:
        exp = self.claims.get("exp")
        return int(exp) if exp is not None else None


class TokenEngine:
    """Signs with the key ring's active key; verifies with the key its `kid` names."""

    def __init__(
        self,
        keyring: KeyRing | None,
        *,
        issuer: str = "fastauth",
        audience: str = "fastauth",
        access_ttl: int | None = 900,
        refresh_ttl: int | None = 7 * 24 * 3600,
        leeway: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: Swapped whole on rotation. None until a key store has loaded keys: issuing then raises
        #: ConfigError and verifying refuses every token.
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.leeway = leeway
        self.clock = clock

    @classmethod
    def from_config(
        cls, config: Any, keyring: KeyRing | None = None, clock: Callable[[], float] = time.time
    ) -> TokenEngine:
        """An engine for `config`: keys from `keyring`, else from the secret or PEM pair it names.

        For an asymmetric algorithm without PEM keys the engine starts with no keys; a key store
        (`fastauth.keys.manager.KeyManager`) fills them in.
        """
        jwt = config.jwt
        return cls(
            keyring if keyring is not None else (KeyRing.from_config(config) if _static_keys(jwt) else None),
            issuer=jwt.issuer,
            audience=jwt.audience,
            access_ttl=jwt.access_token_ttl,
            refresh_ttl=jwt.refresh_token_ttl,
            leeway=jwt.leeway,
            clock=clock,
        )

    def _now(self) -> int:
        return int(self.clock())

    def _claims(
        self,
        kind: str,
        sub: str,
        sid: str,
        ttl: int | None,
        jti: str | None,
        not_after: int | None,
        now: int | None,
    ) -> dict[str, Any]:
        for name, value in (("sub", sub), ("sid", sid)):
            if type(value) is not str or not 0 < len(value) <= 256:
                raise ValueError(f"{name} must be a non-empty string of at most 256 characters")
        issued_at = self._now() if now is None else now
        claims: dict[str, Any] = {
            "sub": sub,
            "type": kind,
            "iat": issued_at,
            "iss": self.issuer,
            "aud": [self.audience],
            "jti": jti or new_token_id(),
            "sid": sid,
        }
        exp = issued_at + ttl if ttl is not None else None
        if not_after is not None:
            exp = not_after if exp is None else min(exp, not_after)
        if exp is not None:
            claims["exp"] = exp
        return claims

    def _sign(self, claims: dict[str, Any], typ: str) -> IssuedToken:
        key = self.keyring.active if self.keyring is not None else None
        if key is None:
            raise ConfigError(
                "no signing key is loaded: give jwt.private_key (PEM), or let fastauth create and share keys "
                "through the database with `await auth.initialize_jwks()` (FastAuth.startup does it)"
            )
        try:
            token = codec.encode(claims, key, typ)
        except (TypeError, ValueError) as error:
            raise HookError(f"custom claims must be JSON-serialisable: {error}") from None
        return IssuedToken(token, claims)

    def access_claims(
        self, sub: str, sid: str, *, not_after: int | None = None, now: int | None = None
    ) -> dict[str, Any]:
        """The claims `issue_access` would sign, for a `modify_jwt` hook to extend before `sign_access`."""
        return self._claims(ACCESS, sub, sid, self.access_ttl, None, not_after, now)

    def sign_access(self, claims: dict[str, Any]) -> IssuedToken:
        """Sign claims built by `access_claims` (plus custom claims checked by `claims.custom_claims`).

        Custom claims are checked against the verifier's own parser first, so a hook can never mint a
        token that every later request would refuse.
        """
        try:
            codec.json_loads_strict(json.dumps(claims, separators=(",", ":"), allow_nan=False).encode())
        except (TokenError, TypeError, ValueError) as error:
            raise HookError(f"custom claims would make an unreadable token: {error}") from None
        return self._sign(claims, ACCESS_TYP)

    def issue_access(
        self,
        sub: str,
        sid: str,
        *,
        extra: Mapping[str, Any] | None = None,
        not_after: int | None = None,
        now: int | None = None,
    ) -> IssuedToken:
        """An access token (`typ: at+jwt`). `not_after` caps `exp` (the session's absolute end)."""
        claims = self.access_claims(sub, sid, not_after=not_after, now=now)
        if extra:
            clash = RESERVED_CLAIMS.intersection(extra)
            if clash:
                raise HookError(f"custom claims may not set reserved claims: {sorted(clash)}")
            claims = {**extra, **claims}
        return self.sign_access(claims)

    def issue_refresh(
        self,
        sub: str,
        sid: str,
        *,
        jti: str | None = None,
        not_after: int | None = None,
        now: int | None = None,
    ) -> IssuedToken:
        """A refresh token (`typ: rt+jwt`); its `jti` is what the session store consumes on rotation."""
        return self._sign(self._claims(REFRESH, sub, sid, self.refresh_ttl, jti, not_after, now), REFRESH_TYP)

    def verify(self, token: object, expected_type: str, *, now: int | None = None) -> VerifiedToken:
        """Structure, key, signature, `typ` and claims; raises a `TokenError` subclass on any failure."""
        ring = self.keyring
        if ring is None:
            raise UnknownKey("no verification keys are loaded")
        header, claims = codec.verify(token, ring)
        return checked(
            header,
            claims,
            expected_type=expected_type,
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
            now=self._now() if now is None else now,
            require_exp=(self.access_ttl if expected_type == ACCESS else self.refresh_ttl) is not None,
        )

    def verify_access(self, token: object, *, now: int | None = None) -> VerifiedToken:
        return self.verify(token, ACCESS, now=now)

    def verify_refresh(self, token: object, *, now: int | None = None) -> VerifiedToken:
        return self.verify(token, REFRESH, now=now)


def _static_keys(jwt: Any) -> bool:
    """Keys that come from the configuration itself (HMAC secret or PEM pair), not from a key store."""
    return bool(jwt.is_hmac or jwt.has_pem_keys)


def checked(
    header: dict[str, Any],
    claims: dict[str, Any],
    *,
    expected_type: str,
    issuer: str,
    audience: str,
    leeway: int,
    now: int,
    require_exp: bool = True,
) -> VerifiedToken:
    """The `typ` and claim rules on a signature-checked token (`codec.verify`'s result).

    One place for every verifier: the engine, `fastauth.verifier` and the fastapi-users strategy.
    """
    validate_typ(header, expected_type)
    validate_claims(
        claims,
        expected_type=expected_type,
        issuer=issuer,
        audience=audience,
        leeway=leeway,
        now=now,
        require_exp=require_exp,
    )
    return VerifiedToken(claims, header["kid"])
