"""Verify fastauth tokens in another service, trusting nothing but the auth server's JWKS.

    verifier = JWKSVerifier("https://auth.example.com/.well-known/jwks.json",
                            issuer="https://auth.example.com", audience="my-api")

    @app.get("/orders")
    async def orders(claims: dict = Depends(verifier.get_current_claims)): ...

No database, no keys to configure. The JWKS is fetched with httpx and cached for its
`Cache-Control: max-age` (at least `min_refetch_interval`); a token with an unknown `kid` triggers at
most one re-fetch per `min_refetch_interval` seconds (forged kids cannot turn the verifier into a
JWKS hammer); if the auth server is down the last good JWKS keeps serving. Only the configured URL
is ever fetched: a `jku`, `x5u` or `jwk` inside a token is refused like any other unknown header.
Validation is the server's own: the same strict parser, key binding and claim rules.

Optional revocation polling (`revocation_url`, with `revocation_token` when the server requires
one) asks the auth server every few seconds which sessions were revoked, so a logout reaches this
service within that interval instead of when the access token expires; the trade-off is one small
request per interval and a dependency on the auth server being reachable for freshness (not for
availability).

Optional introspection (`introspection_url`, with `introspection_key`: an API key of this service
holding `fastauth:introspect`) accepts fastauth API keys (`fa_...`), which carry nothing to verify
locally: the auth server is asked (RFC 7662) and its answer kept for `introspection_cache_ttl`
seconds at most (30), never past the key's expiry, so a revoked key is refused within that time. A
JWT is never sent: it is verified here or refused. When the auth server cannot be asked (down,
refusing this service's key, answering nonsense), an uncached key is refused: fail closed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, cast

import httpx
from joserfc.jwk import import_key
from starlette.requests import Request  # a real annotation: FastAPI reads it to inject the request

from fastauth.authz.api_keys import key_hash, looks_like_api_key, well_formed
from fastauth.errors import ConfigError, InvalidApiKey, RevokedToken, TokenError, UnknownKey
from fastauth.tokens import codec
from fastauth.tokens.algorithms import ASYMMETRIC_ALGORITHMS, KEY_ALGORITHMS
from fastauth.tokens.engine import VerifiedToken, checked
from fastauth.tokens.keyring import KeyRing, SigningKey
from fastauth.tokens.kinds import ACCESS, KINDS
from fastauth.tokens.pem import public_key_to_pem
from fastauth.tokens.reload import KidReload

__all__ = ["JWKSVerifier"]

log = logging.getLogger("fastauth.verifier")
_MAX_AGE = re.compile(r"max-age=(\d+)")
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
_MAX_JWKS_BYTES = 256 * 1024
_MAX_INTROSPECTION_BYTES = 64 * 1024
#: The longest an introspection answer is kept: how long a revoked API key may still be accepted.
MAX_INTROSPECTION_CACHE_TTL = 30.0


class JWKSVerifier:
    """Verifies access tokens against the auth server's JWKS (fetched, cached, re-fetched on a new kid)."""

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str] = KEY_ALGORITHMS,
        leeway: int = 5,
        min_refetch_interval: float = 10.0,
        default_max_age: int = 300,
        timeout: float = 5.0,
        revocation_url: str | None = None,
        revocation_poll_interval: float = 5.0,
        revocation_token: str | None = None,
        introspection_url: str | None = None,
        introspection_key: str | None = None,
        introspection_cache_ttl: float = MAX_INTROSPECTION_CACHE_TTL,
        introspection_cache_size: int = 10_000,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        allowed = frozenset(algorithms)
        if not allowed or not allowed <= ASYMMETRIC_ALGORITHMS:
            raise ValueError(
                "JWKSVerifier verifies asymmetric algorithms only (RS*, PS*, ES*, EdDSA); HMAC secrets are "
                "never published in a JWKS."
            )
        token = revocation_token
        if token is not None and not (token.isascii() and token.isprintable()):
            raise ValueError("revocation_token must be printable ASCII: it goes in an Authorization header")
        if (introspection_url is None) != (introspection_key is None):
            raise ValueError("introspection_url and introspection_key go together")
        if introspection_key is not None and not (
            introspection_key.isascii() and introspection_key.isprintable() and introspection_key.strip()
        ):
            raise ValueError("introspection_key must be printable ASCII: it goes in an Authorization header")
        if not 0 <= introspection_cache_ttl <= MAX_INTROSPECTION_CACHE_TTL:
            raise ValueError(
                f"introspection_cache_ttl is 0 to {MAX_INTROSPECTION_CACHE_TTL:g} seconds: a revoked key "
                "is accepted that long"
            )
        if introspection_cache_size < 1:
            raise ValueError("introspection_cache_size must be at least 1")
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.algorithms = allowed
        self.leeway = leeway
        self.min_refetch_interval = min_refetch_interval
        self.default_max_age = default_max_age
        self.revocation_url = revocation_url
        self.revocation_poll_interval = revocation_poll_interval
        #: Sent as `Authorization: Bearer ...` to the revocation list (the server's revocation_list_token).
        self._revocation_headers = {"Authorization": f"Bearer {revocation_token}"} if revocation_token else {}
        self.clock = clock
        self._client = http_client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._owns_client = http_client is None
        self._ring: KeyRing | None = None
        self._expires = 0.0
        #: The unknown-kid rule shared with the session layer: one re-fetch per min_refetch_interval.
        self._unknown_kid = KidReload(min_refetch_interval, clock=clock)
        self._lock = asyncio.Lock()
        self._revoked: dict[str, int] = {}
        self._revocations_checked = float("-inf")
        self.fetch_count = 0
        self.introspection_url = introspection_url
        self.introspection_cache_ttl = introspection_cache_ttl
        self.introspection_cache_size = introspection_cache_size
        self._introspection_headers = {
            "Authorization": f"Bearer {introspection_key}",
            "Accept": "application/json",
        }
        #: key hash -> (kept until, the answer: claims, or None for an inactive key). Hashes, never keys.
        self._introspected: OrderedDict[str, tuple[float, VerifiedToken | None]] = OrderedDict()
        #: key hash -> the request asking about it now: a burst of requests with one key asks once.
        self._asking: dict[str, asyncio.Task[VerifiedToken | None]] = {}
        self.introspection_count = 0

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier created it."""
        if self._owns_client:
            await self._client.aclose()

    # JWKS

    def _parse(self, document: Any) -> KeyRing:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK Set")
        keys: list[SigningKey] = []
        for jwk in document["keys"]:
            try:
                if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
                    raise ValueError("private or malformed member")
                kid, alg = jwk.get("kid"), jwk.get("alg")
                if not isinstance(kid, str) or alg not in self.algorithms or jwk.get("use", "sig") != "sig":
                    raise ValueError(
                        "key without kid, with an algorithm we do not accept, or not for signing"
                    )
                public = import_key({k: v for k, v in jwk.items() if k in {"kty", "n", "e", "crv", "x", "y"}})
                keys.append(
                    SigningKey.from_pem(
                        str(alg), None, public_key_to_pem(cast(Any, public.public_key)), kid=kid
                    )
                )
            except Exception as error:  # one bad key must not take the others down
                log.warning("ignoring a key of the JWKS: %s", type(error).__name__)
        if not keys:
            raise ValueError("no usable key in the JWKS")
        return KeyRing(keys)

    async def _fetch(self) -> None:
        self._unknown_kid.loaded()  # any fetch, scheduled or not, counts against the unknown-kid limit
        self.fetch_count += 1
        try:
            response = await self._client.get(self.jwks_url, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > _MAX_JWKS_BYTES:
                raise ValueError("JWKS too large")
            ring = self._parse(response.json())
        except Exception as error:
            # Keep serving the last good keys; try again after min_refetch_interval.
            log.warning("JWKS fetch from %s failed: %s", self.jwks_url, type(error).__name__)
            self._expires = self.clock() + self.min_refetch_interval
            return
        match = _MAX_AGE.search(response.headers.get("cache-control", ""))
        max_age = int(match.group(1)) if match else self.default_max_age
        self._ring = ring
        # Never more often than min_refetch_interval, whatever the server says: with `max-age=0` every
        # request (and every one of a burst of concurrent requests) would fetch the JWKS again.
        self._expires = self.clock() + min(max(max_age, self.min_refetch_interval), 86400)

    async def _keyring(self) -> KeyRing:
        if self.clock() >= self._expires:
            async with self._lock:
                if self.clock() >= self._expires:  # a failed fetch also pushes _expires forward
                    await self._fetch()
        if self._ring is None:
            raise UnknownKey("no JWKS available")
        return self._ring

    async def _fetch_under_lock(self) -> None:
        async with self._lock:
            await self._fetch()

    # revocation

    async def _poll_revocations(self) -> None:
        if (
            self.revocation_url is None
            or self.clock() - self._revocations_checked < self.revocation_poll_interval
        ):
            return
        self._revocations_checked = self.clock()
        try:
            response = await self._client.get(self.revocation_url, headers=self._revocation_headers)
            if response.status_code == 401:
                log.warning("revocation poll refused (401): give revocation_token the server's token")
                return
            response.raise_for_status()
            data = response.json()
            now = int(self.clock())
            listed = {str(item["sid"]): int(item["until"]) for item in data.get("sessions", [])}
            # The server lists a session until its tokens expire under the server's leeway; ours may be
            # longer, so an entry stays here until `until + leeway` even once the server dropped it.
            merged = {**self._revoked, **listed}
            self._revoked = {sid: until for sid, until in merged.items() if until + self.leeway > now}
        except Exception as error:
            log.warning("revocation poll failed: %s", type(error).__name__)

    # introspection of API keys

    async def _introspect(self, key: str) -> VerifiedToken:
        if self.introspection_url is None:
            raise InvalidApiKey("an API key, and no introspection_url to ask about it")
        if not well_formed(key):
            raise InvalidApiKey("malformed API key")  # a typo or a made-up string: never sent
        digest = key_hash(key)
        entry = self._introspected.get(digest)
        if entry is not None and self.clock() < entry[0]:
            self._introspected.move_to_end(digest)
            answer = entry[1]
        else:
            task = self._asking.get(digest)
            if task is None:
                task = asyncio.get_running_loop().create_task(self._ask(key, digest))
                self._asking[digest] = task
                task.add_done_callback(lambda done: self._asked(digest, done))
            # Shielded: one caller giving up (a client gone) does not cancel the others' answer.
            answer = await asyncio.shield(task)
        if answer is None:
            raise InvalidApiKey("the auth server says the key is not active")
        exp = answer.expires_at
        if exp is not None and int(self.clock()) >= exp + self.leeway:
            raise InvalidApiKey("expired API key")
        # A copy: an application changing the claims it was given must not change the kept answer.
        return VerifiedToken(claims=dict(answer.claims), kid=answer.kid)

    def _asked(self, digest: str, task: asyncio.Task[VerifiedToken | None]) -> None:
        self._asking.pop(digest, None)
        if not task.cancelled():
            task.exception()  # retrieved here too: when every caller gave up, nobody awaits it

    async def _ask(self, key: str, digest: str) -> VerifiedToken | None:
        """POST the key to the introspection endpoint; the answer, kept briefly. `InvalidApiKey` (and
        nothing kept) when there is no usable answer."""
        assert self.introspection_url is not None
        self.introspection_count += 1
        try:
            response = await self._client.post(
                self.introspection_url, data={"token": key}, headers=self._introspection_headers
            )
            if response.status_code in (401, 403):
                log.warning(
                    "introspection refused (%s): give introspection_key an API key holding "
                    "fastauth:introspect",
                    response.status_code,
                )
            response.raise_for_status()
            if len(response.content) > _MAX_INTROSPECTION_BYTES:
                raise ValueError("introspection answer too large")
            answer = self._answer_of(response.json())
        except Exception as error:
            log.warning("introspection at %s failed: %s", self.introspection_url, type(error).__name__)
            raise InvalidApiKey("introspection failed") from None
        until = self.clock() + self.introspection_cache_ttl
        if answer is not None and answer.expires_at is not None:
            until = min(until, answer.expires_at)
        self._introspected[digest] = (until, answer)
        self._introspected.move_to_end(digest)
        while len(self._introspected) > self.introspection_cache_size:
            self._introspected.popitem(last=False)
        return answer

    def _answer_of(self, data: Any) -> VerifiedToken | None:
        """The claims of an active API key's introspection answer, None for an inactive one;
        `ValueError` for an answer that is neither (not fastauth's, or not about an API key)."""
        if not isinstance(data, dict) or type(data.get("active")) is not bool:
            raise ValueError("not an introspection answer")
        if not data["active"]:
            return None
        if data.get("token_use") != "api_key" or data.get("iss") != self.issuer:
            raise ValueError("not an API key of this issuer")
        sub, scope, client_id = data.get("sub"), data.get("scope", ""), data.get("client_id")
        if not all(type(v) is str for v in (sub, scope, client_id)) or not sub:
            raise ValueError("malformed introspection answer")
        claims: dict[str, Any] = {
            "sub": sub,
            "type": "api_key",
            "scope": scope,
            "client_id": client_id,
            "iss": self.issuer,
        }
        for name in ("iat", "exp"):
            if name in data:
                if type(data[name]) is not int:
                    raise ValueError(f"malformed {name}")
                claims[name] = data[name]
        if type(data.get("username")) is str:
            claims["username"] = data["username"]
        return VerifiedToken(claims=claims, kid="")

    # verification

    async def verify(self, token: object, expected_type: str = ACCESS) -> VerifiedToken:
        """Verified claims, or a `TokenError` subclass.

        Only kinds a resource server may accept (`fastauth.tokens.kinds`: access tokens) can be asked
        for; another kind is a `ConfigError`. An API key (`fa_...`) is introspected when
        `introspection_url` is set (its claims: `sub`, `type="api_key"`, `scope`, `client_id`, `iss`,
        `iat`, `exp` when it expires, `username`), refused otherwise.
        """
        kind = KINDS.get(expected_type)
        if kind is None or "resource" not in kind.verified_by:
            raise ConfigError(f"JWKSVerifier does not accept {expected_type!r} tokens, only access tokens")
        if isinstance(token, str) and looks_like_api_key(token):
            return await self._introspect(token)
        ring = await self._keyring()
        try:
            header, claims = codec.verify(token, ring)
        except UnknownKey:
            if not await self._unknown_kid.reload(self._fetch_under_lock) or self._ring is None:
                raise
            header, claims = codec.verify(token, self._ring)
        verified = checked(
            header,
            claims,
            kind=kind,
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
            now=int(self.clock()),
        )
        if self.revocation_url is not None:
            await self._poll_revocations()
            if verified.sid in self._revoked:
                raise RevokedToken("session revoked")
        return verified

    async def get_current_claims(self, request: Request) -> dict[str, Any]:
        """FastAPI dependency: the verified claims of the request's bearer token, or 401."""
        from fastapi import HTTPException

        from fastauth.web.transports import bearer_token

        raw = bearer_token(request)
        if raw is None:
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        try:
            return (await self.verify(raw.value)).claims
        except TokenError:
            raise HTTPException(
                401, "Invalid or expired token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
