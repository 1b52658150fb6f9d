"""The public surface, read from the source: every module lists its public names in `__all__`, and what
other modules import from it is in that list; every public class, function and method has a docstring;
the docs and examples import only public names of public modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "fastauth"


def _name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


MODULES = {
    _name(path): ast.parse(path.read_text(encoding="utf-8"))
    for path in sorted(PACKAGE.rglob("*.py"))
    if "migrations" not in path.parts
}


def _private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def _all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            assert isinstance(value, ast.List | ast.Tuple)
            return [element.value for element in value.elts if isinstance(element, ast.Constant)]
    return None


def _imported_from(module: str) -> set[tuple[str, str]]:
    """(name, importer) for every `from module import name` elsewhere in the package."""
    found = set()
    for importer, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == module:
                found |= {(alias.name, importer) for alias in node.names}
    return found


PUBLIC = [module for module in MODULES if not _private(module)]


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_module_lists_its_names(module: str) -> None:
    tree = MODULES[module]
    names = _all(tree)
    assert names is not None, f"{module} has no __all__"
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
    }
    assert defined <= set(names), f"{module}: public but not in __all__: {sorted(defined - set(names))}"
    wanted = {
        (name, importer)
        for name, importer in _imported_from(module)
        if not name.startswith("_") and f"{module}.{name}" not in MODULES
    }
    missing = sorted(f"{name} (by {importer})" for name, importer in wanted if name not in names)
    assert missing == [], f"{module}: imported but not in __all__: {missing}"


def _undocumented(tree: ast.Module) -> list[str]:
    found = []
    for node in tree.body:
        if not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ) or node.name.startswith("_"):
            continue
        if ast.get_docstring(node) is None:
            found.append(node.name)
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if not isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) or member.name.startswith(
                    "_"
                ):
                    continue
                if any(
                    ast.unparse(d).endswith((".setter", ".deleter", "override"))
                    for d in member.decorator_list
                ):
                    continue
                if ast.get_docstring(member) is None:
                    found.append(f"{node.name}.{member.name}")
    return found


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_has_a_docstring(module: str) -> None:
    assert _undocumented(MODULES[module]) == []


_IMPORT = re.compile(r"^\s*from (fastauth[\w.]*) import \(?([\w, \n]+?)\)?\s*(?:#.*)?$", re.MULTILINE)


#: A code block showing the seed project FastAuth's code (its package is named `fastauth` too), whose
#: imports are that project's: its opening fence's title says "with the seed project".
_SEED_BLOCK = re.compile(r"^```\{[^}\n]*with the seed project[^}\n]*\}\n.*?^```", re.MULTILINE | re.DOTALL)


def _doc_imports() -> list[tuple[str, str, str]]:
    found = []
    for path in [*sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "examples").rglob("*.py"))]:
        text = _SEED_BLOCK.sub("", path.read_text(encoding="utf-8"))
        for module, names in _IMPORT.findall(text):
            for name in names.replace("\n", " ").split(","):
                if name.strip():
                    found.append((str(path.relative_to(ROOT)), module, name.split()[0]))
    return found


def test_the_docs_and_examples_import_only_public_names() -> None:
    wrong = []
    for where, module, name in _doc_imports():
        tree = MODULES.get(module)
        if tree is None:
            wrong.append(f"{where}: {module} is no module")
            continue
        names = _all(tree) or []
        if _private(module) or (name not in names and f"{module}.{name}" not in MODULES):
            wrong.append(f"{where}: from {module} import {name}")
    assert wrong == []
    assert len(_doc_imports()) > 20  # the docs do import things: the check looked at them
