"""Real processes and hostile key tricks for the key-store and verifier tests.

`fastauth serve` (`support.servers.fastauth_serve`) and the example microservice (`start_microservice`)
run as separate `support.servers.Process`es on 127.0.0.1; `running_clean` waits for them and, when the
test passed, checks that none logged a traceback. Hostile tokens are forged with `support.forge`, never
with the code under test; `Listener` is a tiny HTTP server in a thread that records every request it
gets (a stand-in for an attacker's URL, or a JWKS server whose hits are counted).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from support.b64 import b64
from support.forge import decode, forge
from support.servers import FASTAUTH, Process, clean_env, free_port, running

ROOT = Path(__file__).resolve().parents[2]
SECRET = "process-test-secret-" + "k" * 50
EXAMPLE_DIR = ROOT / "examples" / "microservice"


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """An ES256 auth server on `database_url`, rate limits off (tests log in often)."""
    values = {
        "FASTAUTH_SECRET": SECRET,
        "FASTAUTH_DATABASE_URL": database_url,
        "FASTAUTH_JWT__ALGORITHM": "ES256",
        "FASTAUTH_RATE_LIMIT_ENABLED": "false",
    }
    values.update(extra)
    return clean_env(**values)


def start_microservice(cwd: Path, jwks_url: str, **extra: str) -> Process:
    """The example microservice (examples/microservice/app.py) under uvicorn (not yet waited for)."""
    port = free_port()
    env = clean_env(JWKS_URL=jwks_url, JWT_ISSUER="fastauth", JWT_AUDIENCE="fastauth", **extra)
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "app:app",
        "--app-dir",
        str(EXAMPLE_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return Process(argv, cwd, env, port, name="microservice")


@contextmanager
def running_clean(*processes: Process) -> Iterator[tuple[Process, ...]]:
    """`support.servers.running`; then, when the test passed, no process may have logged a traceback."""
    with running(*processes):
        yield processes
    for process in processes:  # reached only when the test passed: no request may have crashed
        assert "Traceback" not in process.output, f"{process.argv[:3]} logged an error:\n{process.output}"


def cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert FASTAUTH
    return subprocess.run(
        [FASTAUTH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


# --- keys and hostile tokens --------------------------------------------------------------------


def ec_public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
    }


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    return b64(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


def hostile_variants(
    token: str, jwks: dict[str, Any], attacker: ec.EllipticCurvePrivateKey, listener_url: str
) -> dict[str, str]:
    """Tokens built from a real access token that a verifier must refuse: each a named attack.

    - `forged`: the real kid and alg, signed by another key;
    - `alg_confusion_pem`/`alg_confusion_jwk`: HS256 "signed" with the published public key (PEM text, or
      the JWK JSON) as the HMAC secret, with the real kid (jwt-security.md K7);
    - `embedded_jwk`: the attacker's public key in the `jwk` header (item 14);
    - `jku`/`x5u`: a URL of ours in the header, pointing at the attacker key (item 15);
    - `alg_none`: no signature at all.
    """
    from joserfc.jwk import import_key

    header, claims = decode(token)
    kid = header["kid"]
    published = next(key for key in jwks["keys"] if key["kid"] == kid)
    public_pem = import_key(published).as_pem(private=False)
    attacker_jwk = ec_public_jwk(attacker)
    attacker_kid = thumbprint(attacker_jwk)
    base = {"alg": "ES256", "kid": kid, "typ": "at+jwt"}
    return {
        "forged": forge(base, claims, "ES256", attacker),
        "alg_confusion_pem": forge({**base, "alg": "HS256"}, claims, "HS256", public_pem),
        "alg_confusion_jwk": forge(
            {**base, "alg": "HS256"}, claims, "HS256", json.dumps(published, separators=(",", ":")).encode()
        ),
        "embedded_jwk": forge({**base, "jwk": attacker_jwk}, claims, "ES256", attacker),
        "embedded_jwk_own_kid": forge(
            {**base, "kid": attacker_kid, "jwk": attacker_jwk}, claims, "ES256", attacker
        ),
        "jku": forge(
            {**base, "kid": attacker_kid, "jku": f"{listener_url}/jwks.json"}, claims, "ES256", attacker
        ),
        "jku_real_kid": forge({**base, "jku": f"{listener_url}/jwks.json"}, claims, "ES256", attacker),
        "x5u": forge({**base, "x5u": f"{listener_url}/cert.pem"}, claims, "ES256", attacker),
        "alg_none": b64(json.dumps({"alg": "none", "kid": kid, "typ": "at+jwt"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
        + ".",
    }


# --- a recording HTTP listener -------------------------------------------------------------------


class Listener:
    """An HTTP server in a thread: records every request path; answers `routes[path]` or 404.

    `routes` maps a path to (status, headers, body) or to a callable returning that, so a test can
    serve a JWKS (and count its fetches) or stand in for an attacker's URL (and assert zero hits).
    """

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.routes: dict[str, Any] = {}
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.hits.append(self.path)
                route = listener.routes.get(self.path.split("?")[0])
                if callable(route):
                    route = route()
                status, headers, body = route if route is not None else (404, {}, b"")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def listener() -> Iterator[Listener]:
    running_listener = Listener()
    try:
        yield running_listener
    finally:
        running_listener.close()
