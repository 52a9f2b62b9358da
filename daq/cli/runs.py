"""`daq runs`: runs on record: list, show, export."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from daq.cli.db import ConfigOption, UrlOption, database_url, fail, require_sqlite_file, run_db
from daq.clock import iso

app = typer.Typer(help="Runs on record: list, show, export.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]


class ExportFormat(StrEnum):
    """File formats of ``daq runs export``."""

    csv = "csv"
    json = "json"


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    return console


def _time(ts: float | None) -> str:
    return iso(ts)[:19].replace("T", " ") if ts is not None else "—"


def _url(config: Path | None, url: str | None) -> str:
    target = database_url(config, url)
    require_sqlite_file(target)
    return target


async def _with_session(target: str, work: Any) -> Any:
    from daq.storage.database import create_engine, session_factory

    engine = create_engine(target)
    try:
        async with session_factory(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


@app.command("list")
def list_runs(
    kind: Annotated[str | None, typer.Option(help="press_cycle, peel_test, aging_run …")] = None,
    status: Annotated[str | None, typer.Option(help="RUNNING, DONE, ABORTED …")] = None,
    limit: Annotated[int, typer.Option(min=1, help="newest N runs")] = 20,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """List the newest runs on record."""
    from daq.storage import queries

    target = _url(config, url)

    async def work(session: Any) -> list[dict[str, Any]]:
        runs = await queries.list_runs(session, kind=kind, status=status, limit=limit)
        return [queries.run_dict(r) for r in runs]

    runs = run_db(target, lambda: _with_session(target, work))
    if as_json:
        typer.echo(json.dumps(runs, indent=2))
        return
    if not runs:
        typer.echo("no runs on record")
        return
    table = Table(title=f"runs ({len(runs)} newest)")
    for column in ("id", "kind", "status", "phase", "started (UTC)", "ended (UTC)",
                   "operator", "readings"):
        table.add_column(column, no_wrap=column in ("id", "started (UTC)", "ended (UTC)"))
    for run in runs:
        table.add_row(run["id"], run["kind"], run["status"], run["phase"] or "—",
                      _time(run["started_ts"]), _time(run["ended_ts"]), run["operator"] or "—",
                      str(run["readings_stored"]))
    _console().print(table)


RunIdArg = Annotated[str, typer.Argument(
    help="run id, e.g. press-3f9a1c0b7e21, or `last` for the newest run")]
KindOption = Annotated[str | None, typer.Option(
    help="with `last`: the newest run of this kind (press_cycle, peel_test …)")]


@app.command()
def show(
    run_id: RunIdArg,
    kind: KindOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Show a run: what it was, its phases and events, its result and its readings."""
    from daq.storage import queries

    target = _url(config, url)

    async def work(session: Any) -> dict[str, Any]:
        run = await queries.get_run(session, run_id, kind)
        events = await queries.run_events(session, run.id)
        channels = await queries.channel_counts(session, run.id)
        return {
            "run": queries.run_dict(run),
            "events": [
                {"ts": e.ts, "time": iso(e.ts), "kind": e.kind, "data": e.data} for e in events
            ],
            "channels": [
                {"instrument": c.instrument, "channel": c.channel, "unit": c.unit,
                 "count": c.count, "first_ts": c.first_ts, "last_ts": c.last_ts}
                for c in channels
            ],
        }

    detail = run_db(target, lambda: _with_session(target, work))
    if as_json:
        typer.echo(json.dumps(detail, indent=2))
        return
    _print_detail(detail)


def _print_detail(detail: dict[str, Any]) -> None:
    console = _console()
    run = detail["run"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for label, value in (
        ("run", run["id"]),
        ("kind", run["kind"]),
        ("instrument", run["instrument"]),
        ("status", run["status"]),
        ("phase", run["phase"] or "—"),
        ("reason", run["reason"] or "—"),
        ("operator", run["operator"] or "—"),
        ("sample", run["sample_id"] or "—"),
        ("started", run["started"]),
        ("ended", run["ended"] or "—"),
        ("recipe", json.dumps(run["recipe"])),
        ("summary", json.dumps(run["summary"])),
        ("readings stored", str(run["readings_stored"])),
        ("last reading", iso(run["last_reading_ts"]) if run["last_reading_ts"] else "—"),
    ):
        head.add_row(label, value)
    console.print(head)
    events = Table(title="events")
    for column in ("time (UTC)", "kind", "data"):
        events.add_column(column, no_wrap=column != "data")
    for event in detail["events"]:
        events.add_row(_time(event["ts"]), event["kind"], json.dumps(event["data"]))
    console.print(events)
    channels = Table(title="readings per channel")
    for column in ("instrument", "channel", "unit", "count", "first (UTC)", "last (UTC)"):
        channels.add_column(column)
    for c in detail["channels"]:
        channels.add_row(c["instrument"], c["channel"], c["unit"], str(c["count"]),
                         _time(c["first_ts"]), _time(c["last_ts"]))
    console.print(channels)


@contextmanager
def _output(out: Path | None) -> Iterator[IO[str]]:
    if out is None:
        yield sys.stdout
        return
    try:
        fh = out.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    with fh:
        yield fh


@app.command()
def export(
    run_id: RunIdArg,
    kind: KindOption = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv or json")] = ExportFormat.csv,
    out: Annotated[Path | None, typer.Option("--out", help="file to write (default stdout)")]
    = None,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Export a run's readings (columns ts, time, instrument, channel, value, unit, replayed)."""
    from daq.storage import queries

    target = _url(config, url)

    async def work(session: Any) -> tuple[str, int]:
        run = await queries.get_run(session, run_id, kind)  # unknown id → clear error, no file
        count = 0
        with _output(out) as fh:
            if fmt is ExportFormat.csv:
                fh.write(next(iter(queries.csv_lines([]))))
                async for row in queries.iter_readings(session, run.id):
                    for line in queries.csv_lines([row], header=False):
                        fh.write(line)
                    count += 1
            else:
                fh.write('{"run":' + json.dumps(queries.run_dict(run)) + ',"readings":[')
                async for row in queries.iter_readings(session, run.id):
                    fh.write(("," if count else "") + "\n" + queries.json_record_line(row))
                    count += 1
                fh.write("\n]}\n")
        return run.id, count

    exported, count = run_db(target, lambda: _with_session(target, work))
    if out is not None:
        typer.echo(f"exported {count} readings of {exported} to {out}", err=True)
