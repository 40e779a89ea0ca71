"""The shape of the package: layers, no import cycles, small modules.

The folders say what runs where, and imports point one way::

    leaves (interfaces, exceptions, events, redact)
      <- application, context
      <- web <- worker <- config <- __init__
      <- integrations (transaction, metrics), testing, scripts
"""

import ast
from graphlib import CycleError, TopologicalSorter
import pathlib
import subprocess
import sys

import pytest

import pyramid_tasks

PACKAGE = pathlib.Path(pyramid_tasks.__file__).parent

#: The layer of each top-level module or package: a module imports only
#: from its own layer or lower ones.
LAYERS = {
    "interfaces": 0,
    "exceptions": 0,
    "events": 0,
    "redact": 0,
    "stopping": 0,
    "quiet": 0,
    "application": 1,
    "context": 1,
    "web": 2,
    "worker": 3,
    "config": 4,
    "__init__": 5,
    "settings": 5,
    "transaction": 6,
    "metrics": 6,
    "status": 6,
    "debugtoolbar": 6,
    "testing": 6,
    "scripts": 6,
    "outbox": 6,
    "contrib": 7,
}

#: The function-local imports of our modules: ``celery -A pyramid_tasks``
#: finds its bootstrap app in the package, lazily; ``ptasks`` imports the
#: outbox commands only when run for them, as they need SQLAlchemy, an
#: optional dependency.
LOCAL = {
    ("pyramid_tasks", "pyramid_tasks.scripts.preload"),
    ("pyramid_tasks.scripts.ptasks", "pyramid_tasks.outbox.commands"),
}

#: Third-party packages we import inside functions because they are
#: optional.
OPTIONAL = set()

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules():
    """``{module name: (path, is a package)}`` of every module of ours."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        package = parts[-1] == "__init__"
        name = ".".join(("pyramid_tasks", *parts[: -1 if package else None]))
        found[name] = (path, package)
    return found


MODULES = modules()


def imported(module, node):
    """The names an import statement imports, resolved to absolute ones."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module if MODULES[module][1] else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def import_nodes(module, local):
    """The import statements of a module: at module level, or inside
    functions."""
    tree = ast.parse(MODULES[module][0].read_text())
    functions = [
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
    ]
    inside = {
        id(node)
        for function in functions
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        and (id(node) in inside) == local
    ]


def graph(local):
    return {
        module: {
            name
            for node in import_nodes(module, local)
            for name in imported(module, node)
            if name in MODULES and name != module
        }
        for module in MODULES
    }


def layer(module):
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "__init__"]


def test_every_module_is_in_a_layer():
    assert {module.split(".")[1] for module in MODULES if "." in module} <= (
        set(LAYERS)
    )


def test_there_is_no_import_cycle_among_our_modules():
    edges = graph(local=False)
    for module, targets in graph(local=True).items():
        edges[module] |= targets
    try:
        tuple(TopologicalSorter(edges).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_imports_point_down_the_layers():
    upward = [
        f"{module} imports {target}"
        for module, targets in graph(local=False).items()
        for target in targets
        if layer(target) > layer(module)
    ]
    assert upward == []


def test_function_local_imports_are_only_the_bootstrap_and_optional_ones():
    ours = {
        (module, target)
        for module, targets in graph(local=True).items()
        for target in targets
    }
    assert ours == LOCAL
    theirs = {
        name.split(".")[0]
        for module in MODULES
        for node in import_nodes(module, local=True)
        if not getattr(node, "level", 0)
        for name in imported(module, node)[:1]
        if not name.startswith("pyramid_tasks")
    }
    assert theirs == OPTIONAL


def test_no_module_is_longer_than_the_limit():
    long = {
        module: lines
        for module, (path, _) in MODULES.items()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_the_limit():
    long = {
        f"{module}.{node.name}": node.end_lineno - node.lineno + 1
        for module, (path, _) in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert long == {}


def test_importing_the_package_loads_neither_celery_nor_click():
    code = (
        "import pyramid_tasks, sys; "
        "print(sorted(m for m in ('celery', 'click', 'concurrent.futures',"
        " 'kombu', 'pyramid.config') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_every_public_name_is_importable_and_listed():
    for name in pyramid_tasks.__all__:
        assert getattr(pyramid_tasks, name) is not None
    assert set(pyramid_tasks.__all__) <= set(dir(pyramid_tasks))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="'nothing'"):
        pyramid_tasks.nothing  # noqa: B018
