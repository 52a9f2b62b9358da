"""`daq laser`: UV laser: run a drilling job on a sample lot and grade it (O / Δ / X).

``daq laser run --sample EX1-2026-001 --holes 500`` validates the parameters before
anything is sent, then runs the job through the station at ``DAQ_STATION_URL`` (or,
when none answers, the same station in-process: ``--resource``, the configured laser,
or the simulated one, told what film is on its stage): a lot not on record is registered
first (``POST /api/samples``, its material from ``--material`` or the id's prefix), the
job starts with ``POST /api/runs``, a progress bar follows its progress events, and the
stored run gives the grade. Ctrl-C aborts the job (shutter closed first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from daq.cli.loop import run as run_loop
from daq.cli.output import operator_errors
from daq.cli.through_station import (
    ProgressView,
    follow_run,
    instrument_at,
    open_station,
    with_only,
)
from daq.client import Refused, RunDetail, RunStarted, Station, StreamEvent, StreamMessage
from daq.config import Settings, load_settings
from daq.laser.grading import RULE
from daq.laser.params import (
    LaserJobParams,
    LaserParameterOutOfRange,
    LaserRunParams,
    validate,
)
from daq.materials import material_info, material_key_of

app = typer.Typer(help="UV laser: run a drilling job and grade it.", no_args_is_help=True)

_err = Console(stderr=True)
_out = Console()
DRIVER = "uv_laser"


def fallback_settings(config: Path | None, url: str | None, name: str | None,
                      resource: str | None) -> Settings:
    """The settings of this command's own station: only its laser."""
    return with_only(load_settings(config, database_url=url), DRIVER, name, resource, "laser",
                     poll_interval_s=0.5)


class DrillProgress(ProgressView):
    """Holes drilled of the job, from its progress events."""

    def __init__(self, sample_id: str, n_holes: int, show: bool) -> None:
        super().__init__(Progress(TextColumn(f"drilling {sample_id}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("holes"),
                                  TimeElapsedColumn(), console=_err, disable=not show))
        self._bar = self.progress.add_task("drill", total=n_holes)

    def update(self, message: StreamMessage) -> None:
        """Move the bar on a progress event."""
        if isinstance(message, StreamEvent) and message.kind == "progress":
            done = message.data.get("holes_done")
            if isinstance(done, int):
                self.progress.update(self._bar, completed=done)


class Inspection(BaseModel):
    """The grade of a job and the inspection behind it."""

    model_config = ConfigDict(extra="ignore")

    grade: str
    holes_inspected: int
    open_share: float
    dross_share: float
    median_taper: float | None = None


class LaserSummary(BaseModel):
    """The stored summary of a laser job (the fields the operator's lines show)."""

    model_config = ConfigDict(extra="ignore")

    sample_id: str
    n_holes: int
    holes_done: int
    shutter_closed: bool | None = None
    inspection: Inspection | None = None


async def register_sample(station: Station, sample_id: str, material: str | None,
                          thickness_um: float | None) -> None:
    """Register a lot not on record: its material from ``--material`` or its id."""
    key = material or material_key_of(sample_id)
    if key is None:
        raise Refused(422, f"sample {sample_id!r} is not on record and its id names no "
                      "material of Table 1: give --material KEY (and --thickness-um)")
    try:
        info = material_info(key)
    except KeyError as exc:
        raise Refused(422, str(exc.args[0])) from None
    body: dict[str, str | float] = {"id": sample_id, "material_key": info.key,
                                    "note": "registered by daq laser"}
    if thickness_um is not None:
        body["adhesive_thickness_um"] = thickness_um
    if await station.register("samples", body):
        shown = thickness_um if thickness_um is not None else info.adhesive_thickness_um
        _err.print(f"registered sample {sample_id}: {info.name}, {shown:g} µm adhesive")


async def _start_job(station: Station, params: LaserRunParams, material: str | None,
                     thickness_um: float | None) -> RunStarted:
    try:
        return await station.start_run("laser_job", params)
    except Refused as exc:
        if not exc.about("sample_id"):
            raise
    await register_sample(station, params.sample_id, material, thickness_um)
    return await station.start_run("laser_job", params)


async def _job(params: LaserRunParams, fallback: Settings, resource: str | None,
               material: str | None, thickness_um: float | None, show: bool) -> RunDetail:
    async with open_station(lambda: fallback) as (station, in_process):
        if resource is not None and not in_process:
            name = await instrument_at(station, DRIVER, resource, "laser")
            params = params.model_copy(update={"laser": name})
        view = DrillProgress(params.sample_id, params.n_holes, show)
        followed = await follow_run(
            station, lambda: _start_job(station, params, material, thickness_um), view,
            what="the laser", in_process=in_process)
    return followed.record


def _print_result(record: RunDetail) -> None:
    colour = {"DONE": "green", "ABORTED": "yellow"}.get(record.status, "red")
    _out.print(f"run {record.id}: [{colour}]{record.status}[/{colour}]"
               + (f" — {record.reason}" if record.reason else ""))
    s = LaserSummary.model_validate(record.summary or {})
    _out.print(f"sample {s.sample_id}: {s.holes_done} of {s.n_holes} holes drilled, "
               f"shutter {'closed' if s.shutter_closed else 'NOT confirmed closed'}")
    if s.inspection is not None:
        g = s.inspection
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
    operator: Annotated[str | None, typer.Option(
        help="ignored: the station records the job under the user you logged in as")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: Annotated[Path | None, typer.Option(help="daq.toml (default: DAQ_CONFIG)")] = None,
    url: Annotated[str | None, typer.Option("--url", help="database URL")] = None,
) -> None:
    """Drill SAMPLE with the patent's defaults (40 µm, 20 kHz, 100 holes/s) and grade it."""
    job = LaserJobParams(sample, holes, diameter_um, pulse_khz * 1000.0, hole_rate, power,
                         wavelength_nm)
    with operator_errors():
        try:
            validate(job)  # before the station, the database or the laser
        except LaserParameterOutOfRange as exc:
            _err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            raise typer.Exit(2) from None
        laser = laser_name if resource is None else (laser_name or "laser")
        params = LaserRunParams(
            sample_id=sample, n_holes=holes, diameter_um=diameter_um,
            pulse_frequency_hz=job.pulse_frequency_hz, hole_rate_hz=hole_rate, power_w=power,
            wavelength_nm=wavelength_nm, laser=laser)
        fallback = fallback_settings(config, url, laser_name, resource)
        record = run_loop(_job(params, fallback, resource, material, thickness_um,
                               show=not as_json))
    if as_json:
        _out.print_json(json.dumps({"run_id": record.id, "outcome": record.status,
                                    "reason": record.reason, **(record.summary or {})},
                                   default=str))
    else:
        _print_result(record)
    if record.status != "DONE":
        raise typer.Exit(130 if record.status == "ABORTED" else 1)
