"""Fixtures for the scale tests (real processes: see servertools.py; domain helpers: proctools.py)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("proctools")
