"""The import graph of solver/, server/ and scenarios/: imports point down, no circles, no private names.

The layers, bottom up: the contract (`mentormatch.v1`, generated from proto/), the domain and the engine
(`solver`), then the service and the command line (`server`). The checks read the source with `ast` and
import nothing. Every import counts, also one inside a function or under `if TYPE_CHECKING:`: a deferred
import still ties the two modules together (the engine could not be used without the service; neither
module of a circle can be read, tested or moved without the other), and the circles this test was written
against were deferred ones (`solver.ingest` -> `server.mapping` inside a function, `solver.stability` ->
`solver.solve` under TYPE_CHECKING). Deferring an import stays fine for start-up time, as long as it
points down.

1. `solver` and `scenarios` never import `server` or gRPC (`grpc*`, `mentormatch.v1.*_pb2_grpc`), and the
   contract imports nothing of ours.
2. No circles among our modules. An import of a package counts as an import of its `__init__`; the
   implicit import of a module's parent packages does not (a package's `__init__` re-exporting its own
   modules is not a circle).
3. No module imports another module's private name (`from x import _name`, or `x._name` on an imported
   module `x`); dunder names such as `__version__` are public.

The `test_checker_*` tests run the same checker on small packages made for the purpose, so that a
deliberate upward import, circle or private import is shown to be reported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("solver", "server", "scenarios")
CONTRACT = "mentormatch"  # generated code under proto/: checked for what it imports, not for private names
GRPC = ("grpc", "grpc_health", "grpc_reflection", "grpc_status")
FORBIDDEN: dict[str, tuple[str, ...]] = {  # importer package -> module prefixes it must not import
    "solver": ("server", *GRPC),
    "scenarios": ("server", *GRPC),
    CONTRACT: PACKAGES,
}


@dataclass(frozen=True)
class Import:
    target: str  # the module imported (a package means its __init__)
    names: tuple[str, ...]  # the names taken from it (`from target import a, b`); () for `import target`
    line: int


@dataclass(frozen=True)
class Report:
    upward: list[str]
    cycles: list[list[str]]
    private: list[str]


def modules_under(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of these packages below `root`."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _absolute(importer: str, is_package: bool, module: str | None, level: int) -> str:
    """The absolute name of a (possibly relative) `from` import's module."""
    if level == 0:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, tree: ast.Module, is_package: bool, known: set[str]) -> list[Import]:
    """Every import of one module, wherever it stands; `from package import module` imports that module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(name, is_package, node.module, node.level)
            taken = []
            for alias in node.names:
                if f"{target}.{alias.name}" in known:
                    found.append(Import(f"{target}.{alias.name}", (), node.lineno))
                else:
                    taken.append(alias.name)
            if taken:
                found.append(Import(target, tuple(taken), node.lineno))
    return sorted(found, key=lambda i: (i.line, i.target))


def _module_aliases(name: str, tree: ast.Module, is_package: bool, known: set[str]) -> dict[str, str]:
    """Local names bound to one of our modules: `import a.b as m`, `from a import b` (b a module)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {alias.asname: alias.name for alias in node.names if alias.asname and alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(name, is_package, node.module, node.level)
            aliases |= {alias.asname or alias.name: f"{target}.{alias.name}" for alias in node.names
                        if f"{target}.{alias.name}" in known}
    return aliases


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _forbidden(target: str, prefixes: tuple[str, ...]) -> bool:
    if "grpc" in prefixes and target.endswith("_pb2_grpc"):  # the generated gRPC stubs
        return True
    return any(target == prefix or target.startswith(prefix + ".") for prefix in prefixes)


def check(modules: dict[str, Path], forbidden: dict[str, tuple[str, ...]]) -> Report:
    """The three checks of the module docstring over these modules (name -> file)."""
    known = set(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    upward, private = [], []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package, top = path.name == "__init__.py", name.split(".")[0]
        where = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        for imp in imports_of(name, tree, is_package, known):
            # `from a import b` may take module a.b: check both names, report the import once
            bad = [t for t in (imp.target, *(f"{imp.target}.{n}" for n in imp.names))
                   if _forbidden(t, forbidden.get(top, ()))]
            if bad:
                upward.append(f"{where}:{imp.line}: {name} imports {bad[0]}")
            if imp.target in known and imp.target != name:
                graph[name].add(imp.target)
                if top != CONTRACT:
                    private += [f"{where}:{imp.line}: {name} imports {imp.target}.{n}" for n in imp.names
                                if _private(n)]
        aliases = _module_aliases(name, tree, is_package, known) if top != CONTRACT else {}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and aliases[node.value.id] != name and _private(node.attr)):
                private.append(f"{where}:{node.lineno}: {name} uses {aliases[node.value.id]}.{node.attr}")
    return Report(upward, cycles(graph), private)


def project_modules() -> dict[str, Path]:
    return modules_under(ROOT, PACKAGES) | modules_under(ROOT / "proto", (CONTRACT,))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one circle through them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(_circle(graph, set(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _circle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One circle through a component, from its first module back to it (a breadth-first shortest path)."""
    start = min(component)
    paths = {succ: [start, succ] for succ in sorted(graph[start] & component)}
    queue = list(paths)
    while queue:
        node = queue.pop(0)
        if node == start:
            return paths[node]
        for succ in sorted(graph[node] & component):
            if succ not in paths:
                paths[succ] = [*paths[node], succ]
                queue.append(succ)
    return sorted(component)


# --- the project ----------------------------------------------------------------------------------


def test_the_engine_never_imports_the_service() -> None:
    report = check(project_modules(), FORBIDDEN)
    assert report.upward == [], "imports that point up:\n" + "\n".join(report.upward)


def test_there_are_no_import_circles() -> None:
    report = check(project_modules(), FORBIDDEN)
    assert report.cycles == [], "import circles:\n" + "\n".join(" -> ".join(c) for c in report.cycles)


def test_no_module_imports_another_modules_private_names() -> None:
    report = check(project_modules(), FORBIDDEN)
    assert report.private == [], "private names used across modules:\n" + "\n".join(report.private)


# --- the checker fails when it should ---------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _tiny_project(root: Path, extra: dict[str, str] | None = None) -> dict[str, Path]:
    """A clean project of a contract, an engine and a service, with `extra` files added or replaced."""
    files = {
        "mentormatch/__init__.py": "",
        "mentormatch/v1/__init__.py": "",
        "mentormatch/v1/cohort_pb2.py": "from google.protobuf import descriptor\n",
        "solver/__init__.py": "",
        "solver/domain.py": "VALUE = 1\n_HIDDEN = 2\n",
        "solver/engine.py": "from solver.domain import VALUE\n",
        "server/__init__.py": "",
        "server/service.py": "from solver import engine\nfrom solver.domain import VALUE\n",
    }
    _write(root, files | (extra or {}))
    return modules_under(root, ("mentormatch", "solver", "server"))


def test_checker_passes_a_clean_project(tmp_path: Path) -> None:
    assert check(_tiny_project(tmp_path), FORBIDDEN) == Report([], [], [])


def test_checker_reports_an_upward_import_even_inside_a_function(tmp_path: Path) -> None:
    modules = _tiny_project(tmp_path, {
        "mentormatch/v1/cohort_pb2.py": "import solver.domain\n",
        "solver/engine.py": "def load() -> None:\n    from server.service import VALUE\n",
        "solver/wire.py": "import grpc\nfrom mentormatch.v1 import cohort_pb2, cohort_pb2_grpc\n",
    })
    assert check(modules, FORBIDDEN).upward == [
        "mentormatch/v1/cohort_pb2.py:1: mentormatch.v1.cohort_pb2 imports solver.domain",
        "solver/engine.py:2: solver.engine imports server.service",
        "solver/wire.py:1: solver.wire imports grpc",
        "solver/wire.py:2: solver.wire imports mentormatch.v1.cohort_pb2_grpc",
    ]


def test_checker_reports_circles_also_when_deferred(tmp_path: Path) -> None:
    modules = _tiny_project(tmp_path, {
        "solver/domain.py": "from solver import engine\n",  # engine imports domain: a circle
        "server/a.py": "from . import b\n",
        "server/b.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from server import a\n",
        "server/c.py": "from server.d import X\n",
        "server/d.py": "X = 1\n\n\ndef late() -> None:\n    from server import c\n",
    })
    assert check(modules, FORBIDDEN).cycles == [["server.a", "server.b", "server.a"], ["server.c", "server.d", "server.c"],
                             ["solver.domain", "solver.engine", "solver.domain"]]


def test_checker_reports_private_names_taken_from_another_module(tmp_path: Path) -> None:
    modules = _tiny_project(tmp_path, {
        "solver/engine.py": "from solver.domain import VALUE, _HIDDEN\n",
        "server/service.py": "from solver import domain\n\nSEEN = domain._HIDDEN + domain.__name__.count('.')\n",
    })
    assert check(modules, FORBIDDEN).private == ["solver/engine.py:1: solver.engine imports solver.domain._HIDDEN",
                              "server/service.py:3: server.service uses solver.domain._HIDDEN"]
