"""Functional tests of the token engine: round trips, claims, headers, hooks, leeway and key rings.

Time rule under test (documented in `fastauth.tokens.claims`): a token is valid while
`now < exp + leeway`; `iat` and `nbf` may lie at most `leeway` seconds in the future.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from fastauth import FastAuthConfig, JWTConfig
from fastauth.config import FastAuthSecurityWarning
from fastauth.errors import (
    ConfigError,
    ExpiredToken,
    HookError,
    InvalidClaims,
    InvalidSignature,
    TokenError,
    UnknownKey,
    WrongTokenType,
)
from fastauth.hooks import EventHooks
from fastauth.keys import generate_private_key, private_key_to_pem, public_key_to_pem
from fastauth.tokens import KeyRing, SigningKey, TokenEngine
from fastauth.tokens.claims import RESERVED_CLAIMS, custom_claims
from support.forge import decode

ALL_ALGS = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
ISSUED_CLAIMS = {"sub", "type", "iat", "exp", "iss", "aud", "jti", "sid", "client_id"}  # access tokens


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_round_trip_every_algorithm(alg: str, make_engine: Any, tk: SimpleNamespace) -> None:
    engine = make_engine(alg)
    access = engine.issue_access("user-1", "sid-1", now=tk.NOW)
    refresh = engine.issue_refresh("user-1", "sid-1", now=tk.NOW)

    verified = engine.verify_access(access.token, now=tk.NOW)
    assert verified.claims == access.claims
    assert (verified.sub, verified.sid, verified.jti, verified.type) == (
        "user-1",
        "sid-1",
        access.jti,
        "access",
    )
    assert verified.kid == engine.keyring.active.kid
    assert verified.expires_at == tk.NOW + 900 == access.expires_at

    verified_refresh = engine.verify_refresh(refresh.token, now=tk.NOW)
    assert verified_refresh.claims == refresh.claims
    assert verified_refresh.type == "refresh"
    assert verified_refresh.expires_at == tk.NOW + 7 * 24 * 3600

    header, _ = decode(access.token)
    assert header == {"alg": alg, "kid": engine.keyring.active.kid, "typ": "at+jwt"}
    header, _ = decode(refresh.token)
    assert header == {"alg": alg, "kid": engine.keyring.active.kid, "typ": "rt+jwt"}


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_signature_is_checked_by_an_independent_implementation(
    alg: str, make_engine: Any, make_forger: Any
) -> None:
    """A token forged with hmac/cryptography directly verifies: the engine speaks plain RFC 7515/7518."""
    forger = make_forger(alg)
    engine = make_engine(alg)
    token = forger.token()
    assert engine.verify_access(token).sub == "user-1"


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_verification_never_imports_a_key(
    alg: str, make_engine: Any, monkeypatch: pytest.MonkeyPatch, tk: SimpleNamespace
) -> None:
    """Keys are parsed once, when the ring is built; verifying (and issuing) imports nothing."""
    engine = make_engine(alg)
    tokens = [engine.issue_access("u", "s").token, engine.issue_refresh("u", "s").token]

    def no_import(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a key was imported on the hot path")

    for cls in (OctKey, RSAKey, ECKey, OKPKey):
        monkeypatch.setattr(cls, "import_key", no_import)
    monkeypatch.setattr(serialization, "load_pem_public_key", no_import)
    monkeypatch.setattr(serialization, "load_pem_private_key", no_import)
    monkeypatch.setattr(serialization, "load_der_public_key", no_import)
    assert engine.verify_access(tokens[0]).sub == "u"
    assert engine.verify_refresh(tokens[1]).sub == "u"
    assert engine.verify_access(engine.issue_access("u", "s").token).sub == "u"
    # An unfamiliar but equivalent header spelling takes the slow path (parsing): still no import.
    header, payload, signature = tokens[0].split(".")
    spaced = tk.b64(b"{ " + tk.unb64(header)[1:])
    tk.refuse(engine.verify_access, f"{spaced}.{payload}.{signature}", InvalidSignature)


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_each_kind_is_refused_where_the_other_is_expected(
    alg: str, make_engine: Any, tk: SimpleNamespace
) -> None:
    engine = make_engine(alg)
    access = engine.issue_access("user-1", "sid-1").token
    refresh = engine.issue_refresh("user-1", "sid-1").token
    tk.refuse(engine.verify_refresh, access, WrongTokenType)
    tk.refuse(engine.verify_access, refresh, WrongTokenType)


def test_type_claim_alone_also_separates_the_kinds(
    forger: Any, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    """Right `typ` header, wrong `type` claim (and the reverse): refused both ways."""
    access_typ_refresh_claim = forger.token(forger.header(typ="at+jwt"), forger.claims(type="refresh"))
    tk.refuse(engine.verify_access, access_typ_refresh_claim, WrongTokenType)
    tk.refuse(engine.verify_refresh, access_typ_refresh_claim, WrongTokenType)
    refresh_typ_access_claim = forger.token(forger.header(typ="rt+jwt"), forger.claims(type="access"))
    tk.refuse(engine.verify_access, refresh_typ_access_claim, WrongTokenType)
    tk.refuse(engine.verify_refresh, refresh_typ_access_claim, WrongTokenType)


def test_refresh_token_accepts_application_media_type(forger: Any, engine: TokenEngine) -> None:
    token = forger.token(forger.header(typ="application/rt+jwt"), forger.claims(type="refresh"))
    assert engine.verify_refresh(token).type == "refresh"


# --- claims --------------------------------------------------------------------------------------


def test_claims_are_exactly_the_documented_set(engine: TokenEngine, tk: SimpleNamespace) -> None:
    issued = engine.issue_access("42", "session-9", now=tk.NOW)
    _, claims = decode(issued.token)
    assert claims == issued.claims
    assert set(claims) == ISSUED_CLAIMS  # nothing personal: no email, name, roles...
    assert claims["sub"] == "42"
    assert claims["type"] == "access"
    assert claims["iat"] == tk.NOW
    assert claims["exp"] == tk.NOW + 900
    assert claims["iss"] == tk.ISSUER
    assert claims["aud"] == [tk.AUDIENCE]  # always a list
    assert claims["sid"] == "session-9"
    assert claims["client_id"] == "fastauth"  # RFC 9068 §2.2; JWTConfig.client_id
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16
    for value in (claims["iat"], claims["exp"]):
        assert type(value) is int

    refresh = engine.issue_refresh("42", "session-9", now=tk.NOW)
    assert set(refresh.claims) == ISSUED_CLAIMS - {"client_id"}
    assert refresh.claims["type"] == "refresh"


def test_jti_is_unique(engine: TokenEngine) -> None:
    jtis = {engine.issue_access("u", "s").jti for _ in range(200)}
    jtis |= {engine.issue_refresh("u", "s").jti for _ in range(200)}
    assert len(jtis) == 400


def test_refresh_jti_can_be_chosen_and_not_after_caps_exp(engine: TokenEngine, tk: SimpleNamespace) -> None:
    refresh = engine.issue_refresh("u", "s", jti="chosen-jti", not_after=tk.NOW + 60, now=tk.NOW)
    assert refresh.jti == "chosen-jti"
    assert refresh.expires_at == tk.NOW + 60
    access = engine.issue_access("u", "s", not_after=tk.NOW + 30, now=tk.NOW)
    assert access.expires_at == tk.NOW + 30
    access = engine.issue_access("u", "s", not_after=tk.NOW + 10_000, now=tk.NOW)
    assert access.expires_at == tk.NOW + 900  # the ttl is the tighter bound


def test_engine_clock_is_used_without_now(make_engine: Any, tk: SimpleNamespace) -> None:
    engine = make_engine("HS256", clock=lambda: tk.NOW + 0.9)
    issued = engine.issue_access("u", "s")
    assert issued.claims["iat"] == tk.NOW
    assert engine.verify_access(issued.token).sub == "u"
    late = make_engine("HS256", clock=lambda: float(tk.NOW + 900 + 5))
    tk.refuse(late.verify_access, issued.token, ExpiredToken)


def test_custom_claims_via_extra(engine: TokenEngine, tk: SimpleNamespace) -> None:
    extra = {"role": "admin", "scope": "read write", "tenant": {"id": 7}, "flags": [1, 2]}
    issued = engine.issue_access("u", "s", extra=extra, now=tk.NOW)
    verified = engine.verify_access(issued.token, now=tk.NOW)
    for name, value in extra.items():
        assert verified.claims[name] == value
    assert set(verified.claims) == ISSUED_CLAIMS | set(extra)


@pytest.mark.parametrize("name", sorted(RESERVED_CLAIMS))
def test_reserved_claims_in_extra_raise_hook_error(name: str, engine: TokenEngine) -> None:
    with pytest.raises(HookError):
        engine.issue_access("u", "s", extra={name: "x", "ok": 1})


@pytest.mark.parametrize(
    "extra", [{"x": {1, 2}}, {"x": float("nan")}, {"x": float("inf")}, {"x": b"bytes"}, {"x": object()}]
)
def test_extra_must_be_json(extra: dict[str, Any], engine: TokenEngine) -> None:
    with pytest.raises(HookError):
        engine.issue_access("u", "s", extra=extra)


def test_custom_claims_adding_is_ok(engine: TokenEngine, tk: SimpleNamespace) -> None:
    base = engine.issue_access("u", "s", now=tk.NOW).claims
    modified = {**base, "role": "admin", "email_verified": True}
    assert custom_claims(base, modified) == {"role": "admin", "email_verified": True}
    assert custom_claims(base, dict(base)) == {}


@pytest.mark.parametrize("name", sorted(RESERVED_CLAIMS - {"nbf"}))
def test_custom_claims_changing_a_reserved_claim_raises(
    name: str, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    base = engine.issue_access("u", "s", now=tk.NOW).claims
    with pytest.raises(HookError, match=name):
        custom_claims(base, {**base, name: "changed"})


#: Reserved claims a session adds to the engine's (how and when the user signed in): tests/core/test_amr.py.
SESSION_CLAIMS = {"amr", "auth_time"}


@pytest.mark.parametrize("name", sorted(RESERVED_CLAIMS - {"nbf"} - SESSION_CLAIMS))
def test_custom_claims_removing_a_reserved_claim_raises(
    name: str, engine: TokenEngine, tk: SimpleNamespace
) -> None:
    base = engine.issue_access("u", "s", now=tk.NOW).claims
    modified = {k: v for k, v in base.items() if k != name}
    with pytest.raises(HookError, match=name):
        custom_claims(base, modified)


def test_custom_claims_adding_a_reserved_claim_raises(engine: TokenEngine, tk: SimpleNamespace) -> None:
    base = engine.issue_access("u", "s", now=tk.NOW).claims
    with pytest.raises(HookError, match="nbf"):
        custom_claims(base, {**base, "nbf": tk.NOW})


@pytest.mark.parametrize("returned", [None, [("sub", "u")], "claims"])
def test_custom_claims_needs_a_mapping(returned: Any, engine: TokenEngine) -> None:
    base = engine.issue_access("u", "s").claims
    with pytest.raises(HookError):
        custom_claims(base, returned)


async def test_event_hooks_modify_jwt_default_returns_the_token(engine: TokenEngine) -> None:
    claims = engine.issue_access("u", "s").claims
    returned = await EventHooks().modify_jwt(claims, user=object())
    assert returned is claims
    assert custom_claims(claims, returned) == {}


async def test_event_hooks_subclass_adds_claims(engine: TokenEngine, tk: SimpleNamespace) -> None:
    class Hooks(EventHooks):
        async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
            return {**token, "role": user["role"]}

    base = engine.issue_access("u", "s", now=tk.NOW).claims
    extra = custom_claims(base, await Hooks().modify_jwt(dict(base), {"role": "editor"}))
    issued = engine.issue_access("u", "s", extra=extra, now=tk.NOW)
    assert engine.verify_access(issued.token, now=tk.NOW).claims["role"] == "editor"


# --- time: exp, nbf, iat and leeway --------------------------------------------------------------


@pytest.mark.parametrize(
    ("leeway", "exp_offset", "valid"),
    [
        (0, 0, False),  # exp == now: expired (valid only while now < exp + leeway)
        (0, -1, False),
        (0, 1, True),
        (5, -5, False),  # now == exp + leeway
        (5, -4, True),
        (5, -6, False),
        (5, 0, True),
    ],
)
def test_expiry_boundary_with_leeway(
    leeway: int, exp_offset: int, valid: bool, make_engine: Any, tk: SimpleNamespace
) -> None:
    engine = make_engine("HS256", leeway=leeway, access_ttl=60)
    token = engine.issue_access("u", "s", now=tk.NOW + exp_offset - 60).token  # exp = NOW + exp_offset
    assert decode(token)[1]["exp"] == tk.NOW + exp_offset
    if valid:
        assert engine.verify_access(token, now=tk.NOW).sub == "u"
    else:
        tk.refuse(lambda t: engine.verify_access(t, now=tk.NOW), token, ExpiredToken)


@pytest.mark.parametrize(("offset", "valid"), [(0, True), (4, True), (5, True), (6, False), (60, False)])
def test_iat_in_the_future(offset: int, valid: bool, make_engine: Any, tk: SimpleNamespace) -> None:
    engine = make_engine("HS256", leeway=5)
    token = engine.issue_access("u", "s", now=tk.NOW + offset).token
    if valid:
        assert engine.verify_access(token, now=tk.NOW).sub == "u"
    else:
        tk.refuse(lambda t: engine.verify_access(t, now=tk.NOW), token, InvalidClaims)


@pytest.mark.parametrize(
    ("offset", "valid"), [(-100, True), (0, True), (5, True), (6, False), (60, False), (10**6, False)]
)
def test_nbf_in_the_future(
    offset: int, valid: bool, engine: TokenEngine, forger: Any, tk: SimpleNamespace
) -> None:
    token = forger.token(payload=forger.claims(nbf=tk.NOW + offset))
    if valid:
        assert engine.verify_access(token).sub == "user-1"
    else:
        tk.refuse(engine.verify_access, token, InvalidClaims)


def test_unlimited_access_ttl_gives_a_token_without_exp(tk: SimpleNamespace) -> None:
    with pytest.warns(FastAuthSecurityWarning):
        config = FastAuthConfig(
            secret=tk.SECRET, jwt=JWTConfig(access_token_ttl=None, allow_unlimited_ttl=True)
        )
    engine = TokenEngine.from_config(config)
    issued = engine.issue_access("u", "s", now=tk.NOW)
    assert "exp" not in issued.claims
    assert issued.expires_at is None
    verified = engine.verify_access(issued.token, now=tk.NOW + 10 * 365 * 24 * 3600)
    assert verified.expires_at is None
    # not_after still caps an unlimited lifetime (the session's absolute end).
    capped = engine.issue_access("u", "s", not_after=tk.NOW + 100, now=tk.NOW)
    assert capped.expires_at == tk.NOW + 100
    tk.refuse(lambda t: engine.verify_access(t, now=tk.NOW + 100 + engine.leeway), capped.token, ExpiredToken)
    # The refresh lifetime is still limited, so a refresh token without exp is refused.
    forged = tk.Forger(alg="HS256", kid=engine.keyring.active.kid, key=tk.SECRET)
    no_exp = forged.token(
        forged.header(typ="rt+jwt"),
        tk.valid_claims(type="refresh", exp=tk.DROP, iss="fastauth", aud=["fastauth"]),
    )
    tk.refuse(engine.verify_refresh, no_exp, InvalidClaims)


def test_unlimited_ttl_needs_opt_in(tk: SimpleNamespace) -> None:
    with pytest.raises(ConfigError):
        JWTConfig(access_token_ttl=None)


def test_exp_is_required_when_the_lifetime_is_limited(
    engine: TokenEngine, forger: Any, tk: SimpleNamespace
) -> None:
    tk.refuse(engine.verify_access, forger.token(payload=forger.claims(exp=tk.DROP)), InvalidClaims)


# --- configuration to engine ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_from_config_hmac(alg: str, tk: SimpleNamespace) -> None:
    config = FastAuthConfig(
        secret=tk.SECRET, jwt=JWTConfig(algorithm=alg, issuer="iss-x", audience="aud-y", leeway=0)
    )
    engine = TokenEngine.from_config(config)
    assert (engine.issuer, engine.audience, engine.leeway) == ("iss-x", "aud-y", 0)
    issued = engine.issue_access("u", "s")
    assert engine.verify_access(issued.token).claims["aud"] == ["aud-y"]
    assert decode(issued.token)[0]["alg"] == alg


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"])
def test_from_config_pem(alg: str, private_keys: dict[str, Any], tk: SimpleNamespace) -> None:
    private = private_keys[alg]
    with pytest.warns(FastAuthSecurityWarning):  # the docs' short placeholder secret warns
        config = FastAuthConfig(
            secret="still-required-for-the-config",
            jwt=JWTConfig(algorithm=alg, private_key=private_key_to_pem(private)),
        )
    engine = TokenEngine.from_config(config)
    issued = engine.issue_access("u", "s")
    assert engine.verify_access(issued.token).sub == "u"
    # A verify-only configuration (public key only) accepts the same token.
    verify_only = TokenEngine.from_config(
        FastAuthConfig(
            secret=tk.SECRET, jwt=JWTConfig(algorithm=alg, public_key=public_key_to_pem(private.public_key()))
        )
    )
    assert verify_only.verify_access(issued.token).sub == "u"
    with pytest.raises(ConfigError):
        verify_only.issue_access("u", "s")


# --- key rings -----------------------------------------------------------------------------------


def test_header_kid_does_not_reveal_the_secret(
    signing_keys: dict[str, SigningKey], tk: SimpleNamespace
) -> None:
    kid = signing_keys["HS256"].kid
    assert kid.startswith("hs-")
    assert tk.SECRET not in kid
    assert tk.SECRET[:8] not in kid


def test_duplicate_kid_is_refused(tk: SimpleNamespace) -> None:
    a = SigningKey.from_secret(tk.SECRET, kid="same")
    b = SigningKey.from_secret("another-secret-that-is-long-enough-for-hs256", kid="same")
    with pytest.raises(ConfigError):
        KeyRing([a, b])


def test_mixed_hmac_and_asymmetric_is_refused(signing_keys: dict[str, SigningKey]) -> None:
    with pytest.raises(ConfigError):
        KeyRing([signing_keys["HS256"], signing_keys["RS256"]])
    with pytest.raises(ConfigError):
        KeyRing([signing_keys["ES256"], signing_keys["HS512"]])


def test_empty_ring_is_refused() -> None:
    with pytest.raises(ConfigError):
        KeyRing([])


@pytest.mark.parametrize(
    ("secret", "alg"),
    [("", "HS256"), ("secret", "HS256"), ("x" * 31, "HS256"), ("x" * 47, "HS384"), ("x" * 63, "HS512")],
)
def test_short_hmac_secret_is_refused(secret: str, alg: str) -> None:
    with pytest.raises(ConfigError):
        SigningKey.from_secret(secret, alg)


def test_algorithms_must_fit_the_constructor(private_keys: dict[str, Any], tk: SimpleNamespace) -> None:
    with pytest.raises(ConfigError):
        SigningKey.from_secret(tk.SECRET, "RS256")
    with pytest.raises(ConfigError):
        SigningKey.from_keys("HS256", private_keys["ES256"], private_keys["ES256"].public_key())
    with pytest.raises(ConfigError):
        SigningKey.from_secret(tk.SECRET, "none")


@pytest.mark.parametrize(
    ("alg", "key_alg"),
    [("ES256", "ES384"), ("ES512", "ES256"), ("RS256", "ES256"), ("ES256", "RS256"), ("EdDSA", "ES256")],
)
def test_from_keys_refuses_a_key_that_does_not_fit(
    alg: str, key_alg: str, private_keys: dict[str, Any]
) -> None:
    private = private_keys[key_alg]
    with pytest.raises(ConfigError):
        SigningKey.from_keys(alg, private, private.public_key())
    with pytest.raises(ConfigError):
        SigningKey.from_keys(alg, None, private.public_key())


def test_from_keys_refuses_short_rsa_and_ed448() -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError):
        SigningKey.from_keys("RS256", short, short.public_key())
    with pytest.raises(ConfigError):
        SigningKey.from_keys("RS256", None, short.public_key())
    ed = ed448.Ed448PrivateKey.generate()
    with pytest.raises(ConfigError):
        SigningKey.from_keys("EdDSA", ed, ed.public_key())  # type: ignore[arg-type]


def test_from_pem_refuses_a_key_that_does_not_fit(private_keys: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SigningKey.from_pem("ES256", private_key_to_pem(private_keys["ES384"]))
    with pytest.raises(ConfigError):
        SigningKey.from_pem("RS256", private_key_to_pem(private_keys["EdDSA"]))
    with pytest.raises(ConfigError):
        SigningKey.from_pem(
            "ES256",
            private_key_to_pem(private_keys["ES256"]),
            public_key_to_pem(private_keys["ES384"].public_key()),
        )


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "EdDSA"])
def test_unknown_kid_is_refused(alg: str, make_engine: Any, make_forger: Any, tk: SimpleNamespace) -> None:
    engine = make_engine(alg)
    forger = make_forger(alg)
    assert engine.keyring.get("not-a-kid") is None
    tk.refuse(engine.verify_access, forger.token(forger.header(kid="not-a-kid")), UnknownKey)


def test_verify_only_key_cannot_sign(private_keys: dict[str, Any], tk: SimpleNamespace) -> None:
    public_pem = public_key_to_pem(private_keys["ES256"].public_key())
    verify_only = SigningKey.from_pem("ES256", None, public_pem)
    assert not verify_only.can_sign
    with pytest.raises(ConfigError):
        verify_only.sign(b"a.b")
    ring = KeyRing([verify_only])
    assert ring.active is None
    with pytest.raises(ConfigError):
        KeyRing([verify_only], active_kid=verify_only.kid)
    engine = TokenEngine(ring, issuer=tk.ISSUER, audience=tk.AUDIENCE)
    with pytest.raises(ConfigError):
        engine.issue_access("u", "s")
    with pytest.raises(ConfigError):
        engine.issue_refresh("u", "s")


def test_rotation_old_key_verifies_retired_key_does_not(
    private_keys: dict[str, Any], make_engine: Any, tk: SimpleNamespace
) -> None:
    old = SigningKey.from_keys("ES256", private_keys["ES256"], private_keys["ES256"].public_key())
    new_private = generate_private_key("ES256")
    new = SigningKey.from_keys("ES256", new_private, new_private.public_key())
    old_public = SigningKey.from_keys("ES256", None, private_keys["ES256"].public_key())
    assert old_public.kid == old.kid  # the RFC 7638 thumbprint does not depend on the private part

    before = make_engine(keyring=KeyRing([old])).issue_access("u", "s").token
    rotated = make_engine(keyring=KeyRing([new, old_public]))
    assert rotated.keyring.active is not None
    assert rotated.keyring.active.kid == new.kid
    assert rotated.verify_access(before).sub == "u"
    after = rotated.issue_access("u", "s").token
    assert decode(after)[0]["kid"] == new.kid
    assert rotated.verify_access(after).sub == "u"

    retired = make_engine(keyring=KeyRing([new]))
    tk.refuse(retired.verify_access, before, UnknownKey)
    assert retired.verify_access(after).sub == "u"


def test_two_signers_need_an_active_kid(tk: SimpleNamespace, make_engine: Any) -> None:
    a = SigningKey.from_secret(tk.SECRET, kid="a")
    b = SigningKey.from_secret("b" * 32 + tk.SECRET, kid="b")
    assert KeyRing([a, b]).active is None
    with pytest.raises(ConfigError):
        make_engine(keyring=KeyRing([a, b])).issue_access("u", "s")
    ring = KeyRing([a, b], active_kid="b")
    engine = make_engine(keyring=ring)
    token = engine.issue_access("u", "s").token
    assert decode(token)[0]["kid"] == "b"
    with pytest.raises(ConfigError):
        KeyRing([a, b], active_kid="c")


def test_same_kid_different_secret_is_refused(tk: SimpleNamespace, make_engine: Any) -> None:
    """A staging key that reuses production's kid: the signature does not verify."""
    production = SigningKey.from_secret(tk.SECRET, kid="k1")
    staging = SigningKey.from_secret("staging-" + tk.SECRET, kid="k1")
    token = make_engine(keyring=KeyRing([staging])).issue_access("u", "s").token
    tk.refuse(make_engine(keyring=KeyRing([production])).verify_access, token, InvalidSignature)


@pytest.mark.parametrize("alg", [a for a in ALL_ALGS if not a.startswith("HS")])
def test_jwks_has_only_public_members(
    alg: str, keyrings: dict[str, KeyRing], signing_keys: dict[str, Any]
) -> None:
    jwks = keyrings[alg].jwks()
    assert len(jwks["keys"]) == 1
    jwk = jwks["keys"][0]
    assert jwk["kid"] == signing_keys[alg].kid
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    assert jwk["kty"] != "oct"
    allowed = {"kty", "n", "e", "crv", "x", "y", "kid", "use", "alg"}
    assert set(jwk) <= allowed
    for private_member in ("d", "p", "q", "dp", "dq", "qi", "k", "oth"):
        assert private_member not in jwk
    expected = {"RSA": {"n", "e"}, "EC": {"crv", "x", "y"}, "OKP": {"crv", "x"}}[jwk["kty"]]
    assert expected <= set(jwk)


def test_jwks_never_publishes_hmac(keyrings: dict[str, KeyRing], signing_keys: dict[str, SigningKey]) -> None:
    for alg in ("HS256", "HS384", "HS512"):
        assert keyrings[alg].jwks() == {"keys": []}
        with pytest.raises(ConfigError):
            signing_keys[alg].public_jwk()


def test_jwks_of_a_rotating_ring(private_keys: dict[str, Any]) -> None:
    second = generate_private_key("ES256")
    ring = KeyRing(
        [
            SigningKey.from_keys("ES256", second, second.public_key()),
            SigningKey.from_keys("ES256", None, private_keys["ES256"].public_key()),
        ]
    )
    keys = ring.jwks()["keys"]
    assert len(keys) == 2
    assert len({key["kid"] for key in keys}) == 2
    assert all("d" not in key for key in keys)


def test_signing_key_repr_hides_key_material(
    signing_keys: dict[str, SigningKey], tk: SimpleNamespace
) -> None:
    text = repr(signing_keys["HS256"])
    assert tk.SECRET not in text
    assert "OctKey" not in text
    assert "PRIVATE" not in repr(signing_keys["RS256"])


def test_engine_rejects_a_token_of_another_issuer_or_audience(make_engine: Any, tk: SimpleNamespace) -> None:
    ours = make_engine("HS256")
    other_service = make_engine("HS256", audience="https://other.example.com")
    other_issuer = make_engine("HS256", issuer="https://evil.example.com")
    token = other_service.issue_access("u", "s").token
    tk.refuse(ours.verify_access, token, InvalidClaims)
    token = other_issuer.issue_access("u", "s").token
    tk.refuse(ours.verify_access, token, InvalidClaims)
    assert ours.verify_access(ours.issue_access("u", "s").token).sub == "u"


def test_every_refusal_is_a_token_error(engine: TokenEngine) -> None:
    for token in (None, b"a.b.c", 1, "", "a.b.c", "..", object()):
        with pytest.raises(TokenError):
            engine.verify_access(token)
        with pytest.raises(TokenError):
            engine.verify_refresh(token)


def test_ec_curve_classes_cover_the_algorithms() -> None:
    """Sanity check of the fixtures' premise: each ES key is on its algorithm's curve."""
    assert isinstance(generate_private_key("ES256").curve, ec.SECP256R1)
    assert isinstance(generate_private_key("ES384").curve, ec.SECP384R1)
    assert isinstance(generate_private_key("ES512").curve, ec.SECP521R1)
