"""FastAPI glue: routes, transports, dependencies. No security logic lives here."""

from fastauth.web.auth import FastAuth

__all__ = ["FastAuth"]
