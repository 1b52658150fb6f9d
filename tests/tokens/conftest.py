"""Shared keys, engines and a token forger for the token-engine tests.

Keys are generated once per session (RSA key generation is slow). The `Forger` builds compact JWS
tokens by hand from arbitrary header/payload values or raw bytes and signs them with `support.forge`
(`hmac` or `cryptography` directly), so the hostile tests never depend on the code under test to make a
token.
"""

from __future__ import annotations

import contextlib
import socket
import traceback
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest

from fastauth.errors import TokenError
from fastauth.keys import generate_private_key
from fastauth.tokens import KeyRing, SigningKey, TokenEngine
from support.b64 import b64, unb64
from support.forge import sign_raw, to_bytes

#: A frozen "now" for every test (2023-11-14T22:13:20Z).
NOW = 1_700_000_000
#: 64 characters: long enough for HS256, HS384 and HS512. Recognisable, so the error-oracle checks can
#: search for it in messages and tracebacks.
SECRET = "fastauth-TEST-secret-6b1f0e9c3a7d42b8a1c5e0f9d8c7b6a5-do-not-leak!"
ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"

HMAC_ALGS = ("HS256", "HS384", "HS512")
RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGS = ("ES256", "ES384", "ES512")
ALL_ALGS = (*HMAC_ALGS, *RSA_ALGS, *EC_ALGS, "EdDSA")

DROP = object()  # sentinel: remove this member from the default header/claims


def valid_claims(**overrides: Any) -> dict[str, Any]:
    """Claims an access token for ISSUER/AUDIENCE valid at NOW carries; DROP removes one."""
    claims: dict[str, Any] = {
        "sub": "user-1",
        "type": "access",
        "iat": NOW - 10,
        "exp": NOW + 600,
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "jti": "jti-0123456789abcdef",
        "sid": "sid-0123456789abcdef",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not DROP}


@dataclass
class Forger:
    """Builds tokens for one server key: its `alg`, its real `kid`, and signing material."""

    alg: str
    kid: str
    key: Any  # HMAC secret (str/bytes) or a cryptography private key

    def header(self, **overrides: Any) -> dict[str, Any]:
        header: dict[str, Any] = {"alg": self.alg, "kid": self.kid, "typ": "at+jwt"}
        header.update(overrides)
        return {name: value for name, value in header.items() if value is not DROP}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return valid_claims(**overrides)

    def sign(self, signing_input: bytes, *, alg: str | None = None, key: Any = None) -> bytes:
        return sign_raw(alg or self.alg, self.key if key is None else key, signing_input)

    def token(
        self,
        header: Any = None,
        payload: Any = None,
        *,
        sign_alg: str | None = None,
        key: Any = None,
        signature: bytes | None = None,
    ) -> str:
        """A compact token. `header`/`payload`: dict/list/str/number/None as JSON, or raw bytes."""
        header_segment = b64(to_bytes(self.header() if header is None else header))
        payload_segment = b64(to_bytes(self.claims() if payload is None else payload))
        signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
        if signature is None:
            signature = self.sign(signing_input, alg=sign_alg, key=key)
        return f"{signing_input.decode('ascii')}.{b64(signature)}"


# --- keys, once per session ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def private_keys() -> dict[str, Any]:
    """One private key (or secret) per algorithm; the RS*/PS* algorithms share one RSA 2048 key."""
    rsa_key = generate_private_key("RS256")
    keys: dict[str, Any] = {alg: SECRET for alg in HMAC_ALGS}
    keys.update({alg: rsa_key for alg in RSA_ALGS})
    keys.update({alg: generate_private_key(alg) for alg in EC_ALGS})
    keys["EdDSA"] = generate_private_key("EdDSA")
    return keys


@pytest.fixture(scope="session")
def attacker_keys() -> dict[str, Any]:
    """Keys of the same types as the server's, which the server has never seen."""
    return {
        "RSA": generate_private_key("RS256"),
        "P-256": generate_private_key("ES256"),
        "P-384": generate_private_key("ES384"),
        "Ed25519": generate_private_key("EdDSA"),
    }


@pytest.fixture(scope="session")
def signing_keys(private_keys: dict[str, Any]) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    for alg in ALL_ALGS:
        material = private_keys[alg]
        if alg in HMAC_ALGS:
            keys[alg] = SigningKey.from_secret(material, alg)
        else:
            keys[alg] = SigningKey.from_keys(alg, material, material.public_key())
    return keys


@pytest.fixture(scope="session")
def keyrings(signing_keys: dict[str, SigningKey]) -> dict[str, KeyRing]:
    return {alg: KeyRing([key]) for alg, key in signing_keys.items()}


@pytest.fixture
def make_engine(keyrings: dict[str, KeyRing]) -> Callable[..., TokenEngine]:
    """`make_engine("ES256", leeway=0)`: an engine for ISSUER/AUDIENCE over the session key ring."""

    def make(alg: str = "HS256", **kwargs: Any) -> TokenEngine:
        options: dict[str, Any] = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "access_ttl": 900,
            "refresh_ttl": 7 * 24 * 3600,
            "leeway": 5,
            "clock": lambda: float(NOW),
        }
        keyring = kwargs.pop("keyring", None) or keyrings[alg]
        options.update(kwargs)
        return TokenEngine(keyring, **options)

    return make


@pytest.fixture
def engine(make_engine: Callable[..., TokenEngine]) -> TokenEngine:
    """The HS256 engine most hostile tests attack."""
    return make_engine("HS256")


@pytest.fixture
def make_forger(private_keys: dict[str, Any], signing_keys: dict[str, SigningKey]) -> Callable[[str], Forger]:
    def make(alg: str = "HS256") -> Forger:
        return Forger(alg=alg, kid=signing_keys[alg].kid, key=private_keys[alg])

    return make


@pytest.fixture
def forger(make_forger: Callable[[str], Forger]) -> Forger:
    """Forges tokens for the HS256 `engine` (its real kid and secret)."""
    return make_forger("HS256")


# --- refusal and error-oracle checks ------------------------------------------------------------


def assert_no_oracle(error: BaseException, token: object, secrets: tuple[str, ...] = (SECRET,)) -> None:
    """Nothing of the token (nor the secret) in the message, repr or printed traceback of a refusal."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    needles: list[str] = [secret for secret in secrets if secret]
    if isinstance(token, str) and len(token) >= 12:
        needles.append(token)
        # Every segment long enough to be recognisable (a kid or a claim would show up in one).
        needles.extend(part for part in token.split(".") if len(part) >= 12)
    for text in texts:
        for needle in needles:
            assert needle not in text, "a refusal leaks token or secret text"
    if isinstance(error, TokenError):
        assert len(error.reason) < 120
        for needle in needles:
            assert needle not in error.reason


def refuse(
    verify: Callable[[object], Any],
    token: object,
    expected: type[TokenError] = TokenError,
    *,
    no_io: bool = False,
) -> TokenError:
    """`verify(token)` must raise exactly `expected` (a TokenError subclass) without leaking anything.

    With `no_io`, the verification itself must not touch files or the network.
    """
    with pytest.raises(TokenError) as info:
        if no_io:
            with forbid_io() as calls:
                try:
                    verify(token)
                finally:
                    assert calls == [], f"verifying a token attempted I/O: {calls}"
        else:
            verify(token)
    error = info.value
    assert type(error) is expected or expected is TokenError, (
        f"expected {expected.__name__}, got {type(error).__name__}: {error}"
    )
    assert_no_oracle(error, token)
    return error


@contextlib.contextmanager
def forbid_io() -> Iterator[list[str]]:
    """Record (and refuse) any file or network access while verifying: a token must drive none."""
    calls: list[str] = []

    def refuse_call(name: str) -> Callable[..., Any]:
        def _refused(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise OSError(f"{name} is forbidden while verifying a token")

        return _refused

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("builtins.open", refuse_call("open")))
        stack.enter_context(mock.patch("os.open", refuse_call("os.open")))
        stack.enter_context(mock.patch.object(socket.socket, "connect", refuse_call("connect")))
        stack.enter_context(mock.patch("socket.getaddrinfo", refuse_call("getaddrinfo")))
        stack.enter_context(mock.patch("socket.create_connection", refuse_call("create_connection")))
        yield calls


@pytest.fixture(scope="session")
def tk() -> types.SimpleNamespace:
    """The helpers and constants above, for test modules (which cannot reliably import a conftest)."""
    return types.SimpleNamespace(
        NOW=NOW,
        SECRET=SECRET,
        ISSUER=ISSUER,
        AUDIENCE=AUDIENCE,
        DROP=DROP,
        b64=b64,
        unb64=unb64,
        to_bytes=to_bytes,
        sign_raw=sign_raw,
        valid_claims=valid_claims,
        refuse=refuse,
        assert_no_oracle=assert_no_oracle,
        forbid_io=forbid_io,
        Forger=Forger,
    )
