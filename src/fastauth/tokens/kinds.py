"""Every kind of token fastauth issues, in one table: its `typ` header, `type` claim, lifetime and verifiers.

Each kind is verified only as itself: its `typ` header and its `type` claim must both be its own, and no
two kinds share a name or a `typ` (checked when a table is built), so an access token never passes
where a refresh token is expected, nor the other way round, nor any kind added later. Pure data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from fastauth.errors import ConfigError

__all__ = ["ACCESS", "KINDS", "MFA", "REFRESH", "TokenKind", "Verifier", "kind_table"]

#: Who may accept a kind: "server" is the auth server itself (`TokenEngine`, the session layer);
#: "resource" is another service holding only the public keys (`JWKSVerifier`, the fastapi-users strategy).
Verifier: TypeAlias = Literal["server", "resource"]


@dataclass(frozen=True, slots=True)
class TokenKind:
    """One token kind: the `type` claim `name`, the `typ` it is written with, and who may verify it."""

    #: The `type` claim, and the name callers ask for (`engine.verify(token, "access")`).
    name: str
    #: The `typ` header written (RFC 8725 §3.11 explicit typing).
    typ: str
    #: The `JWTConfig` attribute holding the lifetime in seconds (`None` there: no `exp`).
    ttl_setting: str
    #: Who may accept it.
    verified_by: frozenset[Verifier]
    #: Every `typ` accepted, lower-case (media types compare case-insensitively; RFC 9068 §2.1 also
    #: allows the `application/` prefix). Derived from `typ`.
    accepted_typs: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        typ = self.typ.lower()
        object.__setattr__(self, "accepted_typs", frozenset({typ, "application/" + typ}))


def kind_table(kinds: Iterable[TokenKind]) -> dict[str, TokenKind]:
    """Name -> kind; `ConfigError` if two kinds share a name or an accepted `typ` (they could be confused)."""
    table: dict[str, TokenKind] = {}
    seen: set[str] = set()
    for kind in kinds:
        if kind.name in table or seen & kind.accepted_typs:
            raise ConfigError(f"token kind {kind.name!r} shares its name or typ with another kind")
        table[kind.name] = kind
        seen |= kind.accepted_typs
    return table


ACCESS = "access"
REFRESH = "refresh"
#: Between a first factor and the second: names the user and the challenge, grants nothing else.
MFA = "mfa"

#: The kinds fastauth issues. A new purpose token (an MFA challenge, say) is one more row.
KINDS: Mapping[str, TokenKind] = kind_table(
    (
        TokenKind(ACCESS, "at+jwt", "access_token_ttl", frozenset({"server", "resource"})),  # RFC 9068
        TokenKind(REFRESH, "rt+jwt", "refresh_token_ttl", frozenset({"server"})),
        TokenKind(MFA, "mfa+jwt", "mfa_token_ttl", frozenset({"server"})),
    )
)
