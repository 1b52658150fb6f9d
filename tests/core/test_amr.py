"""How and when a user signed in travel in every access token of the session (RFC 8176 `amr`, RFC 9068
`auth_time`): set at the sign-in, repeated by every refresh (never upgraded), out of a `modify_jwt`
hook's reach."""

from __future__ import annotations

from typing import Any

import pytest

from fastauth.errors import HookError
from fastauth.hooks import EventHooks
from fastauth.service import AuthService
from support.clock import Clock

EMAIL, PASSWORD = "ada@example.com", "correct horse battery"


async def test_a_password_sign_in_says_pwd_and_when(service: AuthService, clock: Clock) -> None:
    await service.create_user(EMAIL, PASSWORD)
    signed_in_at = int(clock())
    _, pair = await service.sign_in(EMAIL, PASSWORD)
    claims = (await service.authenticate(pair.access_token)).claims
    assert (claims["amr"], claims["auth_time"]) == (["pwd"], signed_in_at)


async def test_a_refresh_repeats_them_and_never_moves_auth_time(service: AuthService, clock: Clock) -> None:
    _, pair = await service.register(EMAIL, PASSWORD)
    signed_in_at = int(clock())
    for _ in range(3):
        clock.advance(600)
        _, pair = await service.refresh(pair.refresh_token)
        claims = (await service.authenticate(pair.access_token)).claims
        assert (claims["amr"], claims["auth_time"]) == (["pwd"], signed_in_at)
        assert claims["iat"] > signed_in_at


class Changes(EventHooks):
    def __init__(self, claim: str, value: Any) -> None:
        self.claim, self.value = claim, value

    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        if self.value is None:
            token.pop(self.claim, None)
        else:
            token[self.claim] = self.value
        return token


@pytest.mark.parametrize(
    ("claim", "value"),
    [("amr", ["pwd", "otp"]), ("amr", None), ("auth_time", 0), ("auth_time", None), ("amr", ["hwk"])],
)
async def test_a_hook_cannot_change_or_drop_them(make_service: Any, claim: str, value: Any) -> None:
    service = await make_service(hooks=Changes(claim, value))
    await service.create_user(EMAIL, PASSWORD)
    with pytest.raises(HookError, match=claim):
        await service.sign_in(EMAIL, PASSWORD)
