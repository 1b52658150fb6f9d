"""`fastauth.tokens.kinds`: each kind verifies only as itself, for the built-in two and any kind added later.

A throw-away `step_up` kind is registered in a test engine only (the product table is untouched):
its tokens are refused as access and as refresh tokens, access and refresh tokens are refused as it,
and it is accepted as itself. Tokens of every kind are also forged by hand (typ and type claim mixed
across kinds) so the refusals do not rest on the engine's own signing.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from fastauth.errors import ConfigError, InvalidClaims, WrongTokenType
from fastauth.tokens import TokenEngine
from fastauth.tokens.kinds import ACCESS, KINDS, REFRESH, TokenKind, kind_table

MFA = "step_up"  # a throw-away third kind (the product's own third kind, `mfa`, is tested below)
MFA_KIND = TokenKind(MFA, "su+jwt", "step_up_ttl", frozenset({"server"}))
ALL_KINDS = (ACCESS, REFRESH, MFA)


@pytest.fixture
def mfa_engine(make_engine: Callable[..., TokenEngine]) -> TokenEngine:
    """An engine that knows the product's kinds and the throw-away one, which lives 300 s."""
    return make_engine("HS256", kinds=(*KINDS.values(), MFA_KIND), ttls={MFA: 300})


def test_the_product_table() -> None:
    assert list(KINDS) == [ACCESS, REFRESH, "mfa"]
    assert (KINDS["mfa"].typ, KINDS["mfa"].ttl_setting, KINDS["mfa"].verified_by) == (
        "mfa+jwt",
        "mfa_token_ttl",
        {"server"},
    )
    assert (KINDS[ACCESS].typ, KINDS[ACCESS].ttl_setting) == ("at+jwt", "access_token_ttl")
    assert (KINDS[REFRESH].typ, KINDS[REFRESH].ttl_setting) == ("rt+jwt", "refresh_token_ttl")
    assert KINDS[ACCESS].accepted_typs == {"at+jwt", "application/at+jwt"}
    assert KINDS[REFRESH].accepted_typs == {"rt+jwt", "application/rt+jwt"}
    assert KINDS[ACCESS].verified_by == {"server", "resource"}
    assert KINDS[REFRESH].verified_by == {"server"}, "refresh tokens are for the auth server alone"


def test_the_product_kinds_are_not_changed_by_a_test_engine(mfa_engine: TokenEngine) -> None:
    assert MFA in mfa_engine.kinds
    assert MFA not in KINDS


@pytest.mark.parametrize("issued", ALL_KINDS)
@pytest.mark.parametrize("expected", ALL_KINDS)
def test_a_token_verifies_only_as_its_own_kind(mfa_engine: TokenEngine, issued: str, expected: str) -> None:
    token = mfa_engine.issue(issued, "user-1", "session-1").token
    if issued == expected:
        verified = mfa_engine.verify(token, expected)
        assert (verified.type, verified.sub, verified.sid) == (issued, "user-1", "session-1")
    else:
        with pytest.raises(WrongTokenType):
            mfa_engine.verify(token, expected)


def test_the_third_kind_is_written_with_its_own_typ_and_lifetime(
    mfa_engine: TokenEngine, tk: types.SimpleNamespace
) -> None:
    issued = mfa_engine.issue(MFA, "user-1", "session-1")
    header = tk.unb64(issued.token.split(".")[0])
    assert header == tk.to_bytes({"alg": "HS256", "kid": mfa_engine.keyring.active.kid, "typ": "su+jwt"})
    assert issued.claims["type"] == MFA
    assert issued.claims["exp"] == tk.NOW + 300
    assert mfa_engine.ttl(MFA) == 300


@pytest.mark.parametrize("typ_of", ALL_KINDS)
@pytest.mark.parametrize("type_of", ALL_KINDS)
@pytest.mark.parametrize("expected", ALL_KINDS)
def test_forged_mixtures_of_typ_and_type_are_refused(
    mfa_engine: TokenEngine, forger: Any, typ_of: str, type_of: str, expected: str
) -> None:
    """A correctly signed token passes only when its typ header and its type claim both name `expected`."""
    typ = {ACCESS: "at+jwt", REFRESH: "rt+jwt", MFA: "su+jwt"}[typ_of]
    token = forger.token(forger.header(typ=typ), forger.claims(type=type_of))
    if typ_of == type_of == expected:
        assert mfa_engine.verify(token, expected).type == expected
    else:
        with pytest.raises(WrongTokenType):
            mfa_engine.verify(token, expected)


@pytest.mark.parametrize("typ", ["SU+JWT", "application/su+jwt", "Application/SU+JWT"])
def test_media_type_spellings_of_its_own_typ_are_accepted(
    mfa_engine: TokenEngine, forger: Any, typ: str
) -> None:
    token = forger.token(forger.header(typ=typ), forger.claims(type=MFA))
    assert mfa_engine.verify(token, MFA).type == MFA


def test_an_engine_without_the_kind_refuses_to_issue_or_verify_it(
    make_engine: Callable[..., TokenEngine], mfa_engine: TokenEngine
) -> None:
    plain = make_engine("HS256")
    token = mfa_engine.issue(MFA, "user-1", "session-1").token
    with pytest.raises(ConfigError, match="no token kind 'step_up'"):
        plain.verify(token, MFA)
    with pytest.raises(ConfigError, match="no token kind 'step_up'"):
        plain.issue(MFA, "user-1", "session-1")
    for kind in (ACCESS, REFRESH):
        with pytest.raises(WrongTokenType):
            plain.verify(token, kind)


def test_a_kind_needs_a_lifetime(make_engine: Callable[..., TokenEngine]) -> None:
    with pytest.raises(ConfigError, match=r"\['step_up'\] have no lifetime"):
        make_engine("HS256", kinds=(*KINDS.values(), MFA_KIND))


def test_a_kind_with_no_lifetime_has_no_exp_and_needs_none(
    make_engine: Callable[..., TokenEngine], forger: Any, tk: types.SimpleNamespace
) -> None:
    engine = make_engine("HS256", kinds=(*KINDS.values(), MFA_KIND), ttls={MFA: None})
    issued = engine.issue(MFA, "user-1", "session-1")
    assert "exp" not in issued.claims
    assert engine.verify(issued.token, MFA).expires_at is None
    # The other kinds keep their own rule: an access token without exp is still refused.
    no_exp = forger.token(forger.header(), forger.claims(exp=tk.DROP))
    with pytest.raises(InvalidClaims, match="exp is missing"):
        engine.verify(no_exp, ACCESS)


@pytest.mark.parametrize(
    "second",
    [
        TokenKind(ACCESS, "other+jwt", "x", frozenset({"server"})),  # same name
        TokenKind("other", "at+jwt", "x", frozenset({"server"})),  # same typ
        TokenKind("other", "AT+JWT", "x", frozenset({"server"})),  # same typ, other case
        TokenKind("other", "application/at+jwt", "x", frozenset({"server"})),  # same media type
    ],
    ids=["name", "typ", "typ-case", "media-type"],
)
def test_two_kinds_that_could_be_confused_are_refused(second: TokenKind) -> None:
    with pytest.raises(ConfigError, match="shares its name or typ"):
        kind_table((KINDS[ACCESS], second))


def test_a_custom_sign_must_carry_its_own_type_claim(mfa_engine: TokenEngine) -> None:
    claims = mfa_engine.build_claims(ACCESS, "user-1", "session-1")
    with pytest.raises(ValueError, match="type claim must be 'step_up'"):
        mfa_engine.sign(MFA, claims)
    assert mfa_engine.verify(mfa_engine.sign(ACCESS, claims).token, ACCESS).type == ACCESS
