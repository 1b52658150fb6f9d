"""The signature checks `SigningKey` binds per algorithm, attacked below the JWS layer.

RS256/RS384/RS512 are verified by encode-and-compare (RFC 8017 §8.2.2): `cryptography` undoes the RSA
operation and checks the padding, and the rest must equal the expected `DigestInfo` + hash byte for byte.
These tests build encoded messages by hand, sign them with the raw RSA private operation, and check
that every malformed one is refused, and that the check agrees with `cryptography`'s own `verify`.
At the end: RS* and PS* signatures one octet longer, or without their leading zero octet, are refused.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fastauth.errors import InvalidSignature
from fastauth.tokens import SigningKey, TokenEngine
from support.b64 import unb64

PKCS1_ALGS = ("RS256", "RS384", "RS512")
_HASHLIB = {"RS256": hashlib.sha256, "RS384": hashlib.sha384, "RS512": hashlib.sha512}
_HASHES = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}
#: RFC 8017 §9.2 note 1, written out independently of the code under test.
DIGEST_INFO = {
    "RS256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "RS384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "RS512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
#: The same DigestInfo for SHA-256 with the NULL parameters left out: an encoding lenient verifiers took.
SHA256_NO_NULL = bytes.fromhex("302f300b0609608648016503040201") + bytes.fromhex("0420")
MESSAGE = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ"


@pytest.fixture(scope="module")
def rsa_key(private_keys: dict[str, Any]) -> rsa.RSAPrivateKey:
    key = private_keys["RS256"]
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def raw_sign(key: rsa.RSAPrivateKey, encoded: bytes) -> bytes:
    """The RSA private operation on an encoded message of our choosing (no padding applied)."""
    n = key.public_key().public_numbers().n
    size = (n.bit_length() + 7) // 8
    value = int.from_bytes(encoded, "big")
    assert value < n
    return pow(value, key.private_numbers().d, n).to_bytes(size, "big")


def pkcs1_encoding(
    size: int, digest_info: bytes, digest: bytes, *, block_type: int = 1, fill: int = 0xFF
) -> bytes:
    t = digest_info + digest
    return bytes([0, block_type]) + bytes([fill]) * (size - len(t) - 3) + b"\x00" + t


def cryptography_accepts(key: rsa.RSAPrivateKey, alg: str, message: bytes, signature: bytes) -> bool:
    try:
        key.public_key().verify(signature, message, padding.PKCS1v15(), _HASHES[alg]())
    except CryptoInvalidSignature:
        return False
    return True


def both(
    key: rsa.RSAPrivateKey, signing_key: SigningKey, message: bytes, signature: bytes
) -> tuple[bool, bool]:
    """(fastauth's answer, cryptography's answer) for one signature."""
    return signing_key.verify(message, signature), cryptography_accepts(
        key, signing_key.alg, message, signature
    )


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_digest_info_is_what_cryptography_signs(alg: str, rsa_key: rsa.RSAPrivateKey) -> None:
    signature = rsa_key.sign(MESSAGE, padding.PKCS1v15(), _HASHES[alg]())
    recovered = rsa_key.public_key().recover_data_from_signature(signature, padding.PKCS1v15(), None)
    assert recovered == DIGEST_INFO[alg] + _HASHLIB[alg](MESSAGE).digest()


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_hand_built_encoding_verifies(
    alg: str, rsa_key: rsa.RSAPrivateKey, signing_keys: dict[str, SigningKey]
) -> None:
    # The forging helper itself is right: the textbook encoding, signed raw, is accepted by both.
    size = rsa_key.key_size // 8
    signature = raw_sign(rsa_key, pkcs1_encoding(size, DIGEST_INFO[alg], _HASHLIB[alg](MESSAGE).digest()))
    assert both(rsa_key, signing_keys[alg], MESSAGE, signature) == (True, True)


def _malformed(alg: str, size: int) -> dict[str, bytes]:
    digest = _HASHLIB[alg](MESSAGE).digest()
    info = DIGEST_INFO[alg]
    other = "RS512" if alg != "RS512" else "RS256"
    t = info + digest
    return {
        # Another hash's DigestInfo and digest of the same input: a valid signature, for the wrong alg.
        "other hash": pkcs1_encoding(size, DIGEST_INFO[other], _HASHLIB[other](MESSAGE).digest()),
        # The right hash name with the digest of another input.
        "other message": pkcs1_encoding(size, info, _HASHLIB[alg](MESSAGE + b"x").digest()),
        # Bleichenbacher 2006: a shorter FF run and garbage after the digest.
        "trailing garbage": b"\x00\x01" + b"\xff" * 8 + b"\x00" + t + b"\x5a" * (size - len(t) - 11),
        # Garbage inside the padding, the right DigestInfo at the end.
        "garbage in padding": b"\x00\x01"
        + b"\xff" * 10
        + b"\x42"
        + b"\xff" * (size - len(t) - 14)
        + b"\x00"
        + t,
        # Encryption padding (block type 2) instead of signature padding.
        "block type 2": pkcs1_encoding(size, info, digest, block_type=2, fill=0x77),
        # Block type 0 with zero padding.
        "block type 0": pkcs1_encoding(size, info, digest, block_type=0, fill=0x00),
        # Fewer than eight padding bytes, the rest hidden before the DigestInfo.
        "short padding": b"\x00\x01" + b"\xff" * 4 + b"\x00" + b"\x00" * (size - len(t) - 7) + t,
        # No separator after the padding.
        "no separator": b"\x00\x01" + b"\xff" * (size - len(t) - 2) + t,
    }


@pytest.mark.parametrize("case", list(_malformed("RS256", 256)))
@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_malformed_encodings_are_refused(
    alg: str, case: str, rsa_key: rsa.RSAPrivateKey, signing_keys: dict[str, SigningKey]
) -> None:
    size = rsa_key.key_size // 8
    signature = raw_sign(rsa_key, _malformed(alg, size)[case])
    assert both(rsa_key, signing_keys[alg], MESSAGE, signature) == (False, False)


def test_digest_info_without_null_parameters_is_refused(
    rsa_key: rsa.RSAPrivateKey, signing_keys: dict[str, SigningKey]
) -> None:
    size = rsa_key.key_size // 8
    signature = raw_sign(rsa_key, pkcs1_encoding(size, SHA256_NO_NULL, hashlib.sha256(MESSAGE).digest()))
    assert signing_keys["RS256"].verify(MESSAGE, signature) is False


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_signature_must_be_exactly_the_modulus_length(
    alg: str, rsa_key: rsa.RSAPrivateKey, signing_keys: dict[str, SigningKey]
) -> None:
    # Find a signature whose first byte is zero: it has a second, one byte shorter spelling.
    for counter in range(20_000):
        message = MESSAGE + str(counter).encode()
        signature = rsa_key.sign(message, padding.PKCS1v15(), _HASHES[alg]())
        if signature[0] == 0:
            break
    else:  # pragma: no cover - one in 256 signatures qualifies
        pytest.fail("no signature with a leading zero byte")
    key = signing_keys[alg]
    assert key.verify(message, signature) is True
    assert key.verify(message, signature[1:]) is False
    assert key.verify(message, b"\x00" + signature) is False


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_signature_not_below_the_modulus_is_refused(
    alg: str, rsa_key: rsa.RSAPrivateKey, signing_keys: dict[str, SigningKey]
) -> None:
    """s + n has the same residue as a valid s: a second spelling of a valid signature, refused."""
    n = rsa_key.public_key().public_numbers().n
    size = (n.bit_length() + 7) // 8
    for counter in range(2_000):
        message = MESSAGE + str(counter).encode()
        signature = rsa_key.sign(message, padding.PKCS1v15(), _HASHES[alg]())
        shifted = int.from_bytes(signature, "big") + n
        if shifted.bit_length() <= size * 8:
            break
    else:  # pragma: no cover - needs a modulus within 1/2000 of 2**2048
        pytest.fail("no signature s with s + n below 2**(8*size)")
    assert both(rsa_key, signing_keys[alg], message, signature) == (True, True)
    assert both(rsa_key, signing_keys[alg], message, shifted.to_bytes(size, "big")) == (False, False)


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_constant_signatures_are_refused(
    alg: str, rsa_key: rsa.RSAPrivateKey, signing_keys: dict[str, SigningKey]
) -> None:
    size = rsa_key.key_size // 8
    n = rsa_key.public_key().public_numbers().n
    for constant in (b"\x00" * size, b"\xff" * size, (1).to_bytes(size, "big"), n.to_bytes(size, "big")):
        assert both(rsa_key, signing_keys[alg], MESSAGE, constant) == (False, False)


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_bit_flips_agree_with_cryptography(
    alg: str, rsa_key: rsa.RSAPrivateKey, signing_keys: dict[str, SigningKey]
) -> None:
    """Differential check: for flipped signatures and messages, both checks give the same answer."""
    rng = random.Random(alg)
    key = signing_keys[alg]
    for _ in range(40):
        message = rng.randbytes(rng.randrange(1, 300))
        signature = rsa_key.sign(message, padding.PKCS1v15(), _HASHES[alg]())
        assert both(rsa_key, key, message, signature) == (True, True)
        flipped = bytearray(signature)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        assert both(rsa_key, key, message, bytes(flipped)) == (False, False)
        changed = bytearray(message)
        changed[rng.randrange(len(changed))] ^= 1 << rng.randrange(8)
        assert both(rsa_key, key, bytes(changed), signature) == (False, False)


@pytest.mark.parametrize("alg", PKCS1_ALGS)
def test_forged_encoding_in_a_token_is_a_401_reason(
    alg: str, rsa_key: rsa.RSAPrivateKey, make_engine: Any, make_forger: Any, tk: Any
) -> None:
    """End to end: a token whose signature carries trailing garbage is an InvalidSignature refusal."""
    engine: TokenEngine = make_engine(alg)
    forger = make_forger(alg)
    good = forger.token()
    signing_input = good.rsplit(".", 1)[0].encode("ascii")
    size = rsa_key.key_size // 8
    digest = _HASHLIB[alg](signing_input).digest()
    t = DIGEST_INFO[alg] + digest
    garbage = b"\x00\x01" + b"\xff" * 8 + b"\x00" + t + b"\x00" * (size - len(t) - 11)
    token = forger.token(signature=raw_sign(rsa_key, garbage))
    assert engine.verify_access(good).sub == "user-1"
    tk.refuse(engine.verify_access, token, InvalidSignature)


# --- signature length (keyring `_bind_verify`) ----------------------------------------------------
# RFC 8017 §8.1.2 step 1 requires the signature to be exactly k octets. `cryptography`'s PSS verify
# accepts a signature whose leading zero octet was removed, so a token whose PS* signature starts with
# 0x00 would have a second, shorter spelling that verifies; RS* and PS* both check the length.


def _zero_led_token(forger: Any) -> tuple[str, str, bytes]:
    """A PS* token whose signature starts with 0x00 (PSS is randomised: sign until one does)."""
    for n in range(5000):
        token = forger.token(payload=forger.claims(jti=f"jti-zero-led-{n}"))
        header, payload, signature = token.split(".")
        raw = unb64(signature)
        if raw[0] == 0:
            return token, f"{header}.{payload}", raw
    pytest.fail("no zero-led PSS signature in 5000 tries")


@pytest.mark.parametrize("alg", ["PS256", "PS384", "PS512", "RS256"])
def test_rsa_signature_one_octet_longer_is_refused(
    alg: str, make_engine: Callable[..., TokenEngine], make_forger: Callable[[str], Any], tk: SimpleNamespace
) -> None:
    engine, forger = make_engine(alg), make_forger(alg)
    token = forger.token()
    signing_input, raw = token.rsplit(".", 1)[0], tk.unb64(token.rsplit(".", 1)[1])
    longer = tk.b64(bytes(1) + raw)
    tk.refuse(engine.verify_access, f"{signing_input}.{longer}", InvalidSignature)


@pytest.mark.parametrize("alg", ["PS256", "PS384", "PS512"])
def test_pss_signature_without_its_leading_zero_is_refused(
    alg: str, make_engine: Callable[..., TokenEngine], make_forger: Callable[[str], Any], tk: SimpleNamespace
) -> None:
    engine, forger = make_engine(alg), make_forger(alg)
    token, signing_input, raw = _zero_led_token(forger)
    assert engine.verify_access(token).sub == "user-1"
    short = f"{signing_input}.{tk.b64(raw[1:])}"
    assert short != token
    tk.refuse(engine.verify_access, short, InvalidSignature)


def test_rs_signature_without_its_leading_zero_is_refused(
    make_engine: Callable[..., TokenEngine], make_forger: Callable[[str], Any], tk: SimpleNamespace
) -> None:
    """RS* is deterministic: vary the jti until the signature starts with 0x00."""
    engine, forger = make_engine("RS256"), make_forger("RS256")
    token, signing_input, raw = _zero_led_token(forger)
    assert engine.verify_access(token).sub == "user-1"
    tk.refuse(engine.verify_access, f"{signing_input}.{tk.b64(raw[1:])}", InvalidSignature)
