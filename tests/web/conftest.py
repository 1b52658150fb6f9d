"""Fixtures for the HTTP flow tests (the app factory `make_app` lives in tests/conftest.py)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("webtools")

from webtools import Clock  # noqa: E402


@pytest.fixture
def clock() -> Clock:
    """A settable clock for `make_app(clock=...)`, starting at the real time."""
    return Clock()
