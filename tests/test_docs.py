"""The documentation runs: every Python example in `docs/**/*.md` and `README.md` is executed, so no page
can drift from the code; the configuration reference must list every field; and the site must build with
`mkdocs build --strict`.

Code-block convention (the only one; `test_python_fences_follow_the_convention` enforces it):

- A fence opened with three backticks and ``python`` runs. Options after the language are fine, e.g.
  ``python title="app.py"``.
- A fence opened with three backticks and ``{.python .no-run}`` is shown exactly like Python (same
  highlighting, options such as ``title="app.py"`` allowed inside the braces) but is not run. Use it only
  for what cannot run here: a server, a database, a network. The attribute-list form is needed because
  Python-Markdown's fences render ``python no-run`` as plain text instead of code.
- Any other spelling of Python (``py``, ``python3``, ``pycon``, ``python no-run``, ...) fails the test,
  so an example can neither escape the test nor render broken.
- Other languages (``bash``, ``toml``, ``json``, ...) are never run.

How a page runs: its blocks run in order in ONE namespace (a page reads like one session: a block may use
what an earlier block of the same page defined), with ``__name__ == "__docs__"`` (so an
``if __name__ == "__main__":`` guard does not start anything). Each page starts from a fresh namespace, in
its own empty temporary working directory (files a page writes, like ``private.pem``, stay there), with
every ``FASTAUTH_*`` variable and the plain names ``SECRET_KEY``, ``ALGORITHM``,
``ACCESS_TOKEN_EXPIRE_MINUTES``, ``REFRESH_TOKEN_EXPIRE_DAYS`` removed from the environment, and the
environment restored afterwards (a page may set variables to show environment loading). Tracebacks point at
the line of the Markdown file. `FastAuthSecurityWarning` is expected in examples that show it and is not
reported.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from fastauth.config import AuthzConfig, FastAuthConfig, FastAuthSecurityWarning, JWTConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Opening or closing fence: indentation, backticks or tildes, info string.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
#: ```python, optionally with key="value" / key=value options.
_RUN = re.compile(r'^python(?:\s+[A-Za-z_][\w-]*=(?:"[^"]*"|\'[^\']*\'|\S+))*\s*$')
#: ```{.python .no-run ...} (attribute list; other classes and key="value" options allowed).
_NO_RUN = re.compile(r"^\{\s*\.python(?:\s+[^}]*)?\}\s*$")
_PYTHONISH = re.compile(r"^\{?\s*\.?(?:py|python|python3|py3|pycon|ipython|python-repl)\b", re.IGNORECASE)


def doc_pages() -> list[Path]:
    pages = sorted(DOCS.rglob("*.md"))
    readme = ROOT / "README.md"
    if readme.is_file():
        pages.append(readme)
    return pages


@dataclass(frozen=True)
class Fence:
    path: Path
    line: int  # 1-based line of the first line of code (after the opening fence)
    info: str
    code: str

    @property
    def runs(self) -> bool:
        return bool(_RUN.match(self.info))

    @property
    def skipped(self) -> bool:
        info = self.info.strip()
        return bool(_NO_RUN.match(info)) and ".no-run" in info.strip("{} \t").split()

    @property
    def looks_like_python(self) -> bool:
        return bool(_PYTHONISH.match(self.info.strip()))


def extract_fences(text: str, path: Path = Path("<text>")) -> list[Fence]:
    """Every fenced block of a Markdown text, indented ones (in lists, admonitions) included."""
    fences: list[Fence] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, marker, info = opening["indent"], opening["fence"], opening["info"].strip()
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (
                closing is not None
                and closing["fence"][0] == marker[0]
                and len(closing["fence"]) >= len(marker)
                and not closing["info"].strip()
            ):
                break
            body.append(lines[end])
            end += 1
        code = textwrap.dedent(
            "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in body)
        )
        fences.append(Fence(path, index + 2, info, code + "\n"))
        index = end + 1
    return fences


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


#: `clean_env` (tests/conftest.py): no configuration from the shell, an empty working directory.
pytestmark = pytest.mark.usefixtures("clean_env")


# --------------------------------------------------------------------------------------------------
# the harness itself


def test_extract_fences_follows_the_convention() -> None:
    sample = textwrap.dedent(
        """\
        # Page

        ```python
        a = 1
        ```

        ```python title="app.py"
        b = a + 1
        ```

        ```{.python .no-run title="server.py"}
        serve_forever()
        ```

        ```bash
        rm -rf /
        ```

        !!! note
            ```python
            c = b + 1
            ```

        ````python
        d = '''
        ```
        '''
        ````
        """
    )
    fences = extract_fences(sample)
    assert [(f.info, f.runs, f.skipped) for f in fences] == [
        ("python", True, False),
        ('python title="app.py"', True, False),
        ('{.python .no-run title="server.py"}', False, True),
        ("bash", False, False),
        ("python", True, False),
        ("python", True, False),
    ]
    assert fences[0].line == 4
    assert fences[4].code == "c = b + 1\n"
    assert "```" in fences[5].code
    namespace: dict[str, object] = {}
    for fence in fences:
        if fence.runs:
            exec(compile(fence.code, "<sample>", "exec"), namespace)
    assert namespace["c"] == 3


def test_bare_no_run_fence_is_shown_not_run() -> None:
    fences = extract_fences("```{.python .no-run}\nraise SystemExit\n```\n")
    assert [(f.runs, f.skipped) for f in fences] == [(False, True)]


@pytest.mark.parametrize(
    "info", ["py", "python3", "pycon", "python no-run", "{.py}", "Python", "python title=x no-run"]
)
def test_convention_refuses_other_python_spellings(info: str) -> None:
    (fence,) = extract_fences(f"```{info}\nx = 1\n```\n")
    assert fence.looks_like_python
    assert not fence.runs and not fence.skipped


# --------------------------------------------------------------------------------------------------
# the pages


def test_there_are_pages_with_examples() -> None:
    runnable = [
        fence for page in doc_pages() for fence in extract_fences(page.read_text(), page) if fence.runs
    ]
    assert len(runnable) >= 10


def test_python_fences_follow_the_convention() -> None:
    wrong = [
        f"{_relative(fence.path)}:{fence.line - 1}: ```{fence.info}"
        for page in doc_pages()
        for fence in extract_fences(page.read_text(encoding="utf-8"), page)
        if fence.looks_like_python and not (fence.runs or fence.skipped)
    ]
    assert not wrong, "use ```python (runs) or ```{.python .no-run} (shown only):\n" + "\n".join(wrong)


@pytest.mark.parametrize("page", doc_pages(), ids=_relative)
def test_page_examples_run(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for fence in extract_fences(page.read_text(encoding="utf-8"), page):
        if not fence.runs:
            continue
        # Leading blank lines make line numbers in tracebacks those of the Markdown file.
        code = compile("\n" * (fence.line - 1) + fence.code, str(page), "exec", dont_inherit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FastAuthSecurityWarning)
            try:
                exec(code, namespace)
            except BaseException as error:
                raise AssertionError(
                    f"the example at {_relative(page)}:{fence.line} failed: {type(error).__name__}: {error}"
                ) from error


# --------------------------------------------------------------------------------------------------
# the configuration reference


def _reference_rows(heading: str) -> dict[str, list[str]]:
    """`field -> cells` of the table under `## heading` in docs/configuration.md."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if line.startswith("|") else None
        if match:
            rows[match[1]] = cells
    return rows


def _documented_default(cell: str) -> object:
    match = re.match(r"`([^`]*)`", cell)
    assert match, f"default {cell!r} should start with a `literal`"
    return ast.literal_eval(match[1])


@pytest.mark.parametrize(
    ("model", "heading", "env_prefix"),
    [
        (FastAuthConfig, "`FastAuthConfig`", "FASTAUTH_"),
        (JWTConfig, "`JWTConfig`", "FASTAUTH_JWT__"),
        (AuthzConfig, "`AuthzConfig`", "FASTAUTH_AUTHZ__"),
    ],
    ids=["FastAuthConfig", "JWTConfig", "AuthzConfig"],
)
def test_configuration_reference_lists_every_field(model: type, heading: str, env_prefix: str) -> None:
    rows = _reference_rows(heading)
    fields = model.model_fields  # type: ignore[attr-defined]
    assert sorted(rows) == sorted(fields), (
        "docs/configuration.md must list exactly the fields of " + model.__name__
    )
    for name, field in fields.items():
        _, env, default, meaning = rows[name]
        assert f"`{env_prefix}{name.upper()}" in env, name
        assert meaning, name
        if field.is_required():
            assert default == "required", name
        elif field.default_factory is not None:
            assert default == f"`{field.default_factory.__name__}()`", name
        else:
            assert _documented_default(default) == field.default, name


# --------------------------------------------------------------------------------------------------
# the site


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install 'mkdocs-material>=9.5', part of the test extra)")
    if importlib.util.find_spec("material") is None:
        pytest.skip("the mkdocs-material theme is not installed (pip install 'mkdocs-material>=9.5')")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index", "configuration", "jwt", "security", "cli"):
        built = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert built.is_file(), page
