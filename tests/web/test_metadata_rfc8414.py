"""`/.well-known/oauth-authorization-server` lists only what the server does, passes authlib's RFC 8414
validator for the documented production configuration, and its issuer follows `public_url`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from fastauth import FastAuthConfig, JWTConfig
from fastauth.devmode import issuer_note, load_config
from fastauth.server import banner
from support.forge import decode

PUBLIC = "https://auth.example.com"
PASSWORD = "correct horse"


async def _metadata(a: Any) -> dict[str, Any]:
    r = await a.client.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    return dict(r.json())


async def test_the_documented_production_configuration_passes_authlibs_validator(make_app: Any) -> None:
    a = await make_app(public_url=PUBLIC, jwt={"algorithm": "ES256"})
    meta = await _metadata(a)
    assert meta == {
        "issuer": PUBLIC,
        "token_endpoint": f"{PUBLIC}/auth/token",
        "jwks_uri": f"{PUBLIC}/.well-known/jwks.json",
        "grant_types_supported": ["password", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["none"],
        "introspection_endpoint": f"{PUBLIC}/auth/introspect",
        "introspection_endpoint_auth_methods_supported": ["Bearer"],
        "revocation_endpoint": f"{PUBLIC}/auth/revoke",
        "revocation_endpoint_auth_methods_supported": ["Bearer"],
    }
    AuthorizationServerMetadata(meta).validate()
    # The issuer of the document is the tokens' issuer.
    pair = await a.register("alice@example.com", PASSWORD)
    assert decode(pair["access_token"])[1]["iss"] == PUBLIC


async def test_hmac_lists_no_jwks_and_still_validates(make_app: Any) -> None:
    a = await make_app(public_url=PUBLIC)
    meta = await _metadata(a)
    assert "jwks_uri" not in meta
    AuthorizationServerMetadata(meta).validate()


@pytest.mark.parametrize(
    "name",
    ["authorization_endpoint", "token_endpoint_auth_signing_alg_values_supported", "scopes_supported"],
)
async def test_nothing_the_server_does_not_do_is_promised(make_app: Any, name: str) -> None:
    meta = await _metadata(await make_app(public_url=PUBLIC, jwt={"algorithm": "ES256"}))
    assert name not in meta
    assert (
        "token" not in meta["response_types_supported"]
    )  # no implicit flow without an authorization endpoint


async def test_the_advertised_token_endpoint_takes_both_advertised_grants(make_app: Any) -> None:
    a = await make_app(public_url=PUBLIC)
    await a.register("alice@example.com", PASSWORD)
    meta = await _metadata(a)
    path = meta["token_endpoint"].removeprefix(PUBLIC)
    r = await a.client.post(
        path, data={"grant_type": "password", "username": "alice@example.com", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    r = await a.client.post(
        path, data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]}
    )
    assert r.status_code == 200, r.text
    assert sorted(meta["grant_types_supported"]) == ["password", "refresh_token"]


async def test_the_default_issuer_fails_rfc8414_and_says_why(make_app: Any) -> None:
    meta = await _metadata(await make_app(jwt={"algorithm": "ES256"}))
    assert meta["issuer"] == "fastauth"
    with pytest.raises(ValueError, match='"issuer" MUST use "https" scheme'):
        AuthorizationServerMetadata(meta).validate()


# --- the issuer's default ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "issuer"),
    [
        ({}, "fastauth"),
        ({"public_url": PUBLIC}, PUBLIC),
        ({"public_url": PUBLIC, "jwt": {"issuer": "fastauth"}}, "fastauth"),
        ({"public_url": PUBLIC, "jwt": JWTConfig(issuer="https://id.example.com")}, "https://id.example.com"),
        ({"public_url": PUBLIC, "jwt": {"audience": "api"}}, PUBLIC),
    ],
    ids=[
        "no public_url",
        "public_url",
        "explicit issuer wins",
        "explicit JWTConfig wins",
        "other jwt settings",
    ],
)
def test_the_issuer_defaults_to_public_url(settings: dict[str, Any], issuer: str) -> None:
    assert FastAuthConfig(secret="s" * 64, **settings).jwt.issuer == issuer


def test_the_environment_issuer_wins_over_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_PUBLIC_URL", PUBLIC)
    assert FastAuthConfig(secret="s" * 64).jwt.issuer == PUBLIC
    monkeypatch.setenv("FASTAUTH_JWT__ISSUER", "fastauth")
    assert FastAuthConfig(secret="s" * 64).jwt.issuer == "fastauth"


# --- development mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "note"),
    [
        ("fastauth", "tokens say iss='fastauth', a name, not a URL: "),
        ("http://127.0.0.1:8000", "tokens say iss='http://127.0.0.1:8000', a plain-http URL: "),
        (PUBLIC, None),
    ],
)
def test_issuer_note(issuer: str, note: str | None) -> None:
    said = issuer_note(FastAuthConfig(secret="s" * 64, jwt={"issuer": issuer}))
    if note is None:
        assert said is None
    else:
        assert said is not None and said.startswith(note)
        assert "refuse the metadata of an issuer that is no https URL" in said
        assert "FASTAUTH_PUBLIC_URL=https://" in said


def test_development_mode_keeps_the_name_and_explains_it(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FASTAUTH_SERVE_URL", "http://127.0.0.1:8123")
    monkeypatch.setenv("FASTAUTH_JWT__ALGORITHM", "ES256")
    config, dev_mode = load_config()
    assert dev_mode and config.public_url == "http://127.0.0.1:8123"
    # The served URL follows the port, so the issuer stays the name: tokens survive a restart elsewhere.
    assert (config.jwt.issuer, config.jwt.algorithm) == ("fastauth", "ES256")
    banner(config)
    err = capsys.readouterr().err
    assert "tokens say iss='fastauth', a name, not a URL" in err


def test_development_mode_takes_a_configured_issuer(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAUTH_JWT__ISSUER", PUBLIC)
    config, dev_mode = load_config()
    assert dev_mode and config.jwt.issuer == PUBLIC
    assert issuer_note(config) is None
