"""Authorization: roles and their permissions, the principal of a request, API keys.

No FastAPI here: `fastauth.web` turns these into dependencies (`require_permissions`, ...).
"""

from fastauth.authz.api_keys import API_KEY_PREFIX, ApiKeys, looks_like_api_key
from fastauth.authz.permissions import (
    ADMIN,
    BUILTIN_PERMISSIONS,
    INTROSPECT,
    REVOKE,
    Principal,
    check_permission,
    check_role_name,
)
from fastauth.authz.roles import Roles

__all__ = [
    "ADMIN",
    "API_KEY_PREFIX",
    "BUILTIN_PERMISSIONS",
    "INTROSPECT",
    "REVOKE",
    "ApiKeys",
    "Principal",
    "Roles",
    "check_permission",
    "check_role_name",
    "looks_like_api_key",
]
