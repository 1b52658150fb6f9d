"""A clock a test moves by hand."""

from __future__ import annotations

import time


class Clock:
    """Whole seconds (like the key store's times), starting at the real time unless told otherwise.

    Pass it as `make_app(clock=...)`, or to a key manager or verifier.
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time() if start is None else start))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
