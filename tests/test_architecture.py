"""The house rules (docs/architecture.md): layers, no import cycles, small modules and functions."""

import ast
import os
import subprocess
import sys

import grimp
import pytest

from tests.conftest import ROOT

PACKAGES = ("harness", "analysis")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
EXEMPT_FUNCTIONS = {os.path.join("harness", "worker", "nets.py")}  # the model definitions


def sources():
    for pkg in PACKAGES:
        for d, _, files in os.walk(os.path.join(ROOT, pkg)):
            for f in sorted(files):
                if f.endswith(".py"):
                    yield os.path.relpath(os.path.join(d, f), ROOT)


def test_layer_contracts_hold():
    """pyproject.toml's [tool.importlinter] contracts, imports inside functions included."""
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    r = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def find_cycle(graph) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.find_modules_directly_imported_by(m)):
            if n not in graph.modules:
                continue
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph.modules):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycles():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_one():
    class Graph:
        modules = {"a", "b", "c"}

        @staticmethod
        def find_modules_directly_imported_by(m):
            return {"a": {"b"}, "b": {"c"}, "c": {"a"}}[m]

    assert find_cycle(Graph()) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("path", list(sources()))
def test_modules_and_functions_stay_small(path):
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path} has {len(text.splitlines())} lines"
    if path in EXEMPT_FUNCTIONS:
        return
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            assert n <= MAX_FUNCTION_LINES, f"{path}:{node.lineno} {node.name}() has {n} lines"


def test_the_parent_starts_without_tvm():
    code = "import sys, harness.sweep, analysis.figures; print(sorted(m for m in sys.modules if m.startswith('tvm')))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


TREE_LIMIT = 1_500_000  # bytes: the project travels to the GPU host beside a 62.5 MiB TVM bundle (64 MiB in all)


def test_the_committed_tree_stays_small():
    git = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if git.returncode:
        pytest.skip("not a git checkout")
    files = [f for f in git.stdout.decode().split("\0") if f and os.path.isfile(os.path.join(ROOT, f))]
    size = sum(os.path.getsize(os.path.join(ROOT, f)) for f in files)
    biggest = sorted(files, key=lambda f: -os.path.getsize(os.path.join(ROOT, f)))[:5]
    assert size < TREE_LIMIT, f"committed files are {size} bytes (limit {TREE_LIMIT}); largest: {biggest}"
