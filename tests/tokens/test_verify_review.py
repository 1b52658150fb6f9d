"""Review tests of the single-translation codec and the per-key signature checks (keyring `_bind_verify`).

- Every byte outside the base64url alphabet, anywhere in a token, is refused as `MalformedToken`
  (`binascii.a2b_base64` runs non-strict, so nothing it would silently skip may reach it).
- Non-canonical last characters (non-zero unused bits) are refused in all three segments, including
  a header that would otherwise be looked up in `KeyRing.known_headers`.
- `known_headers` is keyed by the standard-base64 form of our header segments; the standard spelling
  itself (`+`/`/` instead of `-`/`_`), correctly signed, must not match it.
- PS*: RFC 8017 §8.1.2 step 1 requires the signature to be exactly k octets. `cryptography`'s PSS
  verify accepts a signature whose leading zero octet was removed, so a token whose PS* signature
  starts with 0x00 has a second, shorter spelling that verifies. (Unchanged from before the rewrite;
  RS* got an explicit length check, PS* did not.) Both now check the length.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from fastauth.errors import InvalidSignature, MalformedToken, TokenError
from fastauth.tokens import KeyRing, SigningKey, TokenEngine
from fastauth.tokens.codec import standard_segment

URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SIX = {char: value for value, char in enumerate(URL_ALPHABET)}


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
    foreign = [chr(c) for c in range(256) if chr(c) not in URL_ALPHABET + "."]
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
        for char in URL_ALPHABET:
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


def _zero_led_token(forger: Any) -> tuple[str, str, bytes]:
    """A PS* token whose signature starts with 0x00 (PSS is randomised: sign until one does)."""
    for n in range(5000):
        token = forger.token(payload=forger.claims(jti=f"jti-zero-led-{n}"))
        header, payload, signature = token.split(".")
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
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
