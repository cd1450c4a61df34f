"""The architecture as the tree promises it: layers import downwards, no cycles, short chains.

The import graph is read from the source (imports inside functions count; those under
``if TYPE_CHECKING:`` do not, since they never run). The layers, bottom up:

- ``detectors`` (pure computation) and ``stream`` (where events enter) import no other
  driftline package, ``learners`` only ``stream``;
- inside ``consumers``: ``errors`` < ``config`` < ``core`` (the judging core shared by live
  and backtest) < ``topics`` < ``modelops`` < ``roles`` (the Kafka services) < ``observe``
  (telemetry, reports, status) < ``cli``; a module imports only its own layer or lower ones.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("stream", "detectors", "learners", "consumers")
#: which driftline packages each top-level package may import (besides itself)
ALLOWED = {"detectors": set(), "stream": set(), "learners": {"stream"},
           "consumers": {"stream", "detectors", "learners"}}
CONSUMER_LAYERS = ("errors", "config", "core", "topics", "modelops", "roles", "observe", "cli")
MAX_CHAIN = 10
MAX_LINES = 500
MAX_FLAT_MODULES = 12


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return "driftline." + ".".join(parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - child.level + 1]) + (f".{base}" if base else "")
                targets = [base] + [f"{base}.{a.name}" for a in child.names]
            else:
                targets = []
            found.update(t for t in targets if t in known and t != name)
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


@functools.cache
def graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(_imports(name, path)) for name, path in modules().items()}


def _top(name: str) -> str:
    return name.split(".")[1]


def _layer(name: str) -> int | None:
    parts = name.split(".")
    if parts[1] != "consumers" or len(parts) < 3:
        return None
    return CONSUMER_LAYERS.index(parts[2]) if parts[2] in CONSUMER_LAYERS else -1


def test_every_consumers_module_has_a_layer() -> None:
    unplaced = [n for n in modules() if _layer(n) == -1]
    assert not unplaced, f"modules of consumers/ in no layer {CONSUMER_LAYERS}: {unplaced}"


def test_packages_import_only_the_layers_below() -> None:
    wrong = []
    for name, targets in graph().items():
        for target in targets:
            if _top(target) != _top(name) and _top(target) not in ALLOWED[_top(name)]:
                wrong.append(f"{name} -> {target}")
            low, high = _layer(target), _layer(name)
            if low is not None and high is not None and low > high:
                wrong.append(f"{name} -> {target} (consumers.{CONSUMER_LAYERS[low]} is above "
                             f"consumers.{CONSUMER_LAYERS[high]})")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle() -> None:
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(g):
        if node not in state:
            cycle = visit(node)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_longest_import_chain() -> None:
    g = graph()

    @functools.cache
    def longest(node: str) -> tuple[str, ...]:
        return (node,) + max((longest(n) for n in g[node]), key=len, default=())

    chain = max((longest(n) for n in g), key=len)
    assert len(chain) <= MAX_CHAIN, f"{len(chain)} modules: " + " -> ".join(chain)


def test_modules_and_folders_stay_small() -> None:
    long = {str(p.relative_to(REPO)): n for p in modules().values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
    crowded = {}
    for pkg in PACKAGES:
        for folder in [REPO / pkg, *[d for d in (REPO / pkg).rglob("*") if d.is_dir() and d.name != "__pycache__"]]:
            flat = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
            if len(flat) > MAX_FLAT_MODULES:
                crowded[str(folder.relative_to(REPO))] = len(flat)
    assert not crowded, f"folders with more than {MAX_FLAT_MODULES} modules flat: {crowded}"


def test_pyproject_lists_every_package() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {_module_name(p) for pkg in PACKAGES for p in (REPO / pkg).rglob("__init__.py")}
    assert listed == found, f"missing from pyproject: {sorted(found - listed)}; stale: {sorted(listed - found)}"


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_exception_derives_from_the_root(name: str) -> None:
    from driftline.stream.errors import DriftlineError

    module = importlib.import_module(name)
    for obj in vars(module).values():
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == name:
            assert issubclass(obj, DriftlineError), f"{name}.{obj.__name__} does not derive from DriftlineError"
