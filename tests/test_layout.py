"""The package's architecture, read from its sources: stages import only stages below them, and no module grows
past a readable size.

Stages, bottom up: base, data, models, attacks, training, attribution, synthesis, analysis, report, cli. A module
may import its own stage and the stages below; ``base`` imports nothing of ours; ``cli`` may import everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "robinterp"
STAGES = ["base", "data", "models", "attacks", "training", "attribution", "synthesis", "analysis", "report", "cli"]
MAX_LINES = 700


def modules() -> dict[str, Path]:
    """Dotted name → file of every module (a package by its own name, for its ``__init__.py``)."""
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def imported(path: Path) -> set[str]:
    """The robinterp modules a file imports (at any depth of the file, lazy imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("robinterp"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from package import module`
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("robinterp"))
    return out & set(modules())


def stage(module: str) -> str | None:
    """The stage a module belongs to (None for the package's own ``__init__`` and ``__main__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in STAGES else None


def test_every_module_belongs_to_a_stage():
    loose = [m for m in modules() if stage(m) is None and m not in ("robinterp", "robinterp.__main__")]
    assert not loose, f"modules outside the stages {STAGES}: {loose}"


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_module_imports_a_higher_stage(module):
    own = stage(module)
    if own is None:
        return
    higher = [m for m in imported(modules()[module]) if stage(m) and STAGES.index(stage(m)) > STAGES.index(own)]
    assert not higher, f"{module} ({own}) imports higher stages: {higher}"


def test_base_imports_nothing_else_of_ours():
    for module, path in modules().items():
        if stage(module) == "base":
            others = [m for m in imported(path) if stage(m) != "base"]
            assert not others, f"{module} imports {others}"


def test_no_import_cycles():
    graph = {m: imported(p) - {m} for m, p in modules().items()}
    done, path = set(), []

    def visit(m):
        if m in path:
            raise AssertionError(f"import cycle: {' → '.join(path[path.index(m):] + [m])}")
        if m in done:
            return
        path.append(m)
        for dep in sorted(graph.get(m, ())):
            visit(dep)
        path.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by concept): {long}"
