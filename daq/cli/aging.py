"""`daq aging`: start, follow and pull specimens from a 1000-hour aging run.

``start`` runs through the station at ``DAQ_STATION_URL`` (or, when none answers, the
same station in-process: ``--resource``, the configured oven, or the oven simulator):
``POST /api/runs`` with ``kind=aging_run``, a progress bar fed by the station's stream
until the specimens have their hours, then the stored status. Ctrl-C aborts the run;
``--detach`` starts it and returns (a running station goes on; an in-process one
suspends it on the way out, to be resumed by ``daq run`` or ``daq aging resume``).
``resume`` follows RUNNING runs through a station that resumes them (back-filling the gap
from the oven log). ``status`` and ``pullout`` read and write the station database
(``DAQ_DATABASE_URL`` / ``--config``) through :mod:`daq.aging.store`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from daq.aging.params import AgingRunParams
from daq.aging.pullout import pull_out
from daq.aging.store import AgingError, Sessions, status
from daq.cli.loop import run as run_loop
from daq.cli.specimens import register_specimens, start_registering
from daq.cli.through_station import (
    follow_run,
    instrument_at,
    open_station,
    running_station,
    with_only,
)
from daq.client import (
    NotFound,
    PulloutRecord,
    Refused,
    RunStarted,
    Station,
    StationError,
    StreamEvent,
    StreamMessage,
)
from daq.clock import SimClock, iso
from daq.config import Settings, load_settings
from daq.record import Recorder
from daq.station.errors import InstrumentClaimed

app = typer.Typer(
    help="Aging oven: start, watch and pull specimens from a 1000-hour run.", no_args_is_help=True
)

T = TypeVar("T")
_err = Console(stderr=True)
_out = Console()
DRIVER = "aging_oven"

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="daq.toml (default: DAQ_CONFIG)")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="database URL (default: settings)")]
RunOpt = Annotated[str | None, typer.Option("--run", help="aging run id (default: the latest)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _fail(message: str, code: int) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code)


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command; errors become one line on stderr, never a traceback."""
    try:
        return run_loop(main())
    except typer.Exit:
        raise
    except (InstrumentClaimed, Refused, NotFound) as exc:  # refused: nothing moved
        raise _fail(str(exc), 2) from None
    except (AgingError, StationError, ValueError, OSError) as exc:
        raise _fail(str(exc), 1) from None
    except KeyboardInterrupt:
        _err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # no traceback for an operator
        raise _fail(f"{type(exc).__name__}: {exc}", 1) from None


def fallback_settings(config: Path | None, url: str | None, oven: str | None,
                      resource: str | None) -> Settings:
    """The settings of this command's own station: only its oven."""
    return with_only(load_settings(config, database_url=url), DRIVER, oven, resource, "oven1",
                     poll_interval_s=1.0)


class AgingProgress:
    """A progress bar of one aging run: hours in tolerance of the target, out of
    tolerance, unmonitored, excursions and the next pull-out (from its progress events)."""

    def __init__(self, run_id: str, target_h: float, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.completed:.1f}/{task.total:.0f} h in tolerance"),
            TextColumn("{task.fields[extra]}"), TimeElapsedColumn(), console=console)
        self._run_id, self._target_h = run_id, target_h
        self._bar: TaskID | None = None

    def __enter__(self) -> AgingProgress:
        self._progress.start()
        self._bar = self._progress.add_task(self._run_id, total=self._target_h, extra="")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, message: StreamMessage) -> None:
        """Move the bar on a progress event."""
        if not (isinstance(message, StreamEvent) and message.kind == "progress"
                and self._bar is not None):
            return
        d = message.data
        hours = {k: float(v) for k in ("in_tolerance_h", "out_of_tolerance_h", "unmonitored_h")
                 if isinstance(v := d.get(k), int | float)}
        if "in_tolerance_h" not in hours:
            return
        nxt = d.get("next_pullout_h")
        extra = (f"out {hours.get('out_of_tolerance_h', 0.0):.1f} h · unmonitored "
                 f"{hours.get('unmonitored_h', 0.0):.1f} h · excursions {d.get('excursions', 0)}"
                 + (f" · next pull-out {nxt:g} h" if isinstance(nxt, int | float) else ""))
        self._progress.update(self._bar, completed=hours["in_tolerance_h"], extra=extra)


async def start_aging(station: Station, params: AgingRunParams, new: NewSpecimens
                      ) -> RunStarted:
    """Start the run; specimens not on record are registered first (as made)."""
    return await start_registering(station, "aging_run", params, "specimen_ids", lambda:
                                   register_specimens(station, params.specimen_ids,
                                                      new.sample, new.material))


@dataclass(frozen=True)
class NewSpecimens:
    """The lot and material of the specimens to register if they are not on record."""

    sample: str | None
    material: str | None


async def _start(params: AgingRunParams, new: NewSpecimens, fallback: Settings,
                 resource: str | None, detach: bool, as_json: bool
                 ) -> tuple[str, str, dict[str, Any]]:
    """Start the run; follow it unless ``detach``: (run id, status, stored status)."""
    async with open_station(lambda: fallback) as (station, in_process):
        if resource is not None and not in_process:
            name = await instrument_at(station, DRIVER, resource, "oven")
            params = params.model_copy(update={"oven": name})
        describe = (f"{params.setpoint_c:g} ± {params.tolerance_c:g} °C for "
                    f"{params.hours:g} h, {len(params.specimen_ids)} specimens")
        if detach:
            started = await start_aging(station, params, new)
            where = ("the station goes on" if not in_process
                     else "suspended as this command ends: `daq run` or `daq aging resume` "
                     "goes on")
            _out.print(f"{started.run_id} RUNNING (detached; {where})")
            return started.run_id, "RUNNING", {}
        view = _LazyProgress(params.hours, enabled=not as_json)
        followed = await follow_run(station, lambda: start_aging(station, params, new),
                                    view, what="the oven",
                                    in_process=in_process,
                                    header=None if as_json else f"aging run: {describe}")
        record = followed.record
        report = await station.aging_status(record.id)
    return record.id, record.status, dict(report)


class _LazyProgress:
    """The aging progress bar, made once the run's id is known (the first message)."""

    def __init__(self, target_h: float, *, enabled: bool) -> None:
        self._target_h = target_h
        self._enabled = enabled
        self._bar: AgingProgress | None = None

    def __enter__(self) -> _LazyProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)

    def update(self, message: StreamMessage) -> None:
        if not self._enabled:
            return
        if self._bar is None and isinstance(message, StreamEvent):
            self._bar = AgingProgress(message.run_id, self._target_h, _out).__enter__()
        if self._bar is not None:
            self._bar.update(message)


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
    oven: Annotated[str | None, typer.Option(
        help="oven instrument name (default: the station's first; oven1)")] = None,
    resource: Annotated[str | None, typer.Option(help="oven VISA resource")] = None,
    sample: Annotated[str | None, typer.Option(
        help="lot of specimens not on record (default: the id up to its last '-')")] = None,
    material: Annotated[str | None, typer.Option(
        help="material of a new lot (default: the lot's prefix, e.g. EX1)")] = None,
    operator: Annotated[str | None, typer.Option(
        help="ignored: the station records the run under the user you logged in as")] = None,
    detach: Annotated[bool, typer.Option(help="record the start and return")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Put specimens in the oven and run until they have the target hours in tolerance."""
    try:
        pullouts = [float(p) for p in pullout.split(",") if p.strip()]
        params = AgingRunParams(
            specimen_ids=list(specimen), setpoint_c=setpoint, tolerance_c=tolerance,
            hours=hours, pullouts_h=pullouts, alarm_after_min=alarm_after_min,
            oven=oven if resource is None else (oven or "oven1"))
        fallback = fallback_settings(config, url, oven, resource)
    except ValidationError as exc:
        raise _fail("; ".join(e["msg"].removeprefix("Value error, ")
                              for e in exc.errors()), 2) from None
    except (ValueError, OSError) as exc:
        raise _fail(str(exc), 2) from None
    new = NewSpecimens(sample, material)
    _, outcome, report = _run(lambda: _start(params, new, fallback, resource, detach,
                                             as_json))
    if detach:
        return
    if as_json:
        _out.print_json(json.dumps(report))
    else:
        _print_status(report)
    if outcome != "DONE":
        raise typer.Exit(130 if outcome == "ABORTED" else 1)


async def _resume(fallback: Settings, run: str | None, as_json: bool) -> list[dict[str, Any]]:
    async with open_station(lambda: fallback, background=True) as (station, _), \
            station.stream() as live:
        ids = [run] if run else [r.id for r in (await station.runs(
            kind="aging_run", status="RUNNING")).items]
        if not ids:
            raise AgingError("no aging run is RUNNING")
        pending = {rid for rid in ids if not (await station.run(rid)).ended}
        bars = {}
        for rid in pending if not as_json else ():
            target = (await station.aging_status(rid)).get("target_h")
            bars[rid] = AgingProgress(rid, float(target) if isinstance(target, int | float)
                                      else 1000.0, _out)
        with contextlib.ExitStack() as shown:
            for bar in bars.values():
                shown.enter_context(bar)
            async for message in live.messages():
                if isinstance(message, StreamEvent) and message.run_id in pending:
                    if message.run_id in bars:
                        bars[message.run_id].update(message)
                    if message.is_end:
                        pending.discard(message.run_id)
                if not pending:
                    break
        return [dict(await station.aging_status(rid)) for rid in ids]


@app.command("resume")
def resume(run: RunOpt = None, resource: Annotated[str | None, typer.Option(
        help="oven VISA resource, for an in-process station (see `daq aging status`)")] = None,
        as_json: JsonOpt = False, config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Follow RUNNING aging runs to their end in a station that resumes them (back-filling
    the gap from the oven log)."""
    try:
        fallback = fallback_settings(config, url, None, resource)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc), 2) from None
    for report in _run(lambda: _resume(fallback, run, as_json)):
        if as_json:
            _out.print_json(json.dumps(report))
        else:
            _print_status(report)


@dataclass
class _Db:
    """What ``status`` and ``pullout`` need: settings, clock and database sessions."""

    settings: Settings
    clock: SimClock
    sessions: Sessions


@contextlib.asynccontextmanager
async def _station(config: Path | None, url: str | None) -> AsyncIterator[_Db]:
    from daq.storage.database import create_engine, session_factory, upgrade

    settings = load_settings(config)
    db_url = url or settings.database_url
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        clock = SimClock(scale=settings.time_scale, origin=settings.time_origin)
        yield _Db(settings, clock, session_factory(engine))
    finally:
        await engine.dispose()


def _recorder(st: _Db) -> Recorder:
    from daq.storage.recorder import DbRecorder

    return DbRecorder(st.sessions, None, prefix=st.settings.mqtt_prefix,
                      station=st.settings.station, clock=st.clock)


@app.command("status")
def status_cmd(run: RunOpt = None, as_json: JsonOpt = False, config: ConfigOpt = None,
               url: UrlOpt = None) -> None:
    """Hours in tolerance of the target, excursions, pull-outs due and done (from the
    station at DAQ_STATION_URL, or from the database when no station runs)."""

    async def main() -> None:
        async with running_station() as station:
            if station is not None:
                report: dict[str, Any] = dict(await station.aging_status(run))
            else:
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
    operator: Annotated[str | None, typer.Option(
        help="who pulls, when no station runs (a station records the user you logged in "
        "as)")] = None,
    as_json: JsonOpt = False, config: ConfigOpt = None, url: UrlOpt = None,
) -> None:
    """Record specimens taken out of the oven; each gets its aging hours and state PULLED
    (through the station at DAQ_STATION_URL, or in the database when no station runs)."""

    async def main() -> None:
        async with running_station() as station:
            if station is not None:
                run_id = run or str((await station.aging_status(None))["run_id"])
                done = await station.pull_out(run_id, list(specimen or []) or None)
            else:
                done = await _pull_out_in_database(config, url, run, specimen, operator)
        if as_json:
            _out.print_json(done.model_dump_json())
        else:
            _out.print(f"pulled {', '.join(done.specimen_ids)} from {done.run_id} at "
                       f"{done.in_tolerance_h:.1f} h in tolerance")

    _run(main)


async def _pull_out_in_database(config: Path | None, url: str | None, run: str | None,
                                specimen: list[str] | None, operator: str | None
                                ) -> PulloutRecord:
    """A pull-out recorded straight into the database (no station runs)."""
    async with _station(config, url) as st:
        now = st.clock.now()
        done = await pull_out(st.sessions, _recorder(st), run, list(specimen or []), now,
                              operator)
    return PulloutRecord(id=done.pullout_id, run_id=done.run_id, ts=done.ts,
                         planned_h=done.planned_h, in_tolerance_h=done.in_tolerance_h,
                         specimen_ids=done.specimen_ids, operator=operator)


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
