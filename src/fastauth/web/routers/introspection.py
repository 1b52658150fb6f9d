"""(being written)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

from fastauth.web.errors import AnsweringRoute

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build"]


def build(auth: FastAuth) -> APIRouter:
    """The routes of this module."""
    return APIRouter(route_class=AnsweringRoute)
