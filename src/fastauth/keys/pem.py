"""PEM key pairs: generate them, load them, and check they fit the algorithm.

Everything here raises `ConfigError` with what to fix, because a bad key is always a configuration
problem found at start-up, never something to discover at the first login.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from fastauth.errors import ConfigError

Algorithm: TypeAlias = Literal[
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]

HMAC_ALGORITHMS: frozenset[str] = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS: frozenset[str] = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
ASYMMETRIC_ALGORITHMS: frozenset[str] = RSA_ALGORITHMS | frozenset(EC_CURVES) | {"EdDSA"}
SUPPORTED_ALGORITHMS: frozenset[str] = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS

#: Minimum HMAC secret length per algorithm: the hash output size (RFC 7518 §3.2, RFC 8725 §3.5).
HMAC_MIN_SECRET = {"HS256": 32, "HS384": 48, "HS512": 64}
MIN_RSA_BITS = 2048

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def generate_private_key(algorithm: str, bits: int = MIN_RSA_BITS) -> PrivateKey:
    """A fresh private key of the type `algorithm` needs (RSA `bits` long for RS*/PS*)."""
    if algorithm in RSA_ALGORITHMS:
        if bits < MIN_RSA_BITS:
            raise ConfigError(f"RSA keys need at least {MIN_RSA_BITS} bits (asked for {bits}).")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if algorithm in EC_CURVES:
        return ec.generate_private_key(EC_CURVES[algorithm]())
    if algorithm == "EdDSA":
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


def _check_fits(algorithm: str, key: PrivateKey | PublicKey, which: str) -> None:
    if algorithm in RSA_ALGORITHMS:
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            raise ConfigError(f"{algorithm} needs an RSA {which}, got {_kind(key)}.")
        if key.key_size < MIN_RSA_BITS:
            raise ConfigError(
                f"the RSA {which} has {key.key_size} bits; {algorithm} needs at least {MIN_RSA_BITS}. "
                "Generate a new pair with `fastauth generate-keys`."
            )
    elif algorithm in EC_CURVES:
        curve = EC_CURVES[algorithm]
        if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            raise ConfigError(f"{algorithm} needs an EC {which} on {curve.name}, got {_kind(key)}.")
        if not isinstance(key.curve, curve):
            raise ConfigError(
                f"{algorithm} needs a key on curve {curve.name}, the {which} is on {key.curve.name}."
            )
    elif algorithm == "EdDSA":
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


def _public_der(key: PublicKey) -> bytes:
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
        _check_fits(algorithm, loaded, "private key")
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
        _check_fits(algorithm, loaded_pub, "public key")
        public = loaded_pub
    if private is not None:
        derived = private.public_key()
        if public is not None and _public_der(public) != _public_der(derived):
            raise ConfigError("public_key does not belong to private_key; give the matching pair.")
        public = derived
    if public is None:
        raise ConfigError(f"{algorithm} needs private_key (PEM) to sign, or public_key to verify only.")
    return private, public
