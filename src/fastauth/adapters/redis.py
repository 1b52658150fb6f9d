"""Deprecated: moved to `fastauth.storage.redis`."""

from fastauth.storage.redis import RedisRevocationList, redis_client

__all__ = ["RedisRevocationList", "redis_client"]
