"""The package's shape: imports between fastsmi's modules run one way, and only at module top.

Every ``import`` of a fastsmi module, at module level or inside a function, is an edge of
the graph below; the graph must have no cycle.  Inside functions, fastsmi modules may
be imported only when they need an optional dependency (Numba, the compiled Cython
extensions, torch, Dask, matplotlib, tqdm): everything else is imported at module top,
so the file tree shows which module builds on which.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Iterator, Optional

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fastsmi"

#: Third-party dependencies fastsmi runs without; a fastsmi module importing one at
#: module level (or a compiled extension) may itself be imported inside a function.
OPTIONAL = {"numba", "llvmlite", "torch", "torchvision", "dask", "distributed", "matplotlib", "tqdm"}


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (``.py`` and compiled ``.pyx``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".pyx") or "build" in path.relative_to(PACKAGE).parts:
            continue
        parts = ("fastsmi",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _package(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


@functools.lru_cache(maxsize=None)
def _imports(name: str) -> tuple[tuple[Optional[str], str, int, bool], ...]:
    """``(enclosing function or None, imported name, line, guarded)`` for every import in module ``name``.

    ``guarded``: inside a ``try`` block, so the module imports without it.
    """
    return tuple(_walk_imports(name))


def _walk_imports(name: str) -> Iterator[tuple[Optional[str], str, int, bool]]:
    tree = ast.parse(MODULES[name].read_text())
    functions, guarded = {}, set()
    for outer in ast.walk(tree):
        if isinstance(outer, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(outer):
                functions.setdefault(id(node), outer.name)
        elif isinstance(outer, ast.Try):  # try: import ... except ImportError: the module works without it
            guarded.update(id(node) for stmt in outer.body for node in ast.walk(stmt))
    for node in ast.walk(tree):
        where = functions.get(id(node))
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield where, alias.name, node.lineno, id(node) in guarded
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(name)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield where, full if full in MODULES else base, node.lineno, id(node) in guarded


def _internal(target: str) -> Optional[str]:
    """The fastsmi module ``target`` names (the longest known prefix), or None."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        if MODULES[name].suffix != ".py":
            continue
        for _, target, _, _ in _imports(name):
            internal = _internal(target)
            if internal is not None and internal != name:
                graph[name].add(internal)
    return graph


@functools.lru_cache(maxsize=None)
def _optional_modules() -> frozenset[str]:
    """fastsmi modules that need an optional dependency to import.

    Those that import one at their top, the compiled extensions and the Cython backend's
    package (which loads them), and whatever imports one of these at its top.
    """
    needs = {name for name, path in MODULES.items() if path.suffix == ".pyx" or name.startswith("fastsmi._cython")}
    top_level = {name: [t for where, t, _, guarded in _imports(name) if where is None and not guarded]
                 for name, path in MODULES.items() if path.suffix == ".py"}
    for name, targets in top_level.items():
        if any(t.split(".")[0] in OPTIONAL for t in targets):
            needs.add(name)
    changed = True
    while changed:  # a module importing such a module at its top needs it too
        changed = False
        for name, targets in top_level.items():
            if name not in needs and any(_internal(t) in needs for t in targets if _internal(t) != name):
                needs.add(name)
                changed = True
    return frozenset(needs)


def _find_cycle(graph: dict[str, set[str]]) -> Optional[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> Optional[list[str]]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_core_modules():
    graph = _graph()
    assert {"fastsmi._api", "fastsmi._sliced", "fastsmi._fulldim"} <= graph["fastsmi"] | graph["fastsmi._api"]
    assert "fastsmi._block" in graph["fastsmi._distributed"]
    assert "fastsmi._numba.backend" in graph["fastsmi._backends"]  # an import inside a function counts


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "fastsmi modules import each other in a circle: " + " -> ".join(cycle)


def test_the_core_never_imports_the_experiment_drivers():
    graph = _graph()
    core = [name for name in MODULES if not name.startswith(("fastsmi.experiments", "fastsmi.mnist"))]
    for name in core:
        if name == "fastsmi.cli":  # the command line dispatches to the drivers' sub-commands
            continue
        assert not {t for t in graph[name] if t.startswith(("fastsmi.experiments", "fastsmi.mnist"))}, name


@pytest.mark.parametrize("name", sorted(n for n, p in MODULES.items() if p.suffix == ".py"))
def test_fastsmi_modules_are_imported_inside_functions_only_for_optional_dependencies(name):
    optional = _optional_modules()
    bad = sorted({f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} in {where}(): {target}"
                  for where, target, line, _ in _imports(name)
                  if where is not None and _internal(target) is not None and _internal(target) not in optional})
    assert not bad, "import these at module top (they need no optional dependency): " + "; ".join(bad)


def _environment_uses(name: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every use of ``os.environ`` / ``os.getenv`` / ``os.putenv`` in module ``name``."""
    tree = ast.parse(MODULES[name].read_text())
    return [(node.lineno, f"os.{node.attr}") for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
            and node.attr in ("environ", "getenv", "putenv", "unsetenv")]


def test_the_environment_is_read_in_one_module():
    readers = {name for name, path in MODULES.items() if path.suffix == ".py" and _environment_uses(name)}
    assert readers == {"fastsmi._runtime"}


def test_the_environment_is_never_written():
    tree = ast.parse(MODULES["fastsmi._runtime"].read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            assert not any("environ" in ast.unparse(t) for t in targets), ast.unparse(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert not (node.func.attr in ("update", "pop", "setdefault", "clear", "putenv", "unsetenv")
                        and "environ" in ast.unparse(node.func.value)), ast.unparse(node)
    uses = [text for _, text in _environment_uses("fastsmi._runtime")]
    assert uses and set(uses) == {"os.environ"}, uses  # reads through os.environ only


def test_llvm_cmov_setting_is_checked(monkeypatch):
    from fastsmi import _runtime

    monkeypatch.setenv("FASTSMI_LLVM_CMOV", "1")
    assert _runtime.llvm_cmov_converter() is True
    monkeypatch.setenv("FASTSMI_LLVM_CMOV", " 0 ")
    assert _runtime.llvm_cmov_converter() is False
    monkeypatch.setenv("FASTSMI_LLVM_CMOV", "yes")
    with pytest.raises(ValueError, match="FASTSMI_LLVM_CMOV='yes'.*use 0 or 1"):
        _runtime.llvm_cmov_converter()


_BROKEN_BACKEND = """
import importlib.abc, importlib.machinery, sys, warnings

class Failing(importlib.abc.Loader):
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        raise NameError("a bug inside fastsmi's Numba backend")

class Breaker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "fastsmi._numba.backend":
            return importlib.machinery.ModuleSpec(name, Failing())
        return None

sys.meta_path.insert(0, Breaker())
from fastsmi._backends import get_backend
warnings.simplefilter("error")  # a fallback to Cython would warn
try:
    get_backend("auto")
except NameError as exc:
    print("raised:", exc)
"""


def test_a_bug_in_a_backend_is_raised_not_turned_into_a_fallback():
    pytest.importorskip("numba")
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTSMI_")}
    env["PYTHONPATH"] = str(PACKAGE.parent)
    proc = subprocess.run([sys.executable, "-c", _BROKEN_BACKEND], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "raised: a bug inside fastsmi's Numba backend"
