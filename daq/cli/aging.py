"""`daq aging`: start, resume, watch and pull specimens from a 1000-hour aging run.

The run is kept in the station database (``DAQ_DATABASE_URL`` / ``--config``), migrated to
the current schema first. ``start`` and ``resume`` drive the run in the foreground with a
progress bar; Ctrl-C (or ``--detach``) leaves it RUNNING, to be resumed by ``daq aging
resume`` or by the service. The oven is ``--resource``, else the configured instrument with
driver ``aging_oven``, else an oven simulator started inside this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from daq.aging.accounting import AgingPlan
from daq.aging.store import AgingError, Sessions, record_pullout, status
from daq.clock import SimClock, iso
from daq.config import Settings, load_settings
from daq.messages import RunEvent
from daq.procedures.aging_run import AgingRunner
from daq.station.errors import InstrumentClaimed
from drivers.aging_oven import AgingOven
from drivers.errors import InstrumentError

app = typer.Typer(
    help="Aging oven: start, watch and pull specimens from a 1000-hour run.", no_args_is_help=True
)

T = TypeVar("T")
_err = Console(stderr=True)
_out = Console()

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="daq.toml (default: DAQ_CONFIG)")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="database URL (default: settings)")]
RunOpt = Annotated[str | None, typer.Option("--run", help="aging run id (default: the latest)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@dataclass
class Station:
    """What a command needs: settings, clock, sessions and a recorder on the database."""

    settings: Settings
    clock: SimClock
    sessions: Sessions


@contextlib.asynccontextmanager
async def _station(config: Path | None, url: str | None) -> AsyncIterator[Station]:
    from daq.storage.database import create_engine, session_factory, upgrade

    settings = load_settings(config)
    db_url = url or settings.database_url
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        clock = SimClock(scale=settings.time_scale, origin=settings.time_origin)
        yield Station(settings, clock, session_factory(engine))
    finally:
        await engine.dispose()


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command; errors become one line on stderr and exit 1, never a traceback."""
    try:
        return asyncio.run(main())
    except InstrumentClaimed as exc:  # another station controls the oven: nothing opened
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except (AgingError, InstrumentError, ValueError) as exc:
        _err.print(f"[red]error:[/red] {exc}")
    except KeyboardInterrupt:
        _err.print("interrupted: the run stays RUNNING; `daq aging resume` continues it")
        raise typer.Exit(130) from None
    except Exception as exc:  # no traceback for an operator
        _err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
    raise typer.Exit(1)


def _recorder(st: Station) -> Any:
    from daq.storage.recorder import DbRecorder

    return DbRecorder(st.sessions, None, prefix=st.settings.mqtt_prefix,
                      station=st.settings.station, clock=st.clock)


@contextlib.asynccontextmanager
async def _oven_source(st: Station, name: str, resource: str | None
                       ) -> AsyncIterator[tuple[str, Callable[[str, str], AgingOven]]]:
    """The oven's resource string and a factory of drivers (starting a simulator if none)."""
    configured = {n: c for n, c in st.settings.instruments.items() if c.driver == "aging_oven"}
    sims = None
    timeout_s, baudrate = 2.0, 9600
    cfg = configured.get(name) or (next(iter(configured.values())) if configured else None)
    if cfg is not None:
        timeout_s, baudrate = cfg.timeout_s, cfg.baudrate
        resource = resource or cfg.address()
    if resource is None:
        from simulators.clock import Clock
        from simulators.registry import start_simulators

        sims = await start_simulators(["oven"], Clock(st.clock.scale, st.clock.origin))
        resource = sims["oven"]
        _err.print(f"no oven configured: using a simulated oven at {resource}")
    chosen = resource
    drivers: dict[str, AgingOven] = {}

    def factory(_name: str, res: str) -> AgingOven:
        target = res if (res and sims is None) else chosen
        if target not in drivers:
            drivers[target] = AgingOven(target, timeout=timeout_s, baudrate=baudrate)
        return drivers[target]

    from daq.station.ownership import station_claims

    try:
        # Refused, naming the holder, while a station controls this oven.
        async with station_claims(st.sessions, st.settings, {name: chosen}):
            yield chosen, factory
    finally:
        for drv in drivers.values():
            await drv.close()
        if sims is not None:
            await sims.stop()


async def _drive(runner: AgingRunner, run_ids: list[str], as_json: bool,
                 detach: bool) -> None:
    """Show progress until the runs complete (or return at once with ``detach``)."""
    if detach:
        await runner.stop()
        for rid in run_ids:
            _out.print(f"{rid} RUNNING (detached; the service or `daq aging resume` goes on)")
        return
    try:
        if as_json:
            await asyncio.gather(*(runner.wait(r) for r in run_ids))
        else:
            await _progress(runner, run_ids)
    finally:
        await runner.stop()


async def _progress(runner: AgingRunner, run_ids: list[str]) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed:.1f}/{task.total:.0f} h in tolerance"),
               TextColumn("{task.fields[extra]}"), TimeElapsedColumn())
    with Progress(*columns, console=_out) as bar:
        tasks = {r: bar.add_task(r, total=runner.runs[r].acc.plan.target_h, extra="")
                 for r in run_ids}
        while True:
            for rid, task in tasks.items():
                acc = runner.runs[rid].acc
                nxt = acc.next_pullout_h()
                extra = (f"out {acc.out_of_tolerance_s / 3600:.1f} h · unmonitored "
                         f"{acc.unmonitored_s / 3600:.1f} h · excursions {acc.excursion_count}"
                         + (f" · next pull-out {nxt:g} h" if nxt is not None else ""))
                bar.update(task, completed=acc.in_tolerance_h, extra=extra)
            if all(runner.tasks[r].done() for r in run_ids):
                break
            await asyncio.sleep(0.2)
    for rid in run_ids:
        runner.tasks[rid].result()  # raise what a run died of


@app.command("start")
def start(
    specimen: Annotated[list[str], typer.Option("--specimen", help="specimen id (repeat)")],
    setpoint: Annotated[float, typer.Option(help="setpoint °C")] = 150.0,
    tolerance: Annotated[float, typer.Option(help="tolerance band ± °C")] = 3.0,
    hours: Annotated[float, typer.Option(help="target hours in tolerance")] = 1000.0,
    pullout: Annotated[str, typer.Option(help="planned pull-outs, hours in tolerance")
                       ] = "250,500,1000",
    alarm_after_min: Annotated[float, typer.Option(
        help="alarm when an excursion lasts longer than this (simulated minutes)")] = 30.0,
    oven: Annotated[str, typer.Option(help="oven instrument name")] = "oven1",
    resource: Annotated[str | None, typer.Option(help="oven VISA resource")] = None,
    operator: Annotated[str | None, typer.Option(help="who starts the run")] = None,
    detach: Annotated[bool, typer.Option(help="record the start and return")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Put specimens in the oven and run until they have the target hours in tolerance."""
    try:
        pullouts = tuple(float(p) for p in pullout.split(",") if p.strip())
        plan = AgingPlan(setpoint_c=setpoint, tolerance_c=tolerance, target_h=hours,
                         pullouts_h=pullouts, alarm_after_s=alarm_after_min * 60)
    except ValueError as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    async def main() -> None:
        async with _station(config, url) as st, _oven_source(st, oven, resource) as (res, ovens):
            runner = AgingRunner(ovens=ovens, clock=st.clock, recorder=_recorder(st),
                                 sessions=st.sessions)
            rid = await runner.start(plan, list(specimen), oven_name=oven, resource=res,
                                     operator=operator)
            if not as_json:
                started = runner.runs[rid].acc.started_ts
                _out.print(f"aging run {rid} started at {iso(started)}: "
                           f"{setpoint:g} ± {tolerance:g} °C for {hours:g} h, "
                           f"{len(specimen)} specimens")
            await _drive(runner, [rid], as_json, detach)
            if as_json:
                _out.print_json(json.dumps(await status(st.sessions, rid)))
            elif not detach:
                _print_status(await status(st.sessions, rid))

    _run(main)


@app.command("resume")
def resume(run: RunOpt = None, resource: Annotated[str | None, typer.Option(
        help="oven VISA resource (default: the run's)")] = None,
        as_json: JsonOpt = False, config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Continue RUNNING aging runs in the foreground, back-filling the gap from the oven log."""

    async def main() -> None:
        async with _station(config, url) as st:
            from daq.aging.store import load_accountant, running_ids

            ids = [run] if run else await running_ids(st.sessions)
            if not ids:
                raise AgingError("no aging run is RUNNING")
            row, _ = await load_accountant(st.sessions, ids[0])
            async with _oven_source(st, row.oven, resource or row.resource) as (_, ovens):
                runner = AgingRunner(ovens=ovens, clock=st.clock, recorder=_recorder(st),
                                     sessions=st.sessions)
                for rid in ids:
                    await runner.resume(rid)
                await _drive(runner, ids, as_json, detach=False)
            for rid in ids:
                report = await status(st.sessions, rid)
                if as_json:
                    _out.print_json(json.dumps(report))
                else:
                    _print_status(report)

    _run(main)


@app.command("status")
def status_cmd(run: RunOpt = None, as_json: JsonOpt = False, config: ConfigOpt = None,
               url: UrlOpt = None) -> None:
    """Hours in tolerance of the target, excursions, pull-outs due and done."""

    async def main() -> None:
        async with _station(config, url) as st:
            report = await status(st.sessions, run)
        if as_json:
            _out.print_json(json.dumps(report))
        else:
            _print_status(report)

    _run(main)


@app.command("pullout")
def pullout_cmd(
    specimen: Annotated[list[str] | None, typer.Option(
        "--specimen", help="specimen id (repeat); default: those of the due pull-out")] = None,
    run: RunOpt = None,
    operator: Annotated[str | None, typer.Option(help="who pulls")] = None,
    as_json: JsonOpt = False, config: ConfigOpt = None, url: UrlOpt = None,
) -> None:
    """Record specimens taken out of the oven; each gets its aging hours and state PULLED."""

    async def main() -> None:
        async with _station(config, url) as st:
            now = st.clock.now()
            done = await record_pullout(st.sessions, run, list(specimen or []), now, operator)
            await _recorder(st).event(RunEvent(done.run_id, now, "note", {
                "what": "pullout", "specimens": done.specimen_ids,
                "in_tolerance_h": round(done.in_tolerance_h, 3), "planned_h": done.planned_h,
                "operator": operator}))
        if as_json:
            _out.print_json(json.dumps(done.__dict__))
        else:
            _out.print(f"pulled {', '.join(done.specimen_ids)} from {done.run_id} at "
                       f"{done.in_tolerance_h:.1f} h in tolerance")

    _run(main)


def _print_status(r: dict[str, Any]) -> None:
    target = r["target_h"]
    done = min(r["in_tolerance_h"], target)
    width = 40
    filled = int(width * done / target) if target else 0
    _out.print(f"[bold]{r['run_id']}[/bold] {r['status']}  oven {r['oven']}  "
               f"{r['setpoint_c']:g} ± {r['tolerance_c']:g} °C  since {iso(r['started_ts'])}")
    _out.print(f"[green]{'█' * filled}[/green]{'░' * (width - filled)} "
               f"{done:.1f} / {target:g} h in tolerance ({100 * done / target:.1f} %)")
    _out.print(f"out of tolerance {r['out_of_tolerance_h']:.2f} h · unmonitored "
               f"{r['unmonitored_h']:.2f} h · elapsed {r['elapsed_h']:.2f} h "
               f"(accounted to {iso(r['accounted_until_ts'])})")
    nxt = r["next_pullout_h"]
    _out.print(f"next pull-out: {f'{nxt:g} h' if nxt is not None else 'none planned'}")
    for due in r["pullouts_due"]:
        _out.print(f"[yellow]pull-out due[/yellow] at {due['planned_h']:g} h: "
                   f"{', '.join(due['specimens'])}  → daq aging pullout --run {r['run_id']}")
    if r["excursions"]:
        table = Table(title=f"{len(r['excursions'])} excursion(s)")
        for col in ("start", "end", "hours", "peak °C", "alarm"):
            table.add_column(col)
        for e in r["excursions"]:
            table.add_row(iso(e["start_ts"]), iso(e["end_ts"]) if e["end_ts"] else "open",
                          f"{e['duration_h']:.2f}", f"{e['peak_deviation_c']:+.1f}",
                          "yes" if e["alarm_raised"] else "")
        _out.print(table)
    for p in r["pullouts"]:
        _out.print(f"pulled at {p['in_tolerance_h']:.1f} h: {', '.join(p['specimens'])}")
