"""The oven simulator and its driver, over a real pseudo-terminal."""

from __future__ import annotations

import itertools

import pytest

from drivers.aging_oven import AgingOven, OvenSensorFault
from drivers.errors import InstrumentCommandError
from tests.aging.conftest import OvenRig

HOUR = 3600.0


async def test_oven_identifies_and_holds_its_setpoint(oven: AgingOven) -> None:
    assert (await oven.identify()).startswith("LAMINA,AO-150")
    await oven.set_setpoint_c(150)
    assert await oven.setpoint_c() == 150.0
    assert abs(await oven.process_value_c() - 150.0) <= 0.3
    assert await oven.alarms() == ()
    assert await oven.door_open() is False


async def test_setpoint_outside_the_oven_range_is_refused_by_oven_and_driver(
    oven: AgingOven,
) -> None:
    reply = await oven.transport.query("SP 400")
    assert reply.startswith("ERR,-222")
    with pytest.raises(InstrumentCommandError, match="outside 0–300"):
        await oven.set_setpoint_c(400)
    assert await oven.setpoint_c() == 150.0  # nothing changed


async def test_door_open_drops_the_temperature_toward_ambient(oven: AgingOven,
                                                              rig: OvenRig) -> None:
    start = rig.clock.now()
    rig.sim.inject("door")  # open until closed again
    assert await oven.door_open() is True
    await rig.clock.sleep(0.5 * HOUR)
    assert await oven.process_value_c() < 60.0
    rig.sim.clear_faults()
    assert await oven.door_open() is False
    await rig.clock.sleep(3 * HOUR)
    assert abs(await oven.process_value_c() - 150.0) < 3.0
    rows = await oven.log_since(start)
    assert any(r.door_open for r in rows) and not rows[-1].door_open


async def test_sensor_fault_gives_an_error_and_log_rows_without_temperature(
    oven: AgingOven, rig: OvenRig
) -> None:
    start = rig.clock.now()
    rig.sim.inject("sensor")
    with pytest.raises(OvenSensorFault, match="Sensor fault"):
        await oven.process_value_c()
    assert "SENSOR" in await oven.alarms()
    await rig.clock.sleep(0.5 * HOUR)
    rig.sim.clear_faults()
    await rig.clock.sleep(0.5 * HOUR)
    rows = await oven.log_since(start)
    blind = [r for r in rows if r.pv_c is None]
    assert blind and all("SENSOR" in r.alarms for r in blind)
    assert rows[-1].pv_c is not None


async def test_overtemperature_raises_the_oven_alarm(oven: AgingOven, rig: OvenRig) -> None:
    rig.sim.inject("overtemp")
    await rig.clock.sleep(HOUR)
    assert "OVERTEMP" in await oven.alarms()
    assert await oven.process_value_c() > 165.0


async def test_fifty_hours_of_history_page_by_page_one_row_a_minute(
    oven: AgingOven, rig: OvenRig
) -> None:
    start = rig.clock.now()
    # The oven stops at 50 h 2 min: its log then holds exactly that history while it is
    # paged through. Left running at 10^6x, a machine busy for 8.6 real s would let the
    # oven overwrite (its log holds 2400 h) rows not yet read, and leave a hole.
    end = rig.oven_clock.hold_at = start + 50 * HOUR + 120
    await rig.clock.sleep(50 * HOUR + 120)
    first = await oven.log_page(start)
    assert len(first.rows) == 500 and first.more
    rows = await oven.log_since(start)
    ts = [r.ts for r in rows]
    # One row on each minute after start, up to the hold: 50 h 2 min is 3002 minutes.
    assert len(ts) == 3002 and ts[-1] <= end
    assert all(b - a == 60.0 for a, b in itertools.pairwise(ts))
    assert all(t % 60 == 0 for t in ts)


async def test_log_holes_lose_rows_and_write_two_out_of_order(oven: AgingOven,
                                                             rig: OvenRig) -> None:
    start = rig.clock.now()
    rig.sim.inject("log_holes", "1")
    await rig.clock.sleep(2 * HOUR)
    ts = [r.ts for r in await oven.log_since(start - 600)]
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert max(gaps) >= 3600.0
    assert sum(1 for g in gaps if g < 0) == 1


async def test_garbled_log_rows_are_rejected_never_guessed(oven: AgingOven,
                                                           rig: OvenRig) -> None:
    start = rig.clock.now()
    await rig.clock.sleep(2 * HOUR)
    rig.sim.inject("garble")
    page = await oven.log_page(start)
    assert len(page.rejected) == 1
    clean = await oven.log_page(start)
    assert not clean.rejected and clean.intact and not page.intact
    assert {r.ts for r in page.rows} < {r.ts for r in clean.rows}


async def test_oven_keeps_logging_while_nobody_is_connected(rig: OvenRig) -> None:
    start = rig.clock.now()
    await rig.clock.sleep(10 * HOUR)  # no client at all
    async with AgingOven(rig.resource) as oven:
        rows = await oven.log_since(start)
    assert len(rows) >= 590
