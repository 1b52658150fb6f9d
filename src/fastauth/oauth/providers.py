"""The sign-in providers: what fastauth asks each one, and what it accepts back.

The protocol is authlib's (`AsyncOAuth2Client`: the authorization URL with PKCE S256, the code
exchange and its client authentication); discovery, the issuer's JWKS and the ID token's checks go
through httpx and joserfc here, with fastauth's own rules:

- every document is fetched with a timeout and a size cap, and must be a JSON object;
- a discovery document must name exactly the configured issuer, and its endpoints must be https
  (loopback addresses excepted, for development and tests);
- an ID token is verified with a key of the issuer's JWKS (found by its `kid`, refetched once for an
  unknown one), with an algorithm the issuer announces and fastauth supports, never HMAC and never
  `none`; then `iss`, `aud` (and `azp` when `aud` names several), `exp`, `iat`, `nonce` and `sub` must
  hold. The algorithm is never taken from the token alone.

GitHub speaks OAuth 2.0 without OpenID Connect: its identity is the user's numeric id, and the address
its verified primary one from `/user/emails`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

# authlib prefers httpx2 and warns, at import, that it falls back to httpx. Its `deprecate` module adds
# an "always" filter for its own warnings when imported, so it is imported first, then silenced.
from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from fastauth.config import OAuthProviderConfig
from fastauth.errors import ConfigError, OAuthError, ProviderUnavailable
from fastauth.tokens.algorithms import ASYMMETRIC_ALGORITHMS

with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]

__all__ = [
    "GOOGLE_ISSUER",
    "MAX_DOCUMENT",
    "CappedTransport",
    "GitHubProvider",
    "OIDCProvider",
    "Provider",
    "ProviderIdentity",
    "providers_from_config",
]

log = logging.getLogger("fastauth.oauth")

GOOGLE_ISSUER = "https://accounts.google.com"
#: The largest discovery document, JWKS, token answer or API answer read (bytes).
MAX_DOCUMENT = 256 * 1024
#: Seconds the discovery document and the JWKS are kept before they are read again.
CACHE_SECONDS = 3600
#: The shortest time between two JWKS reads forced by an unknown `kid` (a flood of forged tokens
#: must not become a flood of requests to the issuer).
REFETCH_SECONDS = 30
#: Clock skew allowed on the ID token's `exp` and `iat`.
LEEWAY = 60
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """Who the provider says signed in: its `issuer` and `subject` (the key of an identity), and the
    address with whether the provider verified it."""

    provider: str
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None = None
    #: The provider's token answer (access and refresh tokens), kept only with `store_tokens`.
    tokens: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _secure_url(url: object, what: str) -> str:
    """`url` when it is an https URL (http only on a loopback address); `ProviderUnavailable` else."""
    if not isinstance(url, str):
        raise ProviderUnavailable(f"{what} is missing")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host in _LOOPBACK:
        return url
    raise ProviderUnavailable(f"{what} must be an https URL")


async def _json(
    client: httpx.AsyncClient, method: str, url: str, *, total: float, **kwargs: Any
) -> dict[str, Any]:
    """A JSON object from `url`, read with the size cap within `total` seconds (a provider that
    trickles its answer is cut off too); `ProviderUnavailable` for anything else."""
    try:
        async with asyncio.timeout(total):
            return await _read_json(client, method, url, **kwargs)
    except TimeoutError:
        raise ProviderUnavailable(f"{url}: no answer within {total} s") from None


async def _read_json(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        async with client.stream(method, url, **kwargs) as response:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_DOCUMENT:
                raise ProviderUnavailable(f"{url}: answer larger than {MAX_DOCUMENT} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT:
                    raise ProviderUnavailable(f"{url}: answer larger than {MAX_DOCUMENT} bytes")
            status = response.status_code
    except httpx.HTTPError as error:
        raise ProviderUnavailable(f"{url}: {type(error).__name__}") from None
    if status >= 500:
        raise ProviderUnavailable(f"{url}: status {status}")
    try:
        data = json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise ProviderUnavailable(f"{url}: not JSON (status {status})") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{url}: not a JSON object")
    if status >= 400:
        raise OAuthError(f"{url}: status {status}, error {str(data.get('error'))[:100]!r}")
    return data


class _CappedStream(httpx.AsyncByteStream):
    """A response body that stops at `MAX_DOCUMENT` bytes, declared or not (chunked)."""

    def __init__(self, stream: httpx.AsyncByteStream, url: str) -> None:
        self._stream = stream
        self._url = url

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        seen = 0
        async for chunk in self._stream:
            seen += len(chunk)
            if seen > MAX_DOCUMENT:
                raise ProviderUnavailable(f"{self._url}: answer larger than {MAX_DOCUMENT} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class CappedTransport(httpx.AsyncBaseTransport):
    """httpx's transport with every answer's body capped at `MAX_DOCUMENT` bytes: what authlib reads
    (the token answer, GitHub's API) is bounded however the provider sends it."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request`; the answer's body is read through the cap."""
        response = await self._inner.handle_async_request(request)
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_DOCUMENT:
            await response.aclose()
            raise ProviderUnavailable(f"{request.url.host}: answer larger than {MAX_DOCUMENT} bytes")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CappedStream(response.stream, str(request.url.host))
        return response

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()


class Provider:
    """A configured provider: the authorization URL to send the browser to, and the identity that a
    callback's code proves. Subclasses say how (OpenID Connect or GitHub)."""

    #: The scopes asked for when the configuration names none.
    default_scopes: tuple[str, ...] = ("openid", "email", "profile")
    #: Whether the flow carries an OpenID Connect nonce (and an ID token comes back).
    uses_nonce = True

    def __init__(
        self,
        name: str,
        config: OAuthProviderConfig,
        *,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.config = config
        self.display_name = config.display_name or name.capitalize()
        self.scopes = config.scopes if config.scopes is not None else self.default_scopes
        #: The HTTP client for discovery and JWKS (shared by every provider of a service).
        self.http = http
        self._clock = clock

    @property
    def issuer(self) -> str:
        """The issuer identities of this provider are keyed on."""
        raise NotImplementedError

    async def endpoints(self) -> tuple[str, str]:
        """(authorization endpoint, token endpoint)."""
        raise NotImplementedError

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret.get_secret_value(),
            scope=" ".join(self.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self.config.timeout,
            transport=CappedTransport(),
        )

    async def authorization_url(self, *, state: str, nonce: str, verifier: str, redirect_uri: str) -> str:
        """Where to send the browser: the authorization endpoint with `state`, the PKCE S256 challenge
        of `verifier` and (OpenID Connect) `nonce`."""
        authorize, _ = await self.endpoints()
        extra = {"nonce": nonce} if self.uses_nonce else {}
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(authorize, state=state, code_verifier=verifier, **extra)
        return str(url)

    async def _exchange(
        self, code: str, verifier: str, redirect_uri: str
    ) -> tuple[AsyncOAuth2Client, dict[str, Any]]:
        _, token_endpoint = await self.endpoints()
        client = self._client(redirect_uri)
        try:
            async with asyncio.timeout(self.config.timeout):
                token = await client.fetch_token(
                    token_endpoint, code=code, code_verifier=verifier, grant_type="authorization_code"
                )
        except (ProviderUnavailable, OAuthError):
            await client.aclose()
            raise
        except TimeoutError:
            await client.aclose()
            raise ProviderUnavailable(f"{self.name}: token endpoint: no answer in time") from None
        except httpx.HTTPError as error:
            await client.aclose()
            raise ProviderUnavailable(f"{self.name}: token endpoint: {type(error).__name__}") from None
        except (ValueError, TypeError) as error:  # not JSON, not an object: not the protocol
            await client.aclose()
            raise ProviderUnavailable(f"{self.name}: token endpoint: {type(error).__name__}") from None
        except Exception as error:  # authlib's OAuthError: the provider refused the code
            await client.aclose()
            raise OAuthError(f"{self.name}: the code exchange failed ({type(error).__name__})") from None
        if not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
            await client.aclose()
            raise OAuthError(f"{self.name}: the token answer has no access_token")
        return client, dict(token)

    async def identity(self, *, code: str, verifier: str, nonce: str, redirect_uri: str) -> ProviderIdentity:
        """The identity the callback's `code` proves (exchanged with the PKCE `verifier`)."""
        raise NotImplementedError


class OIDCProvider(Provider):
    """Any OpenID Connect issuer, found by discovery (`<issuer>/.well-known/openid-configuration`)."""

    def __init__(
        self,
        name: str,
        config: OAuthProviderConfig,
        *,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, config, http=http, clock=clock)
        issuer = config.issuer if config.issuer is not None else GOOGLE_ISSUER if name == "google" else None
        if issuer is None:
            raise ConfigError(f"oauth provider {name!r} needs its issuer")
        self._issuer = issuer
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = 0.0
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0

    @property
    def issuer(self) -> str:
        """The configured issuer, exactly as the discovery document and the ID tokens must name it."""
        return self._issuer

    async def discovery(self) -> dict[str, Any]:
        """The discovery document (cached an hour); `ProviderUnavailable` when it cannot be read, names
        another issuer, or lacks https endpoints."""
        now = self._clock()
        if self._discovery is not None and now - self._discovered_at < CACHE_SECONDS:
            return self._discovery
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await _json(self.http, "GET", url, total=self.config.timeout, timeout=self.config.timeout)
        if document.get("issuer") != self.issuer:
            raise ProviderUnavailable(
                f"{self.name}: the discovery document names the issuer "
                f"{str(document.get('issuer'))[:200]!r}, not the configured {self.issuer!r}"
            )
        for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            _secure_url(document.get(endpoint), f"{self.name}: {endpoint}")
        self._discovery, self._discovered_at = document, now
        return document

    async def endpoints(self) -> tuple[str, str]:
        """The authorization and token endpoints the discovery document names."""
        document = await self.discovery()
        return str(document["authorization_endpoint"]), str(document["token_endpoint"])

    def _algorithms(self, document: Mapping[str, Any]) -> list[str]:
        """The ID-token algorithms accepted: those the issuer announces that fastauth supports and that
        are asymmetric (default RS256, the one every issuer must support)."""
        announced = document.get("id_token_signing_alg_values_supported")
        names = announced if isinstance(announced, list) else ["RS256"]
        allowed = [name for name in names if isinstance(name, str) and name in ASYMMETRIC_ALGORITHMS]
        if not allowed:
            raise ProviderUnavailable(
                f"{self.name}: the issuer announces no ID-token algorithm fastauth accepts"
            )
        return allowed

    async def _keys(self, *, refresh: bool = False) -> KeySet:
        now = self._clock()
        fresh = self._jwks is not None and now - self._jwks_at < CACHE_SECONDS
        if self._jwks is not None and ((fresh and not refresh) or now - self._jwks_at < REFETCH_SECONDS):
            return self._jwks
        document = await self.discovery()
        data = await _json(
            self.http,
            "GET",
            str(document["jwks_uri"]),
            total=self.config.timeout,
            timeout=self.config.timeout,
        )
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise ProviderUnavailable(f"{self.name}: the JWKS is not a key set") from None
        self._jwks, self._jwks_at = keys, now
        return keys

    async def verify_id_token(self, id_token: object, *, nonce: str) -> dict[str, Any]:
        """The claims of a valid ID token; `OAuthError` for anything else (its reason is logged)."""
        if not isinstance(id_token, str) or len(id_token) > 16 * 1024:
            raise OAuthError(f"{self.name}: no usable id_token in the token answer")
        document = await self.discovery()
        algorithms = self._algorithms(document)
        try:
            header = json.loads(_b64(id_token.split(".", 1)[0]))
        except (ValueError, IndexError):
            raise OAuthError(f"{self.name}: the id_token is not a JWS") from None
        if not isinstance(header, dict) or header.get("alg") not in algorithms:
            raise OAuthError(f"{self.name}: the id_token's algorithm is not one the issuer announces")
        keys = await self._keys()
        kid = header.get("kid")
        if isinstance(kid, str) and not any(key.kid == kid for key in keys.keys):
            keys = await self._keys(refresh=True)
        try:
            token = jwt.decode(id_token, keys, algorithms=algorithms)
        except (JoseError, ValueError, TypeError) as error:
            raise OAuthError(f"{self.name}: the id_token does not verify ({type(error).__name__})") from None
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=LEEWAY,
            iss={"essential": True, "value": self.issuer},
            sub={"essential": True},
            aud={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise OAuthError(f"{self.name}: the id_token's claims are refused ({error.error})") from None
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if self.config.client_id not in audience:
            raise OAuthError(f"{self.name}: the id_token is for another client")
        if len(audience) > 1 and claims.get("azp") != self.config.client_id:
            raise OAuthError(f"{self.name}: the id_token names several audiences but not us as azp")
        if "azp" in claims and claims["azp"] != self.config.client_id:
            raise OAuthError(f"{self.name}: the id_token's azp is another client")
        if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
            raise OAuthError(f"{self.name}: the id_token's sub is not usable")
        return claims

    async def identity(self, *, code: str, verifier: str, nonce: str, redirect_uri: str) -> ProviderIdentity:
        """Exchange the code, verify the ID token, and read who it names."""
        client, token = await self._exchange(code, verifier, redirect_uri)
        await client.aclose()
        claims = await self.verify_id_token(token.get("id_token"), nonce=nonce)
        email = claims.get("email")
        verified = claims.get("email_verified")
        return ProviderIdentity(
            provider=self.name,
            issuer=self.issuer,
            subject=claims["sub"],
            email=email if isinstance(email, str) else None,
            # Only a JSON true counts (some issuers send the string "true"; RFC-wise it is a boolean).
            email_verified=verified is True,
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            tokens={k: v for k, v in token.items() if k in ("access_token", "refresh_token", "expires_at")},
        )


class GitHubProvider(Provider):
    """GitHub's OAuth 2.0 web flow: the user's id from `/user`, the verified primary address from
    `/user/emails`. `github_url` and `github_api_url` point elsewhere for GitHub Enterprise (and for
    the tests' local stand-in, since github.com cannot be reached from there)."""

    default_scopes = ("read:user", "user:email")
    uses_nonce = False

    @property
    def issuer(self) -> str:
        """GitHub's web URL: identities are keyed on (it, the numeric user id)."""
        return self.config.github_url

    async def endpoints(self) -> tuple[str, str]:
        """GitHub's authorize and access-token endpoints."""
        base = self.config.github_url.rstrip("/")
        return f"{base}/login/oauth/authorize", f"{base}/login/oauth/access_token"

    async def identity(self, *, code: str, verifier: str, nonce: str, redirect_uri: str) -> ProviderIdentity:
        """Exchange the code, then ask the API who it is and which address GitHub verified."""
        client, token = await self._exchange(code, verifier, redirect_uri)
        api = self.config.github_api_url.rstrip("/")
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        try:
            user = await _json(client, "GET", f"{api}/user", total=self.config.timeout, headers=headers)
            async with asyncio.timeout(self.config.timeout):
                emails = await self._emails(client, f"{api}/user/emails", headers)
        except TimeoutError:
            raise ProviderUnavailable(f"{self.name}: /user/emails: no answer in time") from None
        finally:
            await client.aclose()
        subject = user.get("id")
        if not isinstance(subject, int) or isinstance(subject, bool):
            raise ProviderUnavailable(f"{self.name}: /user has no numeric id")
        primary = next(
            (
                entry
                for entry in emails
                if isinstance(entry, dict)
                and entry.get("primary") is True
                and isinstance(entry.get("email"), str)
            ),
            None,
        )
        return ProviderIdentity(
            provider=self.name,
            issuer=self.issuer,
            subject=str(subject),
            email=primary["email"] if primary else None,
            email_verified=bool(primary and primary.get("verified") is True),
            name=user.get("name") if isinstance(user.get("name"), str) else None,
            tokens={k: v for k, v in token.items() if k in ("access_token", "refresh_token", "expires_at")},
        )

    async def _emails(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[Any]:
        """`/user/emails`: a JSON array (the one answer of GitHub's that is not an object)."""
        try:
            response = await client.get(url, headers=headers)
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"{url}: {type(error).__name__}") from None
        if response.status_code >= 400 or len(response.content) > MAX_DOCUMENT:
            raise ProviderUnavailable(f"{url}: status {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise ProviderUnavailable(f"{url}: not JSON") from None
        if not isinstance(data, list):
            raise ProviderUnavailable(f"{url}: not a JSON array")
        return data


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def providers_from_config(
    providers: Mapping[str, OAuthProviderConfig],
    *,
    http: httpx.AsyncClient,
    clock: Callable[[], float] = time.time,
) -> dict[str, Provider]:
    """One `Provider` per configured name (`BUILTIN_PROVIDERS` have adapters of their own): `github`
    GitHub's, `google` and every other name OpenID Connect by discovery."""
    made: dict[str, Provider] = {}
    for name, config in providers.items():
        if name == "github":
            made[name] = GitHubProvider(name, config, http=http, clock=clock)
        else:
            made[name] = OIDCProvider(name, config, http=http, clock=clock)
    return made
