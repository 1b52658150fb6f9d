"""Signing keys: PEM helpers, the shared key store with rotation (`fastauth.keys.manager`), sealing.

Depends on `fastauth.tokens`, never the reverse. The PEM helpers and algorithm sets are re-exported
from `fastauth.tokens.pem` and `fastauth.tokens.algorithms`.
"""

from fastauth.tokens.algorithms import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, SUPPORTED_ALGORITHMS
from fastauth.tokens.pem import generate_private_key, load_pem_pair, private_key_to_pem, public_key_to_pem

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "generate_private_key",
    "load_pem_pair",
    "private_key_to_pem",
    "public_key_to_pem",
]
