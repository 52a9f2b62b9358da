"""Ingest rate: readings/s through bus → ReadingWriter → SQLite / PostgreSQL, each next to
the plain driver on the same rows (raw ``sqlite3.executemany`` with WAL, raw asyncpg
``copy_records_to_table``), plus the MQTT publisher next to a bare aiomqtt loop when
``bench/_mqtt_ingest.py`` is present.

A "reading" here is one stored row (one channel of one poll). Targets: storage ≥ 50 % of
the plain rate, ≥ 20 000 readings/s on SQLite.

    .venv/bin/python bench/ingest.py [--polls 60000] [--batch 500] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

# Run as a script: the project root for `daq`, this directory for D's `_mqtt_ingest`.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from daq.bus import Bus  # noqa: E402
from daq.messages import Reading, Value  # noqa: E402
from daq.record import RunInfo  # noqa: E402
from daq.storage.database import create_all, create_engine, session_factory  # noqa: E402
from daq.storage.readings import COLUMNS, ReadingWriter, Row  # noqa: E402
from daq.storage.recorder import DbRecorder  # noqa: E402

RUN = "press-bench0000001"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}

Result = tuple[str, float, float]


def make_polls(n: int) -> list[Reading]:
    """``n`` press polls of three channels, 10 Hz simulated."""
    return [
        Reading(
            "press1",
            1.8e9 + i * 0.1,
            {
                "temp_top": Value(199.0 + (i % 17) * 0.1, "degC"),
                "temp_bottom": Value(198.6 + (i % 13) * 0.1, "degC"),
                "pressure": Value(3.0 + (i % 7) * 0.01, "MPa"),
            },
            run_id=RUN,
        )
        for i in range(n)
    ]


def rows_of(polls: list[Reading]) -> list[Row]:
    """The rows the writer stores for these polls."""
    return [
        (p.run_id, p.instrument, ch, p.ts, v.v, v.unit, p.replayed)
        for p in polls
        for ch, v in p.values.items()
    ]


async def through_writer(
    url: str, polls: list[Reading], batch: int, method: Literal["bulk", "core"]
) -> float:
    """Rows/s from the first publish to the last commit, on a fresh schema."""
    engine = create_engine(url)
    await create_all(engine)
    await DbRecorder(session_factory(engine)).start_run(
        RunInfo(RUN, "press_cycle", "press1", polls[0].ts)
    )
    bus = Bus()
    sub = bus.subscribe("storage", (Reading,), maxsize=len(polls) + 1)
    writer = ReadingWriter(engine, sub, batch_size=batch, flush_interval_s=0.5, method=method)
    writer.start()
    start = time.perf_counter()
    for i in range(0, len(polls), 1000):
        for poll in polls[i : i + 1000]:
            bus.publish(poll)
        await asyncio.sleep(0)  # acquisition yields like real instrument tasks do
    assert await writer.stop(timeout_s=120)
    elapsed = time.perf_counter() - start
    rows = len(polls) * 3
    assert writer.stats.rows_written == rows and sub.dropped == 0, writer.stats
    await engine.dispose()
    return rows / elapsed


def plain_sqlite(path: Path, rows: list[Row], batch: int) -> float:
    """Raw sqlite3 executemany (WAL, synchronous=NORMAL), one commit per batch."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO readings ({', '.join(COLUMNS)}) VALUES (?,?,?,?,?,?,?)"
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.executemany(sql, rows[i : i + batch])
        conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


async def plain_asyncpg(database: str, rows: list[Row], batch: int) -> float:
    """Raw asyncpg copy_records_to_table, one transaction per batch."""
    import asyncpg

    conn = await asyncpg.connect(database=database, **PG)  # type: ignore[arg-type]
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        async with conn.transaction():
            await conn.copy_records_to_table("readings", records=rows[i : i + batch],
                                             columns=COLUMNS)
    elapsed = time.perf_counter() - start
    await conn.close()
    return len(rows) / elapsed


async def sqlite_results(polls: list[Reading], batch: int, rounds: int) -> list[Result]:
    """Best of ``rounds`` for the plain driver and each writer method, alternating."""
    rows = rows_of(polls)
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            plain_db = Path(tmp) / f"plain{n}.db"
            engine = create_engine(f"sqlite+aiosqlite:///{plain_db}")
            await create_all(engine)
            await engine.dispose()
            best["plain"] = max(best.get("plain", 0.0), plain_sqlite(plain_db, rows, batch))
            for method in ("bulk", "core"):
                url = f"sqlite+aiosqlite:///{Path(tmp) / f'{method}{n}.db'}"
                rate = await through_writer(url, polls, batch, method)  # type: ignore[arg-type]
                best[method] = max(best.get(method, 0.0), rate)
    return [
        (f"SQLite   bus→ReadingWriter ({m}, batch {batch})", best[m], best["plain"])
        for m in ("bulk", "core")
    ]


async def postgres_results(polls: list[Reading], batch: int, rounds: int) -> list[Result]:
    """Best of ``rounds`` for asyncpg COPY and each writer method, on a scratch database."""
    import asyncpg

    rows = rows_of(polls)
    name = f"lamina_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(database="postgres", **PG)  # type: ignore[arg-type]
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"

    async def fresh_schema() -> None:
        conn = await asyncpg.connect(database=name, **PG)  # type: ignore[arg-type]
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await conn.close()

    best: dict[str, float] = {}
    try:
        for _ in range(rounds):
            await fresh_schema()
            engine = create_engine(url)
            await create_all(engine)
            await engine.dispose()
            best["plain"] = max(best.get("plain", 0.0), await plain_asyncpg(name, rows, batch))
            for method in ("bulk", "core"):
                await fresh_schema()
                rate = await through_writer(url, polls, batch, method)  # type: ignore[arg-type]
                best[method] = max(best.get(method, 0.0), rate)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return [
        (f"Postgres bus→ReadingWriter ({m}, batch {batch})", best[m], best["plain"])
        for m in ("bulk", "core")
    ]


async def mqtt_results() -> list[Result]:
    if importlib.util.find_spec("_mqtt_ingest") is None:
        print("MQTT part: bench/_mqtt_ingest.py not present, skipped")
        return []
    module: Any = importlib.import_module("_mqtt_ingest")
    results: list[Result] = await module.run_mqtt_ingest()
    return results


def show(results: list[Result]) -> None:
    for label, rate, plain in results:
        ratio = rate / plain if plain else float("nan")
        print(f"{label:<48} {rate:>10,.0f} /s   plain {plain:>10,.0f} /s   ratio {ratio:6.1%}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=40_000, help="polls of 3 channels")
    parser.add_argument("--batch", type=int, action="append",
                        help="batch size(s) (default: 500 = Settings default, and 5000)")
    parser.add_argument("--rounds", type=int, default=2, help="best of N (noisy machines)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-mqtt", action="store_true")
    args = parser.parse_args()
    batches = args.batch or [500, 5000]
    polls = make_polls(args.polls)
    print(f"{args.polls} polls × 3 channels = {args.polls * 3} readings per measurement, "
          f"best of {args.rounds}")
    results: list[Result] = []
    for batch in batches:
        part = await sqlite_results(polls, batch, args.rounds)
        show(part)
        results += part
    if not args.no_postgres:
        try:
            for batch in batches:
                part = await postgres_results(polls, batch, args.rounds)
                show(part)
                results += part
        except OSError as exc:
            print(f"PostgreSQL part skipped: {exc}")
    if not args.no_mqtt:
        part = await mqtt_results()
        show(part)
        results += part
    print("\nsummary (targets: storage ≥ 50 % of plain, SQLite ≥ 20 000 readings/s; "
          "publisher ≥ 50 % of bare loop)")
    show(results)


if __name__ == "__main__":
    asyncio.run(main())
