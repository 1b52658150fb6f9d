"""The signing path (issue #17): precomputed header segments, one JSON dump and key-bound signers write
exactly the bytes the plain construction writes, and every issue-time check still refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from fastauth.errors import ConfigError, HookError
from fastauth.tokens import TokenEngine
from fastauth.tokens.kinds import KINDS

ALL_ALGS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize("alg", ALL_ALGS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_header_and_payload_are_the_plain_construction(alg: str, kind: str, make_engine: Any) -> None:
    engine: TokenEngine = make_engine(alg)
    issued = engine.issue(
        kind, "user-1", "session-1", extra={"role": "admin", "n": [1, 2]} if kind == "access" else None
    )
    header, payload, _ = issued.token.split(".")
    key = engine.keyring.active
    assert header == b64(compact({"alg": alg, "kid": key.kid, "typ": KINDS[kind].typ}))
    assert header == key.header_segment(KINDS[kind].typ)
    assert payload == b64(compact(issued.claims))


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_signature_is_the_plain_hmac(alg: str, make_engine: Any, tk: Any) -> None:
    engine: TokenEngine = make_engine(alg)
    token = engine.issue_access("user-1", "session-1").token
    signing_input, signature = token.rsplit(".", 1)
    digest = getattr(hashlib, "sha" + alg[2:])
    assert signature == b64(hmac.new(tk.SECRET.encode(), signing_input.encode(), digest).digest())


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_joserfc_verifies_what_fastauth_signs(
    alg: str, make_engine: Any, private_keys: dict[str, Any]
) -> None:
    engine: TokenEngine = make_engine(alg)
    material = private_keys[alg]
    if alg.startswith("HS"):
        key: Any = OctKey.import_key(material)
    else:
        key_cls: Any = RSAKey if alg[:2] in ("RS", "PS") else ECKey if alg.startswith("ES") else OKPKey
        key = key_cls.import_key(material.public_key())
    for issued in (engine.issue_access("user-1", "session-1"), engine.issue_refresh("user-1", "session-1")):
        decoded = jose_jwt.decode(issued.token, key, algorithms=[alg])
        assert decoded.claims == issued.claims


def test_an_unknown_typ_still_gets_a_correct_header(make_engine: Any) -> None:
    key = make_engine("ES256").keyring.active
    assert (
        key.signing_prefix("x+jwt")
        == (b64(compact({"alg": "ES256", "kid": key.kid, "typ": "x+jwt"})) + ".").encode()
    )
    assert key.signing_prefix("at+jwt") == (key.header_segment("at+jwt") + ".").encode()


def test_sign_access_still_runs_the_verifiers_parser(engine: TokenEngine) -> None:
    claims = engine.access_claims("user-1", "session-1")
    # {1: ...} and {"1": ...} dump to the same member name twice: a token every request would refuse.
    with pytest.raises(HookError, match="unreadable token"):
        engine.sign_access({**claims, "x": {1: "a", "1": "b"}})
    with pytest.raises(HookError, match="unreadable token"):
        engine.sign_access({**claims, "deep": [[[]] for _ in range(200)]})
    with pytest.raises(HookError, match="unreadable token"):
        engine.sign_access({**claims, "nan": float("nan")})
    with pytest.raises(HookError, match="unreadable token"):
        engine.sign_access({**claims, "obj": object()})
    with pytest.raises(HookError, match="reserved claims"):
        engine.issue_access("user-1", "session-1", extra={"sub": "someone-else"})


def test_a_verify_only_key_cannot_sign_through_the_engine(
    make_engine: Any, signing_keys: dict[str, Any]
) -> None:
    from fastauth.tokens import KeyRing, SigningKey

    public = signing_keys["ES256"].key.get_op_key("verify")
    ring = KeyRing([SigningKey.from_keys("ES256", None, public)])
    with pytest.raises(ConfigError, match="no signing key"):
        make_engine("ES256", keyring=ring).issue_access("user-1", "session-1")
    with pytest.raises(ConfigError, match="verification only"):
        next(iter(ring)).sign(b"a.b")
