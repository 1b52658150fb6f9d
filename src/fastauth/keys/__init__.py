"""Signing keys: PEM loading and generation (and, later, the shared key store and JWKS)."""

from fastauth.keys.pem import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    generate_private_key,
    load_pem_pair,
    private_key_to_pem,
    public_key_to_pem,
)

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "generate_private_key",
    "load_pem_pair",
    "private_key_to_pem",
    "public_key_to_pem",
]
