"""Acceptance: a database that is locked (SQLite ``BEGIN EXCLUSIVE``, PostgreSQL ``LOCK
TABLE … ACCESS EXCLUSIVE``) never delays the press. Locked 15 s mid-dwell, an abort makes
the press safe within a second; locked 25 s across HEAT→PRESS, the pressure step follows
the temperature within one poll. After the outage every transition and event of the run
is on record, in order, and ``/health`` said ``degraded`` (naming the database) while it
lasted.

The press simulator runs in a process of its own; what the press does is read from it
over its own wire protocol on a link of the test's, never from the station's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import select

from daq.storage.models import AlarmRow, MqttOutbox, ReadingRow, Run, RunEventRow
from tests.safety.conftest import POLL_S, DatabaseLock, PressObserver, PressSample, Station

#: How long the database stays locked: the issue's 15 s. Long enough that the old code
#: (10 s of retries per record, then DatabaseUnavailable) fails every check below.
LOCK_S = 15.0
#: How long the database stays locked across HEAT→PRESS: the issue's 25 s (the old code
#: faulted the run "DatabaseUnavailable" and left the press heating).
LOCK_ACROSS_PRESS_S = 25.0
#: The issue's probe aborted 3 s into the lock.
ABORT_INTO_LOCK_S = 3.0
#: What "safe within a second of the abort" means, in real seconds.
SAFE_WITHIN_S = 1.0
#: Real seconds the cycle may take between its poll and the pressure command: three
#: interlock queries and two commands over a local socket on a loaded 2-core machine.
COMMAND_S = 0.15
#: The observer's spacing between looks at the press (real seconds).
LOOK_S = 0.01

DWELL_RECIPE: dict[str, Any] = {
    "temperature_c": 150.0, "pressure_mpa": 1.0, "dwell_min": 20.0,
    "unload_temperature_c": 120.0,
}
SHORT_RECIPE: dict[str, Any] = {**DWELL_RECIPE, "dwell_min": 5.0}


async def wait_until(condition: Callable[[], bool], timeout_s: float, why: str) -> None:
    """Wait (real time) until ``condition()``: synchronisation, not the verdict."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not reached within {timeout_s:g} s: {why}"
        await asyncio.sleep(0.01)


class Watch:
    """The press (over its protocol) and /health, looked at side by side while a test runs."""

    def __init__(self, observer: PressObserver, station: Station) -> None:
        self.observer = observer
        self.station = station
        self.samples: list[PressSample] = []
        self.health: list[tuple[float, dict[str, Any]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def _look(self) -> None:
        while not self._stopping:
            self.samples.append(await self.observer.sample())
            await asyncio.sleep(LOOK_S)

    async def _probe(self) -> None:
        async with self.station.client() as client:
            while not self._stopping:
                body = (await client.get("/health")).json()
                self.health.append((time.monotonic(), body))
                await asyncio.sleep(0.25)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._look()), loop.create_task(self._probe())]

    async def stop(self) -> None:
        # A cancel can be swallowed inside the in-process ASGI call (seen as a test that
        # never ended): the loops also stop on the flag, and the cancel is repeated.
        self._stopping = True
        while pending := [t for t in self._tasks if not t.done()]:
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=1.0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def degraded_between(self, start: float, end: float) -> list[dict[str, Any]]:
        return [h for t, h in self.health
                if start <= t <= end and h["status"] == "degraded" and "database" in h["degraded"]]


@contextlib.asynccontextmanager
async def watching(station: Station) -> AsyncIterator[Watch]:
    """The press (over a link of the test's own) and /health, watched while inside."""
    async with PressObserver(station.lab.instruments["press1"].resource) as observer:
        watch = Watch(observer, station)
        watch.start()
        try:
            yield watch
        finally:
            await watch.stop()


async def start_cycle(station: Station, recipe: dict[str, Any]) -> str:
    async with station.client() as client:
        started = await client.post("/api/press/cycles", json={"recipe": recipe})
        assert started.status_code == 201, started.text
        run_id: str = started.json()["run_id"]
    return run_id


def phase_of(station: Station, run_id: str) -> str | None:
    return station.lab.runs[run_id].phase


async def stored_record(station: Station, run_id: str) -> tuple[Run, list[RunEventRow],
                                                                 list[MqttOutbox], int]:
    async with station.lab.sessions() as session:
        run = await session.get(Run, run_id)
        assert run is not None
        events = list(await session.scalars(
            select(RunEventRow).where(RunEventRow.run_id == run_id).order_by(RunEventRow.id)))
        outbox = [row for row in await session.scalars(select(MqttOutbox).order_by(MqttOutbox.id))
                  if row.topic.endswith(f"/runs/{run_id}/events")]
        alarms = len(list(await session.scalars(
            select(AlarmRow).where(AlarmRow.run_id == run_id))))
    return run, events, outbox, alarms


def transitions(events: list[RunEventRow]) -> list[tuple[str | None, str]]:
    return [(e.data.get("from"), e.data["to"]) for e in events if e.kind == "transition"]


def assert_published_in_record_order(events: list[RunEventRow], outbox: list[MqttOutbox]
                                     ) -> None:
    """The outbox (MQTT delivery order) holds exactly the run's events, in their order."""
    published = [(json.loads(row.payload)["kind"], json.loads(row.payload)["data"])
                 for row in outbox]
    assert published == [(e.kind, e.data) for e in events]


async def assert_readings_of_the_outage_stored(station: Station, run_id: str,
                                              locked_sim: tuple[float, float],
                                              polls_made: int) -> None:
    """Readings taken while the database was locked reached it afterwards (the run's and,
    once it ended, the press's own): one per poll the press's poller made during the lock
    (counted by the poller itself, so a loaded machine that polls less often asks for
    fewer; the two polls straddling the lock's edges may fall either side), and the run's
    count says as many as there are rows."""
    start, end = locked_sim
    writer = station.lab.writer
    # The writer retries on its own back-off after the lock; what is asked here is that
    # the readings arrive, so wait until nothing it received is still buffered.
    assert await writer.flush(30.0), f"readings still buffered after the lock: {writer.stats}"
    async with station.lab.sessions() as session:
        # Every reading of the press, the run's and those after it ended alike: what was
        # acquired during the lock must all be stored.
        ts = list(await session.scalars(
            select(ReadingRow.ts).where(ReadingRow.instrument == "press1",
                                        ReadingRow.channel == "temp_top")))
        rows = len(list(await session.scalars(
            select(ReadingRow.id).where(ReadingRow.run_id == run_id))))
        run = await session.get(Run, run_id)
    assert run is not None
    during = [t for t in ts if start <= t <= end]
    assert polls_made > 0, "the press was not polled during the lock"
    assert len(during) >= polls_made - 2, (
        f"{len(during)} readings of {polls_made} polls during the lock stored; "
        f"writer: {writer.stats}")
    assert run.readings_stored == rows


async def test_abort_mid_dwell_with_the_database_locked_makes_the_press_safe_within_a_second(
    station: Station, db_url: str,
) -> None:
    lab = station.lab
    run_id = await start_cycle(station, DWELL_RECIPE)
    # Heat-up 12.5 simulated min ≈ 6 s at 120×, plus the pressure step: 60 s is a hang guard.
    await wait_until(lambda: phase_of(station, run_id) == "DWELL", 60.0, "DWELL")
    async with watching(station) as watch:
        async with DatabaseLock(db_url):
            locked_at, locked_sim = time.monotonic(), lab.clock.now()
            polls_at_lock = lab.pollers["press1"].polls
            # Setup, as the probe did it: the abort comes 3 s into the lock.
            await asyncio.sleep(ABORT_INTO_LOCK_S)
            assert phase_of(station, run_id) == "DWELL"
            assert watch.samples[-1].heater_on, "the press should be heating mid-dwell"
            abort_at = time.monotonic()
            async with station.client() as client:
                abort = asyncio.get_running_loop().create_task(
                    client.post(f"/api/runs/{run_id}/abort"))
                await wait_until(lambda: watch.samples[-1].t > abort_at
                                 and watch.samples[-1].safe, SAFE_WITHIN_S + 5.0,
                                 "the press reading SAFE")
                first_safe = next(s for s in watch.samples if s.t > abort_at and s.safe)
                # Hold the lock for the rest of its time: the press must stay safe.
                await asyncio.sleep(max(0.0, locked_at + LOCK_S - time.monotonic()))
                unlocked_at, unlocked_sim = time.monotonic(), lab.clock.now()
                polls_in_lock = lab.pollers["press1"].polls - polls_at_lock
                last = watch.samples[-1]
            answered = await abort
        await lab.wait_run(run_id, 60.0)
        assert await lab.recorder.settled(30.0), "the journal did not drain after the lock"
        await wait_until(lambda: watch.health[-1][0] > time.monotonic() - 0.5
                         and watch.health[-1][1]["status"] == "ok", 30.0, "health ok again")

    delay = first_safe.t - abort_at
    print(f"abort → press SAFE (simulator): {delay:.3f} s real with the database locked; "
          f"abort answered {answered.status_code}")
    assert delay <= SAFE_WITHIN_S, f"the press read SAFE {delay:.2f} s after the abort"
    assert not last.heater_on and not last.pressure_on and last.state == "SAFE"
    assert last.pressure <= 0.05, f"pressure not released: {last.pressure} MPa"
    assert answered.status_code == 202, answered.text
    assert watch.degraded_between(locked_at, unlocked_at), (
        f"/health never said degraded (database) during the lock: {watch.health[-3:]}")

    run, events, outbox, alarms = await stored_record(station, run_id)
    assert (run.status, run.phase) == ("ABORTED", "SAFE")
    assert "operator abort" in (run.reason or "")
    assert transitions(events) == [
        (None, "PRECHECK"), ("PRECHECK", "HEAT"), ("HEAT", "PRESS"), ("PRESS", "DWELL"),
        ("DWELL", "SAFE"),
    ]
    assert events[0].data["event"] == "started" and events[-1].kind == "result"
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert run.summary["safe_confirmed"] is True
    assert alarms == 1
    assert_published_in_record_order(events, outbox)
    await assert_readings_of_the_outage_stored(station, run_id, (locked_sim, unlocked_sim),
                                               polls_in_lock)


async def test_pressure_step_is_on_time_while_the_database_is_locked_across_heat_to_press(
    station: Station, db_url: str,
) -> None:
    lab = station.lab
    run_id = await start_cycle(station, SHORT_RECIPE)
    await wait_until(lambda: phase_of(station, run_id) == "HEAT", 30.0, "HEAT")
    async with watching(station) as watch:
        async with DatabaseLock(db_url):
            locked_at, locked_sim = time.monotonic(), lab.clock.now()
            polls_at_lock = lab.pollers["press1"].polls
            await wait_until(lambda: any(s.pressure_on for s in watch.samples), 30.0,
                             "the pressure output switched on")
            assert phase_of(station, run_id) in ("PRESS", "DWELL"), "the run did not go on"
            await asyncio.sleep(max(0.0, locked_at + LOCK_ACROSS_PRESS_S - time.monotonic()))
            unlocked_at, unlocked_sim = time.monotonic(), lab.clock.now()
            polls_in_lock = lab.pollers["press1"].polls - polls_at_lock
        await lab.wait_run(run_id, 90.0)
        assert await lab.recorder.settled(30.0), "the journal did not drain after the lock"

    def in_window(s: PressSample) -> bool:
        return all(abs(t - 150.0) <= 3.0 for t in (s.temp_top, s.temp_bottom))

    samples = watch.samples
    pressed = next(s for s in samples if s.pressure_on)
    # The temperature was in the window from here on for a full poll, so the cycle's
    # next poll (one every POLL_S) saw it there: the pressure step is due one poll later.
    steady = next(
        s for i, s in enumerate(samples)
        if all(in_window(x) for x in samples[i:] if x.t <= s.t + POLL_S)
    )
    assert steady.t >= locked_at, "the temperature reached the window before the lock"
    delay = pressed.t - steady.t
    print(f"temperature in window → pressure on (simulator): {delay:.3f} s real, "
          f"database locked")
    assert delay <= POLL_S + LOOK_S + COMMAND_S, (
        f"the pressure came {delay:.2f} s after the temperature reached the window")
    assert watch.degraded_between(locked_at, unlocked_at), (
        f"/health never said degraded (database) during the lock: {watch.health[-3:]}")

    run, events, outbox, _alarms = await stored_record(station, run_id)
    assert run.status == "DONE", run.reason
    assert transitions(events) == [
        (None, "PRECHECK"), ("PRECHECK", "HEAT"), ("HEAT", "PRESS"), ("PRESS", "DWELL"),
        ("DWELL", "COOL"), ("COOL", "RELEASE"), ("RELEASE", "DONE"),
    ]
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert_published_in_record_order(events, outbox)
    await assert_readings_of_the_outage_stored(station, run_id, (locked_sim, unlocked_sim),
                                               polls_in_lock)
