"""Every driver method against the press simulator over a real TCP socket."""

from __future__ import annotations

import asyncio

import pytest

from drivers.errors import InstrumentCommandError
from drivers.lamination_press import LaminationPress, PlatenTemperatures, PressState
from tests.press_driver.conftest import SimulatedPress


async def test_identify_names_the_press(press: LaminationPress) -> None:
    assert "Lamination Press" in await press.identify()


async def test_setpoints_round_trip(press: LaminationPress, press_sim: SimulatedPress) -> None:
    await press.set_temperature_c(200)
    await press.set_pressure_mpa(3)
    await press.set_ramp_rate_c_per_min(15)
    assert await press.temperature_setpoint_c() == 200.0
    assert await press.pressure_setpoint_mpa() == 3.0
    assert press_sim.sim.ramp_c_per_min == 15.0


async def test_out_of_range_setpoint_surfaces_scpi_error(
    press: LaminationPress, press_sim: SimulatedPress
) -> None:
    await press.set_temperature_c(180)
    with pytest.raises(InstrumentCommandError) as info:
        await press.set_temperature_c(260)
    assert info.value.code == -222
    assert "TEMP:SET 260" in str(info.value)
    with pytest.raises(InstrumentCommandError) as info:
        await press.set_pressure_mpa(12)
    assert info.value.code == -222
    assert await press.temperature_setpoint_c() == 180.0
    assert await press.errors() == []


async def test_heating_and_pressing_reach_the_recipe(press: LaminationPress) -> None:
    await press.set_ramp_rate_c_per_min(30)
    await press.set_temperature_c(150)
    await press.set_pressure_mpa(3)
    await press.set_heater(True)
    assert (await press.measure_all()).state is PressState.HEAT
    await press.set_pressure_output(True)
    reading = await press.measure_all()
    assert reading.state is PressState.PRESS
    settled = 0
    for _ in range(200):  # simulated minutes pass in real tenths of a second at 600×
        await asyncio.sleep(0.05)
        reading = await press.measure_all()
        inside = abs(reading.temp_top_c - 150) < 2 and abs(reading.temp_bottom_c - 150) < 2
        settled = settled + 1 if inside and abs(reading.pressure_mpa - 3) < 0.05 else 0
        if settled >= 5:
            break
    assert settled >= 5
    temps = await press.measure_temperatures_c()
    assert isinstance(temps, PlatenTemperatures)
    assert abs(temps.top_c - 150) < 3 and abs(temps.bottom_c - 150) < 3
    assert abs(await press.measure_pressure_mpa() - 3) < 0.1
    assert reading.ram_mm > 20


async def test_abort_goes_safe_and_reset_recovers(press: LaminationPress) -> None:
    await press.set_heater(True)
    await press.set_pressure_output(True)
    await press.abort()
    assert (await press.measure_all()).state is PressState.SAFE
    with pytest.raises(InstrumentCommandError) as info:
        await press.set_heater(True)
    assert info.value.code == -221
    await press.reset()
    assert (await press.measure_all()).state is PressState.IDLE


async def test_door_and_alarms(press: LaminationPress, press_sim: SimulatedPress) -> None:
    assert await press.door_closed()
    assert await press.alarms() == []
    await press.set_heater(True)
    press_sim.sim.inject("door")
    assert not await press.door_closed()
    assert await press.alarms() == ["DOOR"]
    assert (await press.measure_all()).state is PressState.SAFE
    press_sim.sim.inject("door", "closed")
    await press.clear_status()
    assert await press.alarms() == []


async def test_watchdog_arm_and_kick(press: LaminationPress, press_sim: SimulatedPress) -> None:
    await press.arm_watchdog(5)
    assert press_sim.sim.watchdog_s == 5.0
    await press.kick_watchdog()
    await press.arm_watchdog(0)
    assert press_sim.sim.watchdog_s == 0.0
