"""The Modbus oven driver against the Modbus oven simulator, over Modbus RTU on a pty and
Modbus TCP: scaled readings, writes, run/stop, alarm bits, and every failure of the wire
as a typed error (the link then reopens and works)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from drivers.aging_oven import OvenSensorFault
from drivers.aging_oven_modbus import AgingOvenModbus, parse_resource
from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentTimeout,
    InvalidResource,
    ProtocolError,
)
from drivers.modbus_map import InputRegisters, ModbusOvenMap
from simulators.oven import OvenSim
from simulators.oven_modbus import ModbusRtuServer, ModbusTcpSimServer
from tests.aging.conftest import HoldableClock, until

HOUR = 3600.0


@dataclass
class ModbusRig:
    sim: OvenSim
    server: ModbusRtuServer | ModbusTcpSimServer
    resource: str
    clock: HoldableClock


@pytest.fixture(params=["rtu", "tcp"])
async def mrig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ModbusRig]:
    clock = HoldableClock(scale=100_000.0, origin=time.time())
    clock.hold_at = clock.now()  # the oven stands still unless a test moves it
    sim = OvenSim(clock)
    server: ModbusRtuServer | ModbusTcpSimServer
    if request.param == "rtu":
        server = ModbusRtuServer(sim, link=tmp_path / "oven-modbus")
    else:
        server = ModbusTcpSimServer(sim)
    resource = await server.start()
    try:
        yield ModbusRig(sim, server, resource, clock)
    finally:
        await server.stop()


async def test_reads_are_scaled_by_the_decimal_places(mrig: ModbusRig) -> None:
    mrig.sim.setpoint_c = 150.2
    async with AgingOvenModbus(mrig.resource, timeout=2.0) as oven:
        assert oven.decimal_places == 1  # read from the controller's dp register
        assert await oven.setpoint_c() == pytest.approx(150.2)
        shown = mrig.sim.reading(mrig.clock.now()).pv_c
        assert shown is not None
        assert await oven.process_value_c() == pytest.approx(round(shown, 1), abs=1e-9)
        assert (await oven.identify()).startswith("MODBUS-PID,slave 1,model 1500")
    mrig.server.registers.decimal_places = 2  # the front panel's dp set to 2
    async with AgingOvenModbus(mrig.resource) as oven:
        assert oven.decimal_places == 2
        assert await oven.setpoint_c() == pytest.approx(150.2)
        assert await oven.process_value_c() == pytest.approx(round(shown, 2), abs=1e-9)


async def test_raw_registers_are_what_the_map_says(tmp_path: Path) -> None:
    # Hand numbers: SV 150.2 °C at dp = 1 is raw 1502; the status word of a running oven
    # with its door open is bit 0 + bit 3 = 9.
    clock = HoldableClock(scale=1.0, origin=time.time())
    sim = OvenSim(clock)
    sim.setpoint_c = 150.2
    server = ModbusTcpSimServer(sim)
    await server.start()
    client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=2, retries=0)
    try:
        assert await client.connect()
        sim.inject("door")
        holding = await client.read_holding_registers(0, count=3, device_id=1)
        assert holding.registers == [1502, 1, 1]
        status = await client.read_input_registers(2, count=1, device_id=1)
        assert status.registers == [9]
        missing = await client.read_input_registers(40, count=1, device_id=1)
        assert missing.isError()
    finally:
        client.close()
        await server.stop()


async def test_setpoint_write_and_run_stop_reach_the_controller(mrig: ModbusRig) -> None:
    async with AgingOvenModbus(mrig.resource) as oven:
        await oven.set_setpoint_c(160.5)
        assert mrig.sim.setpoint_c == pytest.approx(160.5)
        assert await oven.setpoint_c() == pytest.approx(160.5)
        await oven.set_running(False)
        assert mrig.sim.running is False
        assert await oven.running() is False
        assert await oven.output_percent() == 0.0
        await oven.set_running(True)
        assert mrig.sim.running is True
        # Holding 160.5 °C from 23 °C ambient: 100 × 137.5 / 277 = 49.6 % (chamber at 150,
        # 10.5 °C short: +5 %/°C, so the output is pinned at 100 %).
        assert await oven.output_percent() == 100.0


async def test_alarm_bits_sensor_door_and_overtemperature(mrig: ModbusRig) -> None:
    async with AgingOvenModbus(mrig.resource) as oven:
        assert await oven.alarms() == ()
        assert await oven.door_open() is False
        mrig.sim.inject("door")
        assert await oven.door_open() is True
        mrig.sim.clear_faults()
        mrig.sim.inject("sensor")
        with pytest.raises(OvenSensorFault):
            await oven.process_value_c()
        assert await oven.alarms() == ("SENSOR",)
        mrig.sim.clear_faults()
        mrig.sim.inject("overtemp")
        # The runaway heads for setpoint + 30 °C with a 20 min time constant: above the
        # +15 °C trip after 20 min × ln 2 = 13.9 min; an hour is well past it.
        assert mrig.clock.hold_at is not None
        held = mrig.clock.hold_at = mrig.clock.hold_at + HOUR
        await until(lambda: mrig.clock.running() >= held, "the oven never ran an hour")
        assert await oven.alarms() == ("OVERTEMP",)
        assert await oven.process_value_c() > 165.0


async def test_an_exception_reply_is_a_command_error(mrig: ModbusRig) -> None:
    wide = ModbusOvenMap(setpoint_max_c=400.0)  # the driver lets it pass; the controller not
    async with AgingOvenModbus(mrig.resource, register_map=wide) as oven:
        with pytest.raises(InstrumentCommandError) as refused:
            await oven.set_setpoint_c(350.0)
        assert refused.value.code == 3 and "illegal data value" in str(refused.value)
        assert mrig.sim.setpoint_c == 150.0
        assert await oven.setpoint_c() == 150.0  # the link is still good
    elsewhere = ModbusOvenMap(inputs=InputRegisters(pv=40))
    async with AgingOvenModbus(mrig.resource, register_map=elsewhere) as oven:
        with pytest.raises(InstrumentCommandError) as bad_address:
            await oven.process_value_c()
        assert bad_address.value.code == 2


async def test_out_of_range_setpoint_is_refused_before_it_is_sent(mrig: ModbusRig) -> None:
    async with AgingOvenModbus(mrig.resource) as oven:
        with pytest.raises(InstrumentCommandError, match="outside 0–300"):
            await oven.set_setpoint_c(301.0)
        assert mrig.sim.setpoint_c == 150.0


async def test_a_garbled_reply_is_a_protocol_error_then_the_link_recovers(
    mrig: ModbusRig,
) -> None:
    async with AgingOvenModbus(mrig.resource, timeout=0.5) as oven:
        mrig.sim.inject("garble", "1")
        with pytest.raises(ProtocolError) as garbled:
            await oven.setpoint_c()
        if oven.kind == "rtu":
            assert "failed its CRC" in str(garbled.value)
        await oven.reconnect()
        assert await oven.setpoint_c() == 150.0


async def test_a_stalled_controller_is_a_timeout(mrig: ModbusRig) -> None:
    async with AgingOvenModbus(mrig.resource, timeout=0.3) as oven:
        mrig.sim.inject("stall")
        with pytest.raises(InstrumentTimeout):
            await oven.process_value_c()
        mrig.sim.clear_faults()
        await oven.reconnect()
        assert await oven.setpoint_c() == 150.0


async def test_a_dropped_link_is_a_typed_error_and_reopens(mrig: ModbusRig) -> None:
    async with AgingOvenModbus(mrig.resource, timeout=0.5) as oven:
        assert await oven.setpoint_c() == 150.0
        mrig.sim.inject("drop")
        with pytest.raises(InstrumentError) as lost:
            for _ in range(100):  # the drop takes effect in the simulator's next step
                await oven.setpoint_c()
        assert isinstance(lost.value, InstrumentConnectionError | InstrumentTimeout)
        for _ in range(50):  # the pty comes back behind the same name after 50 ms
            try:
                await oven.reconnect()
                break
            except InstrumentConnectionError:
                await asyncio.sleep(0.02)
        assert await oven.setpoint_c() == 150.0


async def test_nothing_listening_is_a_connection_error(tmp_path: Path) -> None:
    with pytest.raises(InstrumentConnectionError):
        await AgingOvenModbus(str(tmp_path / "no-such-port"), timeout=0.3).open()
    with pytest.raises(InstrumentConnectionError):
        await AgingOvenModbus("tcp://127.0.0.1:1", timeout=0.3).open()


def test_resources() -> None:
    assert parse_resource("tcp://10.0.0.7:502") == ("tcp", "10.0.0.7", 502)
    assert parse_resource("tcp://plc.lab") == ("tcp", "plc.lab", 502)
    assert parse_resource("/dev/ttyUSB0") == ("rtu", "/dev/ttyUSB0", 0)
    assert parse_resource("ASRL/dev/ttyUSB0::INSTR") == ("rtu", "/dev/ttyUSB0", 0)
    assert parse_resource("rtu:///dev/ttyS1") == ("rtu", "/dev/ttyS1", 0)
    with pytest.raises(InvalidResource):
        parse_resource("tcp://host:port")
    with pytest.raises(InvalidResource):
        parse_resource("")
