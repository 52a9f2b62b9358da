"""The layer rules, read from the source: layers never reach upward, and simulation stays
in the simulators (no driver speaks a ``SIM:`` command, no procedure has a ``simulated``
flag: what a simulated specimen is made of reaches the simulator through the station's
simulator wiring and the simulator's side door)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: package → the packages it must never import (it sits below them).
BELOW = {
    "drivers": ("daq", "simulators"),
    "simulators": ("daq", "drivers"),
}
#: Where runs are composed from drivers: neither knows it may talk to a simulator.
PROCEDURE_MODULES = [
    *sorted(ROOT.glob("daq/*/procedure.py")),
    *sorted(ROOT.glob("daq/*/kind.py")),
]


def modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


@pytest.mark.parametrize("package", sorted(BELOW))
def test_a_layer_never_imports_the_layers_above_it(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(package)
        for name in imported(ast.parse(path.read_text(encoding="utf-8")))
        if name.split(".")[0] in BELOW[package]
    ]
    assert wrong == []


def test_no_driver_module_speaks_a_simulation_command() -> None:
    # The source text, comments and docstrings included: not even documented there.
    wrong = [str(p.relative_to(ROOT)) for p in modules("drivers")
             if "SIM:" in p.read_text(encoding="utf-8").upper()]
    assert wrong == []


def test_no_driver_has_a_simulation_method() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}: {node.name}"
        for path in modules("drivers")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.lstrip("_").lower().startswith("simulat")
    ]
    assert wrong == []


def simulated_uses(tree: ast.AST) -> Iterator[str]:
    """Every parameter, keyword, attribute or name called ``simulated``, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.arg == "simulated":
            yield f"parameter, line {node.lineno}"
        elif isinstance(node, ast.keyword) and node.arg == "simulated":
            yield f"keyword, line {node.value.lineno}"
        elif isinstance(node, ast.Attribute) and node.attr == "simulated":
            yield f"attribute, line {node.lineno}"
        elif isinstance(node, ast.Name) and node.id == "simulated":
            yield f"name, line {node.lineno}"


def test_no_procedure_has_a_simulated_flag() -> None:
    assert len(PROCEDURE_MODULES) > 8  # the procedures and every kind's factory
    wrong = [
        f"{path.relative_to(ROOT)}: {use}"
        for path in PROCEDURE_MODULES
        for use in simulated_uses(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert wrong == []


def test_the_rule_finds_what_it_forbids() -> None:
    """The checks above would catch the shapes that used to be there."""
    old = ast.parse(
        "class PeelTest:\n"
        "    def __init__(self, simulated: bool = False) -> None:\n"
        "        self.simulated = simulated\n"
        "def build(station):\n"
        "    return PeelTest(simulated=station.settings.simulated)\n")
    assert len(list(simulated_uses(old))) == 5
