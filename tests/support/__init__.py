"""Helpers shared by the test modules (fixtures stay in the conftest files).

Importable as `support` because pytest puts `tests/` on `sys.path` (the root conftest lives there, and
`tests/` is not a package); its asserts are rewritten (tests/conftest.py registers it).

- `support.clock`: `Clock`, a clock a test moves by hand.
- `support.b64`: canonical unpadded base64url, written with `base64` alone.
- `support.forge`: tokens by hand (`sign_raw`, `forge`, changed copies of a real token) and unverified
  decoding, with `hmac`/`cryptography` directly, never with the code under test.
- `support.http`: what the HTTP flow tests send and expect (`bearer`, the error bodies, Set-Cookie
  parsing, `login` through an ASGI client).
- `support.app`: the test app (`build_app`, `AuthApp`, `make_config`) behind the `make_app` fixture.
- `support.servers`: free ports, clean environments, PostgreSQL clusters, Redis servers and
  `fastauth serve` as real processes, and plain HTTP against a running server (`register`, `login`,
  `me_status`, `jwks_kids`). bench/ loads it too (bench/_support.py).
- `support.keys`: the key-store and verifier tests' domain (an ES256 server, the example
  microservice, hostile key tricks, a recording HTTP listener).
- `support.scale`: the scale tests' domain (a production-like configuration, who owns a socket).
"""
