"""The layout's promises: no import circles, and the core never imports Lava.

The import graph is read from the source (every ``import`` and ``from ... import``,
including those inside functions), one node per module of ``compiler`` and
``lava_causal``; an import of a package's name (``from compiler import IFNetwork``)
is an edge to its ``__init__``. Implicit imports of parent packages are not edges.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("compiler", "lava_causal")


def _modules():
    """``{dotted name: path}`` of every module in the two packages."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(name, path, modules):
    """Modules of the project that ``name`` imports explicitly."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                child = f"{source}.{alias.name}"
                if child in modules:
                    targets.add(child)
                elif source in modules:
                    targets.add(source)
    targets.discard(name)
    return targets


def import_graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        graph.add_edges_from((name, target) for target in _imports(name, path, modules))
    return graph


def test_the_graph_sees_the_imports_it_must():
    graph = import_graph()
    assert graph.has_edge("compiler.quantization.quantize", "compiler.quantization.fixed_point")
    assert graph.has_edge("lava_causal.simulator", "compiler.quantization.stability")
    assert graph.has_edge("compiler", "compiler.backends.emulator")


def test_no_import_circles():
    cycles = list(nx.simple_cycles(import_graph()))
    shortest = sorted(cycles, key=len)[:5]
    assert not cycles, f"{len(cycles)} import circles, e.g. " + \
        "; ".join(" -> ".join(c + [c[0]]) for c in shortest)


def test_the_compiler_does_not_import_the_application():
    graph = import_graph()
    leaks = [(a, b) for a, b in graph.edges if a.startswith("compiler") and b.startswith("lava_causal")]
    assert not leaks


def test_the_core_never_imports_lava():
    """Importing every core module (all but the Lava backend's) loads no ``lava`` module."""
    core = sorted(m for m in _modules() if not m.startswith("compiler.backends.lava"))
    code = ("import importlib, sys\n"
            f"for m in {core!r}: importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m == 'lava' or m.startswith('lava.'))\n"
            "print(','.join(bad))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "", f"importing the core loaded {out}"


LAYERS = {"compiler.system": 0, "compiler.hardware": 1, "compiler.frontend": 2,
          "compiler.quantization": 3, "compiler.backends": 4, "compiler.deploy": 4}
"""The compiler's stages, bottom up: a stage imports only stages below it (backends and
deploy, side by side, import neither each other)."""


def _stage(module: str):
    return next((s for s in LAYERS if module == s or module.startswith(s + ".")), None)


def test_stages_import_only_downwards():
    wrong = []
    for a, b in import_graph().edges:
        sa, sb = _stage(a), _stage(b)
        if sa and sb and sa != sb and LAYERS[sb] >= LAYERS[sa]:
            wrong.append(f"{a} -> {b}")
    assert not wrong, "imports against the stages: " + "; ".join(wrong)
