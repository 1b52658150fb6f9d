"""`fastauth.tokens.algorithms`: the one algorithm table, checked against joserfc and `cryptography`, and the
names derived from it that other modules import."""

from __future__ import annotations

import hashlib
import typing

import pytest
from joserfc import jws

from fastauth.errors import ConfigError
from fastauth.tokens import algorithms
from fastauth.tokens.algorithms import (
    ALGORITHMS,
    ASYMMETRIC_ALGORITHMS,
    EC_ALGORITHMS,
    HMAC_ALGORITHMS,
    HMAC_MIN_SECRET,
    KEY_ALGORITHMS,
    MIN_RSA_BITS,
    RSA_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    Algorithm,
    spec,
)
from fastauth.tokens.keyring import SigningKey
from fastauth.tokens.pem import generate_private_key

EXPECTED = {
    # name: (family, kty, crv, hash, min secret)
    "HS256": ("HMAC", "oct", None, "sha256", 32),
    "HS384": ("HMAC", "oct", None, "sha384", 48),
    "HS512": ("HMAC", "oct", None, "sha512", 64),
    "RS256": ("RSA", "RSA", None, "sha256", None),
    "RS384": ("RSA", "RSA", None, "sha384", None),
    "RS512": ("RSA", "RSA", None, "sha512", None),
    "PS256": ("RSA-PSS", "RSA", None, "sha256", None),
    "PS384": ("RSA-PSS", "RSA", None, "sha384", None),
    "PS512": ("RSA-PSS", "RSA", None, "sha512", None),
    "ES256": ("EC", "EC", "P-256", "sha256", None),
    "ES384": ("EC", "EC", "P-384", "sha384", None),
    "ES512": ("EC", "EC", "P-521", "sha512", None),
    "EdDSA": ("OKP", "OKP", "Ed25519", None, None),
}


def test_the_table() -> None:
    assert {
        name: (row.family, row.key_type, row.curve, row.hash, row.min_secret)
        for name, row in ALGORITHMS.items()
    } == EXPECTED
    assert all(row.name == name for name, row in ALGORITHMS.items())


def test_the_algorithm_type_lists_exactly_the_table() -> None:
    assert typing.get_args(Algorithm) == tuple(ALGORITHMS)


def test_derived_names() -> None:
    assert {"HS256", "HS384", "HS512"} == HMAC_ALGORITHMS
    assert {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"} == RSA_ALGORITHMS
    assert {"ES256", "ES384", "ES512"} == EC_ALGORITHMS
    assert RSA_ALGORITHMS | EC_ALGORITHMS | {"EdDSA"} == ASYMMETRIC_ALGORITHMS
    assert SUPPORTED_ALGORITHMS == HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
    assert HMAC_MIN_SECRET == {"HS256": 32, "HS384": 48, "HS512": 64}
    assert MIN_RSA_BITS == 2048
    assert KEY_ALGORITHMS == (
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    )  # fmt: skip
    for name in algorithms.__all__:
        assert hasattr(algorithms, name), name


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_each_row_agrees_with_joserfc(name: str) -> None:
    row = ALGORITHMS[name]
    model = jws.JWSRegistry.algorithms[name]
    assert model.key_type == row.key_type
    assert getattr(model, "curve", None) == (row.curve if row.family == "EC" else None)
    if row.hash is not None:
        assert model.hash_alg().name == row.hash  # type: ignore[attr-defined]
    if row.min_secret is not None:
        assert row.min_secret == hashlib.new(row.hash or "").digest_size


@pytest.mark.parametrize("name", sorted(ASYMMETRIC_ALGORITHMS))
def test_each_key_algorithm_makes_keys_that_sign_and_verify(name: str) -> None:
    private = generate_private_key(name)
    key = SigningKey.from_keys(name, private, private.public_key())
    assert key.public_jwk()["kty"] == ALGORITHMS[name].key_type
    assert key.public_jwk().get("crv") == ALGORITHMS[name].curve
    assert key.verify(b"a.b", key.sign(b"a.b"))
    assert not key.verify(b"a.c", key.sign(b"a.b"))


def test_lookup_is_exact() -> None:
    assert spec("ES256") is ALGORITHMS["ES256"]
    for name in ("es256", "EDDSA", "none", "", None, 256, "HS256 "):
        assert spec(name) is None, name
    assert spec("HS256") is not None and spec("HS256").is_hmac  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="has no key pair"):
        generate_private_key("HS256")
