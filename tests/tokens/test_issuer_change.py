"""An issuer that follows `public_url` (RFC 8414) signs nobody out: tokens this server issued before
as "fastauth" keep verifying (`jwt.accept_issuers`), until the operator empties that list; tokens of
any other issuer stay refused."""

from __future__ import annotations

import pytest

from fastauth.config import FastAuthConfig
from fastauth.errors import InvalidClaims
from fastauth.tokens.engine import TokenEngine

SECRET = "s" * 64


def engine(**config: object) -> TokenEngine:
    return TokenEngine.from_config(FastAuthConfig(secret=SECRET, **config))  # type: ignore[arg-type]


def before_the_upgrade() -> str:
    """An access token of the same server before it had a `public_url` (issuer "fastauth")."""
    return engine().sign_access(engine().access_claims("user1", "session1")).token


def test_the_issuer_follows_public_url_and_the_old_one_is_still_accepted() -> None:
    upgraded = engine(public_url="https://auth.example.com")
    assert upgraded.issuer == "https://auth.example.com"
    assert upgraded.also_issuers == ("fastauth",)
    assert upgraded.verify_access(before_the_upgrade()).claims["iss"] == "fastauth"
    fresh = upgraded.sign_access(upgraded.access_claims("user1", "session2")).token
    assert upgraded.verify_access(fresh).claims["iss"] == "https://auth.example.com"


def test_emptying_accept_issuers_refuses_the_old_tokens() -> None:
    upgraded = engine(public_url="https://auth.example.com", jwt={"accept_issuers": []})
    with pytest.raises(InvalidClaims):
        upgraded.verify_access(before_the_upgrade())


@pytest.mark.parametrize(
    "issuer", ["https://evil.example", "fastauth ", "FASTAUTH", "https://auth.example.com/"]
)
def test_any_other_issuer_is_refused(issuer: str) -> None:
    other = engine(jwt={"issuer": issuer})
    token = other.sign_access(other.access_claims("user1", "session1")).token
    with pytest.raises(InvalidClaims):
        engine(public_url="https://auth.example.com").verify_access(token)


def test_an_explicit_issuer_accepts_no_other_by_default() -> None:
    pinned = engine(public_url="https://auth.example.com", jwt={"issuer": "https://id.example.com"})
    assert pinned.also_issuers == ()
    with pytest.raises(InvalidClaims):
        pinned.verify_access(before_the_upgrade())
