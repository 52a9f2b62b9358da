"""Terminal output shared by the CLI commands: errors without tracebacks, tables, JSON.

Every command reports a failure the same way: one line ``error: <what happened>`` on
stderr and an exit code (2 for bad input or an instrument held by another station,
refused before anything happened, 1 for a failure while working, 130 for an operator
abort). An operator never sees a traceback;
``DAQ_DEBUG=1`` adds it back for developers.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from daq.client.errors import NotAuthorized, NotFound, Refused, StationError
from daq.recipes import RecipeError
from daq.station.errors import InstrumentClaimed
from daq.station.errors import StationError as StationRefusal

#: Exit codes of every command.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_ABORTED = 130

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: message`` on stderr and leave with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr."""
    err_console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)


@contextmanager
def operator_errors() -> Iterator[None]:
    """Turn the errors an operator can meet into one line and an exit code, no traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except RecipeError as exc:
        fail(str(exc), EXIT_REFUSED)
    except InstrumentClaimed as exc:  # another station controls it: nothing was opened
        fail(str(exc), EXIT_REFUSED)
    except (Refused, NotAuthorized, NotFound) as exc:  # the station refused: nothing moved
        fail(str(exc), EXIT_REFUSED)
    except (StationError, StationRefusal) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_ABORTED)
    except Exception as exc:
        if os.environ.get("DAQ_DEBUG") == "1":
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (DAQ_DEBUG=1 shows the traceback)")


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (one JSON document)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A plain rich table; numbers right-aligned."""
    t = Table(title=title, title_justify="left", show_edge=False)
    for i, name in enumerate(columns):
        t.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*("—" if cell is None else str(cell) for cell in row))
    return t
