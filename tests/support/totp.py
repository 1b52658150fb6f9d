"""The real clock's TOTP time step, for tests whose servers run on the real clock.

Enrolment confirms with the code of the step before now, so the current step's code stays fresh for
the sign-in that follows. Near the end of a step the confirmation could reach the server in the next
one, where "the step before" is two steps back and outside the ±1 drift window; `settled_step` waits
that edge out instead of letting the test fail once in a while.
"""

from __future__ import annotations

import time

from fastauth.mfa import STEP

EDGE = 8  # seconds before a step ends in which a request may land in the next step on a loaded machine


def now_step() -> int:
    return int(time.time()) // STEP


def settled_step() -> int:
    """The current step, after waiting out its last `EDGE` seconds if we are in them."""
    into = time.time() % STEP
    if into > STEP - EDGE:
        time.sleep(STEP - into + 0.05)
    return now_step()
