"""Strict compact JWS: the only token shape fastauth writes or reads.

Parsing refuses, before any cryptography, everything that is not exactly what fastauth issues:
over-long input, anything but three canonical base64url segments, JSON that is not a plain object
(duplicate members, NaN/Infinity, invalid UTF-8), and any header member other than `alg`, `kid` and
`typ` (so `jwk`, `jku`, `x5u`, `x5c`, `crit`, `b64`, `zip` are refused by construction). The key is
found by `kid` alone and must be bound to exactly the header's `alg`; the signature check is joserfc's
algorithm object with the already-parsed key. The payload is parsed only after the signature holds.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastauth.errors import AlgorithmMismatch, InvalidSignature, MalformedToken, UnknownKey
from fastauth.tokens.keyring import KeyRing, SigningKey

__all__ = [
    "MAX_TOKEN_LENGTH",
    "b64url_decode",
    "b64url_encode",
    "decode_unverified",
    "encode",
    "json_loads_strict",
    "verify",
]

#: Tokens longer than this are refused before any decoding (a first-party token is well under 2 KiB).
MAX_TOKEN_LENGTH = 8192
#: The header fastauth writes is under 150 characters; nothing legitimate comes near this.
MAX_HEADER_SEGMENT = 512
MAX_KID_LENGTH = 128
ALLOWED_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
#: At most this many `[`/`{` in one header or payload. This bounds JSON nesting on every Python: 3.11
#: stops near 1,000 levels (RecursionError), 3.13 parses thousands. Brackets inside strings count too;
#: no real token comes near.
MAX_JSON_CONTAINERS = 256


_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SIXBITS = {char: value for value, char in enumerate(_ALPHABET)}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
#: Bits of the last character that carry no data, by `len(segment) % 4`: they must be zero.
_UNUSED_BITS = {2: 0x0F, 3: 0x03}
_PADDING = {0: b"", 2: b"==", 3: b"="}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode canonical unpadded base64url only: no padding, no `+`/`/`, no whitespace, no stray bits.

    Canonical means one spelling per byte string: the alphabet alone, a length that is not 1 mod 4,
    and zero unused low bits in the last character (else `...Q` and `...R` would decode alike).
    """
    try:
        raw = segment.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedToken("segment is not canonical base64url") from None
    rem = len(raw) % 4
    if (
        not raw
        or rem == 1
        or raw.translate(None, _ALPHABET)
        or (rem and _SIXBITS[raw[-1]] & _UNUSED_BITS[rem])
    ):
        raise MalformedToken("segment is not canonical base64url")
    return binascii.a2b_base64(raw.translate(_TO_STANDARD) + _PADDING[rem])


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedToken("duplicate JSON member")
    return result


def _no_constants(name: str) -> Any:
    raise MalformedToken("NaN and Infinity are not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
_SCAN: Any = _DECODER.scan_once  # type: ignore[attr-defined]


def json_loads_strict(data: bytes) -> dict[str, Any]:
    """A JSON object from strict UTF-8, with unique members and no NaN/Infinity."""
    if data.count(b"[") + data.count(b"{") > MAX_JSON_CONTAINERS:
        raise MalformedToken("segment is not a JSON object of a sane shape")
    try:
        text = data.decode("utf-8")
        # scan_once is JSONDecoder.decode without its whitespace handling: no surrounding whitespace.
        value, end = _SCAN(text, 0)
    except MalformedToken:
        raise
    except (ValueError, RecursionError, StopIteration):  # UnicodeDecodeError, JSONDecodeError, empty
        raise MalformedToken("segment is not a JSON object") from None
    if end != len(text) or not isinstance(value, dict):
        raise MalformedToken("segment is not a JSON object")
    return value


def _split(token: object) -> tuple[str, str, str]:
    if not isinstance(token, str):
        raise MalformedToken("token is not text")
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken("token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("token is not a three-part compact JWS")
    header, payload, signature = parts
    if len(header) > MAX_HEADER_SEGMENT:
        raise MalformedToken("header is too long")
    return header, payload, signature


def _parse_header(segment: str) -> dict[str, Any]:
    header = json_loads_strict(b64url_decode(segment))
    if not header.keys() <= ALLOWED_HEADER_MEMBERS:
        raise MalformedToken("header carries members fastauth never writes")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise MalformedToken("header needs a string alg and kid")
    if not isinstance(header.get("typ"), str):
        raise MalformedToken("header needs a string typ")
    return header


def encode(claims: dict[str, Any], key: SigningKey, typ: str) -> str:
    """Sign `claims` as a compact JWS with header `{alg, kid, typ}`."""
    signing_input = (
        key.header_segment(typ)
        + "."
        + b64url_encode(json.dumps(claims, separators=(",", ":"), allow_nan=False).encode())
    ).encode("ascii")
    return signing_input.decode("ascii") + "." + b64url_encode(key.sign(signing_input))


def verify(token: object, keyring: KeyRing) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check structure, key binding and signature; returns (header, payload) unvalidated as claims.

    Every refusal raises a `TokenError` subclass; nothing else escapes.
    """
    header_segment, payload_segment, signature_segment = _split(token)
    known = keyring.known_headers.get(header_segment)
    if known is not None:
        header, key = known[0].copy(), known[1]
    else:
        header = _parse_header(header_segment)
        found = keyring.get(header["kid"])
        if found is None:
            raise UnknownKey("unknown kid")
        key = found
    if header["alg"] != key.alg:  # exact and case-sensitive: "none", "NONE", "HS256" on an RSA key...
        raise AlgorithmMismatch("alg is not the key's algorithm")
    signature = b64url_decode(signature_segment)
    payload_bytes = b64url_decode(payload_segment)
    signing_input = (header_segment + "." + payload_segment).encode("ascii")
    try:
        valid = key.verify(signing_input, signature)
    except Exception:  # a malformed signature for the key type must never become a 500
        valid = False
    if not valid:
        raise InvalidSignature("signature does not verify")
    payload = json_loads_strict(payload_bytes)
    return header, payload


def decode_unverified(token: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload WITHOUT checking the signature: for inspection (`fastauth decode`) only."""
    header_segment, payload_segment, _ = _split(token)
    header = json_loads_strict(b64url_decode(header_segment))
    payload = json_loads_strict(b64url_decode(payload_segment))
    return header, payload
