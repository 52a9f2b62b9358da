"""Aging runs on an oven without a log (the Modbus controller over RTU on a pty): sampled
live, a sensor fault's hours are unmonitored, and a stalled link's outage is unmonitored
and noted with its reason — never filled in."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daq.aging.accounting import AgingPlan
from daq.aging.procedure import AgingRunner
from daq.bus import Bus
from daq.clock import SimClock
from daq.storage.aging_models import AgingRunRow
from daq.storage.models import RunEventRow
from daq.storage.recorder import DbRecorder
from drivers.aging_oven import OvenSensorFault
from drivers.aging_oven_modbus import AgingOvenModbus
from simulators.clock import Clock
from simulators.oven import OvenSim
from simulators.oven_modbus import ModbusRtuServer
from tests.aging.conftest import add_specimens, until

HOUR = 3600.0
SCALE = 10_000.0  # one cycle (20 ms real at least) is 200 simulated seconds


class SampledOven(AgingOvenModbus):
    """The Modbus oven's driver, noting each live sample the run takes: when (simulated
    time) and whether the sensor answered, so a test can work the hours out by hand."""

    def __init__(self, resource: str, clock: SimClock, timeout: float) -> None:
        super().__init__(resource, timeout=timeout)
        self.clock = clock
        self.samples: list[tuple[float, float | None]] = []

    async def process_value_c(self) -> float:
        ts = self.clock.now()
        try:
            value = await super().process_value_c()
        except OvenSensorFault:
            self.samples.append((ts, None))
            raise
        self.samples.append((ts, value))
        return value


def faulted_hours(samples: list[tuple[float, float | None]]) -> float:
    """By hand: each sample stands for the interval since the one before it, so the
    unmonitored hours are the intervals that end in a sample the sensor did not answer."""
    return sum(ts - prev for (prev, _), (ts, value) in itertools.pairwise(samples)
               if value is None) / HOUR


@dataclass
class Station:
    sim: OvenSim
    oven: SampledOven
    runner: AgingRunner
    clock: SimClock


@pytest.fixture
async def station(tmp_path: Path, sessions: Any, bus: Bus) -> AsyncIterator[Station]:
    origin = time.time()
    clock = SimClock(scale=SCALE, origin=origin)
    sim = OvenSim(Clock(SCALE, origin))
    server = ModbusRtuServer(sim, link=tmp_path / "oven-modbus")
    port = await server.start()
    recorder = DbRecorder(sessions, bus, prefix="lamina/test-modbus", clock=clock)
    await add_specimens(sessions, ["R1"])
    try:
        async with SampledOven(port, clock, timeout=0.2) as oven:
            runner = AgingRunner(ovens={"oven1": oven}, clock=clock, recorder=recorder,
                                 sessions=sessions, bus=bus)
            yield Station(sim, oven, runner, clock)
            await runner.stop()
    finally:
        await server.stop()


async def final_row(sessions: Any, run_id: str) -> tuple[AgingRunRow, list[dict[str, Any]]]:
    async with sessions() as s:
        row = await s.get(AgingRunRow, run_id)
        events = await s.scalars(select(RunEventRow).where(RunEventRow.run_id == run_id))
        notes = [dict(e.data) for e in events if e.kind == "note"]
    assert row is not None
    return row, notes


def accounts_every_hour(row: AgingRunRow) -> None:
    elapsed = row.accounted_until_ts - row.started_ts
    total = row.in_tolerance_s + row.out_of_tolerance_s + row.unmonitored_s
    assert total == pytest.approx(elapsed, abs=1e-6)


@pytest.mark.timing
async def test_a_two_hour_sensor_fault_is_two_hours_unmonitored(
    station: Station, sessions: Any
) -> None:
    run_id = await station.runner.start(AgingPlan(target_h=10, pullouts_h=(10,)), ["R1"])
    acc = station.runner.runs[run_id].acc
    await until(lambda: acc.in_tolerance_h >= 3, "the run never accounted 3 h")
    station.sim.inject("sensor", "2")
    await station.runner.wait(run_id)
    row, notes = await final_row(sessions, run_id)
    accounts_every_hour(row)
    assert row.status == "DONE" and row.in_tolerance_s == pytest.approx(10 * HOUR)
    # Each sample stands for the interval before it: the fault's 2 h are unmonitored to
    # within a sample's spacing at either end (200 s each at this scale, 0.06 h, when
    # the machine is idle; on a loaded one a sample can come an hour late, so the exact
    # figure is worked out from the samples the run took).
    by_hand = faulted_hours(station.oven.samples)
    assert row.unmonitored_s / HOUR == pytest.approx(by_hand, abs=0.01)
    assert 1.0 <= by_hand <= 4.0  # the 2 h fault, give or take a late sample at each end
    assert [n for n in notes if n.get("what") == "unmonitored_gap"] == []


@pytest.mark.timing
async def test_a_stalled_link_is_an_unmonitored_gap_with_its_reason(
    station: Station, sessions: Any
) -> None:
    run_id = await station.runner.start(AgingPlan(target_h=10, pullouts_h=(10,)), ["R1"])
    run = station.runner.runs[run_id]
    await until(lambda: run.acc.in_tolerance_h >= 3, "the run never accounted 3 h")
    station.sim.inject("stall")
    await until(lambda: run.errors_seen > 0, "the run never saw the stall")
    stalled_from = run.acc.accounted_until_ts  # its last good sample
    await station.clock.sleep(2 * HOUR)
    station.sim.clear_faults()
    await station.runner.wait(run_id)
    row, notes = await final_row(sessions, run_id)
    accounts_every_hour(row)
    assert row.status == "DONE"
    [gap] = [n for n in notes if n.get("what") == "unmonitored_gap"]
    assert gap["from_ts"] == stalled_from
    assert str(gap["reason"]).startswith("oven link trouble")
    assert float(gap["hours"]) >= 2.0
    assert "oven keeps no log" in str(gap["message"])
    assert row.unmonitored_s / HOUR == pytest.approx(float(gap["hours"]), abs=1e-6)
    assert [n.get("what") for n in notes].count("oven_trouble") == 1
