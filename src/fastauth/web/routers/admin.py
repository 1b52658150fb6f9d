"""`GET /admin/audit`: the audit log, for superusers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query, Response

from fastauth.storage.base import User
from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import AUTH, answers, no_store
from fastauth.web.schemas import AuditOut
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["MAX_LIMIT", "build"]

#: The most records one request reads.
MAX_LIMIT = 500
#: The largest `before` a database column (BIGINT) compares with.
_MAX_BIGINT = 2**63 - 1


def build(auth: FastAuth) -> APIRouter:
    """The administration routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service

    @router.get(
        "/admin/audit",
        response_model=list[AuditOut],
        responses=answers(*AUTH, "permission_denied", "invalid_body", extra={200: no_store("The records")}),
    )
    async def audit(
        response: Response,
        user_id: str | None = Query(None, description="Only this user's records."),
        before: int | None = Query(
            None, ge=0, le=_MAX_BIGINT, description="Only records older than this (epoch seconds)."
        ),
        limit: int = Query(100, ge=1, le=MAX_LIMIT, description="At most this many records."),
        _: User = Depends(auth.get_current_superuser),
    ) -> list[AuditOut]:
        """The audit log, newest first (401 without a token, 403 for anyone but a superuser)."""
        response.headers.update(NO_STORE)
        records = await service.audit.read(user_id=user_id, before=before, limit=limit)
        return [AuditOut.of(record) for record in records]

    return router
