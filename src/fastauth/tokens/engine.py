"""Issue and verify tokens of each kind in `fastauth.tokens.kinds`: key ring, codec and claim rules together.

Signing dumps the claims once, checks custom claims against the verifier's own parser, and signs with
the key's precomputed header and bound signer. A token verifies only as the kind asked for (its `typ`
header and its `type` claim both), after the signature and every claim rule.

Framework-free and without I/O. Revocation is not checked here; it belongs to the session layer,
which keys it on `sid`/`jti` (never on the token text, which has several spellings).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastauth.errors import ConfigError, HookError, TokenError, UnknownKey
from fastauth.tokens import codec
from fastauth.tokens.claims import RESERVED_CLAIMS, validate_claims, validate_typ
from fastauth.tokens.keyring import KeyRing
from fastauth.tokens.kinds import ACCESS, KINDS, MFA, REFRESH, TokenKind, kind_table

__all__ = ["IssuedToken", "TokenEngine", "VerifiedToken", "checked", "new_token_id"]


def new_token_id() -> str:
    """128 random bits, URL-safe: for `jti` and `sid`."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed token and the claims it carries."""

    token: str
    claims: dict[str, Any]

    @property
    def jti(self) -> str:
        """The token id."""
        return str(self.claims["jti"])

    @property
    def expires_at(self) -> int | None:
        """`exp`, or None for a token without one."""
        exp = self.claims.get("exp")
        return int(exp) if exp is not None else None


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and claims passed. `claims` is the whole payload."""

    claims: dict[str, Any]
    kid: str

    @property
    def sub(self) -> str:
        """The subject (user id)."""
        return str(self.claims["sub"])

    @property
    def sid(self) -> str:
        """The session id."""
        return str(self.claims["sid"])

    @property
    def jti(self) -> str:
        """The token id."""
        return str(self.claims["jti"])

    @property
    def type(self) -> str:
        """The token kind (`type` claim)."""
        return str(self.claims["type"])

    @property
    def expires_at(self) -> int | None:
        """`exp`, or None for a token without one."""
        exp = self.claims.get("exp")
        return int(exp) if exp is not None else None


class TokenEngine:
    """Signs with the key ring's active key; verifies with the key its `kid` names, as one kind only.

    The kinds come from `fastauth.tokens.kinds.KINDS` unless `kinds` is given; each needs a lifetime:
    `access_ttl` and `refresh_ttl` for the built-in two, `ttls` (kind name -> seconds or None) for others.
    Access tokens carry `client_id` (RFC 9068 §2.2).
    """

    def __init__(
        self,
        keyring: KeyRing | None,
        *,
        issuer: str = "fastauth",
        audience: str = "fastauth",
        access_ttl: int | None = 900,
        refresh_ttl: int | None = 7 * 24 * 3600,
        mfa_ttl: int = 300,
        leeway: int = 5,
        clock: Callable[[], float] = time.time,
        kinds: Iterable[TokenKind] | None = None,
        ttls: Mapping[str, int | None] | None = None,
        client_id: str = "fastauth",
        also_issuers: Iterable[str] = (),
    ) -> None:
        #: Swapped whole on rotation. None until a key store has loaded keys: issuing then raises
        #: ConfigError and verifying refuses every token.
        self.keyring = keyring
        self.issuer = issuer
        #: Earlier issuers of this server whose tokens still verify (`jwt.accept_issuers`).
        self.also_issuers = tuple(name for name in also_issuers if name != issuer)
        self.audience = audience
        #: The `client_id` claim of access tokens.
        self.client_id = client_id
        self.leeway = leeway
        self.clock = clock
        #: Kind name -> kind: the only kinds this engine issues or accepts.
        self.kinds: dict[str, TokenKind] = dict(KINDS) if kinds is None else kind_table(kinds)
        self._ttls: dict[str, int | None] = {
            ACCESS: access_ttl,
            REFRESH: refresh_ttl,
            MFA: mfa_ttl,
            **(ttls or {}),
        }
        missing = sorted(set(self.kinds) - set(self._ttls))
        if missing:
            raise ConfigError(f"token kinds {missing} have no lifetime: give them one in ttls=")
        #: Kind name -> (kind, exp required): what `verify` needs, in one look-up per token.
        self._rules: dict[str, tuple[TokenKind, bool]] = {}
        self._update_rules()

    def _update_rules(self) -> None:
        self._rules = {name: (kind, self._ttls[name] is not None) for name, kind in self.kinds.items()}

    @property
    def access_ttl(self) -> int | None:
        """Access-token lifetime in seconds (None: no `exp`)."""
        return self._ttls[ACCESS]

    @access_ttl.setter
    def access_ttl(self, value: int | None) -> None:
        self._ttls[ACCESS] = value
        self._update_rules()

    @property
    def refresh_ttl(self) -> int | None:
        """Refresh-token lifetime in seconds (None: no `exp`)."""
        return self._ttls[REFRESH]

    @refresh_ttl.setter
    def refresh_ttl(self, value: int | None) -> None:
        self._ttls[REFRESH] = value
        self._update_rules()

    def ttl(self, kind: str) -> int | None:
        """The lifetime of `kind` in seconds (None: no `exp`)."""
        return self._ttls[self._kind(kind).name]

    @classmethod
    def from_config(
        cls, config: Any, keyring: KeyRing | None = None, clock: Callable[[], float] = time.time
    ) -> TokenEngine:
        """An engine for `config`: keys from `keyring`, else from the secret or PEM pair it names.

        Each kind's lifetime is the `JWTConfig` setting its row names. For an asymmetric algorithm
        without PEM keys the engine starts with no keys; a key store
        (`fastauth.keys.manager.KeyManager`) fills them in.
        """
        jwt = config.jwt
        ttls = {name: getattr(jwt, kind.ttl_setting) for name, kind in KINDS.items()}
        return cls(
            keyring if keyring is not None else (KeyRing.from_config(config) if _static_keys(jwt) else None),
            issuer=jwt.issuer,
            audience=jwt.audience,
            access_ttl=ttls[ACCESS],
            refresh_ttl=ttls[REFRESH],
            leeway=jwt.leeway,
            clock=clock,
            ttls=ttls,
            client_id=jwt.client_id,
            also_issuers=jwt.accept_issuers or (),
        )

    def _now(self) -> int:
        return int(self.clock())

    def _kind(self, name: str) -> TokenKind:
        kind = self.kinds.get(name)
        if kind is None:
            raise ConfigError(f"this engine has no token kind {name!r}; it knows {sorted(self.kinds)}")
        return kind

    def build_claims(
        self,
        kind: str,
        sub: str,
        sid: str,
        *,
        jti: str | None = None,
        not_after: int | None = None,
        now: int | None = None,
    ) -> dict[str, Any]:
        """The claims a token of `kind` carries; `not_after` caps `exp` (the session's absolute end)."""
        name = self._kind(kind).name
        for label, value in (("sub", sub), ("sid", sid)):
            if type(value) is not str or not 0 < len(value) <= 256:
                raise ValueError(f"{label} must be a non-empty string of at most 256 characters")
        issued_at = self._now() if now is None else now
        claims: dict[str, Any] = {
            "sub": sub,
            "type": name,
            "iat": issued_at,
            "iss": self.issuer,
            "aud": [self.audience],
            "jti": jti or new_token_id(),
            "sid": sid,
        }
        if name == ACCESS:
            claims["client_id"] = self.client_id
        ttl = self._ttls[name]
        exp = issued_at + ttl if ttl is not None else None
        if not_after is not None:
            exp = not_after if exp is None else min(exp, not_after)
        if exp is not None:
            claims["exp"] = exp
        return claims

    def _sign(self, kind: TokenKind, claims: dict[str, Any], *, custom: bool) -> IssuedToken:
        """Dump once, check (`custom`: against the verifier's own parser), sign once."""
        key = self.keyring.active if self.keyring is not None else None
        if key is None:
            raise ConfigError(
                "no signing key is loaded: give jwt.private_key (PEM), or let fastauth create and share keys "
                "through the database with `await auth.initialize_jwks()` (FastAuth.startup does it)"
            )
        if claims.get("type") != kind.name:
            raise ValueError(f"the type claim must be {kind.name!r} for a {kind.name} token")
        try:
            payload = codec.dump_claims(claims)
            if custom:
                codec.json_loads_strict(payload)
        except (TokenError, TypeError, ValueError) as error:
            raise HookError(f"custom claims would make an unreadable token: {error}") from None
        return IssuedToken(codec.sign_payload(payload, key, kind.typ), claims)

    def sign(self, kind: str, claims: dict[str, Any]) -> IssuedToken:
        """Sign claims from `build_claims(kind, ...)` plus custom ones (checked by `claims.custom_claims`).

        The payload is checked against the verifier's own parser first, so a hook can never mint a token
        that every later request would refuse.
        """
        return self._sign(self._kind(kind), claims, custom=True)

    def issue(
        self,
        kind: str,
        sub: str,
        sid: str,
        *,
        jti: str | None = None,
        extra: Mapping[str, Any] | None = None,
        not_after: int | None = None,
        now: int | None = None,
    ) -> IssuedToken:
        """A token of `kind`; `extra` adds custom claims (never a reserved one)."""
        token_kind = self._kind(kind)
        claims = self.build_claims(kind, sub, sid, jti=jti, not_after=not_after, now=now)
        if not extra:
            return self._sign(token_kind, claims, custom=False)
        clash = RESERVED_CLAIMS.intersection(extra)
        if clash:
            raise HookError(f"custom claims may not set reserved claims: {sorted(clash)}")
        return self._sign(token_kind, {**extra, **claims}, custom=True)

    def access_claims(
        self, sub: str, sid: str, *, not_after: int | None = None, now: int | None = None
    ) -> dict[str, Any]:
        """The claims `issue_access` would sign, for a `modify_jwt` hook to extend before `sign_access`."""
        return self.build_claims(ACCESS, sub, sid, not_after=not_after, now=now)

    def sign_access(self, claims: dict[str, Any]) -> IssuedToken:
        """`sign(ACCESS, claims)`: an access token (`typ: at+jwt`) from `access_claims` plus custom claims."""
        return self._sign(self._kind(ACCESS), claims, custom=True)

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
        return self.issue(ACCESS, sub, sid, extra=extra, not_after=not_after, now=now)

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
        return self.issue(REFRESH, sub, sid, jti=jti, not_after=not_after, now=now)

    def verify(self, token: object, expected_type: str, *, now: int | None = None) -> VerifiedToken:
        """Structure, key, signature, `typ` and claims of a token of kind `expected_type` only.

        Raises a `TokenError` subclass on any failure (`ConfigError` for a kind this engine lacks).
        """
        ring = self.keyring
        if ring is None:
            raise UnknownKey("no verification keys are loaded")
        rule = self._rules.get(expected_type)
        if rule is None:
            raise ConfigError(f"this engine has no token kind {expected_type!r}")
        header, claims = codec.verify(token, ring)
        return checked(
            header,
            claims,
            kind=rule[0],
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
            now=self._now() if now is None else now,
            require_exp=rule[1],
            also_issuers=self.also_issuers,
        )

    def verify_access(self, token: object, *, now: int | None = None) -> VerifiedToken:
        """`verify(token, ACCESS)`."""
        return self.verify(token, ACCESS, now=now)

    def verify_refresh(self, token: object, *, now: int | None = None) -> VerifiedToken:
        """`verify(token, REFRESH)`."""
        return self.verify(token, REFRESH, now=now)


def _static_keys(jwt: Any) -> bool:
    """Keys that come from the configuration itself (HMAC secret or PEM pair), not from a key store."""
    return bool(jwt.is_hmac or jwt.has_pem_keys)


def checked(
    header: dict[str, Any],
    claims: dict[str, Any],
    *,
    kind: TokenKind,
    issuer: str,
    audience: str,
    leeway: int,
    now: int,
    require_exp: bool = True,
    also_issuers: tuple[str, ...] = (),
) -> VerifiedToken:
    """The `typ` and claim rules of `kind` on a signature-checked token (`codec.verify`'s result).

    One place for every verifier: the engine, `fastauth.verifier` and the fastapi-users strategy.
    """
    validate_typ(header, kind)
    validate_claims(
        claims,
        expected_type=kind.name,
        issuer=issuer,
        audience=audience,
        leeway=leeway,
        now=now,
        require_exp=require_exp,
        also_issuers=also_issuers,
    )
    return VerifiedToken(claims, header["kid"])
