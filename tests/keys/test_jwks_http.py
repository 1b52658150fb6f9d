"""The JWKS and RFC 8414 endpoints, and hostile key tricks against the server, through the ASGI app.

jwt-security.md K4 (caching headers), K6 (public members only, media type, distinct kids, no HMAC
secret), K7 (alg bound to the key: algorithm confusion), K11 (emergency retirement), and section 5
items 14 (embedded `jwk`), 15 (`jku`/`x5u`: refused, and no request made) and 33 (foreign key, same kid).
"""

from __future__ import annotations

from typing import Any

import pytest

from fastauth import FastAuthConfig
from fastauth.errors import ConfigError
from fastauth.keys import generate_private_key
from support.clock import Clock
from support.forge import decode, forge, kid_of
from support.http import bearer
from support.keys import hostile_variants, listener

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth", "r", "t"}
PUBLIC_MEMBERS = {
    "ES256": {"kty", "kid", "use", "alg", "crv", "x", "y"},
    "RS256": {"kty", "kid", "use", "alg", "n", "e"},
    "PS256": {"kty", "kid", "use", "alg", "n", "e"},
    "EdDSA": {"kty", "kid", "use", "alg", "crv", "x"},
}


async def jwks_of(app: Any) -> dict[str, Any]:
    response = await app.client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "PS256", "EdDSA"])
async def test_jwks_publishes_public_members_only(make_app: Any, algorithm: str) -> None:
    app = await make_app(jwt={"algorithm": algorithm, "jwks_cache_max_age": 120})
    await app.auth.keys.rotate()  # a next key too: published ahead of signing
    response = await app.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.headers["cache-control"] == "public, max-age=120"
    keys = response.json()["keys"]
    assert len(keys) == 2
    assert len({key["kid"] for key in keys}) == 2, "kids are distinct within a set (RFC 7517 §4.5)"
    for key in keys:
        assert set(key) == PUBLIC_MEMBERS[algorithm]
        assert not PRIVATE_MEMBERS & set(key)
        assert key["use"] == "sig" and key["alg"] == algorithm
    body = response.text
    assert '"d"' not in body and "PRIVATE" not in body
    token = (await app.register())["access_token"]
    assert kid_of(token) in {key["kid"] for key in keys}


async def test_jwks_etag_and_not_modified(make_app: Any) -> None:
    app = await make_app(jwt={"algorithm": "ES256"})
    first = await app.client.get("/.well-known/jwks.json")
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    assert first.headers["cache-control"] == "public, max-age=300"

    again = await app.client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    listed = await app.client.get("/.well-known/jwks.json", headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304
    weak = await app.client.get("/.well-known/jwks.json", headers={"If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304, "If-None-Match compares weakly (a gzip proxy makes ETags weak)"
    stale = await app.client.get("/.well-known/jwks.json", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.json() == first.json()

    # A new key changes the document and so its ETag: the old one no longer matches.
    await app.auth.keys.rotate()
    changed = await app.client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert len(changed.json()["keys"]) == 2


async def test_hmac_has_no_jwks_and_never_the_secret(make_app: Any) -> None:
    app = await make_app(jwt={"algorithm": "HS256"})
    response = await app.client.get("/.well-known/jwks.json")
    assert response.status_code == 404
    secret = app.auth.config.secret.get_secret_value()
    assert secret not in response.text
    meta = (await app.client.get("/.well-known/oauth-authorization-server")).json()
    assert "jwks_uri" not in meta
    assert secret not in str(meta)


async def test_jwks_is_at_the_root_whatever_the_route_prefix(make_app: Any) -> None:
    app = await make_app(jwt={"algorithm": "ES256"}, route_prefix="/api/v1/auth")
    assert (await app.client.get("/.well-known/jwks.json")).status_code == 200
    assert (await app.client.get("/api/v1/auth/.well-known/jwks.json")).status_code == 404


async def test_authorization_server_metadata(make_app: Any) -> None:
    app = await make_app(jwt={"algorithm": "ES256", "issuer": "https://auth.example.com"})
    response = await app.client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == "https://auth.example.com"
    assert meta["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert meta["token_endpoint"] == "http://testserver/auth/token"
    assert "token_endpoint_auth_signing_alg_values_supported" not in meta  # no client signs a JWT
    # The advertised JWKS is the one that verifies the server's tokens.
    token = (await app.register())["access_token"]
    jwks = (await app.client.get(meta["jwks_uri"].removeprefix("http://testserver"))).json()
    assert kid_of(token) in {key["kid"] for key in jwks["keys"]}


async def test_metadata_is_never_cached_by_shared_caches(make_app: Any) -> None:
    """L6: the document is built from the Host header."""
    a = await make_app(jwt={"algorithm": "ES256"})
    r = await a.client.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


async def test_metadata_urls_come_from_public_url_when_configured(make_app: Any) -> None:
    """L6: a configured public URL, not the Host header, names the endpoints."""
    a = await make_app(jwt={"algorithm": "ES256"}, public_url="https://auth.example.com")
    r = await a.client.get("/.well-known/oauth-authorization-server", headers={"Host": "evil.example"})
    assert r.json()["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"
    assert r.json()["token_endpoint"] == "https://auth.example.com/auth/token"
    with pytest.raises(ConfigError, match="public_url"):
        FastAuthConfig(secret="s" * 64, public_url="auth.example.com/")


async def test_the_server_refuses_key_tricks(make_app: Any) -> None:
    app = await make_app(jwt={"algorithm": "ES256"})
    token = (await app.register())["access_token"]
    assert (await app.client.get("/claims", headers=bearer(token))).status_code == 200
    jwks = await jwks_of(app)
    # Control: the forger is sound, a token it signs with the server's own key is accepted.
    header, claims = decode(token)
    server_key = app.auth.engine.keyring.active.key.private_key
    honest = forge(header, claims, "ES256", server_key)
    assert (await app.client.get("/claims", headers=bearer(honest))).status_code == 200
    attacker = generate_private_key("ES256")
    with listener() as attacker_site:
        variants = hostile_variants(token, jwks, attacker, attacker_site.url)
        for name, forged in variants.items():
            for path in ("/claims", "/private"):
                response = await app.client.get(path, headers=bearer(forged))
                assert response.status_code == 401, f"{name} on {path}: {response.status_code}"
                assert response.json() == {"detail": "Invalid or expired token", "code": "invalid_token"}
        assert attacker_site.hits == [], "a URL named in a token must never be fetched"
    # The honest token still works afterwards: nothing above poisoned a cache.
    assert (await app.client.get("/claims", headers=bearer(token))).status_code == 200


async def test_a_retired_key_is_refused_at_once_over_http(make_app: Any) -> None:
    app = await make_app(jwt={"algorithm": "ES256"})
    tokens = await app.register()
    old = tokens["access_token"]
    kid = kid_of(old)
    assert (await app.client.get("/claims", headers=bearer(old))).status_code == 200
    await app.auth.keys.retire(kid)
    assert (await app.client.get("/claims", headers=bearer(old))).status_code == 401
    refreshed = await app.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401, "the refresh token was signed by the retired key too"
    assert kid not in {key["kid"] for key in (await jwks_of(app))["keys"]}
    fresh = (
        await app.client.post("/auth/login", json={"email": "alice@example.com", "password": "correct horse"})
    ).json()["access_token"]
    assert kid_of(fresh) != kid
    assert (await app.client.get("/claims", headers=bearer(fresh))).status_code == 200


async def test_rotation_over_http_keeps_old_tokens_and_publishes_both_keys(make_app: Any) -> None:
    clock = Clock()
    app = await make_app(jwt={"algorithm": "ES256", "key_rotation_interval": 4}, clock=clock)
    old = (await app.register())["access_token"]
    a = kid_of(old)
    clock.advance(2)  # lead = min(300, 4 // 2) = 2: the next key is published now
    kids = {key["kid"] for key in (await jwks_of(app))["keys"]}
    assert len(kids) == 2 and a in kids
    (b,) = kids - {a}
    login = {"email": "alice@example.com", "password": "correct horse"}
    early = (await app.client.post("/auth/login", json=login)).json()["access_token"]
    assert kid_of(early) == a, "the next key must not sign before its time"
    clock.advance(2)
    new = (await app.client.post("/auth/login", json=login)).json()["access_token"]
    assert kid_of(new) == b
    for token in (old, early, new):
        assert (await app.client.get("/claims", headers=bearer(token))).status_code == 200
    assert {a, b} <= {key["kid"] for key in (await jwks_of(app))["keys"]}


async def test_a_key_published_by_another_process_is_picked_up_on_first_sight(make_app: Any) -> None:
    """Two app instances on one database: a kid one of them just made is found by one reload."""
    first = await make_app(jwt={"algorithm": "ES256"})
    second = await make_app(jwt={"algorithm": "ES256"})
    assert first.auth.engine.keyring.active.kid == second.auth.engine.keyring.active.kid
    new = await first.auth.keys.rotate(immediately=True)
    token = (await first.register())["access_token"]
    assert kid_of(token) == new.kid
    assert (await second.client.get("/claims", headers=bearer(token))).status_code == 200


async def test_revocation_list_is_off_unless_enabled(make_app: Any) -> None:
    app = await make_app(jwt={"algorithm": "ES256"})
    assert (await app.client.get("/auth/revocations")).status_code == 404


async def test_revocation_list_names_recently_revoked_sessions(make_app: Any) -> None:
    clock = Clock()
    app = await make_app(
        jwt={"algorithm": "ES256", "access_token_ttl": 60}, revocation_list_enabled=True, clock=clock
    )
    tokens = await app.register()
    sid = app.auth.engine.verify_access(tokens["access_token"]).sid
    empty = await app.client.get("/auth/revocations")
    assert empty.status_code == 200 and empty.json() == {"sessions": []}
    assert empty.headers["cache-control"] == "no-store"

    logout = await app.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert logout.status_code == 204
    listed = (await app.client.get("/auth/revocations")).json()
    horizon = app.auth.sessions.revocation_horizon
    assert listed == {"sessions": [{"sid": sid, "until": int(clock()) + horizon}]}
    # Once no token of the session can verify any more, it leaves the list.
    clock.advance(horizon)
    assert (await app.client.get("/auth/revocations")).json() == {"sessions": []}


REVOCATION_TOKEN = "revocation-list-token-" + "r" * 30


async def test_revocation_list_token_is_required_when_set(make_app: Any) -> None:
    app = await make_app(
        jwt={"algorithm": "ES256"}, revocation_list_enabled=True, revocation_list_token=REVOCATION_TOKEN
    )
    for headers in (
        {},
        {"Authorization": "Bearer " + REVOCATION_TOKEN[:-1]},
        {"Authorization": "Bearer " + REVOCATION_TOKEN + "x"},
        {"Authorization": "Basic " + REVOCATION_TOKEN},
        {"Authorization": REVOCATION_TOKEN},
        {"Authorization": "Bearer"},
    ):
        refused = await app.client.get("/auth/revocations", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"] == "Bearer"
        assert REVOCATION_TOKEN not in refused.text
    allowed = await app.client.get("/auth/revocations", headers=bearer(REVOCATION_TOKEN))
    assert allowed.status_code == 200 and allowed.json() == {"sessions": []}


def test_revocation_list_token_must_be_long(make_app: Any) -> None:
    from fastauth import FastAuthConfig
    from fastauth.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        FastAuthConfig(secret="s" * 64, revocation_list_token="short-token")
    assert "revocation_list_token" in str(info.value) and "short-token" not in str(info.value)


async def test_a_verifier_polls_the_list_with_the_token(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """In process: a JWKSVerifier reading the app's JWKS and revocation list through its ASGI client."""
    import logging

    from fastauth.errors import RevokedToken
    from fastauth.verifier import JWKSVerifier

    app = await make_app(
        jwt={"algorithm": "ES256"}, revocation_list_enabled=True, revocation_list_token=REVOCATION_TOKEN
    )

    def verifier(token: str | None) -> JWKSVerifier:
        return JWKSVerifier(
            "http://testserver/.well-known/jwks.json",
            issuer="fastauth",
            audience="fastauth",
            revocation_url="http://testserver/auth/revocations",
            revocation_token=token,
            revocation_poll_interval=0,
            http_client=app.client,
        )

    tokens = await app.register()
    access = tokens["access_token"]
    assert (await verifier(REVOCATION_TOKEN).verify(access)).sub
    assert (await app.client.post("/auth/logout", headers=bearer(access))).status_code == 204
    with pytest.raises(RevokedToken):
        await verifier(REVOCATION_TOKEN).verify(access)
    # Without the token the poll is refused: the verifier says so and keeps its (empty) list, so the
    # logout is not seen (freshness, not availability, depends on the poll).
    with caplog.at_level(logging.WARNING, logger="fastauth.verifier"):
        assert (await verifier(None).verify(access)).sub
    assert "revocation poll refused (401)" in caplog.text
    assert REVOCATION_TOKEN not in caplog.text


@pytest.mark.parametrize(
    "value, status",
    [
        (b"Bearer " + REVOCATION_TOKEN.encode(), 200),
        (b"bearer   " + REVOCATION_TOKEN.encode() + b"  ", 200),
        (b"Bearer \xff\xfe\x80", 401),  # not UTF-8: Starlette decodes header values as latin-1
        (b"\xc3\xa9 " + REVOCATION_TOKEN.encode(), 401),
        (b"Bearer " + REVOCATION_TOKEN.encode() + b"\xe9", 401),
        (b"Bearer " + REVOCATION_TOKEN.encode()[:-1], 401),
        (b"", 401),
    ],
)
async def test_revocation_list_authorization_edge_cases_are_401_never_500(
    make_app: Any, value: bytes, status: int
) -> None:
    app = await make_app(
        jwt={"algorithm": "ES256"}, revocation_list_enabled=True, revocation_list_token=REVOCATION_TOKEN
    )
    response = await app.client.get("/auth/revocations", headers=[(b"authorization", value)])
    assert response.status_code == status


@pytest.mark.parametrize("token", ["é" * 40, "x" * 31 + " " + "y", "a" * 16 + "\n" + "b" * 16, "=" * 40])
def test_revocation_list_token_must_fit_a_bearer_header(token: str) -> None:
    from fastauth import FastAuthConfig
    from fastauth.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        FastAuthConfig(secret="s" * 64, revocation_list_token=token)
    assert "revocation_list_token must be at least 32 characters of A-Z" in str(info.value)
    assert token not in str(info.value)


@pytest.mark.parametrize("token", ["é" * 40, "line\nbreak" * 4])
def test_a_verifier_refuses_a_token_it_could_not_send(token: str) -> None:
    from fastauth.verifier import JWKSVerifier

    with pytest.raises(ValueError, match="revocation_token must be printable ASCII"):
        JWKSVerifier(
            "https://auth.example.com/.well-known/jwks.json",
            issuer="fastauth",
            audience="fastauth",
            revocation_url="https://auth.example.com/auth/revocations",
            revocation_token=token,
        )
