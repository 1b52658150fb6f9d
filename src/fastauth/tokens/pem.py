"""PEM key pairs: generate them, load them, and check they fit the algorithm.

Everything here raises `ConfigError` with what to fix, because a bad key is always a configuration
problem found at start-up, never something to discover at the first login. The facts (which key
type, curve and size each algorithm needs) come from `fastauth.tokens.algorithms`.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from fastauth.errors import ConfigError
from fastauth.tokens.algorithms import ALGORITHMS, ASYMMETRIC_ALGORITHMS, MIN_RSA_BITS

__all__ = [
    "PrivateKey",
    "PublicKey",
    "check_fits",
    "generate_private_key",
    "load_pem_pair",
    "private_key_to_pem",
    "public_der",
    "public_key_to_pem",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

#: The table's JWK curve names, as `cryptography` curve classes.
_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}


def _curve(algorithm: str) -> type[ec.EllipticCurve]:
    curve = ALGORITHMS[algorithm].curve
    assert curve is not None  # every EC row names its curve
    return _EC_CURVES[curve]


def generate_private_key(algorithm: str, bits: int = MIN_RSA_BITS) -> PrivateKey:
    """A fresh private key of the type `algorithm` needs (RSA `bits` long for RS*/PS*)."""
    row = ALGORITHMS.get(algorithm)
    if row is not None and row.key_type == "RSA":
        if bits < MIN_RSA_BITS:
            raise ConfigError(f"RSA keys need at least {MIN_RSA_BITS} bits (asked for {bits}).")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if row is not None and row.key_type == "EC":
        return ec.generate_private_key(_curve(algorithm)())
    if row is not None and row.key_type == "OKP":
        return ed25519.Ed25519PrivateKey.generate()
    raise ConfigError(f"{algorithm!r} has no key pair; choose one of {sorted(ASYMMETRIC_ALGORITHMS)}.")


def private_key_to_pem(key: PrivateKey) -> str:
    """PKCS#8 PEM, unencrypted (protect the file, not the text)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_to_pem(key: PublicKey) -> str:
    """SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def check_fits(algorithm: str, key: PrivateKey | PublicKey, which: str) -> None:
    """Raise `ConfigError` unless `key` has the type, curve and size `algorithm` needs.

    `which` ("private key", "public key") names the key in the message.
    """
    row = ALGORITHMS.get(algorithm)
    if row is not None and row.key_type == "RSA":
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            raise ConfigError(f"{algorithm} needs an RSA {which}, got {_kind(key)}.")
        if key.key_size < MIN_RSA_BITS:
            raise ConfigError(
                f"the RSA {which} has {key.key_size} bits; {algorithm} needs at least {MIN_RSA_BITS}. "
                "Generate a new pair with `fastauth generate-keys`."
            )
    elif row is not None and row.key_type == "EC":
        curve = _curve(algorithm)
        if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            raise ConfigError(f"{algorithm} needs an EC {which} on {curve.name}, got {_kind(key)}.")
        if not isinstance(key.curve, curve):
            raise ConfigError(
                f"{algorithm} needs a key on curve {curve.name}, the {which} is on {key.curve.name}."
            )
    elif row is not None and row.key_type == "OKP":
        if not isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            raise ConfigError(f"EdDSA needs an Ed25519 {which}, got {_kind(key)}.")
    else:
        raise ConfigError(f"{algorithm} does not use PEM keys; it signs with `secret`.")


def _kind(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "an RSA key"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an EC key on {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "an Ed25519 key"
    return f"a {type(key).__name__}"


def public_der(key: PublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of `key`: compares two public keys exactly."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_pem_pair(
    algorithm: str, private_pem: str | None, public_pem: str | None
) -> tuple[PrivateKey | None, PublicKey]:
    """Parse and check a PEM pair for `algorithm`; returns (private or None, public).

    The public key may be omitted (it is derived); the private key may be omitted for a verify-only
    setup. When both are given they must belong together.
    """
    private: PrivateKey | None = None
    public: PublicKey | None = None
    if private_pem:
        try:
            loaded = serialization.load_pem_private_key(private_pem.encode(), password=None)
        except TypeError:
            raise ConfigError(
                "private_key is encrypted; give it unencrypted (protect it with file permissions or a "
                "secret manager)."
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError("private_key is not a readable PEM private key.") from None
        if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise ConfigError(f"private_key is {_kind(loaded)}, which fastauth cannot sign with.")
        check_fits(algorithm, loaded, "private key")
        private = loaded
    if public_pem:
        try:
            loaded_pub = serialization.load_pem_public_key(public_pem.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError("public_key is not a readable PEM public key.") from None
        if not isinstance(
            loaded_pub, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
        ):
            raise ConfigError(f"public_key is {_kind(loaded_pub)}, which fastauth cannot verify with.")
        check_fits(algorithm, loaded_pub, "public key")
        public = loaded_pub
    if private is not None:
        derived = private.public_key()
        if public is not None and public_der(public) != public_der(derived):
            raise ConfigError("public_key does not belong to private_key; give the matching pair.")
        public = derived
    if public is None:
        raise ConfigError(f"{algorithm} needs private_key (PEM) to sign, or public_key to verify only.")
    return private, public
