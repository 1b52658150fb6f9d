"""`fastauth.tokens.algorithms`: the one algorithm table, checked against joserfc and `cryptography`, and the
names derived from it that other modules import."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import subprocess
import sys
import typing
from pathlib import Path

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


# --- the tables are pure data (the room rules, tokens/ never importing keys/, are tests/test_layers.py's)

#: module -> the fastauth modules it may import besides the standard library
PURE_DATA = {"fastauth.tokens.algorithms": (), "fastauth.tokens.kinds": ("fastauth.errors",)}


def _imports(module: str) -> set[str]:
    """Every module name `module`'s source imports, anywhere in it (`from a import b` gives `a` and `a.b`)."""
    spec_ = importlib.util.find_spec(module)
    assert spec_ is not None and spec_.origin is not None, module
    tree = ast.parse(Path(spec_.origin).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None, f"{module}: relative import"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("module", sorted(PURE_DATA))
def test_the_tables_import_only_the_standard_library(module: str) -> None:
    allowed = PURE_DATA[module]
    outside = sorted(
        name
        for name in _imports(module)
        if name.split(".")[0] not in sys.stdlib_module_names
        and not any(name == a or name.startswith(a + ".") for a in allowed)
    )
    assert outside == []


def test_the_tables_load_without_cryptography_joserfc_or_pydantic() -> None:
    """What `fastauth --help` relies on: importing the tables (and `fastauth.tokens`) loads none of them.

    In a fresh interpreter with the top-level `fastauth` package stubbed, so only `fastauth.tokens` and
    the tables are measured, whatever `fastauth/__init__.py` imports."""
    code = (
        "import sys, types\n"
        "pkg = types.ModuleType('fastauth'); pkg.__path__ = [sys.argv[1]]; sys.modules['fastauth'] = pkg\n"
        "import fastauth.tokens.algorithms, fastauth.tokens.kinds\n"
        "assert fastauth.tokens.algorithms.KEY_ALGORITHMS and fastauth.tokens.kinds.KINDS\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'cryptography', 'joserfc', 'pydantic'}))\n"
    )
    package_dir = str(Path(algorithms.__file__).parent.parent)
    done = subprocess.run(
        [sys.executable, "-c", code, package_dir], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
