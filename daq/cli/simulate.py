"""`daq simulate`: run simulated instruments alone and print their resource strings."""

from __future__ import annotations

from pathlib import Path

import typer

from daq.cli.loop import run
from simulators import registry
from simulators.framework import CommandError

app = typer.Typer(
    help="Run simulated instruments alone and print their resource strings.",
    # A group by registration, but used as one command: let options follow the names.
    context_settings={"allow_interspersed_args": True},
)


@app.callback(invoke_without_command=True)
def simulate(
    names: list[str] | None = typer.Argument(
        None, help=f"Which simulators: {', '.join(registry.names())} or all (default all)."
    ),
    time_scale: float = typer.Option(
        1.0, "--time-scale", envvar="DAQ_TIME_SCALE", min=1e-6,
        help="Simulated time runs this many times faster than real time.",
    ),
    time_origin: float | None = typer.Option(
        None, "--time-origin", envvar="DAQ_TIME_ORIGIN",
        help="Epoch seconds where simulated and real time agree (share it with the service).",
    ),
    host: str = typer.Option("127.0.0.1", help="Address the TCP simulators listen on."),
    port: list[str] = typer.Option(
        [], "--port", metavar="[NAME=]PORT",
        help="TCP port (0 = any free port). Defaults: press 5025, laser 5026.",
    ),
    fault: list[str] = typer.Option(
        [], "--fault", metavar="[NAME:]FAULT[,ARG]",
        help="Inject a fault at start: door, estop, overtemp, pressure_leak,600, stall,5 …",
    ),
    link_dir: Path | None = typer.Option(
        None, help="Directory for the serial simulators' stable symlinks (default: temp dir)."
    ),
) -> None:
    """Start the simulators, print one `name resource` line each, serve until Ctrl-C."""
    try:
        run(registry.serve(
            names or ["all"], time_scale=time_scale, time_origin=time_origin, host=host,
            port_args=port, faults=fault, link_dir=link_dir,
        ))
    except (KeyError, ValueError, CommandError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass
