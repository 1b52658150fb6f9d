"""Strict compact JWS: the only token shape fastauth writes or reads.

Parsing refuses, before any cryptography, everything that is not exactly what fastauth issues:
over-long input, anything but three canonical base64url segments, JSON that is not a plain object
(duplicate members, NaN/Infinity, invalid UTF-8), and any header member other than `alg`, `kid` and
`typ` (so `jwk`, `jku`, `x5u`, `x5c`, `crit`, `b64`, `zip` are refused by construction). The key is
found by `kid` alone and must be bound to exactly the header's `alg`; the signature check is the one
`SigningKey` bound when the key was loaded (keyring.py). The payload is parsed only after the signature
holds.
"""

from __future__ import annotations

import binascii
import json
from typing import TYPE_CHECKING, Any

from fastauth.errors import AlgorithmMismatch, InvalidSignature, MalformedToken, UnknownKey

if TYPE_CHECKING:
    from fastauth.tokens.keyring import KeyRing, SigningKey

__all__ = [
    "MAX_TOKEN_LENGTH",
    "b64url_decode",
    "b64url_encode",
    "decode_unverified",
    "dump_claims",
    "encode",
    "json_loads_strict",
    "sign_payload",
    "standard_segment",
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
_STANDARD_ALPHABET = _ALPHABET.translate(bytes.maketrans(b"-_", b"+/"))
_REFUSED = ord("*")


def _standard_table() -> bytes:
    """A `bytes.translate` table: base64url to standard base64 (`-_` to `+/`), `.` kept, and every
    other byte (`+`, `/`, `=`, whitespace, controls...) to `*`, which no valid token contains.

    One translation of the whole token then both checks the alphabet and prepares `binascii`'s input.
    """
    table = bytearray([_REFUSED]) * 256
    for url_char, std_char in zip(_ALPHABET + b".", _STANDARD_ALPHABET + b".", strict=True):
        table[url_char] = std_char
    return bytes(table)


_TO_STANDARD = _standard_table()
_SIXBITS = {char: value for value, char in enumerate(_STANDARD_ALPHABET)}
#: Bits of the last character that carry no data, by `len(segment) % 4`: they must be zero.
_UNUSED_BITS = {2: 0x0F, 3: 0x03}
_PADDING = {0: b"", 2: b"==", 3: b"="}


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64url(data: bytes) -> bytes:
    """Unpadded base64url in one pass over the output: `+/` become `-_` and `=` is dropped together."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE, b"=")


def b64url_encode(data: bytes) -> str:
    """Canonical unpadded base64url text of `data`."""
    return _b64url(data).decode("ascii")


def standard_segment(segment: str) -> bytes:
    """A base64url segment in the form `verify` compares header segments in (see `KeyRing`)."""
    return segment.encode("ascii").translate(_TO_STANDARD)


def b64url_decode(segment: str) -> bytes:
    """Decode canonical unpadded base64url only: no padding, no `+`/`/`, no whitespace, no stray bits.

    Canonical means one spelling per byte string: the alphabet alone, a length that is not 1 mod 4,
    and zero unused low bits in the last character (else `...Q` and `...R` would decode alike).
    """
    try:
        std = segment.encode("ascii").translate(_TO_STANDARD)
    except UnicodeEncodeError:
        raise MalformedToken("segment is not canonical base64url") from None
    if b"*" in std or b"." in std:
        raise MalformedToken("segment is not canonical base64url")
    return _decode_segment(std)


def _decode_segment(std: bytes) -> bytes:
    """Decode a segment already translated by `_TO_STANDARD` and known to hold no `*`."""
    rem = len(std) % 4
    if not std or rem == 1 or (rem and _SIXBITS[std[-1]] & _UNUSED_BITS[rem]):
        raise MalformedToken("segment is not canonical base64url")
    return binascii.a2b_base64(std + _PADDING[rem])


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
    # Fewer bytes than the bound cannot hold too many brackets: short payloads skip the two scans.
    if len(data) > MAX_JSON_CONTAINERS and data.count(b"[") + data.count(b"{") > MAX_JSON_CONTAINERS:
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


def _split(token: object) -> tuple[bytes, bytes, bytes, bytes]:
    """The token's ASCII bytes, then its header, payload and signature in standard base64.

    The alphabet is checked once over the whole token; `_decode_segment` then checks each segment's
    length and last character.
    """
    if not isinstance(token, str):
        raise MalformedToken("token is not text")
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken("token is too long")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedToken("token is not a three-part compact JWS") from None
    std = raw.translate(_TO_STANDARD)
    parts = std.split(b".")
    if len(parts) != 3:
        raise MalformedToken("token is not a three-part compact JWS")
    if b"*" in std:
        raise MalformedToken("segment is not canonical base64url")
    header, payload, signature = parts
    if len(header) > MAX_HEADER_SEGMENT:
        raise MalformedToken("header is too long")
    return raw, header, payload, signature


def _parse_header(segment: bytes) -> dict[str, Any]:
    header = json_loads_strict(_decode_segment(segment))
    if not header.keys() <= ALLOWED_HEADER_MEMBERS:
        raise MalformedToken("header carries members fastauth never writes")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise MalformedToken("header needs a string alg and kid")
    if not isinstance(header.get("typ"), str):
        raise MalformedToken("header needs a string typ")
    return header


#: `json.dumps(..., separators=(",", ":"), allow_nan=False)` without building an encoder per call.
_DUMP = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def dump_claims(claims: dict[str, Any]) -> bytes:
    """The payload JSON fastauth signs: compact, ASCII only (`\\u` escapes), no NaN or Infinity."""
    return _DUMP(claims).encode("ascii")


def sign_payload(payload: bytes, key: SigningKey, typ: str) -> str:
    """Sign payload JSON (from `dump_claims`) as a compact JWS with header `{alg, kid, typ}`."""
    signing_input = key.signing_prefix(typ) + _b64url(payload)
    return (signing_input + b"." + _b64url(key.sign(signing_input))).decode("ascii")


def encode(claims: dict[str, Any], key: SigningKey, typ: str) -> str:
    """Sign `claims` as a compact JWS with header `{alg, kid, typ}`."""
    return sign_payload(dump_claims(claims), key, typ)


def verify(token: object, keyring: KeyRing) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check structure, key binding and signature; returns (header, payload) unvalidated as claims.

    Every refusal raises a `TokenError` subclass; nothing else escapes.
    """
    raw, header_segment, payload_segment, signature_segment = _split(token)
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
    signature = _decode_segment(signature_segment)
    payload_bytes = _decode_segment(payload_segment)
    try:
        valid = key.verify(raw[: len(header_segment) + 1 + len(payload_segment)], signature)
    except Exception:  # a malformed signature for the key type must never become a 500
        valid = False
    if not valid:
        raise InvalidSignature("signature does not verify")
    payload = json_loads_strict(payload_bytes)
    return header, payload


def decode_unverified(token: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload WITHOUT checking the signature: for inspection (`fastauth decode`) only."""
    _, header_segment, payload_segment, _ = _split(token)
    header = json_loads_strict(_decode_segment(header_segment))
    payload = json_loads_strict(_decode_segment(payload_segment))
    return header, payload
