"""Integrations with other libraries, each in its own module and imported only when you ask for it.

- `fastauth.contrib.fastapi_users`: `JWTStrategy`, a drop-in for fastapi-users' strategy of that name
  (needs the optional extra: `pip install 'fastauth[fastapi-users]'`).

Nothing here is imported by `import fastauth`, so an optional dependency is never loaded by accident.
"""

__all__: list[str] = []
