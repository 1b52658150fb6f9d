"""What each layer may import (docs/architecture.md), read from the source: the core knows nothing of
FastAPI, `tokens/` knows nothing of keys or storage, no CLI command but `serve` reaches the web layer.

Imports are found with `ast`, at module level and inside functions alike; those under
`if TYPE_CHECKING:` are for the type checker only and do not count.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "fastauth"

WEB = ("fastapi", "starlette", "fastauth.web", "fastauth.ui", "fastauth.server", "fastauth.dependencies")
#: module prefix -> (imports it must not make, the modules the rule exempts)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # The core: framework-free (the verifier builds its FastAPI dependency on first use only).
    "fastauth.errors": (WEB, ()),
    "fastauth.config": (WEB, ()),
    "fastauth.devmode": (WEB, ()),
    "fastauth.hooks": (WEB, ()),
    # The application's user fields: read by storage, the service and the web layer alike.
    "fastauth.fields": (
        (*WEB, "fastauth.service", "fastauth.sessions", "fastauth.accounts", "fastauth.storage"),
        (),
    ),
    "fastauth.passwords": (WEB, ()),
    "fastauth.accounts": (WEB, ()),
    "fastauth.sessions": (WEB, ()),
    "fastauth.revocation": (WEB, ()),
    "fastauth.ratelimits": (WEB, ()),
    "fastauth.service": (WEB, ()),
    "fastauth.audit": ((*WEB, "fastauth.service", "fastauth.sessions", "fastauth.accounts"), ()),
    "fastauth.storage": ((*WEB, "fastauth.service", "fastauth.sessions", "fastauth.accounts"), ()),
    "fastauth.keys": ((*WEB, "fastauth.service", "fastauth.sessions"), ()),
    "fastauth.mail": ((*WEB, "fastauth.service"), ()),
    # Second factors and sign-in providers: below the service, never the web layer. Passkeys keep
    # their ceremonies in a store, through its protocol and records only (storage/base.py).
    "fastauth.mfa": (
        (
            *WEB,
            "fastauth.service",
            "fastauth.sessions",
            "fastauth.accounts",
            "fastauth.storage.sqlalchemy",
            "fastauth.storage.memory",
            "fastauth.storage.redis",
        ),
        (),
    ),
    "fastauth.oauth": ((*WEB, "fastauth.service", "fastauth.sessions", "fastauth.accounts"), ()),
    "fastauth.tokens": (
        (
            *WEB,
            "fastauth.keys",
            "fastauth.storage",
            "fastauth.service",
            "fastauth.sessions",
            "fastauth.accounts",
        ),
        (),
    ),
    # Roles, permissions, API keys: below the service, on the errors and the store's protocol and
    # records (storage/base.py) only, so any store and any front end can use them.
    "fastauth.authz": (
        (
            *WEB,
            "fastauth.service",
            "fastauth.sessions",
            "fastauth.accounts",
            "fastauth.audit",
            "fastauth.config",
            "fastauth.hooks",
            "fastauth.keys",
            "fastauth.mail",
            "fastauth.mfa",
            "fastauth.oauth",
            "fastauth.tokens",
            "fastauth.ratelimits",
            "fastauth.revocation",
            "fastauth.storage.sqlalchemy",
            "fastauth.storage.memory",
            "fastauth.storage.redis",
            "fastauth.cli",
        ),
        (),
    ),
    # The web layer builds on the service, never on the CLI.
    "fastauth.web": (("fastauth.cli",), ()),
    # Commands: only `serve` runs the web application.
    "fastauth.cli": (WEB, ("fastauth.cli.serve",)),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _forbidden(module: str) -> tuple[str, ...]:
    for prefix, (forbidden, exempt) in RULES.items():
        if (module == prefix or module.startswith(prefix + ".")) and module not in exempt:
            return forbidden
    return ()


def _hits(imported: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in imported if any(name == f or name.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _module_name(p))
def test_module_imports_only_what_its_layer_may(path: Path) -> None:
    module = _module_name(path)
    assert _hits(_imports(path), _forbidden(module)) == []


def test_the_rules_are_not_vacuous() -> None:
    """The checker sees imports: the web layer imports FastAPI, serve the server, the service the core."""
    assert _hits(_imports(PACKAGE / "web" / "auth.py"), ("fastapi",)) == ["fastapi", "fastapi.FastAPI"]
    assert "fastauth.server" in {n.rsplit(".", 1)[0] for n in _imports(PACKAGE / "cli" / "serve.py")} | set(
        _imports(PACKAGE / "cli" / "serve.py")
    )
    assert "fastauth.sessions" in _imports(PACKAGE / "service.py")
    authz = set().union(*(_imports(path) for path in (PACKAGE / "authz").glob("*.py")))
    assert {name.split(".")[1] for name in authz if name.startswith("fastauth.")} == {
        "authz",
        "errors",
        "storage",
    }
    storage = {name for name in authz if name.startswith("fastauth.storage")}
    assert storage and all(name.startswith("fastauth.storage.base") for name in storage)


def test_the_service_runs_without_fastapi_or_starlette() -> None:
    """Importing the service and running a sign-in, a refresh and `end_session` loads neither."""
    code = """
import asyncio, sys
from fastauth import FastAuthConfig
from fastauth.passwords import Argon2Params, PasswordHasher
from fastauth.service import AuthService
from fastauth.storage.memory import MemoryStore

async def main():
    service = AuthService.from_config(
        FastAuthConfig(secret="s" * 64), store=MemoryStore(),
        password_hasher=PasswordHasher(Argon2Params(time_cost=1, memory_cost=1024, parallelism=1)),
    )
    await service.startup()
    await service.create_user("ada@example.com", "correct horse battery")
    user, pair = await service.sign_in("ada@example.com", "correct horse battery")
    user, pair = await service.refresh(pair.refresh_token)
    await service.end_session(user, pair.session_id)
    await service.aclose()

asyncio.run(main())
loaded = {"fastapi", "starlette"} & {name.split(".")[0] for name in sys.modules}
print(sorted(loaded))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
