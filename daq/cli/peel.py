"""`daq peel`: run a peel test with a live force trace, list a sample's results, or watch
the tester and record every front-panel start.

``daq peel run --specimen ID`` creates the sample lot / laminate / specimen records it
needs (``--sample``, ``--material``, ``--laminate``, ``--aging-hours``), connects to the
configured peel tester or, with none configured, starts the peel tester simulator
in-process on the same clock, peels, shows the force trace live and prints the result.
Exit codes: 0 DONE, 1 any other outcome or failure, 2 refused input, 130 Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from daq.bus import Bus
from daq.cli.peel_view import Trace, result_table
from daq.clock import SimClock, iso
from daq.config import Settings, load_settings
from daq.materials import material_info, material_key_of
from daq.messages import Reading
from daq.peel.calculation import SteadyRegionRule, summarize
from daq.peel.kind import specimen_loaded
from daq.peel.store import NoFilm, PeelStore, SpecimenContext, UnknownRun, UnknownSpecimen
from daq.procedures.peel_test import PeelOutcome, PeelSettings, PeelTest
from daq.station.errors import InstrumentClaimed
from daq.station.simulation import LocalDoor, RemoteDoor, SimulatorDoor, door_beside, tell
from drivers.errors import InstrumentError
from drivers.peel_tester import PeelTester

app = typer.Typer(help="Peel tester: run a peel test, list results.", no_args_is_help=True)

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="daq.toml to read (default: DAQ_CONFIG)")
]
UrlOption = Annotated[
    str | None, typer.Option("--url", help="database URL (default: DAQ_DATABASE_URL)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


class Refused(Exception):
    """Input refused before anything moved (exit 2)."""


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, an exit code, no traceback."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _settings(config: Path | None, url: str | None, time_scale: float | None) -> Settings:
    try:
        return load_settings(config, database_url=url, time_scale=time_scale)
    except (OSError, ValueError) as exc:
        fail(f"cannot read the configuration: {exc}", 2)


def _run(coro: Any) -> Any:
    """Run a command's coroutine; errors an operator can meet become one line."""
    try:
        return asyncio.run(coro)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except (Refused, NoFilm, UnknownSpecimen, UnknownRun, KeyError, InstrumentClaimed) as exc:
        fail(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc), 2)
    except InstrumentError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
    except Exception as exc:
        if os.environ.get("DAQ_DEBUG") == "1":
            raise
        fail(f"{type(exc).__name__}: {exc} (DAQ_DEBUG=1 shows the traceback)")


@dataclass
class Station:
    """What a peel command composed: clock, bus, database, tester."""

    settings: Settings
    clock: SimClock
    bus: Bus
    store: PeelStore
    tester: PeelTester
    instrument: str
    door: SimulatorDoor | None  # a simulator's side door (None: a real tester)
    sessions: Any


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Any]:
    from daq.storage.database import create_engine, session_factory, upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _simulator_door(tester: PeelTester, resource: str) -> SimulatorDoor | None:
    """A simulated tester (``daq simulate peel``) says so in its serial number; it is then
    told what each specimen is made of through the side door its simulator announced
    beside the link. A real one is never told anything."""
    if not (await tester.identify()).serial.upper().startswith("SIM"):
        return None
    door = door_beside(resource)
    return RemoteDoor(door) if door else None


@asynccontextmanager
async def _claim(settings: Settings, sessions: Any, name: str, resource: str
                 ) -> AsyncIterator[None]:
    """Hold the station's claim on ``resource`` for the block (none without a database)."""
    if sessions is None:
        yield
        return
    from daq.station.ownership import station_claims

    async with station_claims(sessions, settings, {name: resource}):
        yield


@asynccontextmanager
async def _tester(
    settings: Settings, clock: SimClock, resource: str | None, name: str | None,
    sessions: Any = None,
) -> AsyncIterator[tuple[PeelTester, str, SimulatorDoor | None]]:
    """The configured tester, the one named by ``--resource``, or an in-process simulator.

    A real tester is claimed for this command first (``sessions``): while a station
    holds it the command is refused, naming the holder."""
    if resource:
        async with _claim(settings, sessions, name or "peel1", resource), \
                PeelTester(resource) as tester:
            door = await _simulator_door(tester, resource)
            try:
                yield tester, name or "peel1", door
            finally:
                if door is not None:
                    await door.close()
        return
    testers = {k: v for k, v in settings.instruments.items() if v.driver == "peel_tester"}
    if name is not None and name not in testers:
        raise Refused(f"no peel tester named {name!r} in the configuration "
                      f"(peel testers: {', '.join(testers) or 'none'})")
    if testers:
        key = name or next(iter(testers))
        cfg = testers[key]
        async with _claim(settings, sessions, key, cfg.address()), \
                PeelTester(cfg.address(), cfg.timeout_s, cfg.baudrate) as tester:
            door = await _simulator_door(tester, cfg.address())
            try:
                yield tester, key, door
            finally:
                if door is not None:
                    await door.close()
        return
    from simulators.clock import Clock
    from simulators.peel import PeelTester as SimPeelTester
    from simulators.servers import PtyServer

    sim = SimPeelTester(Clock(clock.scale, clock.origin))
    server = PtyServer(sim)
    sim_resource = await server.start()
    try:
        async with PeelTester(sim_resource) as tester:
            yield tester, name or "peel1", LocalDoor(sim.simulate)
    finally:
        await server.stop()


@asynccontextmanager
async def _station(
    settings: Settings, resource: str | None, name: str | None
) -> AsyncIterator[Station]:
    clock = SimClock(settings.time_scale, settings.time_origin)
    bus = Bus()
    async with _database(settings) as sessions, _tester(
        settings, clock, resource, name, sessions
    ) as (tester, instrument, door):
        yield Station(settings, clock, bus, PeelStore(sessions), tester, instrument,
                      door, sessions)


async def _ensure_specimen(
    st: Station,
    specimen_id: str,
    sample: str | None,
    material: str | None,
    laminate: str | None,
    press_run: str | None,
    aging_hours: float | None,
    width_mm: float,
) -> SpecimenContext:
    context = await st.store.specimen_context(specimen_id)
    if context is not None:
        return context
    sample_id = sample or (specimen_id.rsplit("-", 1)[0] if "-" in specimen_id else None)
    key = material or (material_key_of(sample_id) if sample_id else None)
    if sample_id is None or key is None:
        raise UnknownSpecimen(specimen_id)
    info = material_info(key)
    return await st.store.ensure_specimen(
        specimen_id,
        sample_id=sample_id,
        material_key=info.key,
        material_name=info.name,
        adhesive_thickness_um=info.adhesive_thickness_um,
        film_forms=info.film_forms,
        note=info.note,
        now_ts=st.clock.now(),
        laminate_id=laminate,
        press_run_id=press_run,
        aging_hours=aging_hours or 0.0,
        width_mm=width_mm,
    )


async def _publish(st: Station) -> None:
    from daq.peel.publish import publish_outbox_once

    try:
        await publish_outbox_once(
            st.sessions, st.clock, st.settings.mqtt_url, st.settings.embedded_mqtt_port
        )
    except Exception as exc:  # broker away: the outbox keeps it for the service
        err_console.print(
            f"[yellow]warning:[/] result not published now ({type(exc).__name__}); it waits "
            "in the outbox and the service publishes it when it runs", soft_wrap=True
        )


async def _peel_run(
    settings: Settings, resource: str | None, name: str | None, specimen_id: str,
    sample: str | None, material: str | None, laminate: str | None, press_run: str | None,
    aging_hours: float | None, peel: PeelSettings, as_json: bool, trace: bool,
) -> int:
    async with _station(settings, resource, name) as st:
        context = await _ensure_specimen(
            st, specimen_id, sample, material, laminate, press_run, aging_hours, peel.width_mm
        )
        if st.door is not None:  # a simulator: its side door learns the specimen
            await tell(st.door, specimen_loaded(st.instrument, context))
        procedure = PeelTest(st.tester, st.clock, _recorder(st), st.bus, st.store,
                             instrument=st.instrument, settings=peel,
                             operator=os.environ.get("USER"))
        live_trace = Trace(specimen_id)
        sub = st.bus.subscribe("cli-trace", (Reading,), maxsize=100_000)

        async def follow() -> None:
            async for message in sub:
                if isinstance(message, Reading):
                    live_trace.add(message)

        follower = asyncio.create_task(follow())
        try:
            if trace and not as_json:
                with Live(live_trace, console=err_console, refresh_per_second=12,
                          transient=False):
                    outcome = await procedure.run(specimen_id)
                    await asyncio.sleep(0.1)
            else:
                outcome = await procedure.run(specimen_id)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        await _publish(st)
        if as_json:
            console.print_json(json.dumps({
                "run_id": outcome.run_id, "status": outcome.status, "reason": outcome.reason,
                "specimen_id": context.specimen_id, "sample_id": context.sample_id,
                "laminate_id": context.laminate_id, "aging_hours": context.aging_hours,
                "n_points": outcome.n_points, "garbled_lines": outcome.garbled_lines,
                "result": outcome.result.as_dict() if outcome.result else None,
            }))
        else:
            console.print(result_table(outcome, context))
        return 0 if outcome.status == "DONE" else 1


def _recorder(st: Station) -> Any:
    from daq.storage.recorder import DbRecorder

    return DbRecorder(st.sessions, st.bus, prefix=st.settings.mqtt_prefix,
                      station=st.settings.station, clock=st.clock)


@app.command("run")
def run(
    specimen: Annotated[str, typer.Option("--specimen", help="specimen id, e.g. EX1-2026-001-A1")],
    sample: Annotated[str | None, typer.Option(help="sample lot id (created if new)")] = None,
    material: Annotated[
        str | None, typer.Option(help="material key of a new lot: EX1…EX5, CMP1…CMP5")
    ] = None,
    laminate: Annotated[str | None, typer.Option(help="laminate id (created if new)")] = None,
    press_run: Annotated[
        str | None, typer.Option(help="press run that made a new laminate (run id)")
    ] = None,
    aging_hours: Annotated[
        float | None, typer.Option(help="hours at 150 °C of a new specimen", min=0)
    ] = None,
    width: Annotated[float, typer.Option(help="strip width, mm", min=0.5, max=25)] = 3.0,
    speed: Annotated[float, typer.Option(help="crosshead speed, mm/min", min=1, max=500)] = 50.0,
    angle: Annotated[float, typer.Option(help="peel angle, degrees", min=45, max=180)] = 90.0,
    length: Annotated[
        float | None, typer.Option(help="travel of the peel, mm", min=5, max=300)
    ] = None,
    skip_start: Annotated[
        float, typer.Option(help="steady region: fraction of travel excluded at the start")
    ] = 0.2,
    skip_end: Annotated[
        float, typer.Option(help="steady region: fraction of travel excluded at the end")
    ] = 0.1,
    resource: Annotated[
        str | None, typer.Option(help="tester address, e.g. ASRL/dev/ttyUSB0::INSTR")
    ] = None,
    instrument: Annotated[str | None, typer.Option(help="configured tester name")] = None,
    time_scale: Annotated[
        float | None, typer.Option(help="simulated-time scale (in-process simulator)", min=0.001)
    ] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
    no_trace: Annotated[bool, typer.Option("--no-trace", help="no live force trace")] = False,
) -> None:
    """Peel one specimen: live force trace, then the result (N/cm)."""
    settings = _settings(config, url, time_scale)
    try:
        peel = PeelSettings(width, speed, angle, length, SteadyRegionRule(skip_start, skip_end))
    except ValueError as exc:
        fail(str(exc), 2)
    code = _run(_peel_run(settings, resource, instrument, specimen, sample, material, laminate,
                          press_run, aging_hours, peel, as_json, not no_trace))
    raise typer.Exit(code)


async def _results(settings: Settings, sample: str) -> dict[str, Any]:
    async with _database(settings) as sessions:
        rows = await PeelStore(sessions).results_for_sample(sample)
    tests = [
        {
            "run_id": t.id, "specimen": t.specimen_label, "aging_hours": t.aging_hours,
            "status": t.status, "trigger": t.trigger, "started": iso(t.started_ts),
            "n_points": t.n_points, "garbled_lines": t.garbled_lines,
            "peel_strength_n_per_cm": r.peel_strength_n_per_cm if r else None,
            "reason": t.reason,
        }
        for t, r in rows
    ]
    conditions = summarize([
        (sample, t.aging_hours or 0.0, r.peel_strength_n_per_cm) for t, r in rows if r
    ])
    return {
        "sample_id": sample,
        "tests": tests,
        "conditions": [
            {"aging_hours": c.aging_hours, "n_specimens": c.n_specimens,
             "mean_n_per_cm": c.mean_n_per_cm, "sd_n_per_cm": c.sd_n_per_cm}
            for c in conditions
        ],
    }


@app.command("results")
def results(
    sample: Annotated[str, typer.Option("--sample", help="sample lot id")],
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Peel results of a sample lot: each specimen, and mean ± sd per aging state."""
    settings = _settings(config, url, None)
    data = _run(_results(settings, sample))
    if as_json:
        console.print_json(json.dumps(data))
        return
    if not data["tests"]:
        fail(f"no peel tests on record for sample {sample!r}", 1)
    t = Table(title=f"peel tests of {sample}", title_justify="left", show_edge=False)
    for col in ("specimen", "aging h", "status", "N/cm", "garbled", "run"):
        t.add_column(col, justify="left" if col in ("specimen", "run", "status") else "right")
    for row in data["tests"]:
        value = row["peel_strength_n_per_cm"]
        t.add_row(row["specimen"], f"{row['aging_hours'] or 0:g}", row["status"],
                  "—" if value is None else f"{value:.2f}", str(row["garbled_lines"]),
                  row["run_id"])
    console.print(t)
    c = Table(title="per condition", title_justify="left", show_edge=False)
    for col in ("aging h", "specimens", "mean ± sd N/cm"):
        c.add_column(col, justify="right")
    for cond in data["conditions"]:
        c.add_row(f"{cond['aging_hours']:g}", str(cond["n_specimens"]),
                  f"{cond['mean_n_per_cm']:.2f} ± {cond['sd_n_per_cm']:.2f}")
    console.print(c)


async def _watch(settings: Settings, resource: str | None, name: str | None,
                 count: int | None) -> int:
    from daq.peel.watch import watch_and_capture

    async with _station(settings, resource, name) as st:
        done: list[PeelOutcome] = []
        finished = asyncio.Event()

        def report(outcome: PeelOutcome) -> None:
            done.append(outcome)
            r = outcome.result
            strength = f"{r.peel_strength_n_per_cm:.2f} N/cm" if r else "no result"
            console.print(f"{outcome.run_id} {outcome.status} {strength}"
                          + (f" ({outcome.reason})" if outcome.reason else ""))
            if count is not None and len(done) >= count:
                finished.set()

        err_console.print(f"watching {st.instrument} ({st.tester.resource}) for "
                          "front-panel starts; Ctrl-C to stop")
        watcher = asyncio.create_task(watch_and_capture(
            st.tester, clock=st.clock, recorder=_recorder(st), bus=st.bus, store=st.store,
            instrument=st.instrument, on_outcome=report))
        try:
            await finished.wait()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await _publish(st)
        return 0


@app.command("watch")
def watch(
    resource: Annotated[str | None, typer.Option(help="tester address")] = None,
    instrument: Annotated[str | None, typer.Option(help="configured tester name")] = None,
    count: Annotated[int | None, typer.Option(help="stop after this many peels", min=1)] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Record every peel started at the tester's front panel (automatic capture)."""
    settings = _settings(config, url, None)
    raise typer.Exit(_run(_watch(settings, resource, instrument, count)))
