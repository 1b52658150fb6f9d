"""Private keys at rest: AES-256-GCM under a key derived (HKDF-SHA256) from `secret`.

The key id is bound as associated data, so a sealed key copied onto another row does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fastauth.errors import ConfigError

__all__ = ["seal", "unseal"]

_PREFIX = "v1."


def _kek(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"fastauth", info=b"fastauth key encryption v1"
    ).derive(secret.encode("utf-8"))


def seal(secret: str, kid: str, private_pem: str) -> str:
    """`private_pem` encrypted under `secret`, bound to `kid`: `v1.` and base64url(nonce || ciphertext)."""
    nonce = os.urandom(12)
    sealed = AESGCM(_kek(secret)).encrypt(nonce, private_pem.encode("ascii"), kid.encode("utf-8"))
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(secret: str, kid: str, sealed: str) -> str:
    """The PEM `seal` encrypted; `ConfigError` for another secret, another kid or a damaged value."""
    if not sealed.startswith(_PREFIX):
        raise ConfigError(f"stored key {kid} is in an unknown format")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(_PREFIX) :])
        return AESGCM(_kek(secret)).decrypt(raw[:12], raw[12:], kid.encode("utf-8")).decode("ascii")
    except (InvalidTag, ValueError):
        raise ConfigError(
            f"stored signing key {kid} cannot be decrypted: FASTAUTH_SECRET differs from the one that "
            "stored it. Use the original secret, or retire the stored keys (`fastauth keys retire`)."
        ) from None
