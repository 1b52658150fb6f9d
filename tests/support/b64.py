"""Canonical unpadded base64url (RFC 7515 §2), with `base64` alone, never with the code under test."""

from __future__ import annotations

import base64
import json
from typing import Any


def b64(data: bytes) -> str:
    """Canonical unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(segment: str) -> bytes:
    """The bytes of an unpadded base64url segment (lenient: padding is added back)."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def json_segment(value: Any) -> str:
    """`value` as compact JSON, base64url-encoded: a token segment."""
    return b64(json.dumps(value, separators=(",", ":")).encode())
