"""Deprecated: PEM parsing moved to `fastauth.tokens.pem`, algorithm facts to `fastauth.tokens.algorithms`.

Kept for a while so existing imports work; it warns once, when first imported. Public names are also
exported by `fastauth.keys`.
"""

from __future__ import annotations

import warnings

from fastauth.tokens.algorithms import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    HMAC_MIN_SECRET,
    MIN_RSA_BITS,
    RSA_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    Algorithm,
)
from fastauth.tokens.pem import (
    PrivateKey,
    PublicKey,
    generate_private_key,
    load_pem_pair,
    private_key_to_pem,
    public_key_to_pem,
)

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "HMAC_MIN_SECRET",
    "MIN_RSA_BITS",
    "RSA_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "generate_private_key",
    "load_pem_pair",
    "private_key_to_pem",
    "public_key_to_pem",
]

warnings.warn(
    "fastauth.keys.pem is deprecated: import from fastauth.keys, fastauth.tokens.pem or "
    "fastauth.tokens.algorithms",
    DeprecationWarning,
    stacklevel=2,
)
