"""One error tree for everything fastauth raises; each error carries a stable `code`.

    FastAuthError
    ├── ConfigError              config_error         the configuration cannot work; says what to change
    ├── HookError                hook_error           an EventHooks method raised or returned a refused value
    ├── StoreUnavailable         store_unavailable    a database or Redis did not answer (fail closed)
    ├── RateLimited              rate_limited         too many attempts; `retry_after` seconds
    ├── MailOff                  mail_off             the flow needs mail, and this server sends none
    ├── TokenError               invalid_token        a token was refused (subclasses refine the log line)
    │   ├── MalformedToken, UnknownKey, AlgorithmMismatch, InvalidSignature,
    │   ├── ExpiredToken, InvalidClaims, WrongTokenType, RevokedToken
    │   └── InvalidApiKey        an API key malformed, unknown, revoked, expired, or its owner inactive
    └── AuthError                auth_error           an account or session operation was refused
        ├── NotAuthenticated     not_authenticated    no credentials were presented at all
        ├── InvalidCredentials   invalid_credentials  unknown email, wrong password, inactive account
        ├── CurrentPasswordWrong current_password_wrong
        ├── SigninNotAllowed     signin_not_allowed   `EventHooks.allow_signin` said no
        ├── EmailTaken           email_taken
        ├── FieldTaken           field_taken          another user has this value of a `Unique` field
        ├── InvalidUserFields    invalid_user_fields  the application's user fields were refused (names them)
        ├── InvalidEmail         invalid_email
        ├── PasswordPolicyError  password_policy
        ├── SessionNotFound      session_not_found    not the caller's live session (or none at all)
        ├── PermissionDenied     permission_denied    authenticated, but not allowed
        │   └── InsufficientScope insufficient_scope  the token or key lacks a scope (RFC 6750 §3.1)
        ├── InvalidRole          invalid_role         a role name or permission that is not well formed
        ├── RoleNotFound         role_not_found
        ├── RoleExists           role_exists
        ├── RoleInConfig         role_in_config       declared in the configuration: change it there
        ├── InvalidScope         invalid_scope        API-key scopes beyond what the owner holds
        ├── ApiKeyNotFound       api_key_not_found    not one of the caller's live API keys
        ├── UserNotFound         user_not_found       (the admin API) no user of that id
        ├── InvalidCursor        invalid_cursor       a pagination cursor this server did not write
        ├── CsrfFailed           csrf_failed
        ├── CrossSiteSignin      cross_site_signin    a cross-site request would set sign-in cookies
        ├── EmailNotVerified     email_not_verified   the flow needs a verified email address
        ├── AlreadyVerified      verify_user_already_verified
        ├── RecentSignInRequired recent_sign_in_required  no password: a fresh sign-in confirms instead
        ├── MFARequired          mfa_required         a second factor completes this sign-in (`mfa_token`)
        ├── InvalidMFACode       invalid_mfa_code     a TOTP or recovery code wrong, spent or replayed
        ├── MFAAlreadyEnabled    mfa_already_enabled
        ├── MFANotEnabled        mfa_not_enabled
        ├── PasskeysOff          passkeys_off         no relying party is configured (RP ID, origins)
        ├── InvalidPasskey       invalid_passkey      a WebAuthn response that does not verify
        │   └── PasskeyCloned    passkey_cloned       its sign count went backwards (audited)
        ├── PasskeyNotFound      passkey_not_found    not one of the caller's passkeys
        ├── OAuthError           oauth_failed         a provider sign-in failed (refused at the provider,
        │   │                                         a code or ID token that does not verify)
        │   ├── UnknownProvider      unknown_provider     no provider of that name is configured
        │   ├── RedirectNotAllowed   redirect_not_allowed `redirect_to` is not on the allow-list
        │   ├── OAuthStateInvalid    oauth_state_invalid  state missing, spent, expired, other browser
        │   ├── ProviderUnavailable  provider_unavailable the provider did not answer, or answered garbage
        │   ├── ProviderEmailUnverified provider_email_unverified  address not verified
        │   ├── AccountExists        oauth_account_exists an account has this address: sign in, then link
        │   ├── IdentityTaken        identity_taken       that provider account is linked to another user
        │   ├── IdentityNotFound     identity_not_found   not one of the caller's linked identities
        │   └── LastSignInMethod     last_sign_in_method  unlinking would leave no way to sign in
        └── InvalidCode          invalid_code         a one-time code unknown, expired, spent or cross-purpose
            ├── InvalidVerifyToken  verify_user_bad_token   (fastapi-users' answers, per route)
            ├── InvalidResetToken   reset_password_bad_token
            └── InvalidChangeEmailToken  change_email_bad_token

Configuration errors say what to fix. Token and login errors say nothing an attacker could use: the
subclass and its short reason are for logs and tests, the HTTP layer answers every token error the
same way. No error here is a `ValueError`, so `except ValueError` never catches the wrong thing.
The web layer's one table (`fastauth.web.errors`) maps `code` to a response; the CLI maps it to an
exit code.
"""

from __future__ import annotations

__all__ = [
    "AccountExists",
    "AlgorithmMismatch",
    "AlreadyVerified",
    "ApiKeyNotFound",
    "AuthError",
    "ConfigError",
    "CrossSiteSignin",
    "CsrfFailed",
    "CurrentPasswordWrong",
    "EmailNotVerified",
    "EmailTaken",
    "ExpiredToken",
    "FastAuthError",
    "FieldTaken",
    "HookError",
    "IdentityNotFound",
    "IdentityTaken",
    "InsufficientScope",
    "InvalidApiKey",
    "InvalidChangeEmailToken",
    "InvalidClaims",
    "InvalidCode",
    "InvalidCredentials",
    "InvalidCursor",
    "InvalidEmail",
    "InvalidMFACode",
    "InvalidPasskey",
    "InvalidResetToken",
    "InvalidRole",
    "InvalidScope",
    "InvalidSignature",
    "InvalidUserFields",
    "InvalidVerifyToken",
    "LastSignInMethod",
    "MFAAlreadyEnabled",
    "MFANotEnabled",
    "MFARequired",
    "MailOff",
    "MalformedToken",
    "NotAuthenticated",
    "OAuthError",
    "OAuthStateInvalid",
    "PasskeyCloned",
    "PasskeyNotFound",
    "PasskeysOff",
    "PasswordPolicyError",
    "PermissionDenied",
    "ProviderEmailUnverified",
    "ProviderUnavailable",
    "RateLimited",
    "RecentSignInRequired",
    "RedirectNotAllowed",
    "RevokedToken",
    "RoleExists",
    "RoleInConfig",
    "RoleNotFound",
    "SessionNotFound",
    "SigninNotAllowed",
    "StoreUnavailable",
    "TokenError",
    "UnknownKey",
    "UnknownProvider",
    "UserNotFound",
    "WrongTokenType",
]


class FastAuthError(Exception):
    """Base class of every fastauth error."""

    #: Stable, machine-readable name of the error: the HTTP table and the CLI key on it.
    code = "fastauth_error"


class ConfigError(FastAuthError):
    """The configuration cannot work; the message says what to change."""

    code = "config_error"


class HookError(FastAuthError):
    """An `EventHooks` method raised, or returned something fastauth refuses (a changed reserved claim)."""

    code = "hook_error"


class StoreUnavailable(FastAuthError):
    """A storage backend (database, Redis) did not answer; requests fail closed with 503."""

    code = "store_unavailable"


class RateLimited(FastAuthError):
    """Too many attempts for this account or client; try again after `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many attempts")
        self.retry_after = retry_after


class TokenError(FastAuthError):
    """A token was refused. Every refusal is this type; subclasses only refine the log line."""

    code = "invalid_token"

    def __init__(self, reason: str = "invalid token") -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedToken(TokenError):
    """Not a well-formed compact JWS of the shape fastauth issues."""

    code = "malformed_token"


class UnknownKey(TokenError):
    """The `kid` names no key this verifier trusts (or a retired one)."""

    code = "unknown_key"


class AlgorithmMismatch(TokenError):
    """The header `alg` is not the one algorithm bound to the key."""

    code = "algorithm_mismatch"


class InvalidSignature(TokenError):
    """The signature does not verify."""

    code = "invalid_signature"


class ExpiredToken(TokenError):
    """`exp` has passed (beyond the configured leeway), or the session reached its maximum age."""

    code = "expired_token"


class InvalidClaims(TokenError):
    """A claim is missing, of the wrong type, or has the wrong value."""

    code = "invalid_claims"


class WrongTokenType(TokenError):
    """A token of another kind (a refresh token where an access token is expected, or the reverse)."""

    code = "wrong_token_type"


class RevokedToken(TokenError):
    """The token's session or `jti` has been revoked."""

    code = "revoked_token"


class InvalidApiKey(TokenError):
    """An API key that is refused: malformed, wrong checksum, unknown, revoked, expired, or its owner is
    gone or inactive. Answered as every token refusal is."""

    code = "invalid_api_key"


class AuthError(FastAuthError):
    """An account or session operation was refused."""

    code = "auth_error"


class NotAuthenticated(AuthError):
    """The request carried no credentials at all (as opposed to bad ones, a `TokenError`)."""

    code = "not_authenticated"


class InvalidCredentials(AuthError):
    """Unknown email, wrong password or inactive account: deliberately indistinguishable."""

    code = "invalid_credentials"


class CurrentPasswordWrong(AuthError):
    """A signed-in user confirming a change gave a wrong current password."""

    code = "current_password_wrong"


class SigninNotAllowed(AuthError):
    """`EventHooks.allow_signin` refused the user."""

    code = "signin_not_allowed"


class EmailTaken(AuthError):
    """Registration with an email that already has an account."""

    code = "email_taken"


class FieldTaken(AuthError):
    """Another user already has this value of a `Unique` user field; the message names the field."""

    code = "field_taken"

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is already taken")
        self.field = field


class InvalidUserFields(AuthError):
    """The application's user fields were refused: missing, invalid, or not the caller's to set. The
    message names the fields and why, never their values."""

    code = "invalid_user_fields"


class InvalidEmail(AuthError):
    """The text is not an email address fastauth accepts; the message says why (never a hook's words)."""

    code = "invalid_email"


class PasswordPolicyError(AuthError):
    """The new password does not meet the password policy."""

    code = "password_policy"


class SessionNotFound(AuthError):
    """No live session of the caller has that id (someone else's answers the same)."""

    code = "session_not_found"


class PermissionDenied(AuthError):
    """Authenticated, but not allowed (not a superuser, a role missing)."""

    code = "permission_denied"


class InsufficientScope(PermissionDenied):
    """The access token or API key lacks a scope the route needs: 403 with
    `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` (RFC 6750 §3.1)."""

    code = "insufficient_scope"

    def __init__(self, message: str, scope: str = "") -> None:
        super().__init__(message)
        #: The scopes the route needs, space-separated.
        self.scope = scope


class InvalidRole(AuthError):
    """A role name or permission that is not well formed (the message says what is allowed)."""

    code = "invalid_role"


class RoleNotFound(AuthError):
    """No role of that name."""

    code = "role_not_found"


class RoleExists(AuthError):
    """A role of that name exists already."""

    code = "role_exists"


class RoleInConfig(AuthError):
    """The role is declared in the configuration (`FASTAUTH_AUTHZ__ROLES`), which writes it at every
    start: change it there."""

    code = "role_in_config"


class InvalidScope(AuthError):
    """API-key scopes that are not permissions, or that the key's owner does not hold."""

    code = "invalid_scope"


class ApiKeyNotFound(AuthError):
    """No live API key of that id among the caller's."""

    code = "api_key_not_found"


class UserNotFound(AuthError):
    """(The admin API) no user has that id."""

    code = "user_not_found"


class InvalidCursor(AuthError):
    """A pagination cursor that this server did not write (or for another query)."""

    code = "invalid_cursor"


class CsrfFailed(AuthError):
    """A cookie-authenticated unsafe request without the matching CSRF token."""

    code = "csrf_failed"


class CrossSiteSignin(AuthError):
    """A cross-site request whose answer would set sign-in cookies (login CSRF)."""

    code = "cross_site_signin"


class InvalidCode(AuthError):
    """A one-time code that is unknown, expired, used, malformed or for another purpose: all alike."""

    code = "invalid_code"


class InvalidVerifyToken(InvalidCode):
    """`POST /verify` with a code that does not verify (answered as fastapi-users does)."""

    code = "verify_user_bad_token"


class InvalidResetToken(InvalidCode):
    """`POST /reset-password` with a code that does not reset (answered as fastapi-users does)."""

    code = "reset_password_bad_token"


class AlreadyVerified(AuthError):
    """A verification code for an address that is verified already."""

    code = "verify_user_already_verified"


class EmailNotVerified(AuthError):
    """The account's email address is not verified, and this needs it to be."""

    code = "email_not_verified"


class RecentSignInRequired(AuthError):
    """An account without a password confirms a sensitive change by a recent sign-in, and this one is
    older than `recent_sign_in_window` (RFC 9470: the client asks the user to sign in again)."""

    code = "recent_sign_in_required"

    def __init__(self, message: str, max_age: int = 300, acr_values: str | None = None) -> None:
        super().__init__(message)
        #: The oldest sign-in, in seconds, that would do (`recent_sign_in_window`).
        self.max_age = max_age
        #: The sign-in methods wanted (RFC 8176 `amr` values, space-separated), when a route asks.
        self.acr_values = acr_values


class MFARequired(AuthError):
    """The first factor was right and the account has a second one: `mfa_token` (short-lived,
    single-use) and one of `methods` complete the sign-in (`POST /auth/mfa/verify`)."""

    code = "mfa_required"

    def __init__(self, message: str, mfa_token: str = "", methods: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.mfa_token = mfa_token
        self.methods = methods
        #: Where a browser's provider sign-in goes back to meanwhile (set by the service).
        self.redirect_to: str | None = None


class InvalidMFACode(AuthError):
    """A TOTP code or recovery code that does not verify: wrong, spent, replayed, or too old."""

    code = "invalid_mfa_code"


class MFAAlreadyEnabled(AuthError):
    """TOTP is on already: disable it (with a current code) before enrolling again."""

    code = "mfa_already_enabled"


class MFANotEnabled(AuthError):
    """The account has no confirmed second factor (or no enrolment under way to confirm)."""

    code = "mfa_not_enabled"


class PasskeysOff(AuthError):
    """Passkeys need a relying party: an RP ID that is a domain name (not an IP address) and the
    origins pages run from (`FASTAUTH_PASSKEYS__RP_ID`, `__ORIGINS`, or a `public_url` on a domain)."""

    code = "passkeys_off"


class InvalidPasskey(AuthError):
    """A WebAuthn response that does not verify: unknown or spent challenge, wrong origin or RP ID, bad
    signature, unknown credential, missing user verification. Every refusal answers alike."""

    code = "invalid_passkey"

    def __init__(self, message: str = "passkey not accepted", *, user_id: str | None = None) -> None:
        super().__init__(message)
        #: The account whose passkey the response named, once that is known (for the audit).
        self.user_id = user_id


class PasskeyCloned(InvalidPasskey):
    """An assertion whose signature verifies but whose sign count did not go up: the authenticator was
    likely cloned. Answered like any other refusal (`invalid_passkey`), and audited."""

    code = "passkey_cloned"

    def __init__(self, passkey: object) -> None:
        super().__init__("the sign count went backwards", user_id=getattr(passkey, "user_id", None))
        #: The `PasskeyRecord` concerned.
        self.passkey = passkey


class PasskeyNotFound(AuthError):
    """No passkey of that id among the caller's."""

    code = "passkey_not_found"


class OAuthError(AuthError):
    """A sign-in through a provider failed; the message is for logs (the answer is the table's)."""

    code = "oauth_failed"


class UnknownProvider(OAuthError):
    """No sign-in provider of that name is configured."""

    code = "unknown_provider"


class RedirectNotAllowed(OAuthError):
    """`redirect_to` is not on `oauth_redirect_allowlist` (never an open redirect)."""

    code = "redirect_not_allowed"


class OAuthStateInvalid(OAuthError):
    """The callback's `state` is missing, spent, expired, or was started in another browser."""

    code = "oauth_state_invalid"


class ProviderUnavailable(OAuthError):
    """The provider did not answer in time, or answered something that is not its protocol."""

    code = "provider_unavailable"


class ProviderEmailUnverified(OAuthError):
    """The provider has not verified the address, so it can neither create nor match an account."""

    code = "provider_email_unverified"


class AccountExists(OAuthError):
    """A first provider sign-in whose address has an account: sign in as usual, then link it."""

    code = "oauth_account_exists"


class IdentityTaken(OAuthError):
    """The provider account is linked to another user already."""

    code = "identity_taken"


class IdentityNotFound(OAuthError):
    """Not one of the caller's linked identities."""

    code = "identity_not_found"


class LastSignInMethod(OAuthError):
    """Unlinking this identity would leave the account no way to sign in (no password, no other)."""

    code = "last_sign_in_method"


class MailOff(FastAuthError):
    """The flow mails a code, and this server has neither a mail sender nor a mail hook."""

    code = "mail_off"


class InvalidChangeEmailToken(InvalidCode):
    """`POST /change-email/confirm` with a code that does not confirm."""

    code = "change_email_bad_token"
