"""Fixtures for the HTTP flow tests (the app factory `make_app` lives in tests/conftest.py)."""

from __future__ import annotations

import pytest

from support.clock import Clock


@pytest.fixture
def clock() -> Clock:
    """A settable clock for `make_app(clock=...)`, starting at the real time."""
    return Clock()
