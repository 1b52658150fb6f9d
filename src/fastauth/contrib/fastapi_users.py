"""A drop-in `JWTStrategy` for fastapi-users, built on fastauth's token engine.

Swap one import in an existing fastapi-users application::

    # from fastapi_users.authentication import JWTStrategy
    from fastauth.contrib.fastapi_users import JWTStrategy

The constructor is fastapi-users' own (`secret`, `lifetime_seconds`, `token_audience`, `algorithm`,
`public_key`), and so is the strategy protocol (`read_token`, `write_token`, `destroy_token`). What
changes:

- Tokens are fastauth tokens: header `{alg, kid, typ: "at+jwt"}`, claims `sub`, `aud` (the
  `token_audience` list), `iat`, `exp`, `jti`, `iss`, `sid` and `type: "access"`, signed and verified by
  fastauth's strict codec (no PyJWT). Every claim is checked on the way in.
- `destroy_token` (called by fastapi-users' logout route) revokes the token by its id, instead of
  raising `StrategyDestroyNotSupportedError`: after logout the same token gets 401. The revocation list
  is in memory and shared by every `JWTStrategy` of the process (so the usual "new strategy per request"
  dependency keeps it); pass `revocation=` (any `fastauth.revocation.RevocationList`) to share it
  between workers.
- An HS* secret shorter than the hash output (32 characters for HS256) is refused with `ConfigError`;
  fastapi-users accepts any secret.
- Tokens issued by fastapi-users' own strategy (no `kid`, no `typ`) are refused: users sign in again
  once after the swap. Unless `legacy_tokens_until=` (an aware datetime) is given: until then such tokens
  are accepted too, exactly as fastapi-users writes them (see `JWTStrategy`).
- `lifetime_seconds=None` still means "no expiry", and warns (`FastAuthSecurityWarning`).
- Optionally (`keys=`), keys from fastauth's shared key store: rotated, shared by every worker, a new
  `kid` found by one rate-limited reload (the rule the rest of fastauth uses).

fastapi-users stays an optional dependency: it is imported only when a strategy is created, and only
for its two exceptions (`UserNotExists`, `InvalidID`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import SecretStr

from fastauth.config import FastAuthSecurityWarning
from fastauth.errors import (
    AlgorithmMismatch,
    ConfigError,
    ExpiredToken,
    InvalidClaims,
    InvalidSignature,
    MalformedToken,
    StoreUnavailable,
    TokenError,
    UnknownKey,
)
from fastauth.revocation import MemoryRevocationList, RevocationList
from fastauth.tokens import codec
from fastauth.tokens.algorithms import ALGORITHMS, HMAC_MIN_SECRET
from fastauth.tokens.engine import TokenEngine, VerifiedToken, checked, new_token_id
from fastauth.tokens.keyring import KeyRing, SigningKey
from fastauth.tokens.kinds import ACCESS, KINDS

if TYPE_CHECKING:
    from fastapi_users.manager import BaseUserManager
    from fastapi_users.models import ID, UP

    from fastauth.keys.manager import KeyManager
else:
    UP = TypeVar("UP")
    ID = TypeVar("ID")

__all__ = ["JWTStrategy"]

SecretType = str | SecretStr

DEFAULT_AUDIENCE = "fastapi-users:auth"
#: `until` of a revoked token that has no `exp`: it must be refused for as long as the process lives.
_FOREVER = 253_402_300_799  # 9999-12-31T23:59:59Z: far enough, and valid for every backend (Redis EXAT)

#: The process-wide revocation list used when no `revocation` is given. fastapi-users' documented
#: `get_strategy` dependency builds a new strategy per request, so the list cannot live on the instance.
#: Its keys are random token ids, so strategies with different keys can share it safely.
_PROCESS_REVOCATIONS = MemoryRevocationList()
_ACCESS = KINDS[ACCESS]

#: The one header fastapi-users' strategy writes (PyJWT's default), and its exact claims.
_LEGACY_TYP = "JWT"
_LEGACY_HEADER = frozenset({"alg", "typ"})
_LEGACY_CLAIMS = frozenset({"sub", "aud", "exp"})
_MAX_ID = 256
_MAX_NUMERIC_DATE = 2**53


@lru_cache(maxsize=1)
def _user_errors() -> tuple[type[Exception], ...]:
    """fastapi-users' "no such user" exceptions, caught exactly as its own `JWTStrategy` catches them."""
    try:
        from fastapi_users.exceptions import InvalidID, UserNotExists
    except ImportError:  # pragma: no cover - the extra is installed wherever this module is used
        raise ImportError(
            "fastauth.contrib.fastapi_users needs fastapi-users: pip install 'fastauth[fastapi-users]'"
        ) from None
    return (UserNotExists, InvalidID)


def _text(value: SecretType | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, str):
        return value
    raise ConfigError("secret and public_key must be str or pydantic.SecretStr")


@lru_cache(maxsize=32)
def _keyring(algorithm: str, secret: str, public_key: str | None) -> KeyRing:
    """The key ring for one configuration, built once (PEM parsing is not free, strategies are)."""
    if algorithm in HMAC_MIN_SECRET:
        return KeyRing([SigningKey.from_secret(secret, algorithm)])
    return KeyRing([SigningKey.from_pem(algorithm, secret, public_key)])


def _check_algorithm(algorithm: object, secret: str, public_key: str | None) -> str:
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        supported = sorted(ALGORITHMS)
        raise ConfigError(f"JWTStrategy: unsupported algorithm {algorithm!r}; choose one of {supported}.")
    if ALGORITHMS[algorithm].is_hmac:
        if public_key is not None:
            raise ConfigError(
                f"JWTStrategy: {algorithm} signs and verifies with `secret`; public_key is for RS*, PS*, "
                "ES* and EdDSA. Remove public_key."
            )
        need = HMAC_MIN_SECRET[algorithm]
        if len(secret) < need:
            # fastapi-users accepts any secret; a short HMAC secret can be brute-forced offline from a
            # single token (RFC 8725 §3.5), so fastauth refuses it.
            raise ConfigError(
                f"JWTStrategy: the {algorithm} secret must be at least {need} characters (fastapi-users "
                "accepts shorter ones; fastauth does not). Generate one with `fastauth generate-secret`."
            )
    elif not secret:
        raise ConfigError(
            f"JWTStrategy: {algorithm} signs with the private key: pass its PEM as `secret` "
            "(and the public key PEM as `public_key`)."
        )
    return algorithm


def _legacy_until(value: object) -> float | None:
    """`legacy_tokens_until` as a timestamp; `ConfigError` unless None or a timezone-aware datetime."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ConfigError(
            "JWTStrategy: legacy_tokens_until must be a timezone-aware datetime, such as "
            "datetime.now(timezone.utc) + timedelta(seconds=<the old lifetime_seconds>)."
        )
    return value.timestamp()


def _audiences(token_audience: object) -> list[str]:
    values = [token_audience] if isinstance(token_audience, str) else token_audience
    if not isinstance(values, Sequence) or not values:
        raise ConfigError("JWTStrategy: token_audience must be a non-empty list of strings.")
    audiences = list(values)
    if not all(isinstance(item, str) and 0 < len(item) <= 256 for item in audiences):
        raise ConfigError("JWTStrategy: token_audience must be a non-empty list of non-empty strings.")
    return audiences


class JWTStrategy(Generic[UP, ID]):
    """fastapi-users' `Strategy` protocol on fastauth tokens, with a logout that revokes.

    The positional parameters are fastapi-users' `JWTStrategy`'s. The keyword-only ones are fastauth's:

    - `revocation`: where revoked token ids are kept (default: one in-memory list per process, shared
      by every strategy; give a shared `RevocationList` when you run several workers).
    - `issuer`: the `iss` written and required (default `"fastauth"`).
    - `leeway`: seconds of clock skew tolerated on `exp`, `iat` and `nbf` (default 5).
    - `keys`: sign and verify with fastauth's shared key store (a `fastauth.keys.manager.KeyManager`,
      such as `AuthService.keys`) instead of `secret`/`public_key`: the keys rotate, every worker shares
      them, and a token naming a kid this process has not loaded reloads them once, under the manager's
      unknown-kid rule (`KidReload`, at most one reload a second for all strategies together).
      `algorithm` must be the manager's; `secret` is then not used for tokens.
    - `legacy_tokens_until`: a timezone-aware datetime (default None: off). Until then, tokens written
      by fastapi-users' own `JWTStrategy` with the same key are accepted too: header exactly
      `{alg, typ: "JWT"}` with `alg` the configured algorithm, claims exactly `sub`, `aud` (naming one
      of `token_audience`) and `exp` (checked with `leeway`), within fastauth's size limits. Such a
      token has no id, so `destroy_token` cannot revoke it; it ends at its `exp` or at this date. Not
      with `keys=` (those tokens were signed with `secret`).
    - `clock`: the time source, for tests.
    """

    def __init__(
        self,
        secret: SecretType,
        lifetime_seconds: int | None,
        token_audience: Sequence[str] = (DEFAULT_AUDIENCE,),
        algorithm: str = "HS256",
        public_key: SecretType | None = None,
        *,
        revocation: RevocationList | None = None,
        issuer: str = "fastauth",
        leeway: int = 5,
        keys: KeyManager | None = None,
        legacy_tokens_until: datetime | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._user_errors = _user_errors()
        self.secret = secret
        self.lifetime_seconds = lifetime_seconds
        self.token_audience = _audiences(token_audience)
        self.algorithm = algorithm
        self.public_key = public_key

        secret_text = _text(secret) or ""
        public_text = _text(public_key)
        if keys is not None:
            if algorithm != keys.algorithm or public_key is not None:
                raise ConfigError(
                    f"JWTStrategy: with keys=, algorithm must be the key store's ({keys.algorithm!r}) and "
                    "public_key must not be given."
                )
        else:
            _check_algorithm(algorithm, secret_text, public_text)
        if lifetime_seconds is None:
            warnings.warn(
                "JWTStrategy(lifetime_seconds=None): these tokens never expire; only logout "
                "(destroy_token) can end one, and only while its revocation is remembered.",
                FastAuthSecurityWarning,
                stacklevel=2,
            )
        elif type(lifetime_seconds) is not int or lifetime_seconds <= 0:
            raise ConfigError(
                "JWTStrategy: lifetime_seconds must be a positive number of seconds, or None for tokens "
                "that never expire."
            )
        if type(leeway) is not int or not 0 <= leeway <= 300:
            raise ConfigError("JWTStrategy: leeway must be 0 to 300 seconds.")
        if not isinstance(issuer, str) or not issuer:
            raise ConfigError("JWTStrategy: issuer must be a non-empty string.")
        until = _legacy_until(legacy_tokens_until)
        if until is not None and keys is not None:
            raise ConfigError(
                "JWTStrategy: legacy_tokens_until verifies fastapi-users' tokens with `secret`/`public_key`; "
                "it cannot be combined with keys=. Move to keys= once the window has passed."
            )
        if revocation is not None and not isinstance(revocation, RevocationList):
            raise ConfigError("JWTStrategy: revocation must implement fastauth.revocation.RevocationList.")
        self.revocation: RevocationList = revocation if revocation is not None else _PROCESS_REVOCATIONS
        self.issuer = issuer
        self.leeway = leeway
        self.clock = clock
        self.keys = keys
        self.legacy_tokens_until = legacy_tokens_until
        #: `legacy_tokens_until` as a timestamp (None: fastapi-users' tokens are refused).
        self._legacy_until = until
        #: The static key ring (None with `keys`, whose current ring is used instead).
        self.keyring = _keyring(algorithm, secret_text, public_text) if keys is None else None
        #: The strategy's one static key, which verifies fastapi-users' tokens (None: they are refused).
        self._legacy_key = (
            next(iter(self.keyring)) if self.keyring is not None and until is not None else None
        )
        self.engine = TokenEngine(
            self.keyring,
            issuer=issuer,
            audience=self.token_audience[0],
            access_ttl=lifetime_seconds,
            leeway=leeway,
            clock=clock,
        )

    # fastapi-users reads these two on its own strategy; kept for code that does too.
    @property
    def encode_key(self) -> SecretType:
        """The signing secret or private key PEM (fastapi-users' name)."""
        return self.secret

    @property
    def decode_key(self) -> SecretType:
        """The verification key: `public_key`, else `secret` (fastapi-users' name)."""
        return self.public_key or self.secret

    def _now(self) -> int:
        return int(self.clock())

    def _audience_to_check(self, aud: object) -> str:
        """The first of our audiences the token names; else ours[0], which `validate_claims` refuses.

        `validate_claims` takes one audience; accepting any of several (as fastapi-users does) is done by
        choosing which one to ask for. Every other rule, and the type checks of `aud`, stay the core's.
        """
        named = [aud] if type(aud) is str else aud if type(aud) is list else []
        for wanted in self.token_audience:
            if wanted in named:
                return wanted
        return self.token_audience[0]

    def verify(self, token: object, *, now: int | None = None) -> VerifiedToken:
        """Signature, header and claims (not revocation); raises a `TokenError` subclass on any failure."""
        ring = self.keyring if self.keys is None else self.keys.ring
        if ring is None:
            raise UnknownKey("no keys loaded yet")
        header, claims = codec.verify(token, ring)
        return checked(
            header,
            claims,
            kind=_ACCESS,
            issuer=self.issuer,
            audience=self._audience_to_check(claims.get("aud")),
            leeway=self.leeway,
            now=self._now() if now is None else now,
            require_exp=self.lifetime_seconds is not None,
        )

    async def read_token(self, token: str | None, user_manager: BaseUserManager[UP, ID]) -> UP | None:
        """The user of a valid, unrevoked token, or None: never raises for a bad token or unknown user."""
        if token is None:
            return None
        now = self._now()
        try:
            verified = await self._verify(token, now)
            revoked = await self.revocation.is_revoked(verified.sid, now)
        except TokenError:
            subject = self._legacy_subject(token, now)
            if subject is None:
                return None
        except StoreUnavailable as error:
            raise _unavailable(error) from None
        else:
            if revoked:
                return None
            subject = verified.sub
        try:
            parsed_id = user_manager.parse_id(subject)
            return await user_manager.get(parsed_id)
        except self._user_errors:
            return None

    def _legacy_subject(self, token: object, now: int) -> str | None:
        """The `sub` of a valid fastapi-users token while `legacy_tokens_until` lasts, else None."""
        key = self._legacy_key
        if key is None or self._legacy_until is None or not self.clock() < self._legacy_until:
            return None
        try:
            return self._verify_legacy(token, key, now)
        except TokenError:
            return None

    def _verify_legacy(self, token: object, key: SigningKey, now: int) -> str:
        """A token exactly as fastapi-users' `JWTStrategy` writes it; its `sub`, or a `TokenError`.

        Strict as fastauth's codec: size limits, canonical base64url, strict JSON. The algorithm is the
        configured one and the key the strategy's own. A header with any member but `alg` and `typ: JWT`
        (a `kid`: every fastauth token) or claims other than exactly `sub`, `aud`, `exp` are refused, so no
        fastauth token is ever judged by these weaker rules.
        """
        if not isinstance(token, str):
            raise MalformedToken("token is not text")
        if len(token) > codec.MAX_TOKEN_LENGTH:
            raise MalformedToken("token is too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise MalformedToken("token is not a three-part compact JWS")
        header_segment, payload_segment, signature_segment = parts
        if len(header_segment) > codec.MAX_HEADER_SEGMENT:
            raise MalformedToken("header is too long")
        header = codec.json_loads_strict(codec.b64url_decode(header_segment))
        payload = codec.b64url_decode(payload_segment)
        signature = codec.b64url_decode(signature_segment)
        if header.keys() != _LEGACY_HEADER or header["typ"] != _LEGACY_TYP:
            raise MalformedToken("header is not fastapi-users' {alg, typ: JWT}")
        if header["alg"] != key.alg:  # exact: the configured algorithm, never the token's choice
            raise AlgorithmMismatch("alg is not the configured algorithm")
        try:
            valid = key.verify(f"{header_segment}.{payload_segment}".encode("ascii"), signature)
        except Exception:  # a malformed signature for the key type must never become a 500
            valid = False
        if not valid:
            raise InvalidSignature("signature does not verify")
        claims = codec.json_loads_strict(payload)
        if claims.keys() != _LEGACY_CLAIMS:
            raise InvalidClaims("claims are not exactly fastapi-users' sub, aud and exp")
        sub, aud, exp = claims["sub"], claims["aud"], claims["exp"]
        if type(sub) is not str or not 0 < len(sub) <= _MAX_ID:
            raise InvalidClaims("sub is not a non-empty string")
        named = [aud] if type(aud) is str else aud if type(aud) is list else None
        if named is None or not all(type(item) is str for item in named):
            raise InvalidClaims("aud is not a string or list of strings")
        if not any(wanted in named for wanted in self.token_audience):
            raise InvalidClaims("aud does not include ours")
        if type(exp) is not int or not 0 <= exp <= _MAX_NUMERIC_DATE:
            raise InvalidClaims("exp is not a NumericDate")
        if now >= exp + self.leeway:
            raise ExpiredToken("token has expired")
        return sub

    async def _verify(self, token: object, now: int) -> VerifiedToken:
        """`verify`, and with `keys` one rate-limited reload of the key store for a kid new to us."""
        keys = self.keys
        if keys is None:
            return self.verify(token, now=now)
        return await keys.unknown_kid.retry(lambda: self.verify(token, now=now), keys.refresh)

    async def write_token(self, user: UP) -> str:
        """A fresh access token for `user`; its `sid` is its `jti`, so each token is revocable alone."""
        if self.keys is not None:
            if self.keys.ring is None:
                await self.keys.initialize()
            else:
                await self.keys.maybe_refresh()  # lazy rotation check, cheap unless something is due
            self.engine.keyring = self.keys.ring
        token_id = new_token_id()
        claims: dict[str, Any] = self.engine.access_claims(str(user.id), token_id)
        claims["jti"] = token_id
        claims["aud"] = list(self.token_audience)
        return self.engine.sign_access(claims).token

    async def destroy_token(self, token: str, user: UP) -> None:
        """Revoke `token` until it expires (forever if it has no `exp`).

        A bad token is ignored, and so is a fastapi-users token (`legacy_tokens_until`): it has no id to
        revoke, as with fastapi-users' own strategy.
        """
        try:
            verified = await self._verify(token, self._now())
        except TokenError:
            return  # nothing a bad token could still open
        exp = verified.expires_at
        until = exp + self.leeway if exp is not None else _FOREVER
        try:
            await self.revocation.revoke([verified.sid], until)
        except StoreUnavailable as error:
            raise _unavailable(error) from None


def _unavailable(error: StoreUnavailable) -> Exception:
    """503 with Retry-After, from the web layer's one error table, as the rest of fastauth answers."""
    from fastauth.web.errors import as_http

    return as_http(error)
