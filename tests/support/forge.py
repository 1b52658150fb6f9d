"""Tokens by hand, and reading tokens without verifying them.

Everything here signs with `hmac`/`cryptography` and encodes with `base64`/`json` directly, so a hostile
case never depends on the code under test to build it.

- `sign_raw(alg, key, signing_input)`: a JWS signature as RFC 7518 computes it (ECDSA as raw r||s).
- `forge(header, claims, alg, key)`: a compact JWS with exactly this header and these claims.
- `decode`, `claims`, `header_of`, `kid_of`: a compact token's parts, unverified.
- `tampered`, `resign`, `alg_none`: changed copies of a real token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from support.b64 import b64, json_segment, unb64

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def to_bytes(value: Any) -> bytes:
    """Raw bytes stay as they are; anything else is JSON (so a Python str becomes a JSON string)."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def sign_raw(alg: str, key: Any, signing_input: bytes) -> bytes:
    """Sign like RFC 7518 does, with `hmac`/`cryptography` only (ECDSA as raw r||s)."""
    if alg.startswith("HS"):
        raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        return hmac.new(raw, signing_input, _HMAC_HASHES[alg]).digest()
    if alg == "EdDSA":
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign(signing_input)
    digest = _HASHES[alg[2:]]
    if alg.startswith("RS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        return key.sign(signing_input, padding.PKCS1v15(), digest())
    if alg.startswith("PS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        pss = padding.PSS(mgf=padding.MGF1(digest()), salt_length=digest.digest_size)
        return key.sign(signing_input, pss, digest())
    if alg.startswith("ES"):
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise AssertionError(f"cannot sign {alg}")


def forge(header: dict[str, Any], claims: dict[str, Any], alg: str, key: Any) -> str:
    """A compact JWS with exactly this header and these claims, signed with `key` under `alg`."""
    signing_input = f"{json_segment(header)}.{json_segment(claims)}"
    return signing_input + "." + b64(sign_raw(alg, key, signing_input.encode()))


# --- reading, unverified -------------------------------------------------------------------------


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWS, unverified."""
    header, payload, _ = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload))


def claims(token: str) -> dict[str, Any]:
    """The claims of a compact JWS, unverified."""
    return decode(token)[1]


def header_of(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, unverified."""
    return decode(token)[0]


def kid_of(token: str) -> str:
    return str(header_of(token)["kid"])


# --- changed copies of a real token --------------------------------------------------------------


def resign(token: str, secret: str, **payload_changes: Any) -> str:
    """The same header (same `kid`) and payload, HS256-signed with another secret."""
    header, payload = decode(token)
    payload.update(payload_changes)
    return forge(header, payload, "HS256", secret)


def alg_none(token: str, *, keep_kid: bool = True, alg: str = "none") -> str:
    """The token's claims under `alg: none` (or another spelling) and an empty signature."""
    header, payload = decode(token)
    header["alg"] = alg
    if not keep_kid:
        del header["kid"]
    return f"{json_segment(header)}.{json_segment(payload)}."


def tampered(token: str, **payload_changes: Any) -> str:
    """Changed claims, original signature."""
    header, payload, signature = token.split(".")
    body = json.loads(unb64(payload))
    body.update(payload_changes)
    return f"{header}.{json_segment(body)}.{signature}"
