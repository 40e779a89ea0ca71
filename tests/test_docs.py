"""The documentation cannot rot: its examples run, its API covers
``pyramid_tasks.__all__``, and the README stays a short front page.

Each page's ``testsetup``, ``testcode``/``testoutput`` and ``doctest``
blocks (:mod:`sphinx.ext.doctest`'s directives) run here, in one
namespace per page and in page order, the way ``sphinx-build -b doctest``
runs them, without building the site. A ``code-block:: python`` is for
fragments that cannot run alone: it must compile, and its imports must
import. The full Sphinx build (``make docs``, warnings as errors) runs in
``.ci/run``.
"""

from __future__ import annotations

import ast
from contextlib import redirect_stdout
from dataclasses import dataclass
import doctest
import io
import linecache
import pathlib
import re
import sys
import textwrap
import types

import pytest

import pyramid_tasks

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(
    path
    for path in DOCS.rglob("*.rst")
    if "_build" not in path.relative_to(DOCS).parts
)

_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?P<name>[\w:-]+)::(?P<arg>.*)$")
_RUNNABLE = ("testsetup", "testcode", "testoutput", "doctest", "testcleanup")


@dataclass
class Block:
    """One directive of a page: its name, argument, body and line."""

    page: pathlib.Path
    line: int
    name: str
    arg: str
    body: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: pathlib.Path) -> list[Block]:
    """The directives of ``page`` with their bodies, in page order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        body = []
        index = number + 1
        # Options (``:hide:``) come first, right under the directive.
        while index < len(lines) and re.match(
            rf"^ {{{indent + 1},}}:[\w-]+:", lines[index]
        ):
            index += 1
        for text in lines[index:]:
            if text.strip() and len(text) - len(text.lstrip()) <= indent:
                break
            body.append(text)
        found.append(
            Block(
                page,
                number + 1,
                match["name"],
                match["arg"].strip(),
                textwrap.dedent("\n".join(body)).strip("\n") + "\n",
            )
        )
    return found


def _page_id(page: pathlib.Path) -> str:
    return str(page.relative_to(DOCS))


def _pages_with(*names: str) -> list[pathlib.Path]:
    return [
        page
        for page in PAGES
        if any(block.name in names for block in blocks(page))
    ]


def _run_code(block: Block, namespace: dict) -> str:
    out = io.StringIO()
    # Tracebacks, and Pyramid's ``view_config`` (it reads the line it
    # decorates), find the example's source under its page and line.
    filename = f"<{block.where()}>"
    lines = block.body.splitlines(keepends=True)
    linecache.cache[filename] = (len(block.body), None, lines, filename)
    with redirect_stdout(out):
        code = compile(block.body, filename, "exec")
        exec(code, namespace)  # noqa: S102 (the docs' own examples)
    return out.getvalue()


def _run_doctest(block: Block, namespace: dict) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.body, namespace, block.where(), str(block.page), block.line
    )
    report = io.StringIO()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    runner.run(test, out=report.write, clear_globs=False)
    assert not runner.failures, report.getvalue()


@pytest.mark.parametrize(
    "page", _pages_with("testcode", "doctest"), ids=_page_id
)
def test_the_examples_of_each_page_run(page, monkeypatch):
    """Setups first, then every example and its output, then cleanups.

    The page runs as a module of its own, so ``config.scan()`` and the
    ``@task`` decorator work in its examples as in an application.
    """
    name = re.sub(r"\W", "_", str(page.relative_to(DOCS).with_suffix("")))
    module = types.ModuleType(f"docs_{name}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    page_blocks = [b for b in blocks(page) if b.name in _RUNNABLE]
    order = {"testsetup": 0, "testcleanup": 2}
    page_blocks.sort(key=lambda block: order.get(block.name, 1))
    printed = None
    for block in page_blocks:
        if block.name == "testoutput":
            assert printed is not None, f"{block.where()}: output of what?"
            assert printed.strip() == block.body.strip(), block.where()
            printed = None
        elif block.name == "doctest":
            _run_doctest(block, namespace)
        else:
            printed = _run_code(block, namespace)


@pytest.mark.parametrize("page", _pages_with("code-block"), ids=_page_id)
def test_the_python_fragments_compile_and_their_imports_import(page):
    """Imports of the stack we document must work; others (Django in a
    comparison) are only compiled."""
    for block in blocks(page):
        if block.name != "code-block" or block.arg != "python":
            continue
        tree = ast.parse(block.body, block.where())
        imports = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and _ours(node)
        ]
        module = ast.Module(body=imports, type_ignores=[])
        exec(compile(module, block.where(), "exec"), {})  # noqa: S102


#: The packages whose imports the fragments must get right.
_STACK = {"pyramid_tasks", "pyramid", "celery", "sqlalchemy", "zope"}


def _ours(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        names = [node.module or ""]
    else:
        names = [alias.name for alias in node.names]
    return any(name.split(".")[0] in _STACK for name in names)


def _documented_names() -> set[str]:
    """Fully qualified names the API reference documents."""
    names = set()
    for page in (DOCS / "api").glob("*.rst"):
        current = None
        for block in blocks(page):
            if block.name in ("currentmodule", "py:currentmodule", "module"):
                current = block.arg
            elif block.name.startswith(("auto", "py:")):
                target = block.arg.split("(")[0].strip()
                if "." not in target and current:
                    target = f"{current}.{target}"
                names.add(target)
    return names


def test_every_public_name_is_in_the_api_reference():
    documented = _documented_names()
    missing = [
        name
        for name in pyramid_tasks.__all__
        if f"pyramid_tasks.{name}" not in documented
    ]
    assert missing == []


def test_every_public_name_has_a_docstring():
    """autodoc shows nothing for a name without one."""
    constants = {"INGRESS", "TASK"}  # documented by ``#:`` comments
    bare = [
        name
        for name in pyramid_tasks.__all__
        if name not in constants
        and not (getattr(pyramid_tasks, name).__doc__ or "").strip()
    ]
    assert bare == []


def test_every_page_is_reachable_from_the_index():
    """Sphinx warns too, but only on a full build."""
    linked = set()
    for page in PAGES:
        for block in blocks(page):
            if block.name == "toctree":
                base = page.parent.relative_to(DOCS)
                for entry in block.body.split():
                    if not entry.startswith(":"):
                        path = entry.lstrip("/")
                        target = path if entry.startswith("/") else base / path
                        linked.add(pathlib.PurePath(target).as_posix())
    pages = {
        page.relative_to(DOCS).with_suffix("").as_posix()
        for page in PAGES
        if page.name != "index.rst" or page.parent != DOCS
    }
    assert pages - linked == set()


README = ROOT / "README.md"


def test_the_readme_is_a_front_page_under_12_kb():
    assert README.stat().st_size < 12 * 1024


def test_the_readme_commands_are_the_makefile_targets():
    """The two commands that work on a fresh machine."""
    text = README.read_text(encoding="utf-8")
    commands = re.findall(r"^make (\w+)$", text, re.MULTILINE)
    assert commands == ["demo", "test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in commands:
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target


def test_the_readme_links_into_the_docs_exist():
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\((?!https?://|#)([^)#]+)", text)
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []
