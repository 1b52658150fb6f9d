"""A provider sign-in says so in its tokens: `amr` is `["fed"]` (RFC 8176: federated), with its
`auth_time`, and a refresh keeps both."""

from __future__ import annotations

from typing import Any

from test_oidc_flows import ALICE, tokens_for

from support.oidc import Issuer


async def test_a_provider_sign_in_is_fed_and_a_refresh_keeps_it(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    tokens = await tokens_for(app, issuer, "alice-sub")
    service = app.auth.service
    first = (await service.authenticate(tokens["access_token"])).claims
    assert first["amr"] == ["fed"] and isinstance(first["auth_time"], int)
    _, pair = await service.refresh(tokens["refresh_token"])
    again = (await service.authenticate(pair.access_token)).claims
    assert (again["amr"], again["auth_time"]) == (["fed"], first["auth_time"])
