"""`daq press`: run a lamination cycle on the press, or read the press's status.

``daq press start`` validates the recipe before anything is sent (exit 2 on a value
outside the process window), then runs the cycle through the station at
``DAQ_STATION_URL`` — or, when none answers there, through the same station started
in-process for this command (the configured press, ``--resource``, or the press
simulator) — with a progress bar fed by the station's live stream, and prints the
summary of the stored run. Ctrl-C aborts to the safe state. Exit code 0 only on DONE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import typer
from pydantic import ValidationError

from daq.cli.loop import run
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
from daq.cli.press_view import CycleProgress, PressSummary, print_summary, write_csv
from daq.cli.through_station import (
    Followed,
    NoView,
    RunView,
    follow_run,
    instrument_at,
    open_station,
    running_station,
    stored_up_to,
)
from daq.client import (
    NotFound,
    Station,
    station_url,
)
from daq.config import InstrumentConfig, Settings, load_settings
from daq.press.params import PressCycleParams
from daq.recipes import PressRecipe, recipe_from_options

app = typer.Typer(help="Lamination press: run a cycle, read the press.", no_args_is_help=True)

DRIVER = "lamination_press"


@dataclass
class PressTarget:
    """Which press to drive: a resource string, or ``None`` for the station's own."""

    name: str
    resource: str | None
    timeout_s: float = 2.0


def find_press(settings: Settings, resource: str | None, name: str | None) -> PressTarget:
    """The press named on the command line or in the configuration (none → simulator)."""
    if resource:
        return PressTarget(name or "press", resource)
    presses = {k: v for k, v in settings.instruments.items() if v.driver == DRIVER}
    if name is not None and settings.instruments and name not in presses:
        known = ", ".join(presses) or "none"
        raise ValueError(f"no press named {name!r} in the configuration (presses: {known})")
    if not presses:
        return PressTarget(name or "press", None)
    chosen = name or next(iter(presses))
    cfg = presses[chosen]
    return PressTarget(chosen, cfg.address(), cfg.timeout_s)


def fallback_settings(settings: Settings, target: PressTarget,
                      poll_interval_s: float | None) -> Settings:
    """The settings of this command's own station: only its press (or the simulators,
    with none configured), polled about every 30 simulated seconds unless told."""
    if target.resource is None:
        return settings.model_copy(update={"instruments": {}})
    configured = settings.instruments.get(target.name)
    base_poll = configured.poll_interval_s if configured else 0.5
    poll = poll_interval_s or max(0.05, min(base_poll, 30.0 / settings.time_scale))
    press = InstrumentConfig(driver=DRIVER, resource=target.resource,
                             timeout_s=target.timeout_s, poll_interval_s=poll)
    return settings.model_copy(update={"instruments": {target.name: press}})


async def _station_press(station: Station, target: PressTarget, named: bool) -> str | None:
    """The name the station knows the target press by (``None``: its first press)."""
    if target.resource is None:
        return target.name if named else None
    return await instrument_at(station, DRIVER, target.resource, "press")


@dataclass
class CycleReport:
    """A cycle run through the station, as this command reports it."""

    followed: Followed
    summary: PressSummary | None
    rows_written: int | None


async def _start(recipe: PressRecipe, params: PressCycleParams, target: PressTarget,
                 settings: Settings, fallback: Settings, named: bool, show: bool,
                 out_file: TextIO | None) -> CycleReport:
    async with open_station(lambda: fallback) as (station, in_process):
        press = await _station_press(station, target, named) if not in_process else (
            target.name if target.resource is not None else None)
        params = params.model_copy(update={"press": press})
        where = (f"station {station.url}" if not in_process
                 else target.resource or f"in-process press simulator at "
                 f"{settings.time_scale:g}×")
        header = f"[bold]{recipe.describe()}[/] on {press or 'the press'} ({where})"
        view: RunView = CycleProgress(recipe) if show else NoView()
        followed = await follow_run(station, lambda: station.start_run("press_cycle", params),
                                    view, what="the press",
                                    in_process=in_process, header=header if show else None)
        if not in_process and followed.time_scale != settings.time_scale and show:
            err_console.print(f"(the station runs at {followed.time_scale:g}×)")
        record = followed.record
        summary = None
        if record.summary is not None:
            try:
                summary = PressSummary.model_validate(record.summary)
            except ValidationError:
                summary = None
        rows = None
        if out_file is not None:
            await stored_up_to(station, record.id, followed.last_reading_ts)
            readings = [r async for r in station.readings(record.id)]
            rows = write_csv(out_file, record.id, readings,
                             summary.phases if summary is not None else [])
    return CycleReport(followed, summary, rows)


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
        None, "--time-scale", help="Simulated time runs N× faster (env DAQ_TIME_SCALE; "
        "for an in-process station).", min=1e-6),
    time_origin: float | None = typer.Option(
        None, "--time-origin", help="Shared time origin, epoch s (env DAQ_TIME_ORIGIN)."),
    resource: str | None = typer.Option(
        None, "--resource", help="VISA resource of the press, e.g. TCPIP::host::5025::SOCKET."),
    press_name: str | None = typer.Option(
        None, "--press", help="Which press (default: the station's first one)."),
    config: Path | None = typer.Option(
        None, "--config", help="daq.toml listing the press as an instrument (env DAQ_CONFIG)."),
    poll_interval: float | None = typer.Option(
        None, "--poll-interval", help="Real seconds between polls, for an in-process station "
        "(default: ~30 simulated s).", min=0.01),
    sample: str | None = typer.Option(None, "--sample", help="The sample lot being laminated."),
    out: Path | None = typer.Option(None, "--out", help="Write every reading to this CSV."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run one press cycle: PRECHECK → HEAT → PRESS → DWELL → COOL → RELEASE → DONE."""
    with operator_errors():
        recipe = recipe_from_options(
            recipe_file, temperature_c=temp, pressure_mpa=pressure, dwell_min=dwell,
            ramp_rate_c_per_min=ramp, unload_temperature_c=unload,
        )
        params = PressCycleParams.of(recipe, sample_id=sample)
        try:
            settings = load_settings(config, time_scale=time_scale, time_origin=time_origin)
            target = find_press(settings, resource, press_name)
        except ValueError as exc:
            fail(str(exc), EXIT_REFUSED)
        fallback = fallback_settings(settings, target, poll_interval)
        out_file: TextIO | None = None
        if out is not None:
            try:
                out_file = out.open("w", newline="", encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {out}: {exc.strerror}", EXIT_REFUSED)
        try:
            report = run(_start(recipe, params, target, settings, fallback,
                                named=press_name is not None, show=not json_output,
                                out_file=out_file))
        finally:
            if out_file is not None:
                out_file.close()
        record = report.followed.record
        if json_output:
            print_json({"run_id": record.id, "outcome": record.status,
                        "reason": record.reason, "real_s": round(report.followed.real_s, 2),
                        "summary": record.summary})
        else:
            if report.summary is not None:
                print_summary(record.id, record.status, record.reason, report.summary)
            else:
                console.print(f"{record.status}: {record.reason or ''}")
            if out is not None:
                console.print(f"{report.rows_written} readings written to {out}")
            console.print(f"real time {report.followed.real_s:.1f} s at "
                          f"{report.followed.time_scale:g}×")
    if record.status == "DONE":
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(EXIT_ABORTED if record.status == "ABORTED" else EXIT_FAILED)


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
    """The press now: state (and why), temperatures, pressure, ram; from the station
    that runs it, or, with no station running, read at the press directly (with its door
    and alarms)."""
    _show_status(resource, press_name, config, json_output, acknowledge=False)


@app.command("reset")
def reset(
    resource: str | None = ResourceOption,
    press_name: str | None = PressOption,
    config: Path | None = ConfigOption,
    json_output: bool = JsonOption,
) -> None:
    """Reset a press latched SAFE, then read it: through the station (refused while its
    door is open or a run holds it; the alarms that latched it are cleared), or, with no
    station running, at the press directly (*CLS).

    Do this after finding out why it tripped: a cycle refuses to start on a press that is
    SAFE."""
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
        data = run(_status_through_station(target, press_name is not None, acknowledge))
        if data is None:  # no station answers: a press no station runs, read directly
            if target.resource is None:
                fail(f"no station at {station_url()} and no press configured: start `daq "
                     "run`, or give --resource or a --config with a lamination_press (`daq "
                     "simulate press` starts a simulated one)", EXIT_REFUSED)
            from daq.press.status import read_press

            data = dict(run(read_press(target.name, target.resource, target.timeout_s,
                                       acknowledge)))
        if json_output:
            print_json(data)
            return
        rows = [(k, (", ".join(map(str, v)) or "none") if isinstance(v, list) else
                 ("—" if v is None else v)) for k, v in data.items()]
        console.print(table(f"Press {data['press']}", ["quantity", "value"], rows))


async def _status_through_station(target: PressTarget, named: bool, acknowledge: bool
                                  ) -> dict[str, object] | None:
    """The press as the station at ``DAQ_STATION_URL`` has it (``acknowledge``: reset
    through the station first, which refuses while the door is open or a run holds it);
    ``None`` when no station answers there."""
    async with running_station() as station:
        if station is None:
            return None
        url = station.url
        name = await _station_press(station, target, named)
        presses = [i for i in await station.instruments()
                   if i.driver == DRIVER and (name is None or i.name == name)]
        if not presses:
            raise NotFound(f"the station at {url} has no press"
                           + (f" named {name!r}" if name else ""))
        press = presses[0]
        reset = await station.reset_instrument(press.name) if acknowledge else None
        if reset is not None:
            press = next(i for i in await station.instruments() if i.name == press.name)

    def value(channel: str) -> float | None:
        return press.values[channel].v if channel in press.values else None

    data: dict[str, object] = {
        "press": press.name, "resource": press.resource, "station": url,
        "identity": press.idn, "state": press.state, "cause": press.cause,
        "held_by": press.run_id, "temp_top_c": value("temp_top"),
        "temp_bottom_c": value("temp_bottom"), "pressure_mpa": value("pressure"),
        "ram_mm": value("ram"),
    }
    if reset is not None:
        data.update(door=reset.door, alarms=reset.alarms, cleared_alarms=reset.cleared_alarms)
    return data
