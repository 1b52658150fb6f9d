"""Sign-in with a provider under attack: a hostile OpenID provider (`support.hostile_oidc`, real HTTP on
127.0.0.1) and a hostile browser against fastauth's authorize/callback/token routes, every database.

Each hostile input is its own case with its exact answer, and each says what was *not* done: no user,
no identity, no session, no state stored. account-security §4 and Sudhodanan & Paverd, "Pre-hijacked
accounts" (2022), for the five pre-hijacking attacks.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller

from fastauth import EventHooks
from support.b64 import b64, json_segment
from support.clock import Clock
from support.hostile_oidc import CLIENT_ID, CLIENT_SECRET, HostileOIDC, hostile_oidc, rsa_jwk
from support.http import PASSWORD, bearer, set_cookies
from support.servers import free_port

PUBLIC = "https://good.example"
ALLOWLIST = ("https://good.example", "https://spa.example/app")
STATE_COOKIE = "fastauth_oauth_state"
VICTIM = "victim@example.com"
ATTACKER = "attacker@example.com"


@dataclass(frozen=True)
class Refusal:
    """An answer of the error table: its status, its body's `detail`, and the table's code."""

    status: int
    detail: str
    code: str


STATE_INVALID = Refusal(
    400, "The sign-in with the provider expired or was started elsewhere; start again", "oauth_state_invalid"
)
OAUTH_FAILED = Refusal(400, "Sign-in with the provider failed", "oauth_failed")
REDIRECT_REFUSED = Refusal(400, "redirect_to is not an allowed address", "redirect_not_allowed")
PROVIDER_UNVERIFIED = Refusal(
    403, "The provider has not verified this email address", "provider_email_unverified"
)
ACCOUNT_EXISTS = Refusal(
    409,
    "An account with this email exists: sign in as usual, then link the provider from your account",
    "oauth_account_exists",
)
EMAIL_NOT_VERIFIED = Refusal(403, "Email not verified", "email_not_verified")
INVALID_TOKEN = Refusal(401, "Invalid or expired token", "invalid_token")
BAD_LOGIN = Refusal(401, "Invalid email or password", "invalid_credentials")
EMAIL_TAKEN = Refusal(409, "This email is already registered", "email_taken")
RESET_BAD_TOKEN = Refusal(400, "RESET_PASSWORD_BAD_TOKEN", "reset_password_bad_token")
IDENTITY_TAKEN = Refusal(409, "This provider account is linked to another account", "identity_taken")


def refused(response: httpx.Response, expected: Refusal) -> None:
    """`response` is exactly `expected`: its status, and a body of its `detail` alone or with its `code`
    (the body may carry the table's code next to the text)."""
    body = response.json()
    bodies = ({"detail": expected.detail}, {"detail": expected.detail, "code": expected.code})
    assert response.status_code == expected.status and body in bodies, (response.status_code, body)


# --- the provider, the app, the browser --------------------------------------------------------


@pytest.fixture(scope="module")
def idp_server() -> Iterator[HostileOIDC]:
    with hostile_oidc() as provider:
        yield provider


@pytest.fixture
def idp(idp_server: HostileOIDC, clock: Clock) -> HostileOIDC:
    """The module's provider, honest again and on the test's clock."""
    idp_server.reset(clock=clock)
    return idp_server


def provider_config(idp: HostileOIDC, **extra: Any) -> dict[str, Any]:
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "issuer": idp.issuer, **extra}


@pytest.fixture
def app(make_app: Any, idp: HostileOIDC, clock: Clock) -> Callable[..., Any]:
    """`await app(**config_overrides, provider=dict(...))`: fastauth with `hostile` (and `beta`, the same
    issuer under another name) on the test's clock; `provider=` adds settings to `hostile`'s config."""

    async def factory(*, provider: dict[str, Any] | None = None, **overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "public_url": PUBLIC,
            "cookie_secure": False,
            "oauth_redirect_allowlist": ALLOWLIST,
            "oauth": {
                "hostile": provider_config(idp, **(provider or {})),
                "beta": provider_config(idp),
            },
        }
        settings.update(overrides)
        return await make_app(clock=clock, **settings)

    return factory


@dataclass
class Flow:
    """One sign-in started by a browser: the provider's authorize URL and the state cookie it got."""

    url: str
    cookie: str
    query: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return self.query["state"]


async def start(a: Any, provider: str = "hostile", **params: str) -> Flow:
    """GET /authorize as a browser: 302 to the provider, and the state cookie."""
    r = await a.client.get(f"/auth/oauth/{provider}/authorize", params=params)
    a.client.cookies.clear()
    assert r.status_code == 302, r.text
    url = r.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    return Flow(url, set_cookies(r)[STATE_COOKIE].value, query)


async def at_provider(flow: Flow) -> str:
    """The browser at the provider (real HTTP): the callback path and query it is sent back to."""
    async with httpx.AsyncClient() as browser:
        r = await browser.get(flow.url)
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(PUBLIC + "/auth/oauth/"), location
    return location[len(PUBLIC) :]


async def callback(a: Any, path: str, cookie: str | None) -> httpx.Response:
    """The browser back at fastauth's callback, carrying `cookie` as the state cookie (or none)."""
    headers = {"Cookie": f"{STATE_COOKIE}={cookie}"} if cookie is not None else {}
    r = await a.client.get(path, headers=headers)
    a.client.cookies.clear()
    return r


async def sign_in(a: Any, provider: str = "hostile", **params: str) -> httpx.Response:
    """A whole sign-in by one browser up to the callback's answer."""
    flow = await start(a, provider, **params)
    return await callback(a, await at_provider(flow), flow.cookie)


async def exchange(a: Any, response: httpx.Response) -> dict[str, Any]:
    """The one-time code of a successful callback, traded for tokens."""
    assert response.status_code == 302, response.text
    (code,) = parse_qs(urlsplit(response.headers["location"]).query)["code"]
    r = await a.client.post("/auth/oauth/token", json={"code": code})
    assert r.status_code == 200, r.text
    return dict(r.json())


def with_query(path: str, **values: str) -> str:
    parts = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(values)
    return parts.path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


async def states_stored(a: Any) -> int:
    """How many sign-ins under way the store holds (it forgets them: call it last)."""
    return int(await a.auth.service.store.prune_oauth_states(2**40))


async def nobody_signed_up(a: Any, idp: HostileOIDC, email: str = VICTIM) -> None:
    store = a.auth.service.store
    assert await store.get_user_by_email(email) is None
    assert await store.get_identity(idp.issuer, str(idp.user.get("sub"))) is None


async def login(a: Any, email: str, password: str = PASSWORD) -> httpx.Response:
    return await a.client.post("/auth/login", json={"email": email, "password": password})


def no_tokens(response: httpx.Response) -> None:
    """The answer signs nobody in: no cookie but the state cookie's removal, no code in a redirect."""
    assert set(set_cookies(response)) <= {STATE_COOKIE}
    assert "location" not in response.headers


# --- the harness itself --------------------------------------------------------------------------


async def test_an_honest_provider_signs_the_victim_in_with_pkce_state_and_nonce(
    app: Any, idp: HostileOIDC
) -> None:
    a = await app()
    started = await a.client.get("/auth/oauth/hostile/authorize", params={"redirect_to": "/welcome"})
    a.client.cookies.clear()
    cookie = set_cookies(started)[STATE_COOKIE]
    assert (cookie.attr("httponly"), cookie.attr("samesite"), cookie.attr("path")) == (
        True,
        "lax",
        "/auth/oauth",
    )
    assert cookie.attr("max-age") == "600"
    flow = Flow(started.headers["location"], cookie.value)
    r = await callback(a, await at_provider(flow), flow.cookie)
    assert r.headers["location"].startswith(f"{PUBLIC}/welcome?code=")
    assert r.headers["referrer-policy"] == "no-referrer" and "no-store" in r.headers["cache-control"]
    tokens = await exchange(a, r)
    me = await a.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert (me.status_code, me.json()["email"], me.json()["is_verified"]) == (200, VICTIM, True)
    (asked,) = idp.authorizations
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"] == f"{PUBLIC}/auth/oauth/hostile/callback"
    assert len(asked["state"]) >= 43 and len(asked["nonce"]) >= 32
    ((form, status),) = idp.token_requests
    assert status == 200
    assert b64(hashlib.sha256(form["code_verifier"].encode()).digest()) == asked["code_challenge"]


# --- the state: bound to the browser, single-use, short-lived, per provider ----------------------


def _drop_state(path: str, flow: Flow, other: Flow) -> tuple[str, str | None]:
    parts = urlsplit(path)
    code = parse_qs(parts.query)["code"][0]
    return f"{parts.path}?code={code}", flow.cookie


BROWSER_STATE_CASES: dict[str, Callable[[str, Flow, Flow], tuple[str, str | None]]] = {
    "no state in the query": _drop_state,
    "an empty state in the query": lambda path, flow, other: (with_query(path, state=""), flow.cookie),
    "no state cookie (another browser)": lambda path, flow, other: (path, None),
    "an empty state cookie": lambda path, flow, other: (path, ""),
    "the cookie of another sign-in": lambda path, flow, other: (path, other.cookie),
    "the query state of another sign-in": lambda path, flow, other: (
        with_query(path, state=other.state),
        flow.cookie,
    ),
    "the cookie with its last character changed": lambda path, flow, other: (
        path,
        flow.cookie[:-1] + ("A" if flow.cookie[-1] != "A" else "B"),
    ),
    "the query state in another case": lambda path, flow, other: (
        with_query(path, state=flow.state.swapcase()),
        flow.cookie,
    ),
    "the cookie with a suffix": lambda path, flow, other: (path, flow.cookie + "x"),
    "the same over-long state in both": lambda path, flow, other: (
        with_query(path, state=flow.state + "x" * 100),
        flow.cookie + "x" * 100,
    ),
}


@pytest.mark.parametrize("case", list(BROWSER_STATE_CASES))
async def test_a_callback_without_this_browsers_state_is_refused_before_the_code_is_spent(
    app: Any, idp: HostileOIDC, case: str
) -> None:
    a = await app()
    flow = await start(a)
    other = await start(a)
    idp.user = {**idp.user}
    path, cookie = BROWSER_STATE_CASES[case](await at_provider(flow), flow, other)
    r = await callback(a, path, cookie)
    refused(r, STATE_INVALID)
    no_tokens(r)
    assert idp.token_requests == []  # the provider's code was never exchanged
    await nobody_signed_up(a, idp)
    assert await states_stored(a) == 2  # neither sign-in was spent by the refusal


async def test_a_state_is_spent_by_its_first_callback(app: Any, idp: HostileOIDC) -> None:
    a = await app()
    flow = await start(a)
    path = await at_provider(flow)
    first = await callback(a, path, flow.cookie)
    tokens = await exchange(a, first)
    again = await callback(a, path, flow.cookie)
    refused(again, STATE_INVALID)
    no_tokens(again)
    assert [status for _, status in idp.token_requests] == [200]  # the second never reached it
    me = await a.client.get("/auth/oauth/accounts", headers=bearer(tokens["access_token"]))
    assert len(me.json()) == 1


async def test_an_expired_state_is_refused(app: Any, idp: HostileOIDC, clock: Clock) -> None:
    a = await app(oauth_state_ttl=60)
    flow = await start(a)
    path = await at_provider(flow)
    clock.advance(61)
    r = await callback(a, path, flow.cookie)
    refused(r, STATE_INVALID)
    no_tokens(r)
    assert idp.token_requests == []
    await nobody_signed_up(a, idp)


async def test_a_state_just_inside_its_lifetime_still_works(app: Any, idp: HostileOIDC, clock: Clock) -> None:
    a = await app(oauth_state_ttl=60)
    flow = await start(a)
    path = await at_provider(flow)
    clock.advance(59)
    r = await callback(a, path, flow.cookie)
    assert r.status_code == 302, r.text


async def test_the_state_of_provider_a_is_refused_at_provider_bs_callback_and_is_spent(
    app: Any, idp: HostileOIDC
) -> None:
    a = await app()
    flow = await start(a, "hostile")
    path = await at_provider(flow)
    assert path.startswith("/auth/oauth/hostile/callback?")
    r = await callback(a, path.replace("/hostile/", "/beta/", 1), flow.cookie)
    refused(r, STATE_INVALID)
    no_tokens(r)
    assert idp.token_requests == []
    # Consumed by the attempt: it cannot be carried back to its own provider either.
    refused(await callback(a, path, flow.cookie), STATE_INVALID)
    await nobody_signed_up(a, idp)


async def test_a_provider_error_spends_the_state(app: Any, idp: HostileOIDC) -> None:
    a = await app()
    idp.authorize_error = "access_denied"
    flow = await start(a)
    path = await at_provider(flow)
    refused(await callback(a, path, flow.cookie), OAUTH_FAILED)
    refused(await callback(a, path, flow.cookie), STATE_INVALID)
    assert idp.token_requests == []
    await nobody_signed_up(a, idp)


# --- the code and PKCE -----------------------------------------------------------------------------


@pytest.mark.parametrize("sloppy", [False, True], ids=["honest provider", "sloppy provider (reuse, no PKCE)"])
async def test_a_replayed_code_signs_nobody_in_and_leaves_the_first_account_alone(
    app: Any, idp: HostileOIDC, sloppy: bool
) -> None:
    a = await app()
    first = await start(a)
    first_path = await at_provider(first)
    tokens = await exchange(a, await callback(a, first_path, first.cookie))
    old_code = parse_qs(urlsplit(first_path).query)["code"][0]
    if sloppy:  # it hands out a new ID token for the old code: the old flow's nonce gives it away
        idp.allow_code_reuse, idp.check_pkce = True, False
    replay = await start(a)  # the attacker's own fresh state, with the victim's old code
    r = await callback(a, f"/auth/oauth/hostile/callback?code={old_code}&state={replay.state}", replay.cookie)
    refused(r, OAUTH_FAILED)
    no_tokens(r)
    assert [status for _, status in idp.token_requests] == [200, 200 if sloppy else 400]
    me = await a.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert (me.status_code, me.json()["email"]) == (200, VICTIM)
    accounts = await a.client.get("/auth/oauth/accounts", headers=bearer(tokens["access_token"]))
    assert len(accounts.json()) == 1


async def test_a_code_verifier_the_provider_does_not_match_fails_the_sign_in(
    app: Any, idp: HostileOIDC
) -> None:
    a = await app()
    idp.challenge_override = b64(hashlib.sha256(b"a verifier fastauth never made").digest())
    r = await sign_in(a)
    refused(r, OAUTH_FAILED)
    no_tokens(r)
    ((form, status),) = idp.token_requests
    assert status == 400 and form["code_verifier"]
    await nobody_signed_up(a, idp)


# --- the ID token ----------------------------------------------------------------------------------

DROP = object()


def claims_set(**changes: Any) -> Callable[[HostileOIDC, dict[str, Any], dict[str, Any]], str]:
    """Honest but for `changes` (DROP removes a claim; a callable gets the provider's clock)."""

    def make(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
        for name, value in changes.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value(int(p.clock())) if callable(value) else value
        return p.sign(header, claims)

    return make


def _alg_none(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{json_segment({'alg': 'none', 'typ': 'JWT'})}.{json_segment(claims)}."


def _alg_none_with_signature(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    honest = p.sign(header, claims)
    return f"{json_segment({'alg': 'none', 'kid': p.kid})}.{json_segment(claims)}.{honest.rsplit('.', 1)[1]}"


def _hs256_public_pem(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return p.sign({**header, "alg": "HS256"}, claims, key=p.public_pem())


def _other_key(kid: str | None) -> Callable[[HostileOIDC, dict[str, Any], dict[str, Any]], str]:
    def make(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
        forged = {k: v for k, v in header.items() if k != "kid"}
        if kid is not None:
            forged["kid"] = p.kid if kid == "same" else kid
        return p.sign(forged, claims, key=p.other_key)

    return make


def _embedded_jwk(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    # 1024 bits, so the header stays under joserfc's 512-byte cap and the jwk is what gets judged.
    jwk = {k: v for k, v in rsa_jwk(p.small_key, "attacker").items() if k in ("kty", "n", "e")}
    return p.sign({"alg": "RS256", "jwk": jwk}, claims, key=p.small_key)


def _jku(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return p.sign({"alg": "RS256", "kid": "attacker", "jku": p.attacker_jwks_url}, claims, key=p.other_key)


def _swapped_payload(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    honest_header, _, signature = p.sign(header, claims).split(".")
    return f"{honest_header}.{json_segment({**claims, 'email': 'someone@example.com'})}.{signature}"


def _stripped_signature(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return p.sign(header, claims).rsplit(".", 1)[0] + "."


def _sign_as(alg: str) -> Callable[[HostileOIDC, dict[str, Any], dict[str, Any]], str]:
    def make(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
        return p.sign({**header, "alg": alg}, claims)

    return make


def _oct_key_in_jwks(p: HostileOIDC, header: dict[str, Any], claims: dict[str, Any]) -> str:
    secret = b"a shared secret the issuer has no business publishing"
    oct_key = {"kty": "oct", "kid": "hmac", "alg": "HS256", "use": "sig", "k": b64(secret)}
    p.jwks_override = {"keys": [rsa_jwk(p.key, p.kid), oct_key]}  # read after this answer
    return p.sign({"alg": "HS256", "kid": "hmac", "typ": "JWT"}, claims, key=secret)


#: name -> (what the issuer announces, or None for RS256 only; how the ID token is made)
ID_TOKEN_ATTACKS: dict[str, tuple[list[str] | None, Callable[..., str]]] = {
    "iss of another issuer": (None, claims_set(iss="https://evil.example")),
    "iss with a trailing slash": (None, lambda p, h, c: p.sign(h, {**c, "iss": p.issuer + "/"})),
    "iss missing": (None, claims_set(iss=DROP)),
    "aud of another client": (None, claims_set(aud="another-client")),
    "aud missing": (None, claims_set(aud=DROP)),
    "aud a list with us and another, no azp": (None, claims_set(aud=[CLIENT_ID, "another-client"])),
    "aud a list with us and another, azp the other": (
        None,
        claims_set(aud=[CLIENT_ID, "another-client"], azp="another-client"),
    ),
    "azp of another client": (None, claims_set(azp="another-client")),
    "expired an hour ago": (None, claims_set(iat=lambda now: now - 7200, exp=lambda now: now - 3600)),
    "expired beyond the leeway": (None, claims_set(exp=lambda now: now - 61)),
    "exp missing": (None, claims_set(exp=DROP)),
    "iat an hour in the future": (None, claims_set(iat=lambda now: now + 3600, exp=lambda now: now + 7200)),
    "iat missing": (None, claims_set(iat=DROP)),
    "nonce missing": (None, claims_set(nonce=DROP)),
    "nonce of another sign-in": (None, claims_set(nonce="attacker-chosen-nonce")),
    "sub missing": (None, claims_set(sub=DROP)),
    "sub empty": (None, claims_set(sub="")),
    "sub not a string": (None, claims_set(sub=12345)),
    "signed by another key under the published kid": (None, _other_key("same")),
    "signed by another key under an unknown kid": (None, _other_key("attacker-key")),
    "signed by another key without a kid": (None, _other_key(None)),
    "the attacker's key embedded as jwk": (None, _embedded_jwk),
    "the attacker's JWKS named by jku": (None, _jku),
    "alg none, no signature": (None, _alg_none),
    "alg none, with the honest signature": (None, _alg_none_with_signature),
    "alg none, announced by the issuer": (["RS256", "none"], _alg_none),
    "HS256 keyed with the public key's PEM": (None, _hs256_public_pem),
    "HS256 keyed with the PEM, announced by the issuer": (["RS256", "HS256"], _hs256_public_pem),
    "RS384, not announced": (None, _sign_as("RS384")),
    "PS256, not announced": (None, _sign_as("PS256")),
    "payload swapped under an honest signature": (None, _swapped_payload),
    "signature stripped": (None, _stripped_signature),
    "not a JWT at all": (None, lambda p, h, c: "not-a-jwt"),
    "no id_token in the token answer": (None, lambda p, h, c: None),
    "an id_token over 16 KiB": (None, claims_set(name="x" * 20_000)),
    "HS256 under an oct key the JWKS publishes": (["RS256", "HS256"], _oct_key_in_jwks),
}


@pytest.mark.parametrize("case", list(ID_TOKEN_ATTACKS))
async def test_a_forged_or_wrong_id_token_signs_nobody_in(app: Any, idp: HostileOIDC, case: str) -> None:
    announced, make = ID_TOKEN_ATTACKS[case]
    if announced is not None:
        idp.announced_algs = announced
    idp.id_token = make
    a = await app()
    r = await sign_in(a)
    refused(r, OAUTH_FAILED)
    no_tokens(r)
    assert [status for _, status in idp.token_requests] == [200]  # the provider answered; fastauth refused
    assert idp.attacker_jwks_reads == 0  # no key is ever fetched from where a token says
    await nobody_signed_up(a, idp)


async def test_forged_kids_make_at_most_one_jwks_read_per_30_seconds(
    app: Any, idp: HostileOIDC, clock: Clock
) -> None:
    idp.id_token = _other_key("forged-kid")
    a = await app()
    for _ in range(3):
        refused(await sign_in(a), OAUTH_FAILED)
    assert idp.jwks_reads == 1
    clock.advance(31)
    refused(await sign_in(a), OAUTH_FAILED)
    assert idp.jwks_reads == 2
    await nobody_signed_up(a, idp)


PROVIDER_UNAVAILABLE = Refusal(
    502, "The sign-in provider did not answer; try again shortly", "provider_unavailable"
)
HOSTILE_DISCOVERY: dict[str, Callable[[HostileOIDC], dict[str, Any]]] = {
    "another issuer": lambda p: {"issuer": "https://evil.example"},
    "the issuer with a trailing slash": lambda p: {"issuer": p.issuer + "/"},
    "no issuer": lambda p: {"issuer": None},
    "a plain-http token endpoint off loopback": lambda p: {"token_endpoint": "http://evil.example/token"},
    "a plain-http authorization endpoint off loopback": lambda p: {
        "authorization_endpoint": "http://evil.example/authorize"
    },
    "a plain-http jwks_uri off loopback": lambda p: {"jwks_uri": "http://evil.example/jwks"},
    "a javascript: authorization endpoint": lambda p: {"authorization_endpoint": "javascript:alert(1)"},
    "no token endpoint": lambda p: {"token_endpoint": None},
    "a jwks_uri that is not a string": lambda p: {"jwks_uri": ["https://evil.example/jwks"]},
}


@pytest.mark.parametrize("case", list(HOSTILE_DISCOVERY))
async def test_a_hostile_discovery_document_starts_no_sign_in(app: Any, idp: HostileOIDC, case: str) -> None:
    idp.discovery_override = HOSTILE_DISCOVERY[case](idp)
    a = await app()
    r = await a.client.get("/auth/oauth/hostile/authorize")
    a.client.cookies.clear()
    refused(r, PROVIDER_UNAVAILABLE)
    assert "set-cookie" not in r.headers and "location" not in r.headers
    assert idp.authorizations == [] and idp.jwks_reads == 0
    assert await states_stored(a) == 0


async def test_an_id_token_for_us_as_azp_among_several_audiences_is_accepted(
    app: Any, idp: HostileOIDC
) -> None:
    idp.id_token = claims_set(aud=[CLIENT_ID, "another-client"], azp=CLIENT_ID)
    a = await app()
    assert (await sign_in(a)).status_code == 302


# --- redirect_to: the allow-list -------------------------------------------------------------------

REFUSED_REDIRECTS = {
    "another origin": "https://evil.example/",
    "scheme-relative": "//evil.example/",
    "slash backslash": "/\\evil.example",
    "two backslashes": "\\\\evil",
    "user-info before another host": "https://good.example@evil.example/",
    "user-info with the good host's name": "https://good@evil.example/",
    "fragment with an at sign": "https://evil.example#@good.example",
    "javascript": "javascript:alert(1)",
    "javascript in capitals": "JavaScript:alert(document.domain)",
    "data": "data:text/html,<script>alert(1)</script>",
    "a newline in the path": "/\n/evil.example",
    "a tab in the path": "/\t/evil.example",
    "a header injection": "https://good.example/\r\nLocation: https://evil.example",
    "a leading space": " https://evil.example/",
    "an http downgrade": "http://good.example/",
    "an http downgrade of the prefixed origin": "http://spa.example/app/",
    "a look-alike host": "https://good.example.evil.example/",
    "another port": "https://good.example:8443/",
    "https without slashes": "https:evil.example",
    "a path outside the allowed prefix": "https://spa.example/admin",
    "a longer path sharing the prefix": "https://spa.example/application",
    "the prefixed origin's root": "https://spa.example/",
    "over long": "https://good.example/" + "a" * 3000,
    # Browsers resolve dot segments, encoded or not, before they request the path.
    "a dot-dot out of the prefix": "https://spa.example/app/../admin",
    "an encoded dot-dot out of the prefix": "https://spa.example/app/%2e%2e/admin",
    "an upper-case encoded dot-dot": "https://spa.example/app/%2E%2E/admin",
    "a half-encoded dot-dot": "https://spa.example/app/.%2e/admin",
    "a dot then a dot-dot": "https://spa.example/app/./../admin",
}


@pytest.mark.parametrize("target", list(REFUSED_REDIRECTS.values()), ids=list(REFUSED_REDIRECTS))
async def test_a_redirect_to_off_the_allow_list_is_refused_at_authorize(
    app: Any, idp: HostileOIDC, target: str
) -> None:
    a = await app()
    r = await a.client.get("/auth/oauth/hostile/authorize", params={"redirect_to": target})
    a.client.cookies.clear()
    refused(r, REDIRECT_REFUSED)
    assert "set-cookie" not in r.headers and "location" not in r.headers
    assert idp.authorizations == []
    assert await states_stored(a) == 0


@pytest.mark.parametrize(
    "target",
    ["/welcome", "https://good.example/after", "https://spa.example/app", "https://spa.example/app/cb?x=1"],
)
async def test_a_redirect_to_on_the_allow_list_is_where_the_sign_in_ends(
    app: Any, idp: HostileOIDC, target: str
) -> None:
    a = await app()
    r = await sign_in(a, redirect_to=target)
    expected = PUBLIC + target if target.startswith("/") else target
    location = r.headers["location"]
    assert location.split("?")[0] == expected.split("?")[0] and "code=" in location


# --- pre-hijacking (Sudhodanan & Paverd 2022) --------------------------------------------------------

ATTACKER_PASSWORD = "the attacker's own passphrase"


async def me(a: Any, access_token: str) -> httpx.Response:
    return await a.client.get("/auth/me", headers=bearer(access_token))


@pytest.mark.parametrize(
    "implicit_linking", [False, True], ids=["default", "link_verified_email on, local account unverified"]
)
async def test_classic_federated_merge_a_pre_registered_address_does_not_take_the_victim_in(
    app: Any, idp: HostileOIDC, implicit_linking: bool
) -> None:
    a = await app(provider={"link_verified_email": implicit_linking})
    held = await a.register(VICTIM, ATTACKER_PASSWORD)  # the attacker, before the victim ever comes
    attacker_id = (await me(a, held["access_token"])).json()["id"]
    r = await sign_in(a)
    refused(r, ACCOUNT_EXISTS)
    no_tokens(r)  # the victim is signed into nothing, so puts nothing into the attacker's account
    store = a.auth.service.store
    assert await store.get_identity(idp.issuer, "victim-sub") is None
    local = await store.get_user_by_email(VICTIM)
    assert (local.id, local.is_verified) == (attacker_id, False)
    # The attacker's password is still the account's one way in, and nothing was linked to it.
    assert (await login(a, VICTIM, ATTACKER_PASSWORD)).status_code == 200
    accounts = await a.client.get("/auth/oauth/accounts", headers=bearer(held["access_token"]))
    assert (accounts.status_code, accounts.json()) == (200, [])


SPELLINGS = {
    "upper case": ("victim@example.com", "VICTIM@EXAMPLE.COM"),
    "mixed case domain": ("victim@example.com", "victim@Example.Com"),
    "surrounding spaces": ("victim@example.com", " victim@example.com "),
    "NFD against NFC": ("zo\u00eb@example.com", "zoe\u0308@example.com"),
}


@pytest.mark.parametrize("case", list(SPELLINGS))
async def test_another_spelling_of_a_pre_registered_address_finds_it_and_is_refused(
    app: Any, idp: HostileOIDC, case: str
) -> None:
    registered, spelled = SPELLINGS[case]
    a = await app()
    await a.register(registered, ATTACKER_PASSWORD)
    idp.user = {"sub": "victim-sub", "email": spelled, "email_verified": True}
    r = await sign_in(a)
    refused(r, ACCOUNT_EXISTS)  # not a second account beside the first under another spelling
    no_tokens(r)
    assert await a.auth.service.store.get_identity(idp.issuer, "victim-sub") is None


async def test_unexpired_session_a_merge_into_a_verified_account_ends_every_old_way_in(
    app: Any, idp: HostileOIDC
) -> None:
    a = await app(provider={"link_verified_email": True})
    held = await a.register(VICTIM, ATTACKER_PASSWORD)
    local_id = (await me(a, held["access_token"])).json()["id"]
    assert await a.auth.service.mark_verified(VICTIM) is not None
    tokens = await exchange(a, await sign_in(a))
    assert (await me(a, tokens["access_token"])).json()["id"] == local_id  # merged, as opted into
    # Whoever held the account before keeps nothing: access token, refresh token, password.
    refused(await me(a, held["access_token"]), INVALID_TOKEN)
    refreshed = await a.client.post("/auth/refresh", json={"refresh_token": held["refresh_token"]})
    refused(refreshed, INVALID_TOKEN)
    refused(await login(a, VICTIM, ATTACKER_PASSWORD), BAD_LOGIN)
    sessions = await a.client.get("/auth/sessions", headers=bearer(tokens["access_token"]))
    assert len(sessions.json()) == 1
    accounts = await a.client.get("/auth/oauth/accounts", headers=bearer(tokens["access_token"]))
    assert [entry["provider"] for entry in accounts.json()] == ["hostile"]


async def test_trojan_identifier_an_unverified_account_cannot_link_the_attackers_provider_account(
    app: Any, idp: HostileOIDC
) -> None:
    a = await app()
    held = await a.register(VICTIM, ATTACKER_PASSWORD)
    idp.user = {"sub": "attacker-sub", "email": ATTACKER, "email_verified": True}
    r = await a.client.post("/auth/oauth/hostile/link", headers=bearer(held["access_token"]))
    a.client.cookies.clear()
    refused(r, EMAIL_NOT_VERIFIED)
    assert "set-cookie" not in r.headers
    assert await states_stored(a) == 0
    store = a.auth.service.store
    assert await store.get_identity(idp.issuer, "attacker-sub") is None
    # The victim, arriving later with their own provider account, is not let into the account either.
    idp.user = {"sub": "victim-sub", "email": VICTIM, "email_verified": True}
    refused(await sign_in(a), ACCOUNT_EXISTS)
    assert await store.get_identity(idp.issuer, "victim-sub") is None


async def test_a_verified_account_links_its_provider_account(app: Any, idp: HostileOIDC) -> None:
    """The control of the trojan case: the same request from a verified account starts a link."""
    a = await app()
    tokens = await a.register("owner@example.com")
    await a.auth.service.mark_verified("owner@example.com")
    r = await a.client.post("/auth/oauth/hostile/link", headers=bearer(tokens["access_token"]))
    a.client.cookies.clear()
    assert r.status_code == 200, r.text
    flow = Flow(r.json()["url"], set_cookies(r)[STATE_COOKIE].value)
    done = await callback(a, await at_provider(flow), flow.cookie)
    assert done.headers["location"] == f"{PUBLIC}/?linked=hostile"
    accounts = await a.client.get("/auth/oauth/accounts", headers=bearer(tokens["access_token"]))
    assert [entry["provider"] for entry in accounts.json()] == ["hostile"]


@dataclass
class Inbox:
    """An SMTP server's handler (aiosmtpd) that keeps every mail."""

    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        parsed = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 2.0.0 Message accepted for delivery"

    def code_for(self, address: str) -> str:
        (mail,) = [m for m in self.received if m["To"] == address]
        text = mail.get_body(("plain",)).get_content()
        (link,) = [word for word in text.split() if "token=" in word]
        return parse_qs(urlsplit(link).query)["token"][0]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, its own thread) and its port."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_unexpired_email_change_the_victim_gets_a_new_account_and_the_change_fails_cleanly(
    app: Any, idp: HostileOIDC, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    mail = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none", "from_address": "a@example.com"}
    a = await app(email={**mail, "retries": 0}, verify_email_on_register=False)
    held = await a.register(ATTACKER, ATTACKER_PASSWORD)
    attacker_id = (await me(a, held["access_token"])).json()["id"]
    asked = await a.client.post(
        "/auth/change-email",
        json={"new_email": VICTIM, "password": ATTACKER_PASSWORD},
        headers=bearer(held["access_token"]),
    )
    assert asked.status_code == 202, asked.text
    await a.auth.service.settle()
    pending = inbox.code_for(VICTIM)
    victim = await exchange(a, await sign_in(a))
    victim_me = (await me(a, victim["access_token"])).json()
    assert victim_me["id"] != attacker_id and (victim_me["email"], victim_me["is_verified"]) == (VICTIM, True)
    confirm = await a.client.post(
        "/auth/change-email/confirm", json={"token": pending}, headers=bearer(held["access_token"])
    )
    refused(confirm, EMAIL_TAKEN)
    assert (await me(a, held["access_token"])).json()["email"] == ATTACKER
    again = await exchange(a, await sign_in(a))  # the victim's account is still the victim's
    assert (await me(a, again["access_token"])).json()["id"] == victim_me["id"]


UNVERIFIED_IDENTITIES = {
    "email_verified false": {"email": VICTIM, "email_verified": False},
    "email_verified absent": {"email": VICTIM},
    "email_verified the string 'true'": {"email": VICTIM, "email_verified": "true"},
    "email_verified 1": {"email": VICTIM, "email_verified": 1},
    "email_verified null": {"email": VICTIM, "email_verified": None},
    "no email at all": {"email_verified": True},
    "an email that is no address": {"email": "victim at example.com", "email_verified": True},
}


@pytest.mark.parametrize("case", list(UNVERIFIED_IDENTITIES))
async def test_non_verifying_idp_creates_no_account(app: Any, idp: HostileOIDC, case: str) -> None:
    a = await app()
    idp.user = {"sub": "victim-sub", **UNVERIFIED_IDENTITIES[case]}
    r = await sign_in(a)
    refused(r, PROVIDER_UNVERIFIED)
    no_tokens(r)
    await nobody_signed_up(a, idp)


@pytest.mark.parametrize("case", list(UNVERIFIED_IDENTITIES))
async def test_non_verifying_idp_matches_no_account(app: Any, idp: HostileOIDC, case: str) -> None:
    a = await app(provider={"link_verified_email": True})
    held = await a.register(VICTIM, PASSWORD)
    await a.auth.service.mark_verified(VICTIM)
    idp.user = {"sub": "attacker-sub", **UNVERIFIED_IDENTITIES[case]}
    r = await sign_in(a)
    refused(r, PROVIDER_UNVERIFIED)
    no_tokens(r)
    assert await a.auth.service.store.get_identity(idp.issuer, "attacker-sub") is None
    # The local account is untouched: its session goes on, its password still works.
    assert (await me(a, held["access_token"])).status_code == 200
    assert (await login(a, VICTIM, PASSWORD)).status_code == 200


async def test_identities_are_keyed_on_the_subject_never_on_the_address(app: Any, idp: HostileOIDC) -> None:
    a = await app()
    victim = await exchange(a, await sign_in(a))
    victim_id = (await me(a, victim["access_token"])).json()["id"]
    # Another account at the same provider claiming the victim's (verified) address gets nothing.
    idp.user = {"sub": "attacker-sub", "email": VICTIM, "email_verified": True}
    r = await sign_in(a)
    refused(r, ACCOUNT_EXISTS)
    no_tokens(r)
    # The victim's own subject with a changed address still reaches the victim's account.
    idp.user = {"sub": "victim-sub", "email": "renamed@example.com", "email_verified": True}
    again = await exchange(a, await sign_in(a))
    assert (await me(a, again["access_token"])).json()["id"] == victim_id
    assert await a.auth.service.store.get_user_by_email("renamed@example.com") is None


class ResetCodes(EventHooks):
    """The application mails the reset codes itself: the test reads them here."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    async def on_after_forgot_password(self, user: Any, token: str) -> None:
        self.codes[user.email] = token


async def test_a_merge_voids_the_previous_holders_reset_code(app: Any, idp: HostileOIDC) -> None:
    hooks = ResetCodes()
    a = await app(provider={"link_verified_email": True}, hooks=hooks)
    await a.register(VICTIM, ATTACKER_PASSWORD)
    await a.auth.service.mark_verified(VICTIM)
    assert (await a.client.post("/auth/forgot-password", json={"email": VICTIM})).status_code == 202
    await a.auth.service.settle()
    kept = hooks.codes[VICTIM]  # a way back in, kept for after the merge
    await exchange(a, await sign_in(a))
    r = await a.client.post("/auth/reset-password", json={"token": kept, "password": "taken back again"})
    refused(r, RESET_BAD_TOKEN)
    refused(await login(a, VICTIM, "taken back again"), BAD_LOGIN)


async def test_of_two_concurrent_callbacks_with_one_state_exactly_one_signs_in(
    app: Any, idp: HostileOIDC
) -> None:
    a = await app()
    flow = await start(a)
    path = await at_provider(flow)
    headers = {"Cookie": f"{STATE_COOKIE}={flow.cookie}"}
    first, second = await asyncio.gather(
        a.client.get(path, headers=headers), a.client.get(path, headers=headers)
    )
    a.client.cookies.clear()
    assert sorted([first.status_code, second.status_code]) == [302, 400]
    loser = first if first.status_code == 400 else second
    refused(loser, STATE_INVALID)
    assert len(idp.token_requests) == 1


async def _verified_user(a: Any, email: str) -> dict[str, Any]:
    tokens = await a.register(email)
    await a.auth.service.mark_verified(email)
    return tokens


async def _start_link(a: Any, access_token: str) -> Flow:
    r = await a.client.post("/auth/oauth/hostile/link", headers=bearer(access_token))
    a.client.cookies.clear()
    assert r.status_code == 200, r.text
    return Flow(r.json()["url"], set_cookies(r)[STATE_COOKIE].value)


async def test_a_link_whose_session_ended_before_the_callback_links_nothing(
    app: Any, idp: HostileOIDC
) -> None:
    a = await app()
    tokens = await _verified_user(a, "owner@example.com")
    flow = await _start_link(a, tokens["access_token"])
    path = await at_provider(flow)
    out = await a.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert out.status_code == 204, out.text
    r = await callback(a, path, flow.cookie)
    refused(r, STATE_INVALID)
    no_tokens(r)
    assert await a.auth.service.store.get_identity(idp.issuer, "victim-sub") is None


async def test_a_provider_account_linked_to_one_user_cannot_be_linked_to_another(
    app: Any, idp: HostileOIDC
) -> None:
    a = await app()
    victim = await exchange(a, await sign_in(a))  # the provider account belongs to the victim's account
    victim_id = (await me(a, victim["access_token"])).json()["id"]
    other = await _verified_user(a, "other@example.com")
    flow = await _start_link(a, other["access_token"])
    r = await callback(a, await at_provider(flow), flow.cookie)
    refused(r, IDENTITY_TAKEN)
    no_tokens(r)
    known = await a.auth.service.store.get_identity(idp.issuer, "victim-sub")
    assert known is not None and known.user_id == victim_id
    accounts = await a.client.get("/auth/oauth/accounts", headers=bearer(other["access_token"]))
    assert accounts.json() == []


SIGNIN_NOT_ALLOWED = Refusal(403, "Sign-in not allowed", "signin_not_allowed")


class Gate(EventHooks):
    """An application's `allow_signin` that refuses one address (a ban list, say)."""

    def __init__(self) -> None:
        self.refused: str | None = None

    async def allow_signin(self, user: Any) -> bool:
        return bool(user.email != self.refused)


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param("deactivated", id="account deactivated by an operator"),
        pytest.param("allow_signin", id="allow_signin refuses it"),
    ],
)
async def test_a_refused_sign_in_into_a_verified_account_merges_nothing(
    app: Any, idp: HostileOIDC, refusal: str
) -> None:
    gate = Gate()
    a = await app(provider={"link_verified_email": True}, hooks=gate)
    held = await a.register(VICTIM, PASSWORD)
    local_id = (await me(a, held["access_token"])).json()["id"]
    await a.auth.service.mark_verified(VICTIM)
    if refusal == "deactivated":
        await a.auth.service.set_user_active(local_id, False)
        r = await sign_in(a)
    else:
        gate.refused = VICTIM
        r = await sign_in(a)  # a merge asks the gate at the callback, before it changes anything
    refused(r, SIGNIN_NOT_ALLOWED)
    # Refused, so nothing of the merge may have happened: no identity joined, the password stays.
    assert await a.auth.service.store.get_identity(idp.issuer, "victim-sub") is None
    if refusal == "deactivated":
        await a.auth.service.set_user_active(local_id, True)
    gate.refused = None
    assert (await login(a, VICTIM, PASSWORD)).status_code == 200
