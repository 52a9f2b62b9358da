"""The UV laser driver against the simulated laser over a real TCP socket."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.station.simulation import RemoteDoor
from drivers.errors import InstrumentCommandError, InstrumentConnectionError, ProtocolError
from drivers.uv_laser import (
    Interlocks,
    UvLaser,
    parse_hole_result,
    parse_interlocks,
    parse_job_status,
)
from simulators.door import SimulationDoor
from tests.laser.conftest import LaserRig, wait_finished, wait_until


async def test_identify_and_safe_state_at_power_up(laser: UvLaser) -> None:
    assert "UV355" in await laser.identify()
    assert await laser.key_on() is True
    assert await laser.interlocks() == Interlocks(True, True, True)
    assert await laser.shutter_open() is False
    status = await laser.job_status()
    assert (status.state, status.holes_done) == ("IDLE", 0)


async def test_setters_are_checked_and_read_back(laser: UvLaser) -> None:
    await laser.set_pulse_frequency_hz(20_000)
    await laser.set_power_w(2.5)
    assert await laser.pulse_frequency_hz() == 20_000
    assert await laser.power_setpoint_w() == pytest.approx(2.5)
    assert await laser.measure_power_w() == pytest.approx(2.5, rel=0.05)
    with pytest.raises(InstrumentCommandError) as err:
        await laser.set_power_w(9.0)
    assert err.value.code == -222
    assert await laser.power_setpoint_w() == pytest.approx(2.5)


async def test_shutter_refused_with_door_open(rig: LaserRig, laser: UvLaser) -> None:
    rig.sim.inject("door")
    assert (await laser.interlocks()).open_names() == ["door"]
    with pytest.raises(InstrumentCommandError) as err:
        await laser.open_shutter()
    assert "door" in err.value.text
    assert await laser.shutter_open() is False
    assert [e.action for e in rig.sim.shutter_history] == ["refused"]


async def test_shutter_refused_with_key_off(rig: LaserRig, laser: UvLaser) -> None:
    rig.sim.inject("key_off")
    assert await laser.key_on() is False
    assert await laser.measure_power_w() == 0.0
    with pytest.raises(InstrumentCommandError):
        await laser.open_shutter()
    assert await laser.shutter_open() is False


async def test_job_drills_at_hole_rate_in_simulated_time(rig: LaserRig, laser: UvLaser) -> None:
    await laser.load_job("EX1-2026-001", 500, 40, 100)
    await laser.open_shutter()
    await laser.start_job()
    status = await wait_finished(laser)
    assert (status.state, status.holes_done) == ("DONE", 500)
    job = rig.sim.job
    assert job is not None and job.started_ts is not None and job.ended_ts is not None
    assert job.ended_ts - job.started_ts == pytest.approx(5.0)
    hole = await laser.hole_result(499)
    assert hole.opened and 0.7 <= hole.taper <= 0.9
    assert hole.top_um == pytest.approx(40, rel=0.1)
    with pytest.raises(InstrumentCommandError):
        await laser.write_checked("JOB:RES? 500")


async def test_job_cannot_start_with_shutter_closed(laser: UvLaser) -> None:
    await laser.load_job("EX1-1", 10, 40, 100)
    with pytest.raises(InstrumentCommandError) as err:
        await laser.start_job()
    assert "shutter" in err.value.text


async def test_interlock_mid_job_closes_shutter_and_faults_job(
    rig: LaserRig, laser: UvLaser
) -> None:
    await laser.load_job("EX1-1", 5000, 40, 100)
    await laser.open_shutter()
    await laser.start_job()
    await rig.drilling_held_at(10)  # held: the alarm lands mid-job however slow the machine
    rig.sim.inject("chiller")
    rig.release_drilling()  # from here only the laser's own interlock can stop the drilling
    status = await laser.job_status()
    assert (status.state, status.holes_done) == ("FAULT", 10)
    assert await laser.shutter_open() is False
    assert rig.sim.shutter_history[-1].cause == "interlock:chiller"
    # Long enough on the laser's clock for 200 more holes at 100 holes/s, had it drilled on.
    stopped_at = rig.sim.clock.now()
    await wait_until(lambda: rig.sim.clock.now() >= stopped_at + 200 / 100, "2 s simulated")
    assert (await laser.job_status()).holes_done == status.holes_done


async def test_the_side_door_sets_the_film_away_from_the_laser_link(
    rig: LaserRig, laser: UvLaser
) -> None:
    door = SimulationDoor(rig.sim)
    link = RemoteDoor(await door.start())
    try:
        assert await link.send("SIM:SAMPLE LOT-A,CMP1,15") == "OK"
        refused = await link.send("SIM:SAMPLE LOT-B,NOPE,15")
        assert refused.startswith("ERR,-224,") and "unknown material NOPE" in refused
    finally:
        await link.close()
        await door.stop()
    # The refusal went back through the door, not into the laser's error queue.
    assert await laser.query("SYST:ERR?") == '0,"No error"'
    await laser.load_job("LOT-A", 3, 40, 100)
    await laser.open_shutter()
    await laser.start_job()
    await wait_finished(laser)
    assert not (await laser.hole_result(0)).opened


async def test_garbled_reply_is_a_protocol_error(rig: LaserRig, laser: UvLaser) -> None:
    rig.sim.inject("garble")
    with pytest.raises(ProtocolError):
        await laser.interlocks()
    assert (await laser.interlocks()).all_clear


async def test_dropped_link_raises_and_reconnects(rig: LaserRig, laser: UvLaser) -> None:
    rig.sim.inject("drop")
    # The server has dropped the link once it took the request; one loop turn lets the
    # socket's close (scheduled by then) run before the driver speaks again.
    await wait_until(lambda: not rig.sim.faults.drop_requested.is_set(), "link dropped")
    await asyncio.sleep(0)
    with pytest.raises(InstrumentConnectionError):
        await laser.key_on()
    await laser.reconnect()
    assert await laser.key_on() is True


@given(st.booleans(), st.booleans(), st.booleans(), st.permutations([0, 1, 2]))
def test_interlock_reply_parses_in_any_order(
    door: bool, encl: bool, chiller: bool, order: list[int]
) -> None:
    parts = [
        f"DOOR={'CLOSED' if door else 'OPEN'}",
        f"ENCL={'CLOSED' if encl else 'OPEN'}",
        f"CHILLER={'OK' if chiller else 'ALARM'}",
    ]
    reply = ",".join(parts[i] for i in order)
    assert parse_interlocks(reply) == Interlocks(door, encl, chiller)


@given(st.text(max_size=40))
def test_garbage_never_parses_as_all_clear(reply: str) -> None:
    # A corrupted STAT:INTL? reply must never be taken for "all interlocks closed".
    try:
        parsed = parse_interlocks(reply)
    except ProtocolError:
        return
    assert reply.upper().replace(" ", "").count("=") == 3
    assert isinstance(parsed, Interlocks)


@given(st.text(max_size=30))
def test_job_status_and_hole_result_parsers_raise_only_protocol_errors(reply: str) -> None:
    for parse in (parse_job_status, lambda r: parse_hole_result(0, r)):
        with contextlib.suppress(ProtocolError):
            parse(reply)


async def test_idle_poll_reports_the_safety_chain(rig: LaserRig, laser: UvLaser) -> None:
    from daq.laser.acquisition import poll_laser

    values = await poll_laser(laser)
    assert {k: v.v for k, v in values.items() if v.unit == "bool"} == {
        "key_on": 1.0, "door_closed": 1.0, "enclosure_closed": 1.0, "chiller_ok": 1.0,
        "shutter_open": 0.0,
    }
    rig.sim.inject("enclosure")
    values = await poll_laser(laser)
    assert values["enclosure_closed"].v == 0.0 and values["power"].unit == "W"


def test_every_public_driver_method_has_a_docstring() -> None:
    import inspect

    for name, member in inspect.getmembers(UvLaser):
        if name.startswith("_"):
            continue
        doc = inspect.getdoc(member)
        assert doc and len(doc) > 10, f"UvLaser.{name} has no docstring"


async def test_nan_power_is_refused_by_the_instrument(laser: UvLaser) -> None:
    with pytest.raises(InstrumentCommandError) as err:
        await laser.set_power_w(float("nan"))
    assert err.value.code == -104
