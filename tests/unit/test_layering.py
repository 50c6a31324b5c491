"""The harness's packages form layers: a package imports only packages of lower layers, so there
is no import cycle between packages, and the fault machinery stacks runner -> faults -> nemesis
-> experiments. Every import counts: module level, inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"

# Lower number, lower layer. A new package or top-level module must be given its place here.
LAYER = {
    "exits": 0, "model": 0,  # constants and plain data
    # leaf adapters and pure checks over the plain data
    "waiting": 1, "crashpoints": 1, "inprocess": 1, "toxiproxy": 1, "broker": 1, "recorder": 1,
    "oplog": 1, "invariants": 1, "stock_boundary": 1, "dice": 1,
    "tracing": 1,  # issue #18: OTLP receiver, traces.jsonl, waterfalls (pure over plain data)
    "runner": 2,
    "client": 3, "targets": 3, "faults": 3,
    "nemesis": 4, "report": 4, "sim": 4, "quiescence": 4,
    "experiments": 5,
    "zoo": 6, "bdd": 6, "demo": 6, "pytest_plugin": 6,
    "cli": 7,
}


def package_of(path: Path) -> str:
    return path.relative_to(HARNESS).with_suffix("").parts[0]


def imports_between_packages() -> set[tuple[str, str, str]]:
    """(importing package, imported package, file) for every import of another harness package."""
    found = set()
    for path in HARNESS.rglob("*.py"):
        source = package_of(path)
        if source == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "harness" and len(parts) > 1 and parts[1] in LAYER and parts[1] != source:
                    found.add((source, parts[1], str(path.relative_to(HARNESS.parent))))
    return found


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Every package that can reach itself, with one path back to it."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    found = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    found.append(path + [start])
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return found


def test_every_package_has_a_layer():
    packages = {package_of(p) for p in HARNESS.rglob("*.py")} - {"__init__"}
    assert packages <= set(LAYER), f"give these a layer in LAYER: {sorted(packages - set(LAYER))}"


def test_no_package_imports_a_higher_or_equal_layer():
    upward = sorted(
        f"{file}: {a} (layer {LAYER[a]}) imports {b} (layer {LAYER[b]})"
        for a, b, file in imports_between_packages()
        if LAYER[b] >= LAYER[a]
    )
    assert upward == []


def test_no_import_cycles_between_packages():
    assert cycles({(a, b) for a, b, _ in imports_between_packages()}) == []


def test_the_fault_stack_is_ordered_and_targets_do_not_need_pytest():
    assert LAYER["runner"] < LAYER["faults"] < LAYER["nemesis"] < LAYER["experiments"]
    offenders = {f for a, b, f in imports_between_packages() if b == "pytest_plugin" and a != "bdd"}
    assert offenders == set()


def test_the_checks_can_fail():
    assert cycles({("a", "b"), ("b", "c"), ("c", "a")}) != []
    assert cycles({("a", "b"), ("b", "c")}) == []
