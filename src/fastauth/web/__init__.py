"""The FastAPI layer: `FastAuth(service)` mounts routers, the lifespan, the dependencies and the one
error table. It translates HTTP to service calls and errors to answers; it decides nothing."""

from fastauth.web.auth import FastAuth

__all__ = ["FastAuth"]
