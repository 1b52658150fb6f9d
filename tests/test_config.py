"""Configuration: defaults, secrets kept out of every output, environment and `.env` loading, the
common FastAPI variable names, and validation at construction with messages that say what to fix.

Every test runs in an empty temporary directory (no stray `.env`) with every `FASTAUTH_*` variable and
the plain names `SECRET_KEY`, `ALGORITHM`, `ACCESS_TOKEN_EXPIRE_MINUTES`, `REFRESH_TOKEN_EXPIRE_DAYS`
removed from the environment.
"""

from __future__ import annotations

import contextlib
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr, ValidationError

from fastauth import FastAuthConfig, JWTConfig
from fastauth.config import FastAuthSecurityWarning
from fastauth.errors import ConfigError
from fastauth.keys import generate_private_key
from fastauth.keys.pem import private_key_to_pem, public_key_to_pem
from fastauth.tokens import KeyRing, TokenEngine

#: A recognisable secret, long enough for HS256 (40 characters) but not for HS384/HS512.
SECRET = "TOPSECRET-do-not-leak-0123456789abcdefgh"
assert len(SECRET) == 40
SECRET_64 = "S" * 64
DOCS_EXAMPLE_SECRET = "still-required-for-the-config"


#: `clean_env` (tests/conftest.py): no configuration from the shell, an empty working directory.
pytestmark = pytest.mark.usefixtures("clean_env")


# --------------------------------------------------------------------------------------------------
# keys


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def small_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _private_pem(key: Any, password: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode("ascii")


def _public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _pem_body(pem: str) -> list[str]:
    """The base64 lines of a PEM (the key material), without the BEGIN/END armour."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def _key_for(alg: str, rsa_key: rsa.RSAPrivateKey) -> Any:
    if alg.startswith(("RS", "PS")):
        return rsa_key
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "ES512":
        return ec.generate_private_key(ec.SECP521R1())
    return ed25519.Ed25519PrivateKey.generate()


# --------------------------------------------------------------------------------------------------
# helpers


def config_error(build: Callable[[], object]) -> ConfigError:
    """Run `build`, which must fail with a `ConfigError` (never pydantic's raw ValidationError)."""
    with pytest.raises(ConfigError) as caught:
        build()
    assert not isinstance(caught.value, ValidationError)
    return caught.value


def all_error_text(error: BaseException) -> str:
    """Everything an error could show: its text, its formatted traceback, and its whole chain."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        texts.append(repr(current))
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


@contextlib.contextmanager
def no_security_warning() -> Iterator[None]:
    """Fail if the block emits a FastAuthSecurityWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FastAuthSecurityWarning)
        yield


# --------------------------------------------------------------------------------------------------
# defaults


def test_defaults() -> None:
    config = FastAuthConfig(secret=SECRET)
    jwt = config.jwt
    assert jwt.algorithm == "HS256"
    assert jwt.access_token_ttl == 900
    assert jwt.refresh_token_ttl == 7 * 24 * 3600
    assert jwt.session_max_age == 30 * 24 * 3600
    assert isinstance(jwt.issuer, str) and jwt.issuer
    assert isinstance(jwt.audience, str) and jwt.audience
    assert 0 < jwt.leeway <= 60
    assert jwt.allow_unlimited_ttl is False
    assert jwt.private_key is None and jwt.public_key is None
    assert jwt.jwks_enabled is True
    assert jwt.key_rotation_interval is None
    assert jwt.is_hmac and not jwt.has_pem_keys
    assert config.token_delivery == "json"
    assert config.cookie_secure is True
    assert config.rate_limit_enabled is True
    assert config.route_prefix == "/auth"
    assert config.password_min_length <= config.password_max_length


def test_jwt_config_alone_has_the_same_defaults() -> None:
    assert JWTConfig() == FastAuthConfig(secret=SECRET).jwt


def test_default_tokens_carry_issuer_and_audience() -> None:
    engine = TokenEngine.from_config(FastAuthConfig(secret=SECRET))
    claims = engine.issue_access("user-1", "session-1").claims
    assert claims["iss"] == "fastauth"
    assert claims["aud"] == ["fastauth"]
    assert claims["exp"] - claims["iat"] == 900


def test_secret_is_required() -> None:
    error = config_error(FastAuthConfig)
    assert "secret" in str(error)


def test_empty_secret_is_refused() -> None:
    error = config_error(lambda: FastAuthConfig(secret=""))
    assert "secret is empty" in str(error)
    assert "generate-secret" in str(error)


def test_config_is_frozen() -> None:
    config = FastAuthConfig(secret=SECRET)
    with pytest.raises((ValidationError, TypeError)):
        config.route_prefix = "/other"  # type: ignore[misc]
    with pytest.raises((ValidationError, TypeError)):
        config.jwt.algorithm = "HS512"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# the secret: str or SecretStr, and never shown


@pytest.mark.parametrize("given", [SECRET, SecretStr(SECRET)], ids=["str", "SecretStr"])
def test_secret_as_str_or_secretstr(given: str | SecretStr) -> None:
    config = FastAuthConfig(secret=given)
    assert isinstance(config.secret, SecretStr)
    assert config.secret.get_secret_value() == SECRET
    # the HS256 key is the secret itself: a token from one config verifies with the other
    token = TokenEngine.from_config(config).issue_access("u", "s").token
    assert TokenEngine.from_config(FastAuthConfig(secret=SECRET)).verify_access(token).sub == "u"


@pytest.mark.parametrize("given", [SECRET, SecretStr(SECRET)], ids=["str", "SecretStr"])
def test_secret_never_shown(given: str | SecretStr) -> None:
    config = FastAuthConfig(secret=given)
    for text in (
        repr(config),
        str(config),
        f"{config}",
        config.model_dump_json(),
        str(config.model_dump()),
        str(config.model_dump(mode="json")),
        repr(config.secret),
        str(config.secret),
    ):
        assert SECRET not in text


def test_private_key_never_shown(rsa_key: rsa.RSAPrivateKey) -> None:
    private = _private_pem(rsa_key)
    config = FastAuthConfig(secret=SECRET, jwt=JWTConfig(algorithm="RS256", private_key=private))
    body = _pem_body(private)
    for text in (repr(config), str(config), config.model_dump_json(), repr(config.jwt), str(config.jwt)):
        assert not any(line in text for line in body)


#: Invalid configurations that all carry SECRET somewhere: (environment variables, how to build).
_LEAKY_CASES: dict[str, tuple[dict[str, str], Callable[[], object]]] = {
    "too short for HS512": ({}, lambda: FastAuthConfig(secret=SECRET, jwt=JWTConfig(algorithm="HS512"))),
    "too short for HS384, nested dict": (
        {},
        lambda: FastAuthConfig(secret=SECRET, jwt={"algorithm": "HS384"}),
    ),
    "too short, SecretStr": (
        {},
        lambda: FastAuthConfig(secret=SecretStr(SECRET), jwt={"algorithm": "HS512"}),
    ),
    "bad route prefix": ({}, lambda: FastAuthConfig(secret=SECRET, route_prefix="auth/")),
    "unknown algorithm": ({}, lambda: FastAuthConfig(secret=SECRET, jwt={"algorithm": "none"})),
    "secret as algorithm": ({}, lambda: FastAuthConfig(secret=SECRET, jwt={"algorithm": SECRET})),
    "secret as leeway": ({}, lambda: FastAuthConfig(secret=SECRET, jwt={"leeway": SECRET})),
    "secret as lifetime": ({}, lambda: FastAuthConfig(secret=SECRET, jwt={"access_token_ttl": SECRET})),
    "secret as private key, HS256": ({}, lambda: FastAuthConfig(secret=SECRET, jwt={"private_key": SECRET})),
    "secret as private key, RS256": (
        {},
        lambda: FastAuthConfig(secret=SECRET, jwt={"algorithm": "RS256", "private_key": SECRET}),
    ),
    "secret as public key": ({}, lambda: JWTConfig(algorithm="ES256", public_key=SECRET)),
    "secret as token delivery": ({}, lambda: FastAuthConfig(secret=SECRET, token_delivery=SECRET)),
    "secret as password length": ({}, lambda: FastAuthConfig(secret=SECRET, password_min_length=SECRET)),
    "secret in an unknown jwt field": ({}, lambda: FastAuthConfig(secret=SECRET, jwt={"secret": SECRET})),
    "env: too short for HS512": (
        {"FASTAUTH_SECRET": SECRET, "FASTAUTH_JWT__ALGORITHM": "HS512"},
        FastAuthConfig,
    ),
    "env: secret as leeway": ({"FASTAUTH_SECRET": SECRET, "FASTAUTH_JWT__LEEWAY": SECRET}, FastAuthConfig),
    "env: undecodable FASTAUTH_JWT": (
        {"FASTAUTH_SECRET": SECRET, "FASTAUTH_JWT": '{"private_key": "' + SECRET + '", '},
        FastAuthConfig,
    ),
    "env: FASTAUTH_JWT with the secret as key": (
        {
            "FASTAUTH_SECRET": SECRET,
            "FASTAUTH_JWT": '{"algorithm": "RS256", "private_key": "' + SECRET + '"}',
        },
        FastAuthConfig,
    ),
    "legacy: bad minutes": ({"SECRET_KEY": SECRET, "ACCESS_TOKEN_EXPIRE_MINUTES": "ten"}, FastAuthConfig),
    "legacy: too short for HS512": ({"SECRET_KEY": SECRET, "ALGORITHM": "HS512"}, FastAuthConfig),
}


@pytest.mark.parametrize("case", list(_LEAKY_CASES))
def test_secret_never_in_config_errors(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    variables, build = _LEAKY_CASES[case]
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    error = config_error(build)
    assert str(error).strip()
    assert SECRET not in all_error_text(error)


def test_private_key_never_in_config_errors(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, small_rsa_key: rsa.RSAPrivateKey
) -> None:
    ec_key = ec.generate_private_key(ec.SECP384R1())
    cases: list[tuple[str, str, str | None]] = [
        ("RS256", _private_pem(small_rsa_key), None),
        ("RS256", _private_pem(rsa_key), _public_pem(other_rsa_key)),
        ("ES256", _private_pem(ec_key), None),
        ("EdDSA", _private_pem(rsa_key), None),
        ("HS256", _private_pem(rsa_key), None),
        ("RS256", _private_pem(rsa_key)[:-80], None),  # truncated
    ]
    for alg, private, public in cases:
        error = config_error(
            lambda alg=alg, private=private, public=public: FastAuthConfig(
                secret=SECRET, jwt={"algorithm": alg, "private_key": private, "public_key": public}
            )
        )
        text = all_error_text(error)
        assert not any(line in text for line in _pem_body(private)), alg


def test_urls_with_passwords_stay_out_of_repr() -> None:
    """L4."""
    config = FastAuthConfig(
        secret="s" * 64, database_url="postgresql://u:dbpassw0rd@h/db", redis_url="redis://:redispassw0rd@h"
    )
    assert "dbpassw0rd" not in repr(config) and "redispassw0rd" not in repr(config)


# --------------------------------------------------------------------------------------------------
# environment variables and .env


def test_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    assert FastAuthConfig().secret.get_secret_value() == SECRET


def test_env_nested_jwt_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET_64)
    monkeypatch.setenv("FASTAUTH_JWT__ALGORITHM", "HS512")
    monkeypatch.setenv("FASTAUTH_JWT__ACCESS_TOKEN_TTL", "60")
    monkeypatch.setenv("FASTAUTH_JWT__REFRESH_TOKEN_TTL", "3600")
    monkeypatch.setenv("FASTAUTH_JWT__ISSUER", "https://auth.example.com")
    monkeypatch.setenv("FASTAUTH_JWT__LEEWAY", "0")
    jwt = FastAuthConfig().jwt
    assert jwt.algorithm == "HS512"
    assert jwt.access_token_ttl == 60
    assert jwt.refresh_token_ttl == 3600
    assert jwt.issuer == "https://auth.example.com"
    assert jwt.leeway == 0
    assert jwt.audience == "fastauth"  # untouched fields keep their defaults


def test_env_top_level_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    monkeypatch.setenv("FASTAUTH_TOKEN_DELIVERY", "cookie")
    monkeypatch.setenv("FASTAUTH_RATE_LIMIT_ENABLED", "false")
    monkeypatch.setenv("FASTAUTH_COOKIE_SECURE", "0")
    monkeypatch.setenv("FASTAUTH_ROUTE_PREFIX", "/api/auth")
    config = FastAuthConfig()
    assert config.token_delivery == "cookie"
    assert config.rate_limit_enabled is False
    assert config.cookie_secure is False
    assert config.route_prefix == "/api/auth"


def test_env_pem_keys(monkeypatch: pytest.MonkeyPatch, rsa_key: rsa.RSAPrivateKey) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    monkeypatch.setenv("FASTAUTH_JWT__ALGORITHM", "RS256")
    monkeypatch.setenv("FASTAUTH_JWT__PRIVATE_KEY", _private_pem(rsa_key))
    monkeypatch.setenv("FASTAUTH_JWT__PUBLIC_KEY", _public_pem(rsa_key))
    config = FastAuthConfig()
    assert config.jwt.has_pem_keys
    engine = TokenEngine.from_config(config)
    assert engine.verify_access(engine.issue_access("u", "s").token).sub == "u"


def test_arguments_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", "e" * 40)
    monkeypatch.setenv("FASTAUTH_TOKEN_DELIVERY", "cookie")
    config = FastAuthConfig(secret=SECRET, token_delivery="json")
    assert config.secret.get_secret_value() == SECRET
    assert config.token_delivery == "json"


def test_invalid_env_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    monkeypatch.setenv("FASTAUTH_JWT__ACCESS_TOKEN_TTL", "fifteen minutes")
    error = config_error(FastAuthConfig)
    assert "access_token_ttl" in str(error)
    assert "integer" in str(error)


def test_undecodable_json_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    monkeypatch.setenv("FASTAUTH_JWT", "{not json")
    error = config_error(FastAuthConfig)
    assert "jwt" in str(error)


def test_dotenv_file(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        f"FASTAUTH_SECRET={SECRET}\nFASTAUTH_JWT__ISSUER=from-dotenv\nFASTAUTH_TOKEN_DELIVERY=cookie\n"
    )
    config = FastAuthConfig()
    assert config.secret.get_secret_value() == SECRET
    assert config.jwt.issuer == "from-dotenv"
    assert config.token_delivery == "cookie"


def test_env_beats_dotenv(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text(f"FASTAUTH_SECRET={'d' * 40}\nFASTAUTH_JWT__ISSUER=from-dotenv\n")
    monkeypatch.setenv("FASTAUTH_JWT__ISSUER", "from-env")
    config = FastAuthConfig()
    assert config.jwt.issuer == "from-env"
    assert config.secret.get_secret_value() == "d" * 40


def test_no_dotenv_in_another_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".env").write_text(f"FASTAUTH_SECRET={SECRET}\n")
    config_error(FastAuthConfig)  # the .env of the working directory only
    monkeypatch.chdir(elsewhere)
    assert FastAuthConfig().secret.get_secret_value() == SECRET


# --------------------------------------------------------------------------------------------------
# the common FastAPI names


def test_legacy_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("ALGORITHM", "HS384")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "30")
    monkeypatch.setenv("REFRESH_TOKEN_EXPIRE_DAYS", "2")
    config = FastAuthConfig()
    assert config.secret.get_secret_value() == "k" * 48
    assert config.jwt.algorithm == "HS384"
    assert config.jwt.access_token_ttl == 1800
    assert config.jwt.refresh_token_ttl == 172800


@pytest.mark.parametrize(
    ("name", "value", "field", "seconds"),
    [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "30", "access_token_ttl", 1800),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "1", "access_token_ttl", 60),
        ("REFRESH_TOKEN_EXPIRE_DAYS", "2", "refresh_token_ttl", 172800),
        ("REFRESH_TOKEN_EXPIRE_DAYS", "30", "refresh_token_ttl", 30 * 86400),
    ],
)
def test_legacy_lifetimes_convert_to_seconds(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str, seconds: int
) -> None:
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv(name, value)
    assert getattr(FastAuthConfig().jwt, field) == seconds


def test_legacy_names_in_dotenv(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"SECRET_KEY={SECRET}\nACCESS_TOKEN_EXPIRE_MINUTES=30\n")
    config = FastAuthConfig()
    assert config.secret.get_secret_value() == SECRET
    assert config.jwt.access_token_ttl == 1800


def test_legacy_names_follow_the_chosen_env_file(clean_env: Path) -> None:
    """`_env_file=` (pydantic-settings) picks the file for the plain names too, never a mix of two files."""
    (clean_env / ".env").write_text(f"SECRET_KEY={'d' * 40}\n")
    (clean_env / "prod.env").write_text(f"SECRET_KEY={SECRET}\nREFRESH_TOKEN_EXPIRE_DAYS=2\n")
    config = FastAuthConfig(_env_file="prod.env")  # type: ignore[call-arg]
    assert config.secret.get_secret_value() == SECRET
    assert config.jwt.refresh_token_ttl == 172800
    assert "secret" in str(config_error(lambda: FastAuthConfig(_env_file=None)))  # type: ignore[call-arg]


def test_prefixed_names_win_over_legacy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "l" * 64)
    monkeypatch.setenv("ALGORITHM", "HS512")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "30")
    monkeypatch.setenv("REFRESH_TOKEN_EXPIRE_DAYS", "2")
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    monkeypatch.setenv("FASTAUTH_JWT__ALGORITHM", "HS256")
    monkeypatch.setenv("FASTAUTH_JWT__ACCESS_TOKEN_TTL", "120")
    monkeypatch.setenv("FASTAUTH_JWT__REFRESH_TOKEN_TTL", "7200")
    config = FastAuthConfig()
    assert config.secret.get_secret_value() == SECRET
    assert config.jwt.algorithm == "HS256"
    assert config.jwt.access_token_ttl == 120
    assert config.jwt.refresh_token_ttl == 7200


def test_prefixed_and_legacy_names_combine_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    monkeypatch.setenv("FASTAUTH_JWT__ISSUER", "issuer-from-prefixed")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "30")
    config = FastAuthConfig()
    assert config.jwt.issuer == "issuer-from-prefixed"
    assert config.jwt.access_token_ttl == 1800


def test_prefixed_dotenv_wins_over_legacy_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text(f"FASTAUTH_SECRET={SECRET}\n")
    monkeypatch.setenv("SECRET_KEY", "l" * 40)
    assert FastAuthConfig().secret.get_secret_value() == SECRET


def test_arguments_win_over_legacy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "l" * 40)
    monkeypatch.setenv("ALGORITHM", "HS512")
    config = FastAuthConfig(secret=SECRET, jwt=JWTConfig(algorithm="HS256"))
    assert config.secret.get_secret_value() == SECRET
    assert config.jwt.algorithm == "HS256"


@pytest.mark.parametrize("value", ["abc", "1.5", "30m", ""])
@pytest.mark.parametrize("name", ["ACCESS_TOKEN_EXPIRE_MINUTES", "REFRESH_TOKEN_EXPIRE_DAYS"])
def test_legacy_non_integer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv(name, value)
    error = config_error(FastAuthConfig)
    assert name in str(error)
    assert "whole number" in str(error)
    assert SECRET not in all_error_text(error)


def test_legacy_zero_minutes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "0")
    assert "access_token_ttl" in str(config_error(FastAuthConfig))


# --------------------------------------------------------------------------------------------------
# HMAC secrets


@pytest.mark.parametrize(("alg", "need"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_secret_length(alg: str, need: int) -> None:
    error = config_error(lambda: FastAuthConfig(secret="x" * (need - 1), jwt=JWTConfig(algorithm=alg)))
    message = str(error)
    assert alg in message
    assert f"at least {need} characters" in message
    assert "fastauth generate-secret" in message
    with no_security_warning():
        config = FastAuthConfig(secret="x" * need, jwt=JWTConfig(algorithm=alg))
    engine = TokenEngine.from_config(config)
    assert engine.verify_access(engine.issue_access("u", "s").token).sub == "u"


def test_a_short_secret_cannot_seal_stored_keys() -> None:
    """L5: without PEM keys the secret seals the private keys in the database."""
    with pytest.raises(ConfigError, match="at least 32 characters"):
        FastAuthConfig(secret="hunter2-hunter2", jwt=JWTConfig(algorithm="ES256"))
    pem = private_key_to_pem(generate_private_key("ES256"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FastAuthConfig(
            secret="still-required-for-the-config", jwt=JWTConfig(algorithm="ES256", private_key=pem)
        )
    assert any(issubclass(w.category, FastAuthSecurityWarning) for w in caught)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("which", ["private_key", "public_key"])
def test_pem_keys_with_hmac_refused(rsa_key: rsa.RSAPrivateKey, alg: str, which: str) -> None:
    pem = _private_pem(rsa_key) if which == "private_key" else _public_pem(rsa_key)
    error = config_error(lambda: JWTConfig(algorithm=alg, **{which: pem}))
    assert f"{alg} signs with `secret`" in str(error)
    assert "asymmetric" in str(error)
    # the same through FastAuthConfig
    config_error(lambda: FastAuthConfig(secret=SECRET_64, jwt={"algorithm": alg, which: pem}))


# --------------------------------------------------------------------------------------------------
# PEM keys


def test_rsa_1024_refused(small_rsa_key: rsa.RSAPrivateKey) -> None:
    for given in (
        {"private_key": _private_pem(small_rsa_key)},
        {"public_key": _public_pem(small_rsa_key)},
    ):
        message = str(config_error(lambda given=given: JWTConfig(algorithm="RS256", **given)))
        assert "1024 bits" in message
        assert "2048" in message
        assert "generate-keys" in message


def test_ec_key_for_rs256_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    message = str(config_error(lambda: JWTConfig(algorithm="RS256", private_key=_private_pem(key))))
    assert "RS256 needs an RSA private key" in message
    assert "EC key" in message


def test_p384_key_for_es256_refused() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    for given in ({"private_key": _private_pem(key)}, {"public_key": _public_pem(key)}):
        message = str(config_error(lambda given=given: JWTConfig(algorithm="ES256", **given)))
        assert "secp256r1" in message
        assert "secp384r1" in message


def test_rsa_key_for_eddsa_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    message = str(config_error(lambda: JWTConfig(algorithm="EdDSA", private_key=_private_pem(rsa_key))))
    assert "EdDSA needs an Ed25519 private key" in message
    assert "RSA" in message


def test_ed25519_key_for_ps256_refused() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    message = str(config_error(lambda: JWTConfig(algorithm="PS256", public_key=_public_pem(key))))
    assert "RSA public key" in message


def test_public_key_must_match_private_key(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    error = config_error(
        lambda: JWTConfig(
            algorithm="RS256", private_key=_private_pem(rsa_key), public_key=_public_pem(other_rsa_key)
        )
    )
    assert "public_key does not belong to private_key" in str(error)


def test_encrypted_pem_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    encrypted = _private_pem(rsa_key, password=b"correct horse")
    assert "ENCRYPTED" in encrypted
    message = str(config_error(lambda: JWTConfig(algorithm="RS256", private_key=encrypted)))
    assert "private_key is encrypted" in message
    assert "unencrypted" in message


@pytest.mark.parametrize(
    "garbage",
    [
        "not a key at all",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
    ],
)
def test_garbage_private_pem_refused(garbage: str) -> None:
    message = str(config_error(lambda: JWTConfig(algorithm="RS256", private_key=garbage)))
    assert "private_key is not a readable PEM private key" in message


def test_garbage_public_pem_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    for garbage in ("nope", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"):
        message = str(config_error(lambda garbage=garbage: JWTConfig(algorithm="RS256", public_key=garbage)))
        assert "public_key is not a readable PEM public key" in message


def test_keys_swapped_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    config_error(lambda: JWTConfig(algorithm="RS256", private_key=_public_pem(rsa_key)))
    config_error(lambda: JWTConfig(algorithm="RS256", public_key=_private_pem(rsa_key)))


def test_pkcs1_private_key_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    traditional = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    assert JWTConfig(algorithm="RS256", private_key=traditional).has_pem_keys


def test_public_key_alone_is_verify_only(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = FastAuthConfig(
        secret=SECRET, jwt=JWTConfig(algorithm="RS256", private_key=_private_pem(rsa_key))
    )
    verifier = FastAuthConfig(
        secret=SECRET, jwt=JWTConfig(algorithm="RS256", public_key=_public_pem(rsa_key))
    )
    private, public = verifier.jwt.pem_keys()
    assert private is None and public is not None
    token = TokenEngine.from_config(signer).issue_access("u", "s").token
    verify_only = TokenEngine.from_config(verifier)
    assert verify_only.verify_access(token).sub == "u"
    with pytest.raises(ConfigError):
        verify_only.issue_access("u", "s")


def test_asymmetric_algorithm_without_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    """Accepted (the key store may create keys later), but no key ring can be built from it alone."""
    config = FastAuthConfig(secret=SECRET, jwt=JWTConfig(algorithm="RS256"))
    assert not config.jwt.has_pem_keys
    message = str(config_error(lambda: KeyRing.from_config(config)))
    assert "private_key" in message


@pytest.mark.parametrize(
    "alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
)
def test_every_asymmetric_algorithm_round_trips(rsa_key: rsa.RSAPrivateKey, alg: str) -> None:
    key = _key_for(alg, rsa_key)
    config = FastAuthConfig(
        secret=SECRET,
        jwt=JWTConfig(
            algorithm=alg, private_key=private_key_to_pem(key), public_key=public_key_to_pem(key.public_key())
        ),
    )
    engine = TokenEngine.from_config(config)
    issued = engine.issue_access("user-1", "session-1")
    verified = engine.verify_access(issued.token)
    assert verified.sub == "user-1" and verified.sid == "session-1"
    refresh = engine.issue_refresh("user-1", "session-1")
    assert engine.verify_refresh(refresh.token).jti == refresh.jti


def test_jwt_config_instance_keeps_parsed_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    jwt = JWTConfig(algorithm="RS256", private_key=_private_pem(rsa_key))
    config = FastAuthConfig(secret=SECRET, jwt=jwt)
    private, public = config.jwt.pem_keys()
    assert private is not None and public is not None
    assert public_key_to_pem(public) == _public_pem(rsa_key)


def test_nested_dict_jwt_config_parses_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    config = FastAuthConfig(secret=SECRET, jwt={"algorithm": "RS256", "private_key": _private_pem(rsa_key)})
    assert isinstance(config.jwt, JWTConfig)
    assert config.jwt.has_pem_keys


# --------------------------------------------------------------------------------------------------
# lifetimes and other bounds


@pytest.mark.parametrize("field", ["access_token_ttl", "refresh_token_ttl"])
def test_unlimited_ttl_needs_opt_in(field: str) -> None:
    message = str(config_error(lambda: JWTConfig(**{field: None})))
    assert f"{field}=None" in message
    assert "allow_unlimited_ttl=True" in message
    with pytest.warns(FastAuthSecurityWarning, match="never expire"):
        jwt = JWTConfig(**{field: None}, allow_unlimited_ttl=True)
    assert getattr(jwt, field) is None


def test_unlimited_ttl_through_fastauth_config() -> None:
    config_error(lambda: FastAuthConfig(secret=SECRET, jwt={"access_token_ttl": None}))
    with pytest.warns(FastAuthSecurityWarning):
        config = FastAuthConfig(secret=SECRET, jwt={"access_token_ttl": None, "allow_unlimited_ttl": True})
    engine = TokenEngine.from_config(config)
    issued = engine.issue_access("u", "s")
    assert "exp" not in issued.claims
    assert engine.verify_access(issued.token).expires_at is None


def test_opt_in_alone_does_not_warn() -> None:
    with no_security_warning():
        assert JWTConfig(allow_unlimited_ttl=True).access_token_ttl == 900


@pytest.mark.parametrize(
    "jwt",
    [
        {"access_token_ttl": 0},
        {"access_token_ttl": -60},
        {"refresh_token_ttl": 0},
        {"session_max_age": 0},
        {"leeway": -1},
        {"leeway": 3600},
        {"issuer": ""},
        {"audience": ""},
        {"key_rotation_interval": 0},
        {"algorithm": "none"},
        {"algorithm": "hs256"},
        {"unknown_field": 1},
    ],
    ids=str,
)
def test_invalid_jwt_values(jwt: dict[str, Any]) -> None:
    (field,) = jwt
    for build in (lambda: JWTConfig(**jwt), lambda: FastAuthConfig(secret=SECRET, jwt=jwt)):
        assert field in str(config_error(build))


@pytest.mark.parametrize("prefix", ["auth", "/auth/", "", "/"])
def test_route_prefix(prefix: str) -> None:
    message = str(config_error(lambda: FastAuthConfig(secret=SECRET, route_prefix=prefix)))
    assert "route_prefix must start with '/'" in message


def test_password_lengths() -> None:
    message = str(
        config_error(lambda: FastAuthConfig(secret=SECRET, password_min_length=20, password_max_length=10))
    )
    assert "password_max_length" in message
    config_error(lambda: FastAuthConfig(secret=SECRET, password_min_length=0))


def test_token_delivery_choices() -> None:
    assert FastAuthConfig(secret=SECRET, token_delivery="cookie").token_delivery == "cookie"
    assert "token_delivery" in str(
        config_error(lambda: FastAuthConfig(secret=SECRET, token_delivery="header"))
    )


# --------------------------------------------------------------------------------------------------
# the RS256 example of the FastAuth docs, as users copy it


def test_short_secret_with_rs256_only_warns(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.warns(FastAuthSecurityWarning, match="shorter than 32"):
        config = FastAuthConfig(
            secret="short", jwt=JWTConfig(algorithm="RS256", private_key=_private_pem(rsa_key))
        )
    assert config.jwt.algorithm == "RS256"
    with no_security_warning():
        FastAuthConfig(secret="x" * 32, jwt=JWTConfig(algorithm="RS256", private_key=_private_pem(rsa_key)))


def test_docs_rs256_example_works_as_written(clean_env: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    (clean_env / "private.pem").write_text(_private_pem(rsa_key))
    (clean_env / "public.pem").write_text(_public_pem(rsa_key))

    with pytest.warns(FastAuthSecurityWarning):  # the example's secret is 29 characters: a warning only
        config = FastAuthConfig(
            secret="still-required-for-the-config",
            jwt=JWTConfig(
                algorithm="RS256",
                private_key=open("private.pem").read(),  # noqa: SIM115 - exactly as in the docs
                public_key=open("public.pem").read(),  # noqa: SIM115
            ),
        )

    assert config.secret.get_secret_value() == DOCS_EXAMPLE_SECRET
    engine = TokenEngine.from_config(config)
    issued = engine.issue_access("user-42", "session-7")
    verified = engine.verify_access(issued.token)
    assert verified.sub == "user-42"
    assert verified.claims["iss"] == config.jwt.issuer
    assert engine.verify_refresh(engine.issue_refresh("user-42", "session-7").token).sid == "session-7"


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://:hunter2-redis@cache:6379/0", "redis_url must start with redis://, rediss:// or unix://"),
        ("redis://:hunter2-redis@cache:port/0", "redis_url is not a valid URL"),
        ("redis://:hunter2-redis@cache:99999/0", "redis_url is not a valid URL"),
        ("redis://:hunter2-redis@:6379/0", "redis_url needs a host"),
    ],
)
def test_a_bad_redis_url_is_refused_without_echoing_it(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        FastAuthConfig(secret="s" * 64, redis_url=url)
    assert message in str(info.value)
    assert "hunter2-redis" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["redis://cache:6379/0", "rediss://:pw@cache.example.com/1", "unix:///run/redis.sock"]
)
def test_redis_urls_that_redis_py_takes_are_accepted(url: str) -> None:
    assert FastAuthConfig(secret="s" * 64, redis_url=url).redis_url == url


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("providers", "email and password sign-in is always on"),
        ("adapter", "FastAuth(config, adapter=SQLAlchemyAdapter(engine_url=...))"),
        ("token_adapter", "refresh tokens live in the same store"),
        ("hooks", "give them to FastAuth(config, hooks=...)"),
        ("email_transport", "FASTAUTH_EMAIL__SMTP_HOST"),
        ("base_url", "use public_url"),
        ("debug", "cookie_secure=False"),
    ],
)
def test_the_seed_projects_arguments_are_refused_with_where_they_go(name: str, where: str) -> None:
    """The seed project FastAuth took these in its config; silently ignored, hooks would never run."""
    with pytest.raises(ConfigError) as refused:
        FastAuthConfig(secret="s" * 64, **{name: object()})
    assert f"{name}: " in str(refused.value)
    assert where in str(refused.value)
