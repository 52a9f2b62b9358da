"""The ``daq`` command line: one module per command group, loaded only when used.

Command groups import heavy libraries (FastAPI, SQLAlchemy, matplotlib); loading them
lazily keeps ``daq --help`` and every single command quick to start.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
import typer.core
import typer.main

HELP = "Lamina DAQ: drive the lab's instruments, record and publish what they measure."

#: Command groups: name → (module whose ``app`` is the group's Typer app, short help).
GROUPS: dict[str, tuple[str, str]] = {
    "press": ("daq.cli.press", "Lamination press: run a cycle, read the press."),
    "peel": ("daq.cli.peel", "Peel tester: run a peel test, list results."),
    "aging": ("daq.cli.aging", "Aging oven: start, watch and pull specimens from a 1000-hour run."),
    "laser": ("daq.cli.laser", "UV laser: run a drilling job and grade it."),
    "campaign": ("daq.cli.campaign", "Run a whole lab campaign (e.g. the patent's Table 1)."),
    "runs": ("daq.cli.runs", "Runs on record: list, show, export."),
    "db": ("daq.cli.db", "Database maintenance (migrations)."),
    "user": ("daq.cli.users", "Users and tokens of the operator API."),
    "simulate": ("daq.cli.simulate", "Run simulated instruments alone and print their resources."),
}
#: Single commands: name → (module with ``register(app)``, short help).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("daq.cli.service", "Run the station: instruments, storage, MQTT, dashboard."),
    "login": ("daq.cli.login", "Log in to the station; the token is kept for the commands."),
    "instruments": ("daq.cli.service", "Identify each instrument and show its health."),
    "report": ("daq.cli.report", "Write the HTML report of a campaign."),
}


def _load(name: str) -> Any:
    if name in GROUPS:
        module = importlib.import_module(GROUPS[name][0])
        group = typer.main.get_group(module.app)
        group.name = name
        return group
    if name in COMMANDS:
        module = importlib.import_module(COMMANDS[name][0])
        holder = typer.Typer()
        module.register(holder)
        loaded = typer.main.get_command(holder)
        if isinstance(loaded, typer.core.TyperGroup):
            return loaded.commands.get(name)
        return loaded
    return None


class LazyGroup(typer.core.TyperGroup):
    """The top-level group: imports a command's module only when that command runs."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted([*GROUPS, *COMMANDS])

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return _load(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, help_) for name, (_, help_) in sorted({**GROUPS, **COMMANDS}.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


cli = LazyGroup(name="daq", help=HELP, no_args_is_help=True)


def main() -> None:
    """Entry point of the ``daq`` console script."""
    cli()
