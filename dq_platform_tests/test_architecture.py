"""The house keeps its shape: no import cycle, and no module grows past a size a newcomer can read.

The layers themselves are import-linter contracts in pyproject.toml (`make lint`); this adds what
they do not say: no two modules import each other, even inside one package, even lazily.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[1] / "dq_platform"
MAX_LINES = 600
# Bigger on purpose, each one cohesive thing (their docstrings say why).
LARGE: set[str] = set()


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    modules = set(graph.modules)
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v) & modules:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return out


def test_no_module_imports_back_into_a_module_that_imports_it():
    assert _cycles(grimp.build_graph("dq_platform")) == []


def test_no_module_is_longer_than_a_newcomer_can_read():
    long = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    too_long = {k: n for k, n in long.items() if n > MAX_LINES and k not in LARGE}
    assert not too_long, f"split these modules (or say why they are one thing): {too_long}"


def test_every_package_says_what_it_holds():
    for init in PACKAGE.rglob("__init__.py"):
        text = init.read_text().strip()
        assert text.startswith('"""'), f"{init.relative_to(PACKAGE)}: a package docstring says what it holds"
