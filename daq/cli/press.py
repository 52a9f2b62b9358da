"""`daq press`: run a lamination cycle on the press, or read the press's status.

``daq press start`` validates the recipe before anything moves (exit 2 on a value
outside the process window), connects to the configured press or, with none configured,
starts the press simulator in-process on the same clock, runs the cycle with a progress
bar, and prints a summary. Ctrl-C aborts to the safe state. Exit code 0 only on DONE.
"""

from __future__ import annotations

import asyncio
import csv
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from daq.bus import Bus
from daq.cli.output import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    console,
    err_console,
    fail,
    operator_errors,
    print_json,
    table,
)
from daq.clock import SimClock, iso
from daq.config import Settings, load_settings
from daq.messages import Reading
from daq.procedures.press_cycle import CycleResult, PressCycle
from daq.procedures.press_record import Outcome
from daq.recipes import PressRecipe, recipe_from_options
from daq.record import MemoryRecorder, Recorder
from drivers.lamination_press import LaminationPress
from drivers.transport.loop import run as run_loop

app = typer.Typer(help="Lamination press: run a cycle, read the press.", no_args_is_help=True)


@dataclass
class PressTarget:
    """Which press to drive: a resource string, or ``None`` for an in-process simulator."""

    name: str
    resource: str | None
    timeout_s: float = 2.0


@dataclass
class PressSession:
    """What one CLI cycle composed: clock, bus, recorder, press, and the readings seen."""

    clock: SimClock
    bus: Bus
    recorder: Recorder
    press: LaminationPress
    target: PressTarget
    simulated: bool
    readings: list[Reading] = field(default_factory=list)


def find_press(settings: Settings, resource: str | None, name: str | None) -> PressTarget:
    """The press named on the command line or in the configuration (none → simulator)."""
    if resource:
        return PressTarget(name or "press", resource)
    presses = {k: v for k, v in settings.instruments.items() if v.driver == "lamination_press"}
    if name is not None and name not in presses:
        known = ", ".join(presses) or "none"
        raise ValueError(f"no press named {name!r} in the configuration (presses: {known})")
    if not presses:
        return PressTarget(name or "press", None)
    chosen = name or next(iter(presses))
    cfg = presses[chosen]
    return PressTarget(chosen, cfg.address(), cfg.timeout_s)


@asynccontextmanager
async def press_session(
    target: PressTarget, clock: SimClock, recorder_factory: Callable[[Bus], Recorder] | None = None
) -> AsyncIterator[PressSession]:
    """Compose everything a cycle needs, in one place: clock, bus, recorder, the press
    (a simulator started in-process when none is configured) and its driver.

    The service swaps in its database recorder and MQTT here (``recorder_factory``).
    """
    async with AsyncExitStack() as stack:
        bus = Bus()
        recorder = recorder_factory(bus) if recorder_factory else MemoryRecorder(bus)
        resource = target.resource
        simulated = resource is None
        if resource is None:
            from simulators.clock import Clock
            from simulators.registry import start_simulators

            running = await start_simulators(["press"], Clock(clock.scale, clock.origin))
            stack.push_async_callback(running.stop)
            resource = running["press"]
        press = LaminationPress(resource, target.timeout_s)
        await press.connect()
        stack.push_async_callback(press.close)
        session = PressSession(clock, bus, recorder, press, target, simulated)
        readings = bus.subscribe("cli-readings", (Reading,), maxsize=1_000_000)
        try:
            yield session
        finally:
            got = readings.get_batch(1_000_000)
            session.readings.extend(r for r in got if isinstance(r, Reading))
            bus.unsubscribe(readings)


async def _run_cycle(
    session: PressSession, recipe: PressRecipe, poll_interval_s: float | None, show: bool
) -> CycleResult:
    cycle = PressCycle(session.press, recipe, session.clock, session.recorder, session.bus,
                       instrument=session.target.name, poll_interval_s=poll_interval_s)
    loop = asyncio.get_running_loop()
    interrupts = 0

    def interrupted(signame: str) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            err_console.print(f"\n[yellow]{signame}: aborting, making the press safe…[/]")
        cycle.abort(f"operator abort ({signame})")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted, sig.name)
    try:
        task = loop.create_task(cycle.run())
        if show:
            await _show_progress(cycle, task)
        return await task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _show_progress(cycle: PressCycle, task: asyncio.Task[CycleResult]) -> None:
    target_min = cycle.recipe.dwell_min
    columns = (
        TextColumn("[bold]{task.fields[phase]:<8}"),
        BarColumn(bar_width=30),
        TextColumn("dwell {task.completed:5.1f}/{task.total:g} min"),
        TextColumn("{task.fields[values]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        bar = progress.add_task("cycle", total=target_min, phase="PRECHECK", values="")
        while not task.done():
            reading = cycle.last_reading
            values = ""
            if reading is not None:
                v = reading.values
                values = (
                    f"top {v['temp_top'].v:6.1f} °C  bottom {v['temp_bottom'].v:6.1f} °C  "
                    f"{v['pressure'].v:5.2f} MPa"
                )
            progress.update(bar, completed=min(target_min, cycle.record.dwell_s / 60.0),
                            phase=str(cycle.phase), values=values)
            await asyncio.wait({task}, timeout=0.1)
        progress.update(bar, phase=str(cycle.phase),
                        completed=min(target_min, cycle.record.dwell_s / 60.0))


def print_summary(result: CycleResult) -> None:
    """The operator's summary: phases with times, peak values, dwell achieved."""
    s = result.summary
    phases = [
        (p["phase"], p["start"][11:19], p["duration_min"]) for p in s["phases"]
    ]
    console.print(table(f"Press cycle {result.run_id}", ["phase", "start (UTC)",
                                                          "duration (min)"], phases))
    window_t = s["temperature_window_c"]
    window_p = s["pressure_window_mpa"]
    rows: list[tuple[str, Any]] = [
        ("dwell achieved (min)", f"{s['dwell_achieved_min']:.2f} of {s['dwell_target_min']:g}"),
        ("dwell paused (min)", f"{s['dwell_paused_min']:.2f}"),
        ("mean temperature in dwell (°C)",
         f"{s['dwell_mean_temp_c']} (window {window_t[0]:g}–{window_t[1]:g})"),
        ("mean pressure in dwell (MPa)",
         f"{s['dwell_mean_pressure_mpa']} (window {window_p[0]:g}–{window_p[1]:g})"),
        ("peak platen top / bottom (°C)", f"{s['peak_temp_top_c']} / {s['peak_temp_bottom_c']}"),
        ("peak pressure (MPa)", s["peak_pressure_mpa"]),
        ("readings", s["readings"]),
    ]
    console.print(table("Summary", ["quantity", "value"], rows))
    style = "green" if result.outcome is Outcome.DONE else "red"
    line = f"[bold {style}]{result.outcome}[/]"
    if result.reason:
        line += f": {result.reason}"
    if s.get("safe_confirmed") is False:
        line += "\n[bold red]the press could not be confirmed safe: check it now[/]"
    console.print(line)


def write_csv(out: TextIO, readings: list[Reading], result: CycleResult) -> int:
    """Every reading of the run as CSV, one row each, with the phase it fell in."""
    spans = [(p["start_ts"], p["phase"]) for p in result.summary["phases"]]
    writer = csv.writer(out)
    writer.writerow(["time", "ts", "run_id", "phase", "temp_top_degC", "temp_bottom_degC",
                     "pressure_MPa", "ram_mm"])
    rows = 0
    for r in readings:
        if r.run_id != result.run_id:
            continue
        phase = next((name for start, name in reversed(spans) if start <= r.ts), "")
        v = r.values
        writer.writerow([iso(r.ts), f"{r.ts:.3f}", r.run_id, phase, v["temp_top"].v,
                         v["temp_bottom"].v, v["pressure"].v, v["ram"].v])
        rows += 1
    return rows


@asynccontextmanager
async def stored_session(
    target: PressTarget, clock: SimClock, settings: Settings
) -> AsyncIterator[PressSession]:
    """A press session whose run, transitions, alarms and readings go to the database of
    ``settings`` (``DAQ_DATABASE_URL``), so that ``daq runs`` and the dashboard show the
    cycle; its events wait in the MQTT outbox for the service's publisher."""
    from daq.storage.database import create_engine, session_factory, upgrade
    from daq.storage.readings import ReadingWriter
    from daq.storage.recorder import DbRecorder

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)

        def recorder(bus: Bus) -> Recorder:
            return DbRecorder(sessions, bus, prefix=settings.mqtt_prefix,
                              station=settings.station, clock=clock)

        async with AsyncExitStack() as claims:
            if target.resource is not None:  # an in-process simulator is this command's own
                from daq.station.ownership import station_claims

                # Refused, naming the holder, while a station controls this press.
                await claims.enter_async_context(
                    station_claims(sessions, settings, {target.name: target.resource}))
            async with press_session(target, clock, recorder) as session:
                writer = ReadingWriter.from_settings(engine, session.bus, settings)
                writer.start()
                try:
                    yield session
                finally:
                    await writer.stop()
    finally:
        await engine.dispose()


async def _start(
    recipe: PressRecipe, target: PressTarget, clock: SimClock, poll_interval_s: float | None,
    show: bool, settings: Settings,
) -> tuple[CycleResult, list[Reading], bool]:
    async with stored_session(target, clock, settings) as session:
        result = await _run_cycle(session, recipe, poll_interval_s, show)
    return result, session.readings, session.simulated


@app.command("start")
def start(
    recipe_file: Path | None = typer.Argument(
        None, help="Recipe file (TOML or JSON); options below override its values.",
        show_default=False,
    ),
    temp: float | None = typer.Option(
        None, "--temp", help="Platen temperature setpoint, °C (150–200; default 200)."),
    pressure: float | None = typer.Option(
        None, "--pressure", help="Pressing pressure, MPa (0.1–10; default 3)."),
    dwell: float | None = typer.Option(
        None, "--dwell", help="Dwell inside tolerance, min (5–20; default 20)."),
    ramp: float | None = typer.Option(
        None, "--ramp", help="Heating ramp rate, °C/min (1–30; default 10)."),
    unload: float | None = typer.Option(
        None, "--unload", help="Unload temperature reached under pressure, °C (default 60)."),
    time_scale: float | None = typer.Option(
        None, "--time-scale", help="Simulated time runs N× faster (env DAQ_TIME_SCALE).",
        min=1e-6),
    time_origin: float | None = typer.Option(
        None, "--time-origin", help="Shared time origin, epoch s (env DAQ_TIME_ORIGIN)."),
    resource: str | None = typer.Option(
        None, "--resource", help="VISA resource of the press, e.g. TCPIP::host::5025::SOCKET."),
    press_name: str | None = typer.Option(
        None, "--press", help="Which configured press (default: the first one)."),
    config: Path | None = typer.Option(
        None, "--config", help="daq.toml listing the press as an instrument (env DAQ_CONFIG)."),
    poll_interval: float | None = typer.Option(
        None, "--poll-interval", help="Real seconds between polls (default: ~30 simulated s).",
        min=0.01),
    out: Path | None = typer.Option(None, "--out", help="Write every reading to this CSV."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run one press cycle: PRECHECK → HEAT → PRESS → DWELL → COOL → RELEASE → DONE."""
    with operator_errors():
        recipe = recipe_from_options(
            recipe_file, temperature_c=temp, pressure_mpa=pressure, dwell_min=dwell,
            ramp_rate_c_per_min=ramp, unload_temperature_c=unload,
        )
        try:
            settings = load_settings(config, time_scale=time_scale, time_origin=time_origin)
            target = find_press(settings, resource, press_name)
        except ValueError as exc:
            fail(str(exc), EXIT_REFUSED)
        out_file: TextIO | None = None
        if out is not None:
            try:
                out_file = out.open("w", newline="", encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {out}: {exc.strerror}", EXIT_REFUSED)
        clock = SimClock(settings.time_scale, settings.time_origin)
        where = target.resource or f"in-process press simulator at {clock.scale:g}×"
        if not json_output:
            err_console.print(f"[bold]{recipe.describe()}[/] on {target.name} ({where})")
        started = time.monotonic()
        try:
            result, readings, _ = run_loop(
                _start(recipe, target, clock, poll_interval, show=not json_output,
                       settings=settings)
            )
        except BaseException:
            if out_file is not None:
                out_file.close()
            raise
        elapsed_s = time.monotonic() - started
        if out_file is not None:
            with out_file:
                rows = write_csv(out_file, readings, result)
        if json_output:
            print_json({"run_id": result.run_id, "outcome": str(result.outcome),
                        "reason": result.reason, "real_s": round(elapsed_s, 2),
                        "summary": result.summary})
        else:
            print_summary(result)
            if out is not None:
                console.print(f"{rows} readings written to {out}")
            console.print(f"real time {elapsed_s:.1f} s at {clock.scale:g}×")
    if result.outcome is Outcome.DONE:
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(EXIT_ABORTED if result.outcome is Outcome.ABORTED else EXIT_FAILED)


async def _status(target: PressTarget, acknowledge: bool = False) -> dict[str, Any]:
    async with LaminationPress(target.resource or "", target.timeout_s) as press:
        if acknowledge:
            await press.clear_status()
        identity = await press.identify()
        reading = await press.measure_all()
        door_closed = await press.door_closed()
        alarms = await press.alarms()
    return {
        "press": target.name, "resource": target.resource, "identity": identity,
        "state": str(reading.state), "temp_top_c": reading.temp_top_c,
        "temp_bottom_c": reading.temp_bottom_c, "pressure_mpa": reading.pressure_mpa,
        "ram_mm": reading.ram_mm, "door": "closed" if door_closed else "open",
        "alarms": alarms,
    }


ResourceOption = typer.Option(None, "--resource", help="VISA resource of the press.")
PressOption = typer.Option(None, "--press", help="Which configured press.")
ConfigOption = typer.Option(None, "--config", help="daq.toml (env DAQ_CONFIG).")
JsonOption = typer.Option(False, "--json", help="Print as JSON.")


@app.command("status")
def status(
    resource: str | None = ResourceOption,
    press_name: str | None = PressOption,
    config: Path | None = ConfigOption,
    json_output: bool = JsonOption,
) -> None:
    """Read the press once: temperatures, pressure, state, door and alarms."""
    _show_status(resource, press_name, config, json_output, acknowledge=False)


@app.command("reset")
def reset(
    resource: str | None = ResourceOption,
    press_name: str | None = PressOption,
    config: Path | None = ConfigOption,
    json_output: bool = JsonOption,
) -> None:
    """Acknowledge a tripped press (*CLS: alarms cleared, leaves SAFE), then read it.

    Do this at the press, after finding out why it tripped: a cycle refuses to start on a
    press that is SAFE."""
    _show_status(resource, press_name, config, json_output, acknowledge=True)


def _show_status(
    resource: str | None, press_name: str | None, config: Path | None, json_output: bool,
    *, acknowledge: bool,
) -> None:
    with operator_errors():
        try:
            target = find_press(load_settings(config), resource, press_name)
        except ValueError as exc:
            fail(str(exc), EXIT_REFUSED)
        if target.resource is None:
            fail("no press configured: give --resource or a --config with a lamination_press "
                 "(`daq simulate press` starts a simulated one)", EXIT_REFUSED)
        data = run_loop(_status(target, acknowledge))
        if json_output:
            print_json(data)
            return
        rows = [(k, (", ".join(v) or "none") if isinstance(v, list) else v)
                for k, v in data.items()]
        console.print(table(f"Press {target.name}", ["quantity", "value"], rows))

