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
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

__all__ = ["PrefixRouter", "include_guarded"]


class PrefixRouter(APIRouter):
    """An `APIRouter` that matches only paths starting with one of `prefixes` (or equal to one of
    `exact`); everything else is refused before any route is looked at."""

    def __init__(self, *, prefixes: tuple[str, ...], exact: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefixes = prefixes
        self.exact = frozenset(exact)

    def accepts(self, scope: Scope) -> bool:
        """Whether the request's path may be one of these routes' (one or two string comparisons)."""
        # The path as Starlette's own matching sees it: without the root_path, when there is one.
        path: str = get_route_path(scope) if scope.get("root_path") else scope["path"]
        return path.startswith(self.prefixes) or path in self.exact

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """`Match.NONE` at once for a path that cannot be fastauth's; FastAPI's matching otherwise."""
        if not self.accepts(scope):
            return Match.NONE, {}
        return super().matches(scope)


_guarded: dict[type[BaseRoute], type[BaseRoute]] = {}


def _guarded_class(cls: type[BaseRoute]) -> type[BaseRoute]:
    if cls not in _guarded:

        class Guarded(cls):  # type: ignore[valid-type, misc]
            """FastAPI's inclusion of a `PrefixRouter`, refusing other paths before any bookkeeping."""

            def matches(self, scope: Scope) -> tuple[Match, Scope]:
                if self.original_router.accepts(scope):
                    return super().matches(scope)  # type: ignore[no-any-return]
                return Match.NONE, {}

        Guarded.__name__ = Guarded.__qualname__ = cls.__name__
        _guarded[cls] = Guarded
    return _guarded[cls]


def include_guarded(router: APIRouter, group: PrefixRouter) -> None:
    """`router.include_router(group)`, with the prefix check in front of FastAPI's own matching.

    FastAPI (0.16x) keeps an inclusion as one route object, whose matching first records the
    inclusion in the request scope and only then asks the included router; every request to a path
    declared after `mount()` would pay for that. When FastAPI keeps it so, that one object is given
    the check first (its class stays a subclass of FastAPI's, so the OpenAPI document and `url_for`
    see it as before). A FastAPI that copies the routes instead keeps its own matching.
    """
    router.include_router(group)
    included = router.routes[-1]
    if getattr(included, "original_router", None) is group:
        included.__class__ = _guarded_class(type(included))
