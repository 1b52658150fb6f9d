"""Configuration: `FastAuthConfig`, `JWTConfig` and `EmailConfig`.

Readable from code, from `FASTAUTH_*` environment variables (nested with `__`, e.g.
`FASTAUTH_JWT__ALGORITHM`), from a `.env` file, and from the common FastAPI names `SECRET_KEY`,
`ALGORITHM`, `ACCESS_TOKEN_EXPIRE_MINUTES` and `REFRESH_TOKEN_EXPIRE_DAYS` when the prefixed ones are
absent. Everything is checked at construction; errors say what to fix and never echo a secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
import warnings
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from fastauth.errors import ConfigError
from fastauth.fields import UserFields, Username, describe, import_fields
from fastauth.tokens.algorithms import HMAC_ALGORITHMS, HMAC_MIN_SECRET, Algorithm
from fastauth.tokens.pem import PrivateKey, PublicKey, load_pem_pair

__all__ = [
    "BUILTIN_PROVIDERS",
    "LEGACY_ENV",
    "SECRET_ENV_NAMES",
    "AuthzConfig",
    "EmailConfig",
    "FastAuthConfig",
    "FastAuthSecurityWarning",
    "JWTConfig",
    "OAuthProviderConfig",
    "PasskeyConfig",
]


class FastAuthSecurityWarning(UserWarning):
    """A configuration that works but weakens security (e.g. tokens that never expire)."""


def _friendly(error: ValidationError, model: str) -> ConfigError:
    """Turn pydantic's error into a ConfigError that never repeats the input (it may hold secrets)."""
    lines: list[str] = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing" and where == "secret":
            message = "is required: set FASTAUTH_SECRET (create one with `fastauth generate-secret`)"
        if message.startswith("invalid ") and "\n" in message:  # a nested model's ConfigError
            inner = [line.strip() for line in message.splitlines()[1:]]
        else:
            inner = [message]
        lines.extend(f"  {where}: {m}" if where else f"  {m}" for m in inner)
    return ConfigError(f"invalid {model}:\n" + "\n".join(lines))


class JWTConfig(BaseModel):
    """How tokens are signed and for how long they live. Times are in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    algorithm: Algorithm = "HS256"
    access_token_ttl: int | None = Field(default=900, gt=0)
    refresh_token_ttl: int | None = Field(default=7 * 24 * 3600, gt=0)
    #: Seconds between a first factor and the second (the MFA token of a sign-in that needs one).
    mfa_token_ttl: int = Field(default=300, ge=30, le=900)
    #: Absolute cap of a login session; refreshing never extends it.
    session_max_age: int = Field(default=30 * 24 * 3600, gt=0)
    #: Seconds during which the refresh token spent by the latest rotation is refused *without* revoking
    #: its session (concurrent refreshes from two tabs). 0: every reuse revokes the session.
    refresh_reuse_grace: int = Field(default=0, ge=0, le=60)
    #: Opt-in to `None` lifetimes (tokens valid forever). Off by default; warns when used.
    allow_unlimited_ttl: bool = False
    #: The `iss` of every token. Default: `public_url` when that is set (an RFC 8414 issuer is an https
    #: URL), else "fastauth".
    issuer: str = Field(default="fastauth", min_length=1)
    #: Earlier issuers whose tokens (signed by this server's keys) still verify after an issuer change.
    #: Default: "fastauth" when the issuer follows `public_url`, so tokens issued before an upgrade
    #: keep working (nobody is signed out); empty it (`FASTAUTH_JWT__ACCEPT_ISSUERS=[]`) once
    #: `session_max_age` has passed.
    accept_issuers: tuple[str, ...] | None = None
    audience: str = Field(default="fastauth", min_length=1)
    #: The `client_id` claim of access tokens (RFC 9068 §2.2): the client the tokens are issued to. Every
    #: token goes to the application's own first-party client, so this is one configured value.
    client_id: str = Field(default="fastauth", min_length=1, max_length=256)
    #: Clock skew tolerated on `exp`, `nbf` and `iat`.
    leeway: int = Field(default=5, ge=0, le=300)
    private_key: SecretStr | None = None
    public_key: str | None = None
    jwks_enabled: bool = True
    #: Seconds between automatic signing-key rotations (asymmetric algorithms); `None` never rotates.
    key_rotation_interval: int | None = Field(default=None, gt=0)
    #: `max-age` of the JWKS document, and so how early the next key is published.
    jwks_cache_max_age: int = Field(default=300, ge=0)

    _private: PrivateKey | None = PrivateAttr(default=None)
    _public: PublicKey | None = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise _friendly(error, "JWTConfig") from None

    @model_validator(mode="after")
    def _check(self) -> JWTConfig:
        for name in ("access_token_ttl", "refresh_token_ttl"):
            if getattr(self, name) is None:
                if not self.allow_unlimited_ttl:
                    raise ValueError(
                        f"{name}=None makes tokens valid forever; give a lifetime in seconds, or set "
                        "allow_unlimited_ttl=True to accept that risk."
                    )
                warnings.warn(
                    f"{name}=None: these tokens never expire; only revocation can end them.",
                    FastAuthSecurityWarning,
                    stacklevel=2,
                )
        if self.algorithm in HMAC_ALGORITHMS:
            if self.private_key is not None or self.public_key is not None:
                raise ValueError(
                    f"{self.algorithm} signs with `secret`; private_key/public_key are for RS*, PS*, ES* and "
                    "EdDSA. Remove the keys or choose an asymmetric algorithm."
                )
        elif self.private_key is not None or self.public_key is not None:
            private_pem = self.private_key.get_secret_value() if self.private_key else None
            try:
                self._private, self._public = load_pem_pair(self.algorithm, private_pem, self.public_key)
            except ConfigError as error:  # pydantic reports ValueErrors only; ConfigError is not one
                raise ValueError(str(error)) from None
        return self

    @property
    def is_hmac(self) -> bool:
        """Whether tokens are signed with the shared secret (HS*)."""
        return self.algorithm in HMAC_ALGORITHMS

    @property
    def has_pem_keys(self) -> bool:
        """Whether a PEM key pair was configured (else keys live in the database)."""
        return self._public is not None

    def pem_keys(self) -> tuple[PrivateKey | None, PublicKey | None]:
        """The parsed PEM pair (parsed once, at construction)."""
        return self._private, self._public


#: Hosts where an SMTP login without TLS does not cross a network.
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

#: Provider names with an adapter of their own; any other name is an OpenID Connect issuer.
BUILTIN_PROVIDERS = frozenset({"google", "github"})
_PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def _is_loopback_url(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() in _LOOPBACK_HOSTS


class OAuthProviderConfig(BaseModel):
    """One sign-in provider (`FASTAUTH_OAUTH__<NAME>__<FIELD>`): `google`, `github`, or any OpenID
    Connect issuer by discovery (`issuer`). The redirect URI to register at the provider is
    `{public_url}{route_prefix}/oauth/<name>/callback`."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    client_id: str = Field(min_length=1, max_length=512)
    #: Never shown in repr or errors.
    client_secret: SecretStr
    #: The OpenID Connect issuer (discovery at `<issuer>/.well-known/openid-configuration`): required
    #: for a generic provider, `https://accounts.google.com` for `google`, unused for `github`.
    issuer: str | None = None
    #: The scopes asked for; default `openid email profile` (GitHub: `read:user user:email`).
    scopes: tuple[str, ...] | None = None
    #: The name on the sign-in page's button ("Continue with ..."); default the provider's name.
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    #: Implicit linking (opt-in): a first sign-in whose provider-verified email matches a local account
    #: that is verified too joins that account (its password is removed, its sessions end). Off: the
    #: person signs in as usual and links the provider from their account.
    link_verified_email: bool = False
    #: Keep the provider's access and refresh tokens, sealed like the signing keys (off: never stored).
    store_tokens: bool = False
    #: GitHub only: where its web flow and its API live (a GitHub Enterprise server; the tests' stand-in).
    github_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    #: Seconds allowed for each call to the provider.
    timeout: float = Field(default=10.0, gt=0, le=60)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise _friendly(error, "OAuthProviderConfig") from None

    @model_validator(mode="after")
    def _check(self) -> OAuthProviderConfig:
        for name in ("issuer", "github_url", "github_api_url"):
            url = getattr(self, name)
            if url is None:
                continue
            parts = urlsplit(url)
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
                raise ValueError(f"{name} must be an absolute https URL, like 'https://login.example.com'.")
            if parts.scheme == "http" and not _is_loopback_url(url):
                raise ValueError(
                    f"{name} must be https ({url!r} is not): only loopback addresses (127.0.0.1, "
                    "localhost), for development and tests, may use plain http."
                )
        return self


_HOST = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class PasskeyConfig(BaseModel):
    """Passkeys (WebAuthn): the relying party (`FASTAUTH_PASSKEYS__<FIELD>`).

    Nothing set: the RP ID is `public_url`'s host and the one allowed origin is `public_url`'s origin.
    An IP address cannot be an RP ID (WebAuthn §5.1.3) and browsers run ceremonies only on https (or
    http://localhost), so with no `public_url`, or one on an IP address or plain http elsewhere,
    passkeys are off until `rp_id` and `origins` are set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The RP ID: a domain (`example.com`), the host of every origin or a parent domain of it.
    rp_id: str | None = None
    #: The name authenticators show; default: `email.app_name`.
    rp_name: str | None = Field(default=None, min_length=1, max_length=100)
    #: The origins pages may run a ceremony from (`https://app.example.com`); https, or http on
    #: `localhost` for development.
    origins: tuple[str, ...] = ()
    #: Seconds a ceremony (its challenge) may take.
    challenge_ttl: int = Field(default=300, ge=30, le=900)

    def resolved(self, public_url: str | None) -> PasskeyConfig:
        """This configuration with the defaults from `public_url` filled in and checked (`ValueError`
        saying what to change); `rp_id` stays None when passkeys are off."""
        rp_id, origins = self.rp_id, self.origins
        if rp_id is None:  # follow public_url, where a browser can run a ceremony at all
            parts = urlsplit(public_url) if public_url else None
            host = parts.hostname if parts is not None else None
            if parts is None or host is None or _is_ip(host):
                return self
            if parts.scheme != "https" and host != "localhost":
                return self
            rp_id = host
        rp_id = rp_id.lower()
        if _is_ip(rp_id) or not _HOST.fullmatch(rp_id):
            raise ValueError(
                f"passkeys.rp_id must be a domain name such as 'example.com' or 'localhost', not an IP "
                f"address or URL (got {rp_id!r})."
            )
        if not origins:
            if public_url is None:
                raise ValueError(
                    "passkeys.rp_id needs the origins pages run passkey ceremonies from: set "
                    "FASTAUTH_PASSKEYS__ORIGINS (like '[\"https://app.example.com\"]') or public_url."
                )
            origins = (_origin_of(public_url),)
        for origin in origins:
            parts = urlsplit(origin)
            host = parts.hostname or ""
            secure = parts.scheme == "https" or (parts.scheme == "http" and host == "localhost")
            if not secure or origin != _origin_of(origin) or parts.path or not host:
                raise ValueError(
                    f"passkeys.origins entries must be origins like 'https://app.example.com' (http only "
                    f"for localhost), without a path or a trailing '/' (got {origin!r})."
                )
            if host != rp_id and not host.endswith(f".{rp_id}"):
                raise ValueError(
                    f"passkeys.origins entry {origin!r} is not on the RP ID {rp_id!r} or a subdomain of it; "
                    "browsers refuse such a ceremony (set passkeys.rp_id to a domain both share)."
                )
        return self.model_copy(update={"rp_id": rp_id, "origins": tuple(origins)})


class AuthzConfig(BaseModel):
    """Roles, permissions and API keys (`FASTAUTH_AUTHZ__<FIELD>`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    #: Roles written at every start (name -> permissions), e.g.
    #: `FASTAUTH_AUTHZ__ROLES='{"editor": ["posts:write"]}'`; the admin API cannot change these.
    roles: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: Access tokens carry `roles` and `scope` (the roles' permissions); both are then reserved claims
    #: for `modify_jwt`. Off: fastauth writes neither (a hook may), and the checks read the user.
    roles_in_token: bool = True
    #: Superusers pass `require_permissions` and `require_roles` whatever they hold (read from the
    #: user, so a refused token costs one cached read). Off: only the admin API lets them in.
    superuser_bypass: bool = False
    #: The first superuser, created at start-up when no account has this address (with the password
    #: below, or none: they then use "forgot password"). Idempotent.
    first_superuser_email: str | None = None
    first_superuser_password: SecretStr | None = None

    #: API keys (`POST {route_prefix}/api-keys`, `Authorization: Bearer fa_...`).
    api_keys_enabled: bool = True
    #: Also read keys from this header (e.g. `X-API-Key`); None: the Authorization header only.
    api_key_header: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    #: Longest lifetime of a key, in seconds (None: keys may never expire), and the default one.
    api_key_max_ttl: int | None = Field(default=365 * 24 * 3600, gt=0)
    api_key_default_ttl: int | None = Field(default=90 * 24 * 3600, gt=0)
    #: Live keys one user may hold.
    api_keys_per_user: int = Field(default=50, ge=1, le=10_000)
    #: Requests one key may make (`limits` notation).
    api_key_rate_limit: str = "600/minute"
    #: Seconds a checked key stays cached: without Redis, how long a revocation takes to reach the
    #: other processes (with Redis it reaches them at once).
    api_key_cache_ttl: float = Field(default=30.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> AuthzConfig:
        from fastauth.authz.permissions import check_permission, check_role_name
        from fastauth.errors import InvalidRole

        for name, permissions in self.roles.items():
            try:
                check_role_name(name)
                for permission in permissions:
                    check_permission(permission)
            except InvalidRole as error:
                raise ValueError(f"roles[{name!r}]: {error}") from None
        ttl, longest = self.api_key_default_ttl, self.api_key_max_ttl
        if longest is not None and (ttl is None or ttl > longest):
            raise ValueError("api_key_default_ttl must be set and at most api_key_max_ttl.")
        if (self.first_superuser_password is not None) and self.first_superuser_email is None:
            raise ValueError("first_superuser_password needs first_superuser_email.")
        return self


class EmailConfig(BaseModel):
    """How fastauth sends mail (`fastauth.mail`). Nothing set: no sender, the mail flows are off.

    `console=True` prints every mail instead of sending it (development); `smtp_host` sends through
    SMTP. Links in mails start with `link_base_url`, else with `public_url`, never with a request's
    Host header.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    smtp_host: str | None = Field(default=None, min_length=1)
    #: `None`: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_username: str | None = Field(default=None, min_length=1)
    #: Never shown in repr or errors.
    smtp_password: SecretStr | None = None
    #: "starttls": upgrade a plain connection and refuse a server that cannot; "tls": TLS from the
    #: first byte (port 465); "none": no encryption (a relay on the same host only, when logging in).
    smtp_tls: Literal["none", "starttls", "tls"] = "starttls"
    #: Seconds allowed for each SMTP step (connect, each command); a whole send gets four times this.
    smtp_timeout: float = Field(default=10.0, gt=0, le=300)
    #: The sender's address (`From:`); required with `smtp_host`.
    from_address: str | None = None
    #: An optional display name for `From:`, like "Example Accounts".
    from_name: str | None = Field(default=None, min_length=1, max_length=200)
    #: Base of the links in mails, for an API-only deployment whose pages live in its own frontend
    #: (`https://app.example.com`); default: `public_url` followed by `route_prefix`.
    link_base_url: str | None = None
    #: The name mails give the service, in subjects and text.
    app_name: str = Field(default="fastauth", min_length=1, max_length=100)
    #: A folder whose templates override the built-in ones, file by file (`verify_email.html`, ...).
    template_dir: Path | None = None
    #: Print each mail (with its link) to standard error instead of sending it. For development only.
    console: bool = False
    #: Further attempts after a failed send, with a growing pause between them.
    retries: int = Field(default=3, ge=0, le=10)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise _friendly(error, "EmailConfig") from None

    @model_validator(mode="after")
    def _check(self) -> EmailConfig:
        if self.from_address is not None:
            _check_email_address(self.from_address)
        for name in ("from_name", "app_name"):
            value = getattr(self, name)
            if value is not None and any(c in value for c in "\r\n"):
                raise ValueError(f"{name} must be one line (no line breaks).")
        if self.smtp_host is not None and self.from_address is None:
            raise ValueError(
                "from_address is required to send through SMTP: set FASTAUTH_EMAIL__FROM_ADDRESS, like "
                "'accounts@example.com'."
            )
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError(
                "smtp_username and smtp_password go together: set both FASTAUTH_EMAIL__SMTP_USERNAME and "
                "FASTAUTH_EMAIL__SMTP_PASSWORD, or neither."
            )
        if (
            self.smtp_username is not None
            and self.smtp_tls == "none"
            and (self.smtp_host or "").lower() not in _LOOPBACK_HOSTS
        ):
            raise ValueError(
                "smtp_tls='none' would send the SMTP password unencrypted over the network: use "
                "'starttls' (port 587) or 'tls' (port 465)."
            )
        if self.link_base_url is not None:
            parts = urlsplit(self.link_base_url)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.query
                or parts.fragment
                or self.link_base_url.endswith("/")
            ):
                raise ValueError(
                    "link_base_url must be an absolute http(s) URL without a trailing '/', a query or a "
                    "fragment, like 'https://app.example.com' or 'https://example.com/account'."
                )
        if self.template_dir is not None and not self.template_dir.is_dir():
            raise ValueError(
                f"template_dir {str(self.template_dir)!r} is not a folder; create it or unset "
                "FASTAUTH_EMAIL__TEMPLATE_DIR."
            )
        return self

    @property
    def port(self) -> int:
        """`smtp_port`, or the usual port of `smtp_tls`."""
        if self.smtp_port is not None:
            return self.smtp_port
        return {"starttls": 587, "tls": 465, "none": 25}[self.smtp_tls]


def _check_email_address(address: str) -> None:
    """A plain address (`name@example.com`); the message says what is wrong without DNS look-ups."""
    from email_validator import EmailNotValidError, validate_email

    if any(c in address for c in "\r\n<>"):
        raise ValueError(
            "from_address must be a plain address like 'accounts@example.com'; put a display name in "
            "from_name."
        )
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"from_address is not a valid email address: {error}") from None


#: The common FastAPI names read when no `FASTAUTH_*` variable of the same meaning is set: each name's
#: (group, field, unit its whole number is multiplied by, or None for text). Written once; the
#: settings source and `fastauth serve`'s development-mode check both read it.
LEGACY_ENV: dict[str, tuple[str | None, str, int | None]] = {
    "SECRET_KEY": (None, "secret", None),
    "ALGORITHM": ("jwt", "algorithm", None),
    "ACCESS_TOKEN_EXPIRE_MINUTES": ("jwt", "access_token_ttl", 60),
    "REFRESH_TOKEN_EXPIRE_DAYS": ("jwt", "refresh_token_ttl", 86400),
}
#: Either of these configures the secret (`fastauth serve` runs in development mode without one).
SECRET_ENV_NAMES = ("FASTAUTH_SECRET", "SECRET_KEY")


class _LegacyNamesSource(PydanticBaseSettingsSource):
    """The plain names of `LEGACY_ENV`, from the environment and the `.env` file(s).

    Lowest priority: a `FASTAUTH_*` variable of the same meaning always wins.
    """

    def __init__(self, settings_cls: type[BaseSettings], env_file: Any) -> None:
        super().__init__(settings_cls)
        #: The dotenv source's file(s), so `_env_file=...` given at construction applies here too.
        self.env_file = env_file

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def _raw(self) -> dict[str, str]:
        found: dict[str, str] = {}
        env_files = [self.env_file] if isinstance(self.env_file, str | Path) else list(self.env_file or ())
        for env_file in env_files:  # later files win, as in pydantic-settings
            if Path(env_file).is_file():
                for key, value in dotenv_values(env_file).items():
                    if key.upper() in LEGACY_ENV and value is not None:
                        found[key.upper()] = value
        for key, value in os.environ.items():
            if key.upper() in LEGACY_ENV:
                found[key.upper()] = value
        return found

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, text in self._raw().items():
            group, field, unit = LEGACY_ENV[name]
            value: str | int = text
            if unit is not None:
                try:
                    value = int(text) * unit
                except ValueError:
                    raise ConfigError(f"{name} must be a whole number, got {text!r}.") from None
            (out.setdefault(group, {}) if group else out)[field] = value
        return out


#: RFC 6750 b64token (token68), at least 32 characters: what a Bearer header can carry as is.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]{32,}=*")


def _check_redis_url(url: str) -> None:
    """A Redis URL redis-py can use; the message never repeats the URL (it may hold a password)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError("redis_url is not a valid URL (check the host and port).") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            "redis_url must start with redis://, rediss:// or unix://, like redis://host:6379/0."
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError("redis_url needs a host, like redis://host:6379/0.")


#: Arguments of the seed project FastAuth's `FastAuthConfig` that belong elsewhere here, and where.
_SEED_NAMES = {
    "providers": "email and password sign-in is always on; drop it",
    "adapter": "give the store to FastAuth(config, adapter=SQLAlchemyAdapter(engine_url=...)), or set "
    "database_url",
    "token_adapter": "refresh tokens live in the same store; drop it",
    "hooks": "give them to FastAuth(config, hooks=...)",
    "email_transport": "configure email (FASTAUTH_EMAIL__SMTP_HOST, ...) or send mail from the hooks",
    "base_url": "use public_url",
    "debug": "use cookie_secure=False for plain-HTTP development",
}


class FastAuthConfig(BaseSettings):
    """Everything fastauth needs to know. Only `secret` is required."""

    model_config = SettingsConfigDict(
        env_prefix="FASTAUTH_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    #: Signs HS* tokens and CSRF tokens and encrypts stored private keys. Never shown in repr or errors.
    secret: SecretStr
    jwt: JWTConfig = Field(default_factory=JWTConfig)
    #: Mail (`FASTAUTH_EMAIL__<FIELD>`); the default sends nothing and leaves the mail flows off.
    email: EmailConfig = Field(default_factory=EmailConfig)
    #: Passkeys (`FASTAUTH_PASSKEYS__<FIELD>`); the default follows `public_url` (off on an IP address).
    passkeys: PasskeyConfig = Field(default_factory=PasskeyConfig)
    #: Roles, permissions and API keys (`FASTAUTH_AUTHZ__<FIELD>`).
    authz: AuthzConfig = Field(default_factory=AuthzConfig)

    database_url: str = Field(default="sqlite+aiosqlite:///./fastauth.db", repr=False)  # may hold a password
    #: SQLAlchemy connection pool of a server database (PostgreSQL...): connections kept open, and how
    #: many more may open under load. SQLite ignores both. Size them to the database's max_connections
    #: divided by the number of processes.
    database_pool_size: int = Field(default=5, ge=1, le=1000)
    database_max_overflow: int = Field(default=10, ge=0, le=1000)
    #: Redis for many processes: shared revocation, rate limits and cache invalidation.
    redis_url: str | None = Field(default=None, repr=False)  # may hold a password
    #: When Redis is unreachable, GET/HEAD/OPTIONS go on without the revocation check (a revoked token
    #: may pass until Redis is back) instead of 503. Writes always fail closed.
    redis_fail_open_reads: bool = False
    route_prefix: str = "/auth"
    #: The server's public base URL (`https://auth.example.com`), used for the URLs in the RFC 8414
    #: metadata. `None`: taken from the request (its Host header), fine behind a proxy that sets it.
    public_url: str | None = None

    #: Sign-in providers by name (`FASTAUTH_OAUTH__GOOGLE__CLIENT_ID`, ...): `google`, `github`, or any
    #: other name for an OpenID Connect issuer. Needs `public_url` (the redirect URIs are built from it).
    oauth: dict[str, OAuthProviderConfig] = Field(default_factory=dict)
    #: Where a provider sign-in may send the browser back to (`redirect_to`): origins or URL prefixes
    #: such as `https://app.example.com`. Default: the origin of `public_url`.
    oauth_redirect_allowlist: tuple[str, ...] = ()
    #: Seconds a started provider sign-in may take (its state, PKCE verifier and nonce expire).
    oauth_state_ttl: int = Field(default=600, ge=60, le=3600)
    #: An account without a password (signed up through a provider) confirms deleting itself or
    #: changing its email by a sign-in at most this many seconds old, instead of a password.
    recent_sign_in_window: int = Field(default=300, ge=30, le=86400)

    #: "json": both tokens in the response body (Bearer header). "cookie": both in HTTP-only cookies, with
    #: CSRF protection. "refresh_cookie": access token in the body, refresh token in an HTTP-only cookie.
    token_delivery: Literal["json", "cookie", "refresh_cookie"] = "json"
    cookie_secure: bool = True
    cookie_domain: str | None = None
    #: Per-request cookie delivery for browsers next to API clients: with it, a register, login or refresh
    #: request carrying the header `X-Fastauth-Delivery: cookie` gets "cookie" delivery (tokens in
    #: HTTP-only cookies, CSRF enforced), and access cookies are accepted; other requests keep
    #: `token_delivery`. `fastauth serve` turns it on.
    cookie_opt_in: bool = False
    #: Origins of other sites' pages that may sign in with cookie delivery (an app on a sibling
    #: subdomain, `https://app.example.com`). Same-origin pages, `public_url`, the passkey origins
    #: and `oauth_redirect_allowlist` need no entry; any other page's sign-in is refused (login CSRF).
    cookie_sign_in_origins: tuple[str, ...] = ()
    #: Serve the sign-in page at `/` (`auth.mount(app)`); needs cookie delivery (`cookie_opt_in` or
    #: `token_delivery="cookie"`). `fastauth serve` turns it on.
    ui_enabled: bool = False

    #: The application's own user fields: a `fastauth.UserFields` subclass, or its import path
    #: `package.module:ClassName` (`FASTAUTH_USER_FIELDS`); each is a column of `fastauth_users`
    #: (docs/user-fields.md).
    user_fields: type[UserFields] | None = None
    #: A `Unique` str field of `user_fields` (like "username") that signs in as well as the email: a
    #: login name that is not an email address is looked up there.
    username_field: str | None = None

    #: Create fastauth's tables at start-up when missing (idempotent; turn off if you run migrations).
    auto_create_tables: bool = True
    #: Seconds a user stays in the per-process cache behind `get_current_user` (changes made through
    #: fastauth invalidate it at once; this bounds changes made behind its back).
    user_cache_ttl: float = Field(default=30.0, ge=0)

    password_min_length: int = Field(default=8, ge=1, le=1024)
    password_max_length: int = Field(default=1024, ge=8, le=4096)

    #: Seconds a mailed code stays valid: email verification, password reset, email change.
    verify_email_ttl: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    reset_password_ttl: int = Field(default=30 * 60, ge=60, le=24 * 3600)
    change_email_ttl: int = Field(default=30 * 60, ge=60, le=24 * 3600)
    #: A registration mails the verification link by itself (when mail is on).
    verify_email_on_register: bool = True
    #: Refuse to sign in (login, and registration's own sign-in) until the email is verified.
    require_verified_email: bool = False

    rate_limit_enabled: bool = True
    #: `limits` notation; login is limited per account and per client IP, registration per IP.
    login_rate_limit_per_account: str = "10/minute"
    login_rate_limit_per_ip: str = "30/minute"
    register_rate_limit_per_ip: str = "20/hour"
    #: Requests that mail a code (forgot-password, request-verify-token, change-email): per address, per IP.
    email_rate_limit_per_account: str = "5/hour"
    email_rate_limit_per_ip: str = "30/hour"
    #: Requests that present a mailed code (verify, reset-password, change-email/confirm): per IP.
    code_rate_limit_per_ip: str = "60/hour"
    rate_limit_storage_uri: str = Field(default="memory://", repr=False)

    #: Serve `GET {route_prefix}/revocations`: the sessions revoked recently enough that their access
    #: tokens could still verify, for services that verify with `JWKSVerifier(revocation_url=...)`.
    revocation_list_enabled: bool = False
    #: When set, that endpoint answers only requests with `Authorization: Bearer <this token>` (give the
    #: same value to `JWKSVerifier(revocation_token=...)`). At least 32 characters.
    revocation_list_token: SecretStr | None = None

    #: Record every security event (sign-ins and their failures, password, email and key changes, ...)
    #: in `fastauth_audit`, readable by superusers at `GET {route_prefix}/admin/audit`.
    audit_enabled: bool = True
    #: Days an audit record is kept: older ones are deleted at start-up and once a day.
    audit_retention_days: int = Field(default=90, ge=1, le=3650)

    def __init__(self, **data: Any) -> None:
        moved = [f"{name}: {_SEED_NAMES[name]}" for name in data if name in _SEED_NAMES]
        if moved:
            # The seed project FastAuth's names: dropped silently, its hooks would never run.
            raise ConfigError(
                "FastAuthConfig does not take these (the seed project FastAuth's names, "
                "docs/migrate/fastauth.md): " + "; ".join(moved)
            )
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise _friendly(error, "FastAuthConfig") from None
        except SettingsError as error:  # e.g. FASTAUTH_JWT holding JSON that does not parse
            raise ConfigError(
                f"invalid FastAuthConfig: {error}; check the FASTAUTH_* variables and the .env file."
            ) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Code first, then `FASTAUTH_*` variables, `.env`, and the legacy names last."""
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _LegacyNamesSource(
                settings_cls, getattr(dotenv_settings, "env_file", cls.model_config.get("env_file"))
            ),
            file_secret_settings,
        )

    @field_validator("user_fields", mode="before")
    @classmethod
    def _user_fields(cls, value: Any) -> Any:
        """An import path becomes its class; the declaration is checked now (a reserved name, a type
        no column holds), so a mistake stops start-up with what to change."""
        if isinstance(value, str):
            value = import_fields(value) if value.strip() else None
        if value is not None:
            describe(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> FastAuthConfig:
        secret = self.secret.get_secret_value()
        if not secret:
            raise ValueError("secret is empty; generate one with `fastauth generate-secret`.")
        algorithm = self.jwt.algorithm
        if algorithm in HMAC_ALGORITHMS:
            need = HMAC_MIN_SECRET[algorithm]
            if len(secret) < need:
                raise ValueError(
                    f"secret is too short for {algorithm}: it needs at least {need} characters. "
                    "Generate one with `fastauth generate-secret`."
                )
        elif len(secret) < 32 and not self.jwt.has_pem_keys:
            raise ValueError(
                f"secret is too short for {algorithm} without PEM keys: it seals the signing keys kept in "
                "the database, so it needs at least 32 characters. Use `fastauth generate-secret`."
            )
        elif len(secret) < 32:
            warnings.warn(
                "secret is shorter than 32 characters; it also signs CSRF tokens and encrypts stored keys. "
                "Use `fastauth generate-secret`.",
                FastAuthSecurityWarning,
                stacklevel=2,
            )
        if not self.route_prefix.startswith("/") or self.route_prefix.endswith("/"):
            raise ValueError(
                "route_prefix must start with '/' and not end with one, like '/auth' "
                f"(got {self.route_prefix!r})."
            )
        if self.ui_enabled and not (self.cookie_opt_in or self.token_delivery == "cookie"):
            raise ValueError(
                "ui_enabled needs cookie delivery for the browser: set cookie_opt_in=True "
                "(FASTAUTH_COOKIE_OPT_IN=true) or token_delivery='cookie'."
            )
        if self.public_url is not None and (
            not self.public_url.startswith(("https://", "http://")) or self.public_url.endswith("/")
        ):
            raise ValueError(
                f"public_url must be an absolute http(s) URL without a trailing '/', like "
                f"'https://auth.example.com' (got {self.public_url!r})."
            )
        if self.public_url is not None and "issuer" not in self.jwt.model_fields_set:
            # Frozen models: the one place the default issuer follows public_url (RFC 8414 §2). The
            # tokens issued as "fastauth" before (0.1.0 had no other default) keep verifying.
            accepted = self.jwt.accept_issuers if self.jwt.accept_issuers is not None else ("fastauth",)
            update = {"issuer": self.public_url, "accept_issuers": accepted}
            object.__setattr__(self, "jwt", self.jwt.model_copy(update=update))
        object.__setattr__(self, "passkeys", self.passkeys.resolved(self.public_url))
        if self.username_field is not None:
            if self.user_fields is None:
                raise ValueError("username_field needs user_fields declaring that field.")
            Username(self.user_fields, self.username_field)
        if self.oauth:
            if self.public_url is None:
                raise ValueError(
                    "oauth providers need public_url (FASTAUTH_PUBLIC_URL): the redirect URIs registered "
                    "at the providers are built from it, never from a request's Host header."
                )
            for name, provider in self.oauth.items():
                if not _PROVIDER_NAME.fullmatch(name):
                    raise ValueError(
                        f"oauth provider name {name!r} must be lower case letters, digits, '-' or '_' "
                        "(it is the path segment of /oauth/<name>/...)."
                    )
                if name not in BUILTIN_PROVIDERS and provider.issuer is None:
                    raise ValueError(
                        f"oauth provider {name!r} is not google or github, so it needs its OpenID Connect "
                        f"issuer: set FASTAUTH_OAUTH__{name.upper()}__ISSUER."
                    )
        for entry in self.cookie_sign_in_origins:
            parts = urlsplit(entry)
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.path or parts.query:
                raise ValueError(
                    f"cookie_sign_in_origins entries must be origins like 'https://app.example.com' "
                    f"(got {entry!r})."
                )
        for entry in self.oauth_redirect_allowlist:
            parts = urlsplit(entry)
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
                raise ValueError(
                    f"oauth_redirect_allowlist entries must be absolute http(s) URLs or origins, like "
                    f"'https://app.example.com' (got {entry!r})."
                )
        if self.password_max_length < self.password_min_length:
            raise ValueError("password_max_length must not be below password_min_length.")
        if self.redis_url is not None:
            _check_redis_url(self.redis_url)
        token = self.revocation_list_token
        if token is not None and not _TOKEN68.fullmatch(token.get_secret_value()):
            raise ValueError(
                "revocation_list_token must be at least 32 characters of A-Z, a-z, 0-9 and -._~+/ "
                "(it travels in an Authorization header); `fastauth generate-secret` makes one."
            )
        return self
