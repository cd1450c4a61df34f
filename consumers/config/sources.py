"""What a module defines, read from its source without importing it.

``driftline validate`` checks that the configuration's classes (``learner.model``,
``river.preprocessing.StandardScaler``) and trainers exist; importing River for that costs
more than a second (it imports SciPy and pandas). :func:`defines` answers from the source
files instead: True only when the name is bound once at the module's top level by a ``class``
(or ``def``) statement, directly or through ``from ... import`` re-exports. Any other answer
(a module without Python source, a name bound twice or by assignment, a star import, a module
``__getattr__``, a module already imported) is None: "import it to know", which the caller
then does, with the error that import gives. So a name this module vouches for is defined in
the source a later import executes; what it cannot vouch for is checked by importing.
"""

from __future__ import annotations

import ast
import functools
import sys
from importlib.machinery import PathFinder, SourceFileLoader
from pathlib import Path

#: how many ``from ... import`` re-exports are followed before giving up (None)
MAX_HOPS = 6


def defines(module_name: str, attr: str, functions: bool = False) -> bool | None:
    """True when ``module_name`` binds ``attr`` to a class (or, with ``functions``, a function)
    in its source; None when only an import can tell."""
    return _defines(module_name, attr, functions, MAX_HOPS)


def _defines(module_name: str, attr: str, functions: bool, hops: int) -> bool | None:
    if hops <= 0 or module_name in sys.modules:
        return None
    found = module_source(module_name)
    if found is None:
        return None
    path, is_package = found
    tree = _parse(path)
    if tree is None:
        return None
    bindings: list[ast.stmt] = []
    for node, conditional in _top_level(tree.body, False):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
        names = _bound_names(node)
        if "__getattr__" in names or (attr in names and conditional):
            return None
        if attr in names:
            bindings.append(node)
    if len(bindings) != 1:
        return None
    node = bindings[0]
    if isinstance(node, ast.ClassDef):
        return True
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return True if functions else None
    if isinstance(node, ast.ImportFrom):
        source = _absolute(node, module_name, is_package)
        name = next(alias.name for alias in node.names if (alias.asname or alias.name) == attr)
        if source is None:
            return None
        return _defines(source, name, functions, hops - 1)
    return None


def module_source(module_name: str) -> tuple[Path, bool] | None:
    """``(path of the .py file, is a package)`` of ``module_name``, found on ``sys.path``
    without importing it or its parent packages; None when it has no plain source file there."""
    search: list[str] | None = None
    spec = None
    for depth, _ in enumerate(parts := module_name.split(".")):
        spec = PathFinder.find_spec(".".join(parts[: depth + 1]), search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    if spec is None or not isinstance(spec.loader, SourceFileLoader) or not spec.origin:
        return None
    return Path(spec.origin), spec.submodule_search_locations is not None


@functools.lru_cache(maxsize=64)
def _parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None


def _top_level(body: list[ast.stmt], conditional: bool) -> list[tuple[ast.stmt, bool]]:
    """The statements run at import, each with whether it runs only on a condition (in an
    ``if``, ``try``, ``for``, ``while`` or ``with`` block)."""
    out: list[tuple[ast.stmt, bool]] = []
    for node in body:
        if isinstance(node, ast.If | ast.For | ast.While | ast.With):
            out += _top_level(node.body, True) + _top_level(getattr(node, "orelse", []), True)
        elif isinstance(node, ast.Try):
            out += _top_level(node.body, True) + _top_level(node.orelse, True) + _top_level(node.finalbody, True)
            for handler in node.handlers:
                out += _top_level(handler.body, True)
        out.append((node, conditional))
    return out


def _bound_names(node: ast.stmt) -> set[str]:
    """The names a top-level statement binds (or unbinds), its nested blocks aside."""
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    if isinstance(node, ast.If | ast.For | ast.While | ast.With | ast.Try):  # the header's targets only
        heads = [getattr(node, "target", None), *[item.optional_vars for item in getattr(node, "items", [])]]
        return {n.id for h in heads if h is not None for n in ast.walk(h) if isinstance(n, ast.Name)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)}


def _absolute(node: ast.ImportFrom, module_name: str, is_package: bool) -> str | None:
    """The module a ``from ... import`` reads, as an absolute name."""
    if node.level == 0:
        return node.module
    package = module_name if is_package else module_name.rpartition(".")[0]
    parts = package.split(".")
    if node.level - 1 >= len(parts):
        return None
    base = ".".join(parts[: len(parts) - (node.level - 1)])
    return f"{base}.{node.module}" if node.module else base


def class_dict_keys(module_name: str, class_name: str, attr: str) -> set[str] | None:
    """The keys of ``class_name.attr`` when the class's source assigns it once a dict literal
    of string keys (kafka-python's ``DEFAULT_CONFIG``); None when only an import can tell."""
    if defines(module_name, class_name) is not True:
        return None
    found = module_source(module_name)
    tree = _parse(found[0]) if found else None
    classes = [n for n in (tree.body if tree else []) if isinstance(n, ast.ClassDef) and n.name == class_name]
    if len(classes) != 1:
        return None  # re-exported from another module, or bound twice: let the import say
    values = [node.value for node in classes[0].body
              if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets)]
    if len(values) != 1 or not isinstance(values[0], ast.Dict):
        return None
    keys = values[0].keys
    if not all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in keys):
        return None
    return {k.value for k in keys}  # type: ignore[union-attr]
