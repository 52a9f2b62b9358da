"""Layers never reach upward, read from the source (every import, lazy ones too):
``drivers`` import nothing of ``daq`` or ``simulators``; ``simulators`` nothing of
``daq`` or ``drivers``; the command line (``daq/cli``) is a client of the station and
imports no SQLAlchemy, aiomqtt, driver or simulator — except ``daq simulate``, which
starts the simulators on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute names), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def offending(folder: str, forbidden: set[str], allowed: frozenset[str] = frozenset()
              ) -> list[str]:
    """``file:line module`` for each import of a forbidden top-level package."""
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in allowed:
            continue
        for line, module in imported(path):
            if module.split(".")[0] in forbidden:
                bad.append(f"{path.relative_to(ROOT)}:{line} {module}")
    return bad


@pytest.mark.parametrize(("folder", "forbidden", "allowed"), [
    ("drivers", {"daq", "simulators"}, frozenset()),
    ("simulators", {"daq", "drivers"}, frozenset()),
    ("daq/cli", {"sqlalchemy", "aiomqtt", "drivers", "simulators"},
     frozenset({"daq/cli/simulate.py"})),
])
def test_no_layer_reaches_upward(folder: str, forbidden: set[str],
                                 allowed: frozenset[str]) -> None:
    assert offending(folder, forbidden, allowed) == []


def test_the_rule_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from sqlalchemy import select\n    import drivers.link\n")
    assert imported(module) == [(2, "sqlalchemy"), (3, "drivers.link")]
