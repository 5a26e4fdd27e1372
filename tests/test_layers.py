"""The project's layers, read from the source with ast (nothing is imported): imports go one
way, and no module or function grows past what a reader takes in at once.

The import graph follows what Python does when a module is imported:
- an import inside a function counts: it runs when the function does, and a circle through
  it fails, or meets a half-initialised module, just the same;
- an import under `if TYPE_CHECKING:` does not: it never runs;
- importing a.b.c imports a and a.b first, so every module depends on the packages above it,
  and a package __init__ that imports its own submodules is in a circle with them;
- `importlib.import_module("a.b")` with a written name is an import like any other.

One exception, allowed by name: the PEP 562 module-level `__getattr__` of a package
`__init__` (pipeline/__init__.py re-exports the public API that way, and
pipeline/synthesizers/__init__.py its generators). It runs only on attribute access, after the
package is initialised, so what it imports never finds the package half-made; it lets
`import pipeline` stay cheap without the package importing torch or its own modules up front.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "flows")
FUNCTION_LINES = 80  # from `def` to the last line, decorators aside
MODULE_LINES = 500
FLOW_FILE, FLOW_LINES = "flows/augment.py", 250  # the flow is wiring; the work is in pipeline/


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the packages."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _written_imports(nodes, in_init: bool, strict: bool, top: bool = True):
    """Import statements and import_module("...") calls among `nodes` and under them; unless
    `strict`, without the bodies of `if TYPE_CHECKING:` and a package __init__'s module-level
    __getattr__."""
    for node in nodes:
        if not strict and isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _written_imports(node.orelse, in_init, strict, top=False)
            continue
        if not strict and top and in_init and isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)) or (isinstance(node, ast.Call) and _import_module_name(node)):
            yield node
        yield from _written_imports(ast.iter_child_nodes(node), in_init, strict, top=False)


def _import_module_name(call: ast.Call) -> str | None:
    """The written name of importlib.import_module("x") or __import__("x"), else None."""
    func = call.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )
    if named and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def imported_names(name: str, path: Path, strict: bool = False) -> dict[str, int]:
    """Every dotted name `name`'s imports load (a.b.c counts a, a.b and a.b.c), with a line."""
    in_init = path.name == "__init__.py"
    out: dict[str, int] = {}
    for node in _written_imports(ast.parse(path.read_text(encoding="utf-8")).body, in_init, strict):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if in_init else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            targets = [_import_module_name(node)]
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                out.setdefault(".".join(parts[:i]), node.lineno)
    return out


def import_graph(found: dict[str, Path]) -> dict[str, dict[str, int | None]]:
    """Module -> the project's modules it loads, with the line (None: a package above it)."""
    graph: dict[str, dict[str, int | None]] = {}
    for name, path in found.items():
        edges: dict[str, int | None] = {d: line for d, line in imported_names(name, path).items() if d in found}
        parts = name.split(".")
        for above in (".".join(parts[:i]) for i in range(1, len(parts))):
            if above in found:  # a folder without __init__.py (a namespace package) runs no code
                edges.setdefault(above, None)
        edges.pop(name, None)
        graph[name] = edges
    return graph


def tangles(graph: dict[str, dict[str, int | None]]) -> list[list[str]]:
    """The groups of modules that each reach every other of the group (Tarjan's strongly
    connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def circles(graph: dict[str, dict[str, int | None]]) -> list[list[str]]:
    """One circle through each tangle, as a path from its first module back to it."""
    return [_path_back(graph, group) for group in tangles(graph)]


def _path_back(graph: dict[str, dict[str, int | None]], group: list[str]) -> list[str]:
    """The shortest way from the group's first module back to itself, inside the group."""
    start, inside = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(set(graph[v]) & inside):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in came_from:
                    came_from[w] = v
                    following.append(w)
        frontier = following
    return group


def _shown(graph: dict[str, dict[str, int | None]], circle: list[str]) -> str:
    steps = [circle[0]]
    for a, b in zip(circle, circle[1:]):
        line = graph[a][b]
        steps.append(f"-> {b} ({'a package above it' if line is None else f'line {line} of {a}'})")
    return " ".join(steps)


def test_no_import_circle():
    graph = import_graph(modules(ROOT))
    found = [
        f"{_shown(graph, _path_back(graph, group))}\n  (the modules that reach each other here: {', '.join(group)})"
        for group in tangles(graph)
    ]
    assert not found, "import circles:\n" + "\n".join(found)


def test_pipeline_imports_neither_flows_nor_prefect():
    """The library runs without Prefect or the CLI: no import of them anywhere in pipeline/,
    not even under TYPE_CHECKING or in a lazy __getattr__."""
    wrong = [
        f"{name} line {line}: {target}"
        for name, path in modules(ROOT, ("pipeline",)).items()
        for target, line in imported_names(name, path, strict=True).items()
        if target.split(".")[0] in ("flows", "prefect")
    ]
    assert not wrong, "pipeline/ imports the wiring:\n" + "\n".join(sorted(wrong))


def test_no_function_over_80_lines():
    long = []
    for path in modules(ROOT).values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {lines} lines")
    assert not long, f"functions over {FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_no_module_over_500_lines():
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in modules(ROOT).values()}
    long = [f"{path.relative_to(ROOT)}: {n} lines" for path, n in sizes.items() if n > MODULE_LINES]
    assert not long, f"modules over {MODULE_LINES} lines:\n" + "\n".join(long)


def test_the_flow_file_is_wiring():
    lines = len((ROOT / FLOW_FILE).read_text(encoding="utf-8").splitlines())
    assert lines <= FLOW_LINES, f"{FLOW_FILE} is {lines} lines; move what is not wiring to pipeline/"


# --- the rule itself, on small packages written here ----------------------------------------
def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, dict[str, int | None]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return import_graph(modules(tmp_path, ("pkg",)))


@pytest.mark.parametrize(
    ("files", "circle"),
    [
        (  # an import inside a function counts
            {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "def f():\n    from pkg import a\n"},
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        (  # a package __init__ that imports its own module: the module imports the package first
            {"pkg/__init__.py": "from pkg.a import x\n", "pkg/a.py": "x = 1\n"},
            ["pkg", "pkg.a", "pkg"],
        ),
        (  # a relative import, and import_module with a written name
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "from . import b\n",
                "pkg/b.py": "import importlib\ndef f():\n    importlib.import_module('pkg.a')\n",
            },
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
    ],
)
def test_the_rule_finds_circles(tmp_path, files, circle):
    assert circles(_package(tmp_path, files)) == [circle]


def test_the_rule_leaves_out_type_checking_and_a_package_getattr(tmp_path):
    graph = _package(
        tmp_path,
        {
            "pkg/__init__.py": "def __getattr__(name):\n    from pkg import a\n    return getattr(a, name)\n",
            "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n",
            "pkg/b.py": "import pkg.a\n",
        },
    )
    assert circles(graph) == [] and graph["pkg.b"] == {"pkg": 1, "pkg.a": 1}
    strict = imported_names("pkg.a", tmp_path / "pkg" / "a.py", strict=True)  # the layer check's reading
    assert {"typing", "pkg", "pkg.b"} <= set(strict)
