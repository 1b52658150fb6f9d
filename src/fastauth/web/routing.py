"""One router for all of fastauth's routes, matched behind a cheap path-prefix check.

An application declares its own routes after `auth.mount(app)`, so every request it serves would
first be tried against each fastauth route. `PrefixRouter.matches` answers "no" with one string
comparison per prefix for every path outside fastauth's, whatever FastAPI does with included routers;
the routes themselves, their names and the OpenAPI document are FastAPI's as usual.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

__all__ = ["PrefixRouter"]


class PrefixRouter(APIRouter):
    """An `APIRouter` that matches only paths starting with one of `prefixes` (or equal to one of
    `exact`); everything else is refused before any route is looked at."""

    def __init__(self, *, prefixes: tuple[str, ...], exact: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefixes = prefixes
        self.exact = frozenset(exact)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """`Match.NONE` at once for a path that cannot be fastauth's; FastAPI's matching otherwise."""
        path = get_route_path(scope)  # the path as Starlette's own matching sees it (root_path off)
        if not (path.startswith(self.prefixes) or path in self.exact):
            return Match.NONE, {}
        return super().matches(scope)
