"""Sign in with GitHub, over HTTP, on SQLite and PostgreSQL, through the local GitHub stand-in
(`support.oidc.GitHub`: github.com cannot be reached from CI, so it speaks GitHub's documented OAuth
web flow and REST API on 127.0.0.1, and checks client credentials, the code, the redirect_uri and
the PKCE S256 verifier).

GitHub has no ID token: the identity is the numeric id from `/user`, the address the primary one
from `/user/emails`, and only when GitHub verified it (account-security §4).
"""

from __future__ import annotations

from typing import Any

from support.http import bearer
from support.oidc import NOTHING, PUBLIC_URL, STATE_COOKIE, Browser, GitHub, email, query, redirect_code, rows

OCTO = "octo@example.com"
WELCOME = f"{PUBLIC_URL}/welcome"
UNVERIFIED = {
    "detail": "The provider has not verified this email address",
    "code": "provider_email_unverified",
}


async def github_sign_in(app: Any, github: GitHub, login: str, **params: str) -> Any:
    """A browser signed in at GitHub as `login` signs in to the app (code delivery to /welcome)."""
    browser = Browser(app)
    url = await browser.start("github", redirect_to="/welcome", **params)
    answer = await browser.callback(github.approve(url, login))
    assert STATE_COOKIE not in browser.cookies
    return answer


async def signed_in(app: Any, github: GitHub, login: str) -> dict[str, Any]:
    """The user a full GitHub sign-in as `login` reaches (`/auth/me`), with its `token`."""
    code = redirect_code(await github_sign_in(app, github, login), WELCOME)
    tokens = await Browser(app).exchange(code)
    assert tokens.status_code == 200, tokens.text
    token = tokens.json()["access_token"]
    profile = await app.client.get("/auth/me", headers=bearer(token))
    assert profile.status_code == 200, profile.text
    return {**profile.json(), "token": token}


async def test_a_verified_primary_address_signs_up_keyed_on_the_numeric_id(
    github_app: Any, github: GitHub, hooks: Any
) -> None:
    app = await github_app()
    github.add_user(123, "octocat", [email("octo@noreply.example", primary=False), email(OCTO)])
    user = await signed_in(app, github, "octocat")
    assert (user["email"], user["is_verified"]) == (OCTO, True)
    identities = await app.auth.service.store.list_identities(user["id"])
    assert [(i.provider, i.issuer, i.subject, i.email) for i in identities] == [
        ("github", github.url, "123", OCTO)
    ]
    assert hooks.signins == [(OCTO, "github")]
    assert github.refusals == []
    listed = await app.client.get("/auth/oauth/accounts", headers=bearer(user["token"]))
    assert [(item["provider"], item["email"]) for item in listed.json()] == [("github", OCTO)]


async def test_a_changed_address_and_login_at_github_reach_the_same_account(
    github_app: Any, github: GitHub
) -> None:
    app = await github_app()
    github.add_user(123, "octocat", [email(OCTO)])
    first = await signed_in(app, github, "octocat")
    github.users.pop("octocat")
    github.add_user(123, "octo-renamed", [email("octo@new.example"), email(OCTO, primary=False)])
    second = await signed_in(app, github, "octo-renamed")
    assert (second["id"], second["email"]) == (first["id"], OCTO)
    assert await rows(app) == {"users": 1, "identities": 1, "sessions": 2}


async def test_an_unverified_primary_address_creates_nothing(github_app: Any, github: GitHub) -> None:
    app = await github_app()
    # A verified secondary address does not stand in for the unverified primary one.
    github.add_user(7, "mallory", [email(OCTO, verified=False), email("m@example.com", primary=False)])
    answer = await github_sign_in(app, github, "mallory")
    assert (answer.status_code, answer.json()) == (403, UNVERIFIED)
    assert await rows(app) == NOTHING


async def test_no_primary_address_creates_nothing(github_app: Any, github: GitHub) -> None:
    app = await github_app()
    github.add_user(8, "noprimary", [email(OCTO, primary=False)])
    answer = await github_sign_in(app, github, "noprimary")
    assert (answer.status_code, answer.json()) == (403, UNVERIFIED)
    github.add_user(9, "noemails", [])
    answer = await github_sign_in(app, github, "noemails")
    assert (answer.status_code, answer.json()) == (403, UNVERIFIED)
    assert await rows(app) == NOTHING


async def test_the_authorization_request_carries_pkce_s256_and_the_exact_callback(
    github_app: Any, github: GitHub
) -> None:
    app = await github_app()
    url = await Browser(app).start("github", redirect_to="/welcome")
    asked = query(url)
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"] == f"{PUBLIC_URL}/auth/oauth/github/callback"
    assert (asked["client_id"], asked["scope"], asked["response_type"]) == (
        "app",
        "read:user user:email",
        "code",
    )
    assert "nonce" not in asked


async def test_a_code_from_another_browsers_flow_fails_the_pkce_check(
    github_app: Any, github: GitHub
) -> None:
    app = await github_app()
    github.add_user(123, "octocat", [email(OCTO)])
    victim, attacker = Browser(app), Browser(app)
    victim_url = await victim.start("github", redirect_to="/welcome")
    attacker_url = await attacker.start("github", redirect_to="/welcome")
    attacker_code = query(github.approve(attacker_url, "octocat"))["code"]
    # The attacker's code injected into the victim's callback (the victim's own state and cookie):
    # fastauth sends the victim's verifier, which is not the one the code's challenge was made from.
    injected = (
        f"{PUBLIC_URL}/auth/oauth/github/callback?code={attacker_code}&state={query(victim_url)['state']}"
    )
    answer = await victim.callback(injected)
    assert (answer.status_code, answer.json()) == (
        400,
        {"detail": "Sign-in with the provider failed", "code": "oauth_failed"},
    )
    assert github.refusals == ["bad_verification_code"]
    assert await rows(app) == NOTHING


async def test_a_wrong_client_secret_is_refused_by_github(github_app: Any, github: GitHub) -> None:
    app = await github_app(provider={"client_secret": "not-the-secret"})
    github.add_user(123, "octocat", [email(OCTO)])
    answer = await github_sign_in(app, github, "octocat")
    assert (answer.status_code, answer.json()) == (
        400,
        {"detail": "Sign-in with the provider failed", "code": "oauth_failed"},
    )
    assert github.refusals == ["incorrect_client_credentials"]
    assert await rows(app) == NOTHING


async def test_an_existing_password_account_is_not_taken_over(github_app: Any, github: GitHub) -> None:
    app = await github_app()
    await app.register(OCTO)
    github.add_user(123, "octocat", [email(OCTO)])
    answer = await github_sign_in(app, github, "octocat")
    assert (answer.status_code, answer.json()) == (
        409,
        {
            "detail": "An account with this email exists: sign in as usual, then link the provider from your account",
            "code": "oauth_account_exists",
        },
    )
    assert await rows(app) == {"users": 1, "identities": 0, "sessions": 1}


async def test_a_verified_user_links_github_and_signs_in_with_it(github_app: Any, github: GitHub) -> None:
    app = await github_app()
    await app.auth.service.create_user("alice@example.com", "correct horse", is_verified=True)
    login = await app.client.post(
        "/auth/login", json={"email": "alice@example.com", "password": "correct horse"}
    )
    token = login.json()["access_token"]
    github.add_user(42, "alice-gh", [email("alice@users.example")])
    browser = Browser(app)
    url = await browser.start_link(token, "github", redirect_to="/settings")
    answer = await browser.callback(github.approve(url, "alice-gh"))
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"] == f"{PUBLIC_URL}/settings?linked=github"
    user = await signed_in(app, github, "alice-gh")
    assert user["email"] == "alice@example.com"


async def test_cookie_delivery_signs_the_browser_in(github_app: Any, github: GitHub) -> None:
    app = await github_app(cookie_opt_in=True)
    github.add_user(123, "octocat", [email(OCTO)])
    browser = Browser(app)
    url = await browser.start("github", redirect_to="/welcome", delivery="cookie")
    answer = await browser.callback(github.approve(url, "octocat"))
    assert (answer.status_code, answer.headers["location"]) == (302, WELCOME)
    profile = await browser.request("GET", "/auth/me")
    assert (profile.status_code, profile.json()["email"]) == (200, OCTO)
