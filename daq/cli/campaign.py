"""`daq campaign run FILE` / `daq campaign status FILE`: the lab's whole Table 1 workflow.

``run`` carries the campaign out through one station (the simulators in-process when no
instruments are configured), with a progress display; stopped (Ctrl-C, a crash, a
kill) and run again, it resumes where it stopped. ``status`` shows every step.
Exit codes: 0 done, 1 a step failed or an error, 2 a bad campaign file, 130 Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from daq.campaign.model import Campaign, CampaignFileError, load_campaign
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


def _run(coro: Any) -> Any:
    """Run a command; what an operator can meet becomes one line, never a traceback."""
    from daq.campaign.runner import CampaignStepFailed
    from daq.campaign.state import CampaignMismatch, UnknownCampaign
    from daq.campaign.station import StationIncomplete
    from daq.recipes import RecipeError
    from drivers.errors import InstrumentError

    try:
        return asyncio.run(coro)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _fail("interrupted: run the same command again to resume", 130)
    except asyncio.CancelledError:  # SIGTERM: stopped cleanly (procedures made safe)
        _fail("stopped: run the same command again to resume", 143)
    except CampaignStepFailed as exc:
        _fail(f"{exc} — the campaign stops here; run the same command again to retry it")
    except (CampaignMismatch, UnknownCampaign, StationIncomplete, RecipeError) as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc), 2)
    except InstrumentError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        _fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
    except Exception as exc:
        if os.environ.get("DAQ_DEBUG") == "1":
            raise
        _fail(f"{type(exc).__name__}: {exc} (DAQ_DEBUG=1 shows the traceback)")


async def _stored_anchor(settings: Settings, campaign_id: str) -> Any:
    from daq.campaign.state import ClockAnchor, get_campaign
    from daq.storage.database import create_engine, session_factory, upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        row = await get_campaign(session_factory(engine), campaign_id)
    finally:
        await engine.dispose()
    if row is None:
        return None
    return ClockAnchor(row.clock_sim_ts, row.clock_wall_ts, row.clock_scale)


async def _carry_out(path: Path, campaign: Campaign, sha: str, settings: Settings,
                     quiet: bool) -> str:
    from daq.campaign.runner import CampaignRunner
    from daq.campaign.runner import Progress as Where
    from daq.campaign.state import open_campaign, save_clock
    from daq.campaign.station import settings_on_clock
    from daq.service import Lab

    task = asyncio.current_task()
    if task is not None:  # SIGTERM stops like Ctrl-C: procedures to safe state, state kept
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    stored = await _stored_anchor(settings, campaign.id)
    settings, anchor = settings_on_clock(settings, stored, campaign.time.press_scale)
    async with Lab(settings) as lab:
        _, created = await open_campaign(lab.sessions, campaign, sha, str(path), anchor)
        if not created:
            await save_clock(lab.sessions, campaign.id, anchor)
        for run in lab.interrupted:
            _err.print(f"[yellow]run {run.run_id} ({run.kind}) was cut short: closed "
                       f"INTERRUPTED with {run.readings_stored} readings; its step is "
                       "redone[/]", soft_wrap=True)
        if not created and not quiet:
            _err.print(f"resuming campaign {campaign.id}")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[extra]}"), TimeElapsedColumn())
        with Progress(*columns, console=_err, disable=quiet, transient=False) as bar:
            steps = bar.add_task(f"campaign {campaign.id}", total=None, extra="")

            def show(p: Where) -> None:
                extra = p.current
                if p.current == "aging" and p.aging_h is not None:
                    extra = f"aging {p.aging_h:.0f}/{p.aging_target_h or 0:g} h in tolerance"
                bar.update(steps, total=p.total, completed=p.done, extra=extra)

            runner = CampaignRunner(lab, campaign, on_progress=show)
            await runner.run()
    return campaign.id


async def _table(settings: Settings, campaign_id: str) -> Any:
    from daq.report.data import load_report_data
    from daq.storage.database import create_engine, session_factory, upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        return await load_report_data(session_factory(engine), campaign_id, with_traces=False)
    finally:
        await engine.dispose()


def _print_table(data: Any) -> None:
    t = Table(title=f"Table 1 reproduced — campaign {data.campaign_id} (N/cm; patent in "
                    "brackets)", title_justify="left")
    for col in ("lot", "as made", "after aging", "laser"):
        t.add_column(col, no_wrap=True, justify="left" if col == "lot" else "right")
    for row in data.table:
        if row.no_film:
            t.add_row(row.lot, "no film", "no film", "—")
            continue
        t.add_row(row.lot, f"{_num(row.as_made.mean)} ({_num(row.expected_as_made, 0)})",
                  f"{_num(row.aged.mean)} ({_num(row.expected_aged, 0)})",
                  f"{row.laser_grade or '—'} ({row.expected_grade or '—'})")
    _out.print(t)


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@app.command("run")
def run(path: FileArg, config: ConfigOpt = None, url: UrlOpt = None,
        as_json: JsonOpt = False) -> None:
    """Carry out the campaign (or resume it where it stopped)."""
    campaign, sha = _campaign(path)
    settings = _settings(config, url)

    async def main() -> Any:
        await _carry_out(path, campaign, sha, settings, quiet=as_json)
        return await _table(settings, campaign.id)

    data = _run(main())
    if as_json:
        _out.print_json(json.dumps(data.table_json()))
    else:
        _print_table(data)
        _out.print(f"report: daq report {path} --out report/")


@app.command("status")
def status(path: FileArg, config: ConfigOpt = None, url: UrlOpt = None,
           as_json: JsonOpt = False) -> None:
    """Every step of the campaign: state, run, result."""
    campaign, _ = _campaign(path)
    settings = _settings(config, url)

    async def main() -> Any:
        from daq.campaign.state import UnknownCampaign, get_campaign, list_steps
        from daq.storage.database import create_engine, session_factory, upgrade

        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            sessions = session_factory(engine)
            row = await get_campaign(sessions, campaign.id)
            if row is None:
                raise UnknownCampaign(f"campaign {campaign.id} has not been run yet "
                                      f"(daq campaign run {path})")
            return row, await list_steps(sessions, campaign.id)
        finally:
            await engine.dispose()

    row, steps = _run(main())
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
