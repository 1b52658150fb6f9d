"""The linking policy: which account a provider sign-in reaches, decided from facts only.

Safe by default (account-security §4; Sudhodanan & Paverd's pre-hijacking attacks):

- a known identity (issuer, subject) signs in its own account, whatever the address says now;
- a link flow (started by a signed-in, verified user) attaches the identity to that user, unless it
  belongs to someone else already;
- otherwise the address decides only when the provider verified it: no account has it → a new,
  verified account without a password; an account has it → refused (`AccountExists`: sign in as usual
  and link from the account), unless the provider opts into implicit linking **and** the local account
  is verified too, and then the merge removes the local password and ends its sessions;
- an address the provider did not verify never creates or matches an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastauth.errors import AccountExists, IdentityTaken, ProviderEmailUnverified
from fastauth.oauth.providers import ProviderIdentity
from fastauth.storage.base import IdentityRecord, User

__all__ = ["Decision", "decide"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What the sign-in does: sign the known user in, create an account, link to `user`, or merge
    into `user` (implicit linking: password removed, sessions ended first)."""

    action: Literal["sign_in", "create", "link", "merge"]
    user: User | None = None


def decide(
    identity: ProviderIdentity,
    *,
    known: IdentityRecord | None,
    known_user: User | None,
    same_email: User | None,
    link_to: User | None,
    implicit_linking: bool,
) -> Decision:
    """The decision for a callback whose provider proved `identity`.

    `known`/`known_user`: the identity's record and its user, if linked; `same_email`: the account with
    the provider's address (normalised), if any; `link_to`: the signed-in user of a link flow;
    `implicit_linking`: the provider's `link_verified_email`. Raises `IdentityTaken`, `AccountExists`
    or `ProviderEmailUnverified` for what is refused.
    """
    if link_to is not None:
        if known is not None and known.user_id != link_to.id:
            raise IdentityTaken("this provider account is linked to another user")
        return Decision("sign_in" if known is not None else "link", link_to)
    if known is not None and known_user is not None:
        return Decision("sign_in", known_user)
    if not identity.email_verified or identity.email is None:
        raise ProviderEmailUnverified(f"{identity.provider} has not verified the address")
    if same_email is None:
        return Decision("create")
    if implicit_linking and same_email.is_verified:
        return Decision("merge", same_email)
    raise AccountExists(f"{identity.provider}: an account has this address; sign in and link it")
