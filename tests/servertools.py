"""Moved to `tests/support/servers.py`; this name stays for the scripts in bench/ that import it."""

from support.servers import *  # noqa: F403
