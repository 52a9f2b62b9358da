"""`daq peel`: run a peel test with a live force trace, list a sample's results, or watch
the station capture every front-panel start.

``daq peel run --specimen ID`` goes through the station at ``DAQ_STATION_URL`` (or, when
none answers, the same station in-process: the configured tester, ``--resource``, or the
simulator): it registers the sample lot / laminate / specimen the test needs when the
specimen is not on record (``--sample``, ``--material``, ``--laminate``,
``--aging-hours``), starts the peel with ``POST /api/runs``, shows the force trace live
from the station's stream and prints the stored result.
Exit codes: 0 DONE, 1 any other outcome or failure, 2 refused input, 130 Ctrl-C.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from daq.cli.loop import run as run_loop
from daq.cli.output import operator_errors
from daq.cli.peel_view import PeelSummary, Trace, result_table
from daq.cli.specimens import NewSpecimen, register_specimen, start_registering
from daq.cli.through_station import follow_run, instrument_at, open_station, with_only
from daq.client import RunStarted, Station, StreamEvent
from daq.clock import iso
from daq.config import Settings, load_settings
from daq.peel.params import PeelTestParams

app = typer.Typer(help="Peel tester: run a peel test, list results.", no_args_is_help=True)

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DRIVER = "peel_tester"

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="daq.toml to read (default: DAQ_CONFIG)")
]
UrlOption = Annotated[
    str | None, typer.Option("--url", help="database URL (default: DAQ_DATABASE_URL)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, an exit code, no traceback."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _settings(config: Path | None, url: str | None, time_scale: float | None) -> Settings:
    try:
        return load_settings(config, database_url=url, time_scale=time_scale)
    except (OSError, ValueError) as exc:
        fail(f"cannot read the configuration: {exc}", 2)


def fallback_settings(settings: Settings, resource: str | None, name: str | None) -> Settings:
    """The settings of this command's own station: only its tester."""
    testers = [k for k, v in settings.instruments.items() if v.driver == DRIVER]
    if resource is None and name is not None and settings.instruments and name not in testers:
        fail(f"no peel tester named {name!r} in the configuration "
             f"(peel testers: {', '.join(testers) or 'none'})", 2)
    return with_only(settings, DRIVER, name, resource, "peel1")


async def start_peel(station: Station, params: PeelTestParams, new: NewSpecimen
                     ) -> RunStarted:
    """Start the peel; a specimen not on record is registered first."""
    return await start_registering(station, "peel_test", params, "specimen_id",
                                   lambda: register_specimen(station, new))


async def _peel_run(fallback: Settings, params: PeelTestParams, new: NewSpecimen,
                    resource: str | None, as_json: bool, trace: bool) -> int:
    async with open_station(lambda: fallback) as (station, in_process):
        if resource is not None and not in_process:
            name = await instrument_at(station, DRIVER, resource, "peel tester")
            params = params.model_copy(update={"tester": name})
        live_trace = Trace(new.specimen_id, err_console, show=trace and not as_json)
        followed = await follow_run(station, lambda: start_peel(station, params, new),
                                    live_trace, what="the peel tester", in_process=in_process)
    record = followed.record
    summary = PeelSummary.model_validate(record.summary or {})
    if as_json:
        console.print_json(json.dumps({
            "run_id": record.id, "status": record.status, "reason": record.reason,
            "specimen_id": summary.specimen_id, "sample_id": summary.sample_id,
            "laminate_id": summary.laminate_id, "aging_hours": summary.aging_hours,
            "n_points": summary.n_points, "garbled_lines": summary.garbled_lines,
            "result": summary.result(),
        }))
    else:
        console.print(result_table(record.id, record.status, record.reason, summary))
    if record.status == "DONE":
        return 0
    return 130 if record.status == "ABORTED" else 1


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
    instrument: Annotated[str | None, typer.Option(help="which tester (station's name)")] = None,
    time_scale: Annotated[
        float | None, typer.Option(help="simulated-time scale (in-process station)", min=0.001)
    ] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
    no_trace: Annotated[bool, typer.Option("--no-trace", help="no live force trace")] = False,
) -> None:
    """Peel one specimen: live force trace, then the result (N/cm)."""
    settings = _settings(config, url, time_scale)
    try:
        params = PeelTestParams(
            specimen_id=specimen, width_mm=width, speed_mm_per_min=speed, angle_deg=angle,
            length_mm=length, skip_start=skip_start, skip_end=skip_end,
            tester=instrument if resource is None else (instrument or "peel1"))
    except ValidationError as exc:
        fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()), 2)
    fallback = fallback_settings(settings, resource, instrument)
    new = NewSpecimen(specimen, sample, material, laminate, press_run, aging_hours, width)
    with operator_errors():
        code = run_loop(_peel_run(fallback, params, new, resource, as_json, not no_trace))
    raise typer.Exit(code)


def _run(coro: Any) -> Any:
    with operator_errors():
        return run_loop(coro)


async def _database(settings: Settings) -> Any:
    from daq.storage.database import create_engine, upgrade

    engine = create_engine(settings.database_url)
    await upgrade(engine)
    return engine


async def _results(settings: Settings, sample: str) -> dict[str, Any]:
    from daq.peel.calculation import summarize
    from daq.peel.store import PeelStore
    from daq.storage.database import session_factory

    engine = await _database(settings)
    try:
        rows = await PeelStore(session_factory(engine)).results_for_sample(sample)
    finally:
        await engine.dispose()
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


async def _watch(fallback: Settings, count: int | None) -> int:
    """Print every front-panel peel the station captures (its background watcher)."""
    seen = 0
    async with open_station(lambda: fallback, background=True) as (station, _), \
            station.stream() as live:
        err_console.print("watching the station's peel testers for front-panel starts; "
                          "Ctrl-C to stop", soft_wrap=True)
        async for message in live.messages():
            if not (isinstance(message, StreamEvent) and message.is_end):
                continue
            summary = message.data.get("summary")
            if not isinstance(summary, dict) or summary.get("trigger") != "front_panel":
                continue
            strength = summary.get("peel_strength_n_per_cm")
            shown = f"{strength:.2f} N/cm" if isinstance(strength, float) else "no result"
            reason = message.data.get("reason")
            console.print(f"{message.run_id} {message.data.get('status')} {shown}"
                          + (f" ({reason})" if reason else ""))
            seen += 1
            if count is not None and seen >= count:
                break
    return 0


@app.command("watch")
def watch(
    resource: Annotated[str | None, typer.Option(help="tester address")] = None,
    instrument: Annotated[str | None, typer.Option(help="configured tester name")] = None,
    count: Annotated[int | None, typer.Option(help="stop after this many peels", min=1)] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Show every peel started at the tester's front panel, as the station records it."""
    settings = _settings(config, url, None)
    fallback = fallback_settings(settings, resource, instrument)
    raise typer.Exit(_run(_watch(fallback, count)))
