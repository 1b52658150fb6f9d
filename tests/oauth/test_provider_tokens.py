"""The provider's own tokens (its access and refresh token): never stored unless `store_tokens`, and
then sealed at rest (AES-GCM under a key derived from `secret`, bound to the identity's id), so a copy of
the table gives nothing away and a sealed value moved to another identity does not open."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_oidc_flows import ALICE, tokens_for

from fastauth.errors import ConfigError
from fastauth.keys.sealing import unseal
from support.app import TEST_SECRET
from support.oidc import Issuer


async def identity_rows(app: Any) -> list[Any]:
    return await app.auth.service.store.list_identities(
        (await app.auth.service.store.get_user_by_email(ALICE)).id
    )


async def test_by_default_no_provider_token_is_stored(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    await tokens_for(app, issuer, "alice-sub")
    (identity,) = await identity_rows(app)
    assert identity.tokens_sealed is None


async def test_with_store_tokens_they_are_sealed_and_open_only_for_their_identity(
    mock_app: Any, issuer: Issuer
) -> None:
    app = await mock_app(provider={"store_tokens": True})
    issuer.set_user("alice-sub", ALICE)
    await tokens_for(app, issuer, "alice-sub")
    (identity,) = await identity_rows(app)
    sealed = identity.tokens_sealed
    assert sealed is not None and sealed.startswith("v1.")
    opened = json.loads(unseal(TEST_SECRET, f"identity:{identity.id}", sealed))
    assert set(opened) <= {"access_token", "refresh_token", "expires_at"}
    assert isinstance(opened["access_token"], str) and opened["access_token"] not in sealed
    with pytest.raises(ConfigError):  # bound to its identity: another id does not open it
        unseal(TEST_SECRET, "identity:another", sealed)
    with pytest.raises(ConfigError):  # and another secret does not either
        unseal("x" * 64, f"identity:{identity.id}", sealed)
