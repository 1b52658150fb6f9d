"""Every signing algorithm fastauth supports, in one table: the single source of algorithm facts.

Pure data: importing this module imports nothing but the standard library (no `cryptography`, joserfc
or pydantic), so the CLI can list the algorithms in `--help` without loading any of them. Key parsing
(`fastauth.tokens.pem`) and signing (`fastauth.tokens.keyring`) read the facts from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "ALGORITHMS",
    "ASYMMETRIC_ALGORITHMS",
    "EC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "HMAC_MIN_SECRET",
    "KEY_ALGORITHMS",
    "MIN_RSA_BITS",
    "RSA_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "Algorithm",
    "AlgorithmSpec",
    "Family",
    "spec",
]

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
Family: TypeAlias = Literal["HMAC", "RSA", "RSA-PSS", "EC", "OKP"]

#: RSA keys shorter than this are refused everywhere (RFC 7518 §3.3; RFC 8725 §3.5).
MIN_RSA_BITS = 2048


@dataclass(frozen=True, slots=True)
class AlgorithmSpec:
    """One JWS algorithm: its family, the JWK key type and curve it needs, its hash, its minimum secret."""

    name: str
    family: Family
    #: The JWK `kty` of its keys (RFC 7518 §6.1, RFC 8037 §2).
    key_type: Literal["oct", "RSA", "EC", "OKP"]
    #: The JWK `crv` (EC and OKP only).
    curve: str | None
    #: The hash, as `hashlib` names it (`None` for EdDSA, whose hash is part of the signature scheme).
    hash: str | None
    #: HMAC only: the shortest secret in bytes, the hash output size (RFC 7518 §3.2, RFC 8725 §3.5).
    min_secret: int | None = None

    @property
    def is_hmac(self) -> bool:
        """True for HS*: a shared secret, never published."""
        return self.family == "HMAC"


_TABLE = (
    AlgorithmSpec("HS256", "HMAC", "oct", None, "sha256", 32),
    AlgorithmSpec("HS384", "HMAC", "oct", None, "sha384", 48),
    AlgorithmSpec("HS512", "HMAC", "oct", None, "sha512", 64),
    AlgorithmSpec("RS256", "RSA", "RSA", None, "sha256"),
    AlgorithmSpec("RS384", "RSA", "RSA", None, "sha384"),
    AlgorithmSpec("RS512", "RSA", "RSA", None, "sha512"),
    AlgorithmSpec("PS256", "RSA-PSS", "RSA", None, "sha256"),
    AlgorithmSpec("PS384", "RSA-PSS", "RSA", None, "sha384"),
    AlgorithmSpec("PS512", "RSA-PSS", "RSA", None, "sha512"),
    AlgorithmSpec("ES256", "EC", "EC", "P-256", "sha256"),
    AlgorithmSpec("ES384", "EC", "EC", "P-384", "sha384"),
    AlgorithmSpec("ES512", "EC", "EC", "P-521", "sha512"),
    AlgorithmSpec("EdDSA", "OKP", "OKP", "Ed25519", None),
)

#: Name -> spec, in the order above (HMAC, RSA, RSA-PSS, EC, OKP).
ALGORITHMS: dict[str, AlgorithmSpec] = {row.name: row for row in _TABLE}

HMAC_ALGORITHMS: frozenset[str] = frozenset(n for n, s in ALGORITHMS.items() if s.family == "HMAC")
RSA_ALGORITHMS: frozenset[str] = frozenset(n for n, s in ALGORITHMS.items() if s.key_type == "RSA")
EC_ALGORITHMS: frozenset[str] = frozenset(n for n, s in ALGORITHMS.items() if s.family == "EC")
ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset(n for n, s in ALGORITHMS.items() if not s.is_hmac)
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(ALGORITHMS)
#: The algorithms with a key pair, in table order (what `fastauth generate-keys --help` lists).
KEY_ALGORITHMS: tuple[str, ...] = tuple(n for n, s in ALGORITHMS.items() if not s.is_hmac)
#: HMAC algorithm -> minimum secret length in bytes.
HMAC_MIN_SECRET: dict[str, int] = {n: s.min_secret for n, s in ALGORITHMS.items() if s.min_secret is not None}


def spec(name: object) -> AlgorithmSpec | None:
    """The row for `name` (exact, case-sensitive), or None for anything fastauth does not support."""
    return ALGORITHMS.get(name) if isinstance(name, str) else None
