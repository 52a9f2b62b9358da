"""`daq laser`: UV laser: run a drilling job on a sample lot and grade it (O / Δ / X).

``daq laser run --sample EX1-2026-001 --holes 500`` validates the parameters before
anything is sent, drills with a progress bar, and prints the grade. The laser is the
instrument configured with driver ``uv_laser`` (or ``--resource``); with none configured
a simulated laser is started on the service's clock and told what film is on its stage.
The job, its holes and grade are stored in the database (migrated to head first); the
progress and result events go to the MQTT outbox and, when ``DAQ_MQTT_URL`` names an
external broker, are published from here as well (QoS 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from daq.bus import Bus
from daq.clock import SimClock
from daq.config import Settings, load_settings
from daq.laser.grading import RULE
from daq.laser.kind import sample_loaded
from daq.laser.params import LaserJobParams, LaserParameterOutOfRange, validate
from daq.laser.store import LaserJobStore, SampleInfo
from daq.procedures.laser_job import LaserJob, LaserJobResult
from daq.station.errors import InstrumentClaimed
from daq.station.simulation import LocalDoor, SimulatorDoor, tell
from drivers.errors import InstrumentError
from drivers.uv_laser import UvLaser

app = typer.Typer(help="UV laser: run a drilling job and grade it.", no_args_is_help=True)

T = TypeVar("T")
_err = Console(stderr=True)
_out = Console()
log = logging.getLogger(__name__)


class LaserCliError(Exception):
    """Something the operator must fix before the job can run."""


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command; errors become one line on stderr and exit ≠ 0, never a traceback."""
    try:
        return asyncio.run(main())
    except (LaserParameterOutOfRange, InstrumentClaimed) as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except (LaserCliError, InstrumentError, ValueError, OSError) as exc:
        _err.print(f"[red]error:[/red] {exc}")
    except KeyboardInterrupt:
        _err.print("interrupted: the job was aborted (shutter closed first); "
                   "`daq runs list --kind laser_job` shows it")
        raise typer.Exit(130) from None
    except Exception as exc:  # no traceback for an operator
        _err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
    raise typer.Exit(1)


def _sample_from_catalogue(sample_id: str, material: str | None, thickness_um: float | None
                           ) -> SampleInfo | None:
    """A new lot's description: ``--material``/``--thickness-um``, else Table 1 by prefix.

    Table 1 (``simulators.materials``) is the catalogue of the films this lab makes; it is
    read here only to describe a lot being registered, never for the job's logic.
    """
    from simulators.materials import MATERIALS, material_for_id

    key = (material or "").upper() or None
    entry = MATERIALS.get(key) if key else material_for_id(sample_id)
    if key and entry is None:
        raise LaserCliError(f"unknown material {material!r}; known: {', '.join(MATERIALS)}")
    if entry is None:
        if thickness_um is None:
            return None
        return SampleInfo(sample_id, key or "UNKNOWN", key or "unknown film", thickness_um, True)
    return SampleInfo(
        sample_id,
        entry.key,
        entry.name,
        thickness_um if thickness_um is not None else float(entry.adhesive_thickness_um),
        entry.film_forms,
    )


@contextlib.asynccontextmanager
async def _laser_resource(
    settings: Settings, clock: SimClock, name: str | None, resource: str | None
) -> AsyncIterator[tuple[str, str, SimulatorDoor | None]]:
    """(instrument name, resource, side door of a simulator started here): configured,
    given, or a simulator started here."""
    configured = {n: c for n, c in settings.instruments.items() if c.driver == "uv_laser"}
    if resource is not None:
        yield name or "laser", resource, None
        return
    if configured:
        chosen = name if name in configured else next(iter(configured))
        yield chosen, configured[chosen].address(), None
        return
    from simulators.clock import Clock
    from simulators.registry import start_simulators

    sims = await start_simulators(["laser"], Clock(clock.scale, clock.origin))
    _err.print(f"no laser configured: using a simulated laser at {sims['laser']}")
    try:
        yield name or "laser", sims["laser"], LocalDoor(sims.instruments["laser"].simulate)
    finally:
        await sims.stop()


@contextlib.asynccontextmanager
async def _outbox_publisher(settings: Settings, sessions: Any, clock: SimClock
                            ) -> AsyncIterator[None]:
    """Drain the outbox to an external broker while the job runs (no-op when embedded)."""
    from daq.mqtt.topics import parse_mqtt_url

    address = parse_mqtt_url(settings.mqtt_url, settings.embedded_mqtt_port)
    if address.embedded:
        yield
        return
    import aiomqtt

    from daq.mqtt.outbox import OutboxDrainer

    drainer = OutboxDrainer(sessions, clock)
    stop = asyncio.Event()

    async def pump() -> None:
        try:
            async with aiomqtt.Client(address.host, address.port) as client:

                async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
                    await client.publish(topic, payload, qos=qos, retain=retain)

                while True:
                    await drainer.drain(publish)
                    if stop.is_set():
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.2)
        except (aiomqtt.MqttError, OSError) as exc:
            _err.print(f"[yellow]MQTT broker unreachable ({exc}): events stay in the outbox "
                       "until the service publishes them[/yellow]")

    task = asyncio.get_running_loop().create_task(pump())
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)


def _print_result(result: LaserJobResult) -> None:
    s = result.summary
    colour = {"DONE": "green", "ABORTED": "yellow"}.get(result.outcome, "red")
    _out.print(f"run {result.run_id}: [{colour}]{result.outcome}[/{colour}]"
               + (f" — {result.reason}" if result.reason else ""))
    _out.print(f"sample {s['sample_id']}: {s['holes_done']} of {s['n_holes']} holes drilled, "
               f"shutter {'closed' if s.get('shutter_closed') else 'NOT confirmed closed'}")
    if result.grade is not None:
        g = result.grade
        taper = "-" if g.median_taper is None else f"{g.median_taper:.2f}"
        _out.print(f"inspected {g.holes_inspected} holes: {g.open_share:.1%} open, "
                   f"{g.dross_share:.1%} with dross, median taper {taper}")
        _out.print(f"[bold]grade {g.grade}[/bold]")
        _out.print(f"rule: {RULE}", style="dim")


@app.command("run")
def run(
    sample: Annotated[str, typer.Option("--sample", help="sample lot id, e.g. EX1-2026-001")],
    holes: Annotated[int, typer.Option("--holes", help="number of holes")] = 500,
    power: Annotated[float, typer.Option("--power", help="average power, W")] = 2.0,
    diameter_um: Annotated[float, typer.Option("--diameter-um", help="hole Ø, µm")] = 40.0,
    pulse_khz: Annotated[float, typer.Option("--pulse-khz", help="pulse rate, kHz")] = 20.0,
    hole_rate: Annotated[float, typer.Option("--hole-rate", help="holes per second")] = 100.0,
    wavelength_nm: Annotated[float, typer.Option(
        "--wavelength-nm", help="must be the laser's 355 nm")] = 355.0,
    material: Annotated[str | None, typer.Option(
        help="material key (EX1…CMP5) to register a new lot")] = None,
    thickness_um: Annotated[float | None, typer.Option(
        "--thickness-um", help="adhesive thickness of a new lot, µm")] = None,
    laser_name: Annotated[str | None, typer.Option("--laser", help="instrument name")] = None,
    resource: Annotated[str | None, typer.Option(help="laser VISA resource")] = None,
    operator: Annotated[str | None, typer.Option(help="who runs the job")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: Annotated[Path | None, typer.Option(help="daq.toml (default: DAQ_CONFIG)")] = None,
    url: Annotated[str | None, typer.Option("--url", help="database URL")] = None,
) -> None:
    """Drill SAMPLE with the patent's defaults (40 µm, 20 kHz, 100 holes/s) and grade it."""
    params = LaserJobParams(sample, holes, diameter_um, pulse_khz * 1000.0, hole_rate, power,
                            wavelength_nm)

    async def main() -> LaserJobResult:
        validate(params)  # before the database, the simulator or the laser
        from daq.station.ownership import station_claims
        from daq.storage.database import create_engine, session_factory, upgrade
        from daq.storage.recorder import DbRecorder

        settings = load_settings(config)
        db_url = url or settings.database_url
        await upgrade(db_url)
        engine = create_engine(db_url)
        try:
            sessions = session_factory(engine)
            clock = SimClock(scale=settings.time_scale, origin=settings.time_origin)
            store = LaserJobStore(sessions)
            info = await store.sample(sample)
            if info is None:
                new = _sample_from_catalogue(sample, material, thickness_um)
                if new is None:
                    raise LaserCliError(
                        f"sample {sample!r} is not on record and its id names no material "
                        "of Table 1: give --material KEY (and --thickness-um)"
                    )
                info = await store.ensure_sample(new, clock.now(), note="registered by daq laser")
                _err.print(f"registered sample {sample}: {info.material_name}, "
                           f"{info.adhesive_thickness_um:g} µm adhesive")
            bus = Bus()
            recorder = DbRecorder(sessions, bus, prefix=settings.mqtt_prefix,
                                  station=settings.station, clock=clock)
            async with (
                _laser_resource(settings, clock, laser_name, resource) as (name, res, door),
                station_claims(sessions, settings, {name: res}),  # refused if a station has it
                UvLaser(res) as laser,
                _outbox_publisher(settings, sessions, clock),
            ):
                progress = Progress(
                    TextColumn(f"drilling {sample}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("holes"), TimeElapsedColumn(), console=_err,
                    disable=as_json,
                )
                bar = progress.add_task("drill", total=holes)

                def advance(done: int, _total: int) -> None:
                    progress.update(bar, completed=done)

                if door is not None:  # a simulator: its side door learns the lot
                    await tell(door, sample_loaded(name, info))
                job = LaserJob(laser, params, clock, recorder, bus, store=store, sample=info,
                               instrument=name, operator=operator,
                               on_progress=advance)
                with progress:
                    return await job.run()
        finally:
            await engine.dispose()

    result = _run(main)
    if as_json:
        _out.print_json(json.dumps({
            "run_id": result.run_id, "outcome": result.outcome, "reason": result.reason,
            **result.summary,
        }, default=str))
    else:
        _print_result(result)
    if result.outcome != "DONE":
        raise typer.Exit(1)
