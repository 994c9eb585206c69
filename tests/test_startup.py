"""The figure and table commands start without importing torch.

Importing torch costs 2-4 s of a job's start-up on a CPU (more than most of these jobs' work), and the demo runs
about twenty of them. What each command imports is read from its function's own imports, so a new import of a
module that pulls in torch fails here.
"""

import ast
import inspect
import subprocess
import sys
import textwrap

import pytest

from robinterp.cli.main import build_parser

# Every command of a rule that draws or tabulates stored results (the workflow's rules without `benchmark:`, but
# class_seeds and synthesis_metrics, which compute with torch).
LIGHT_COMMANDS = ["table", "attribution-table", "synthesis-table", "methods-matrix", "report", "plot-training",
                  "plot-attributions", "plot-attribution-grid", "plot-seeds", "plot-generation", "plot-inversions",
                  "plot-features", "plot-robustness-curves", "plot-etmann", "plot-robustness-interpretability",
                  "select-attribution-images"]


def command_function(name: str):
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    return subparsers.choices[name].get_default("func")


def imported_modules(func) -> list[str]:
    """The modules a function imports in its body, and the module it is defined in."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    modules = [func.__module__]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
    return modules


@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_figure_and_table_commands_do_not_import_torch(command):
    modules = imported_modules(command_function(command))
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", f"{command} imports torch through one of {modules}"
