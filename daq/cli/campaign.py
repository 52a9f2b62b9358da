"""`daq campaign run FILE` / `daq campaign status FILE`: the lab's whole Table 1 workflow.

``run`` carries the campaign out through the station at ``DAQ_STATION_URL`` (``POST
/api/runs`` with ``kind=campaign`` and the file's content), or, when none answers, the
same station in-process (the simulators when no instruments are configured) on the
campaign's own clock; a progress bar follows its steps; the reproduced table comes from
the station (``GET /api/campaigns/{id}``). Stopped (Ctrl-C, a crash, a kill) and run
again, it resumes where it stopped. ``status`` shows every step (from the database).
Exit codes: 0 done, 1 a step failed or an error, 2 a bad campaign file, 130 Ctrl-C,
143 SIGTERM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from daq.campaign.model import Campaign, CampaignFileError, load_campaign
from daq.cli.loop import run as run_loop
from daq.cli.output import operator_errors
from daq.cli.through_station import Followed, ProgressView, follow_run, open_station
from daq.client import CampaignRecord, NotFound, Station, StreamEvent, StreamMessage
from daq.config import Settings, load_settings

app = typer.Typer(help="Campaigns: carry out the lab's whole workflow (Table 1), resumable.",
                  no_args_is_help=True)

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

FileArg = Annotated[Path, typer.Argument(help="campaign file (TOML), e.g. campaigns/table1.toml")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="daq.toml (default: DAQ_CONFIG)")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="database URL (default: settings)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _fail(message: str, code: int = 1) -> NoReturn:
    _err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _settings(config: Path | None, url: str | None) -> Settings:
    try:
        return load_settings(config, database_url=url)
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the configuration: {exc}", 2)


def _campaign(path: Path) -> tuple[Campaign, str]:
    try:
        return load_campaign(path)
    except CampaignFileError as exc:
        _fail(str(exc), 2)


class CampaignProgress(ProgressView):
    """Steps done of the campaign, the step under way, the aging hours (its progress
    events)."""

    def __init__(self, campaign_id: str, show: bool) -> None:
        super().__init__(Progress(TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("{task.fields[extra]}"),
                                  TimeElapsedColumn(), console=_err, disable=not show,
                                  transient=False))
        self._bar = self.progress.add_task(f"campaign {campaign_id}", total=None, extra="")

    def update(self, message: StreamMessage) -> None:
        """Move the bar on a progress event."""
        if not (isinstance(message, StreamEvent) and message.kind == "progress"):
            return
        d = message.data
        total, done, extra = d.get("steps"), d.get("steps_done"), str(d.get("current") or "")
        aging_h, target_h = d.get("aging_h"), d.get("aging_target_h")
        if extra == "aging" and isinstance(aging_h, int | float):
            target = target_h if isinstance(target_h, int | float) else 0
            extra = f"aging {aging_h:.0f}/{target:g} h in tolerance"
        self.progress.update(self._bar, total=total if isinstance(total, int) else None,
                              completed=done if isinstance(done, int) else 0, extra=extra)


class Table1Row(BaseModel):
    """One lot of the reproduced table, as the station gives it."""

    model_config = ConfigDict(extra="ignore")

    lot: str
    no_film: bool = False
    peel_as_made_n_per_cm: float | None = None
    patent_as_made_n_per_cm: float | None = None
    peel_aged_n_per_cm: float | None = None
    patent_aged_n_per_cm: float | None = None
    laser_grade: str | None = None
    patent_laser_grade: str | None = None


async def _carry_out(campaign: Campaign, settings: Settings, quiet: bool
                     ) -> tuple[Followed, CampaignRecord | None]:
    async def on_its_clock(base: Settings) -> Settings:
        from daq.campaign.station import resumed_clock

        return await resumed_clock(base, campaign.id, campaign.time.press_scale)

    async with open_station(lambda: settings, prepare=on_its_clock) as (station, in_process):
        if not quiet and await _on_record(station, campaign.id):
            _err.print(f"resuming campaign {campaign.id}")
        followed = await follow_run(
            station, lambda: station.start_run("campaign", campaign),
            CampaignProgress(campaign.id, show=not quiet), what="the instruments",
            in_process=in_process)
        record = (await station.campaign(campaign.id)
                  if followed.record.status == "DONE" else None)
    return followed, record


async def _on_record(station: Station, campaign_id: str) -> bool:
    try:
        await station.campaign(campaign_id)
    except NotFound:
        return False
    return True


def _print_table(record: CampaignRecord) -> None:
    t = Table(title=f"Table 1 reproduced — campaign {record.id} (N/cm; patent in "
                    "brackets)", title_justify="left")
    for col in ("lot", "as made", "after aging", "laser"):
        t.add_column(col, no_wrap=True, justify="left" if col == "lot" else "right")
    for row in (Table1Row.model_validate(r) for r in record.table):
        if row.no_film:
            t.add_row(row.lot, "no film", "no film", "—")
            continue
        t.add_row(row.lot,
                  f"{_num(row.peel_as_made_n_per_cm)} ({_num(row.patent_as_made_n_per_cm, 0)})",
                  f"{_num(row.peel_aged_n_per_cm)} ({_num(row.patent_aged_n_per_cm, 0)})",
                  f"{row.laser_grade or '—'} ({row.patent_laser_grade or '—'})")
    _out.print(t)


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@app.command("run")
def run(path: FileArg, config: ConfigOpt = None, url: UrlOpt = None,
        as_json: JsonOpt = False) -> None:
    """Carry out the campaign (or resume it where it stopped)."""
    campaign, _ = _campaign(path)
    settings = _settings(config, url)
    with operator_errors():
        followed, record = run_loop(_carry_out(campaign, settings, quiet=as_json))
    outcome = followed.record
    if outcome.status == "ABORTED":
        if followed.signal == "SIGTERM":
            _fail("stopped: run the same command again to resume", 143)
        _fail("interrupted: run the same command again to resume", 130)
    if outcome.status != "DONE" or record is None:
        _fail(f"{outcome.reason or outcome.status} — the campaign stops here; run the same "
              "command again to retry it")
    if as_json:
        _out.print_json(json.dumps(record.table))
    else:
        _print_table(record)
        _out.print(f"report: daq report {path} --out report/")


@app.command("status")
def status(path: FileArg, config: ConfigOpt = None, url: UrlOpt = None,
           as_json: JsonOpt = False) -> None:
    """Every step of the campaign: state, run, result."""
    campaign, _ = _campaign(path)
    settings = _settings(config, url)

    async def main() -> Any:
        from daq.campaign.state import get_campaign, list_steps
        from daq.storage.database import create_engine, session_factory, upgrade

        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            sessions = session_factory(engine)
            row = await get_campaign(sessions, campaign.id)
            if row is None:
                _fail(f"campaign {campaign.id} has not been run yet "
                      f"(daq campaign run {path})", 2)
            return row, await list_steps(sessions, campaign.id)
        finally:
            await engine.dispose()

    with operator_errors():
        row, steps = run_loop(main())
    if as_json:
        _out.print_json(json.dumps({
            "campaign": row.id, "status": row.status, "reason": row.reason,
            "sessions": row.sessions,
            "steps": [{"key": s.key, "kind": s.kind, "status": s.status, "run_id": s.run_id,
                       "tried_runs": s.tried_runs, "attempts": s.attempts,
                       "result": s.result} for s in steps]}, default=str))
        return
    done = sum(1 for s in steps if s.status == "DONE")
    _out.print(f"[bold]campaign {row.id}[/] {row.status}: {done}/{len(steps)} steps done, "
               f"{row.sessions} session(s)" + (f" — {row.reason}" if row.reason else ""))
    t = Table(show_edge=False)
    for col in ("step", "status", "run", "tries", "result"):
        t.add_column(col)
    for s in steps:
        t.add_row(s.key, s.status, s.run_id or "", str(s.attempts), _summary(s.result))
    _out.print(t)


def _summary(result: dict[str, Any]) -> str:
    if "peel_strength_n_per_cm" in result:
        return f"{result['peel_strength_n_per_cm']:.2f} N/cm"
    if "grade" in result:
        return f"grade {result['grade']}"
    if "in_tolerance_h" in result and result["in_tolerance_h"] is not None:
        return f"{result['in_tolerance_h']:.1f} h in tolerance"
    if "laminate_id" in result:
        return f"laminate {result['laminate_id']}"
    if "no_film" in result:
        return f"{len(result['samples'])} samples, no film: {', '.join(result['no_film'])}"
    return str(result.get("reason", ""))
