"""`daq run` and `daq instruments`: the service itself and a health check of its instruments."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import signal
import socket
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from daq.cli.output import EXIT_REFUSED
from daq.config import Settings, load_settings
from daq.station.errors import InstrumentClaimed

T = TypeVar("T")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = typer.Option(None, "--config", help="daq.toml (default: $DAQ_CONFIG)")
ScaleOption = typer.Option(None, "--time-scale", help="simulated time runs N× faster")


def register(app: typer.Typer) -> None:
    """Add the service commands to the top-level ``daq`` app."""
    app.command("run")(run)
    app.command("instruments")(instruments)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    from daq.cli.loop import run

    return run(coro)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except Exception as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def run(
    config: Path | None = ConfigOption,
    time_scale: float | None = ScaleOption,
    port: int | None = typer.Option(None, "--port", help="HTTP port of API and dashboard"),
    host: str | None = typer.Option(None, "--host", help="HTTP address (default 127.0.0.1)"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging"),
) -> None:
    """Run the station: instruments (simulators unless configured), storage, MQTT, API."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "amqtt", "asyncua", "transitions", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = _settings(config, time_scale=time_scale, http_port=port, http_host=host)
    try:
        code = _run(_serve(settings))
    except KeyboardInterrupt:
        code = 130
    except InstrumentClaimed as exc:  # another owner has it: refused before anything opened
        raise _fail(f"station {settings.station} not started: {exc}", EXIT_REFUSED) from None
    except Exception as exc:
        raise _fail(_explain(exc)) from None
    raise typer.Exit(code)


def _explain(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if "Error" not in text else text


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve(settings: Settings) -> int:
    from daq.station.background import background_services
    from daq.station.heap import freeze_startup_heap
    from daq.station.lab import Lab

    stop = asyncio.Event()
    with _stop_on_signals(stop):
        async with Lab(settings) as lab, background_services(lab) as background:
            _announce(lab)
            for run_id in background.resumed_aging_runs:
                console.print(f"  aging run {run_id} resumed (gap back-filled from the oven log)")
            for name in background.peel_watchers:
                console.print(f"  {name}: peels started at the tester are captured automatically")
            server, sock = await _http_server(lab)
            # Everything the station keeps for its lifetime exists now: full collections
            # walking it would stall the event loop for tens of ms (daq.station.heap).
            freeze_startup_heap()
            serving = (
                asyncio.create_task(server.serve(sockets=[sock])) if server is not None else None
            )
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
            if serving is not None:
                waits.append(serving)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            console.print("stopping: aborting live runs to safe state, flushing readings …")
            if server is not None and serving is not None:
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await serving
            for w in waits:
                w.cancel()
        console.print("stopped cleanly")
    return 0


def _announce(lab: Any) -> None:
    s = lab.settings
    broker = (f"embedded broker 127.0.0.1:{lab.broker.port}" if lab.broker is not None
              else s.mqtt_url)
    console.print(f"[bold]Lamina DAQ[/bold] station {s.station}, time scale {s.time_scale:g}")
    console.print(f"  database  {s.database_url}")
    console.print(f"  MQTT      {broker}, topics under {s.mqtt_prefix}/")
    if lab.opcua is not None:
        console.print(f"  OPC UA    {s.opcua_url} (port {lab.opcua.port}), read-only, "
                      f"station users" + (" or anonymous" if s.opcua_allow_anonymous else ""))
    for name, inst in lab.instruments.items():
        console.print(f"  {name:<9} {inst.resource}  {inst.idn or '(not answering yet)'}")
    for run in lab.interrupted:
        console.print(f"  [yellow]run {run.run_id} was live at the last stop: INTERRUPTED, "
                      f"{run.readings_stored} readings stored[/yellow]")


async def _http_server(lab: Any) -> tuple[Any, socket.socket | None]:
    """A uvicorn server for the API (and its bound socket), if the API package is present."""
    if importlib.util.find_spec("daq.api.app") is None:
        console.print("  (no API in this build: MQTT and the database only)")
        return None, None
    create_app = importlib.import_module("daq.api.app").create_app
    serving = importlib.import_module("daq.api.serving")
    s = lab.settings
    try:
        sock = serving.listening_socket(s.http_host, s.http_port)
    except OSError as exc:
        raise RuntimeError(f"cannot serve HTTP on {s.http_host}:{s.http_port}: {exc} "
                           "(choose another with --port)") from None
    url = serving.url_of(sock, s.http_host) + "/"
    try:
        accounts = importlib.import_module("daq.api.accounts")
        password = await accounts.ensure_admin(lab.sessions)
        if password:
            console.print(accounts.login_hint(url, "admin", password))
        else:
            console.print(f"  dashboard {url}  (log in with a user; `daq user add` makes one)")
    except Exception as exc:  # accounts are optional for serving
        console.print(f"  dashboard {url}  ({exc})")
    config = uvicorn.Config(create_app(lab), host=s.http_host, port=s.http_port,
                            log_level="warning", lifespan="on")
    return serving.QuietServer(config), sock


# -- daq instruments ----------------------------------------------------------------------
def instruments(
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Identify each instrument of the station (or, with none answering, of an in-process
    one: configured, or simulated) and show its health and latest reading."""
    settings = _settings(config)
    try:
        found = _run(_check(settings))
    except typer.Exit:
        raise
    except Exception as exc:
        raise _fail(_explain(exc)) from None
    if as_json:
        print(json.dumps(found, indent=2))
    else:
        table = Table(title="instruments")
        for col in ("name", "driver", "resource", "identity", "health", "reading"):
            table.add_column(col)
        for item in found:
            colour = "green" if item["health"] == "ok" else "red"
            table.add_row(str(item["name"]), str(item["driver"]), str(item["resource"]),
                          str(item["idn"] or ""), f"[{colour}]{item['health']}[/{colour}]",
                          str(item["detail"]))
        console.print(table)
    if any(item["health"] != "ok" for item in found):
        raise typer.Exit(1)


async def _check(settings: Settings) -> list[dict[str, object]]:
    """The station's instruments once each has answered or failed (an in-process station
    is asked until none is still connecting)."""
    from daq.cli.output import operator_errors
    from daq.cli.through_station import open_station

    with operator_errors():
        async with open_station(lambda: settings) as (station, in_process):
            while True:
                listed = [i for i in await station.instruments()
                          if i.station in (None, settings.station) or not in_process]
                if not in_process or all(i.status != "connecting" for i in listed):
                    break
                await asyncio.sleep(0.05)
    return [{
        "name": i.name, "driver": i.driver, "resource": i.resource, "idn": i.idn,
        "health": "ok" if i.status == "online" else i.status,
        "detail": ", ".join(f"{k} {v.v:g} {v.unit}" for k, v in i.values.items()
                            if v.v is not None) or ("" if i.status == "online" else i.status),
        "values": {k: {"v": v.v, "unit": v.unit} for k, v in i.values.items()},
        "station": i.station,
    } for i in listed]
