"""`daq runs`: runs on record: list, show, export — from the station at
``DAQ_STATION_URL`` when one runs there, else (or with ``--url``) from the database."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from daq.cli.db import ConfigOption, UrlOption, database_url, fail, require_sqlite_file, run_db
from daq.cli.loop import run as run_loop
from daq.cli.output import operator_errors
from daq.cli.through_station import running_station
from daq.client import NotFound, RunRecord, Station
from daq.clock import iso

T = TypeVar("T")
#: The run id that means "the newest run" (of ``--kind``, if given).
LAST = "last"

app = typer.Typer(help="Runs on record: list, show, export.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]


class ExportFormat(StrEnum):
    """File formats of ``daq runs export``."""

    csv = "csv"
    json = "json"
    parquet = "parquet"


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


def _record(run: RunRecord) -> dict[str, Any]:
    """A run the station sent, shaped (and ordered) as the database path shows it."""
    return {
        "id": run.id, "kind": run.kind, "instrument": run.instrument, "status": run.status,
        "phase": run.phase, "operator": run.operator, "sample_id": run.sample_id,
        "station": run.station, "started_ts": run.started_ts, "started": iso(run.started_ts),
        "ended_ts": run.ended_ts,
        "ended": iso(run.ended_ts) if run.ended_ts is not None else None,
        "reason": run.reason, "recipe": run.recipe, "summary": run.summary,
        "readings_stored": run.readings_stored, "last_reading_ts": run.last_reading_ts,
    }


async def _station_run_id(station: Station, run_id: str, kind: str | None) -> str:
    """``run_id``, or the newest run (of ``kind``) for ``last``."""
    if run_id != LAST:
        return run_id
    newest = (await station.runs(kind=kind, limit=1)).items
    if not newest:
        raise NotFound(f"no run {LAST!r}" + (f" of kind {kind}" if kind else "") + " on record")
    return newest[0].id


async def _through_station(url: str | None, work: Callable[[Station], Awaitable[T]]
                           ) -> tuple[bool, T | None]:
    """``work`` done through the station at DAQ_STATION_URL: (True, its result); (False,
    None) when ``--url`` names a database or no station runs (read the database then)."""
    if url is not None:
        return False, None
    async with running_station() as station:
        if station is None:
            return False, None
        return True, await work(station)


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
    """List the newest runs on record (from the station at DAQ_STATION_URL, or from the
    database when none runs or --url names one)."""

    async def listed(station: Station) -> list[dict[str, Any]]:
        page = await station.runs(kind=kind, status=status.upper() if status else None,
                                  limit=limit)
        return [_record(r) for r in page.items]

    went, found = _run_client(lambda: _through_station(url, listed))
    if went and found is not None:
        runs = found
    else:
        from daq.storage import queries

        target = _url(config, url)

        async def work(session: Any) -> list[dict[str, Any]]:
            rows = await queries.list_runs(session, kind=kind, status=status, limit=limit)
            return [queries.run_dict(r) for r in rows]

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
    """Show a run: what it was, its phases and events, its result and its readings (from
    the station at DAQ_STATION_URL, or from the database when none runs or --url names
    one)."""
    went, found = _run_client(lambda: _through_station(
        url, lambda station: _station_detail(station, run_id, kind)))
    if went and found is not None:
        if as_json:
            typer.echo(json.dumps(found, indent=2))
        else:
            _print_detail(found)
        return
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


async def _station_detail(station: Station, run_id: str, kind: str | None
                         ) -> dict[str, Any]:
    """``daq runs show`` of a run the station has: the record, its events, and per
    channel its count, unit and first and last reading."""
    detail = await station.run(await _station_run_id(station, run_id, kind))
    if kind and detail.kind != kind:
        raise NotFound(f"run {run_id!r} is a {detail.kind}, not a {kind}")
    channels = []
    for channel, count in sorted(detail.channels.items()):
        first = await station.reading_at(detail.id, channel, 0)
        last = await station.reading_at(detail.id, channel, count - 1)
        channels.append({"instrument": first.instrument if first else detail.instrument,
                         "channel": channel, "unit": first.unit if first else "",
                         "count": count, "first_ts": first.ts if first else None,
                         "last_ts": last.ts if last else None})
    return {
        "run": _record(detail),
        "events": [{"ts": e.ts, "time": iso(e.ts), "kind": e.kind, "data": e.data}
                   for e in detail.events],
        "channels": channels,
    }


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
    fmt: Annotated[ExportFormat, typer.Option(
        "--format", help="csv, json or parquet (parquet needs --out and the notebook extra)")]
    = ExportFormat.csv,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="file to write (default stdout)")] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Export a run's readings (columns ts, time, instrument, channel, value, unit,
    replayed), from the station at DAQ_STATION_URL, or from the database when none runs
    or --url names one."""
    from daq.storage import queries

    if fmt is ExportFormat.parquet:
        if out is None:
            fail("--format parquet writes a file: name it with --out FILE.parquet")
        _need_parquet()

    async def from_station(station: Station) -> tuple[str, int]:
        record = await station.run(await _station_run_id(station, run_id, kind))
        if kind and record.kind != kind:
            raise NotFound(f"run {run_id!r} is a {record.kind}, not a {kind}")

        async def rows() -> AsyncIterator[ExportRow]:
            async for r in station.readings(record.id):
                yield (r.ts, r.instrument, r.channel,
                       math.nan if r.value is None else r.value, r.unit, r.replayed)

        return record.id, await _write_export(out, fmt, _record(record), rows())

    went, done = _run_client(lambda: _through_station(url, from_station))
    if went and done is not None:
        exported, count = done
    else:
        target = _url(config, url)

        async def work(session: Any) -> tuple[str, int]:
            run = await queries.get_run(session, run_id, kind)  # unknown id: no file
            return run.id, await _write_export(out, fmt, queries.run_dict(run),
                                               queries.iter_readings(session, run.id))

        exported, count = run_db(target, lambda: _with_session(target, work))
    if out is not None:
        typer.echo(f"exported {count} readings of {exported} to {out}", err=True)


#: One reading as exported: ts, instrument, channel, value, unit, replayed.
ExportRow = tuple[float, str, str, float, str, bool]


def _need_parquet() -> None:
    """Fail in one line, saying what to install, where pyarrow is missing."""
    from rich.markup import escape

    from daq.client.frames import NotebookExtraMissing, readings_schema

    try:
        readings_schema()
    except NotebookExtraMissing as exc:
        fail(escape(str(exc)))


async def _write_export(out: Path | None, fmt: ExportFormat, run: dict[str, Any],
                        rows: AsyncIterator[ExportRow]) -> int:
    """Write the export of one run (CSV, JSON with the run's record, or Parquet with it
    in the file's metadata); how many readings. The file is opened only once the run is
    known (an unknown id: no file)."""
    from daq.storage import queries

    if fmt is ExportFormat.parquet:
        assert out is not None  # checked before the run was looked up
        from daq.client.parquet import write_parquet

        try:
            return await write_parquet(out, run, rows)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
    count = 0
    with _output(out) as fh:
        if fmt is ExportFormat.csv:
            fh.write(next(iter(queries.csv_lines([]))))
            async for row in rows:
                for line in queries.csv_lines([row], header=False):
                    fh.write(line)
                count += 1
        else:
            fh.write('{"run":' + json.dumps(run) + ',"readings":[')
            async for row in rows:
                fh.write(("," if count else "") + "\n" + queries.json_record_line(row))
                count += 1
            fh.write("\n]}\n")
    return count


def _run_client(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a call to the station; its errors are one line, never a traceback (an unknown
    run: exit 1, as from the database)."""
    with operator_errors():
        try:
            return run_loop(main())
        except BrokenPipeError:  # the reader went away (`daq runs export … | head`)
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except NotFound as exc:
            fail(str(exc), code=1)
