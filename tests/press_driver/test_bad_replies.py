"""What the driver does with replies that are wrong: garbled by the line, wrong shape, or
from something that is not a press. Always a typed error, never a crash or a wrong value."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator

import pytest

from drivers.errors import InstrumentConnectionError, InstrumentTimeout, ProtocolError
from drivers.lamination_press import LaminationPress
from tests.press_driver.conftest import SimulatedPress


async def test_garbled_measurement_is_a_protocol_error(
    press: LaminationPress, press_sim: SimulatedPress
) -> None:
    for call in (press.measure_all, press.measure_temperatures_c, press.measure_pressure_mpa,
                 press.door_closed, press.alarms, press.temperature_setpoint_c):
        press_sim.sim.inject("garble")
        with pytest.raises(ProtocolError):
            await call()
    assert (await press.measure_all()).state.value == "IDLE"  # the link is still good


async def test_garbled_error_queue_reply_fails_the_setter(
    press: LaminationPress, press_sim: SimulatedPress
) -> None:
    press_sim.sim.inject("garble")  # garbles the SYST:ERR? that write_checked reads
    with pytest.raises(ProtocolError):
        await press.set_temperature_c(190)


async def test_stalled_press_times_out_and_reconnect_recovers(
    press_sim: SimulatedPress,
) -> None:
    async with LaminationPress(press_sim.resource, timeout_s=0.2) as press:
        press_sim.sim.inject("stall")
        with pytest.raises(InstrumentTimeout):
            await press.measure_all()
        assert not press.is_connected
        press_sim.sim.clear_faults()
        await press.reconnect()
        assert await press.identify()


async def test_dropped_link_is_a_connection_error_and_reconnect_recovers(
    press: LaminationPress, press_sim: SimulatedPress
) -> None:
    press_sim.server.drop_clients()
    await asyncio.sleep(0.01)
    with pytest.raises(InstrumentConnectionError):
        await press.measure_all()
    await press.reconnect()
    assert (await press.measure_all()).pressure_mpa == 0.0


@pytest.fixture
async def liar() -> AsyncIterator[tuple[list[str], str]]:
    """A TCP peer that answers every query with the next canned line."""
    replies: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            if line.strip().endswith(b"?"):
                writer.write(replies.pop(0).encode() + b"\n")

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield replies, f"TCPIP::127.0.0.1::{port}::SOCKET"
    server.close()


@pytest.mark.parametrize("reply", [
    "199.8,199.6,3.0,25.0",  # a field missing
    "199.8,199.6,3.0,25.0,PRESS,1",  # one too many
    "199.8,199.6,3.0,25.0,MELTING",  # no such state
    "199.8,hot,3.0,25.0,PRESS",  # not a number
    "",
])
async def test_malformed_meas_all_is_a_protocol_error(
    liar: tuple[list[str], str], reply: str
) -> None:
    replies, resource = liar
    replies.append(reply)
    async with LaminationPress(resource, timeout_s=1.0) as press:
        with pytest.raises(ProtocolError) as info:
            await press.measure_all()
        assert info.value.reply == reply


@pytest.mark.parametrize(("method", "reply"), [
    ("door_closed", "AJAR"),
    ("alarms", ""),
    ("alarms", "OVER TEMP!"),
    ("measure_temperatures_c", "199.8"),
    ("measure_pressure_mpa", "3 MPa"),
    ("errors", "-222 Data out of range"),
])
async def test_other_malformed_replies(
    liar: tuple[list[str], str], method: str, reply: str
) -> None:
    replies, resource = liar
    replies.append(reply)
    async with LaminationPress(resource, timeout_s=1.0) as press:
        with pytest.raises(ProtocolError):
            await getattr(press, method)()


async def test_non_finite_setpoint_is_refused_before_sending(press: LaminationPress) -> None:
    with pytest.raises(ValueError):
        await press.set_temperature_c(float("nan"))


def test_every_public_driver_method_has_a_docstring() -> None:
    for name, member in inspect.getmembers(LaminationPress):
        if name.startswith("_"):
            continue
        doc = inspect.getdoc(member)
        assert doc and len(doc) > 10, f"LaminationPress.{name} has no docstring"


def test_every_command_method_says_what_it_does() -> None:
    verbs = ("Get", "Set", "Measure")
    for name in ("identify", "temperature_setpoint_c", "pressure_setpoint_mpa",
                 "set_temperature_c", "set_pressure_mpa", "set_ramp_rate_c_per_min",
                 "set_heater", "set_pressure_output", "measure_all",
                 "measure_temperatures_c", "measure_pressure_mpa", "door_closed", "alarms",
                 "arm_watchdog", "kick_watchdog", "abort", "reset", "clear_status", "errors"):
        doc = inspect.getdoc(getattr(LaminationPress, name)) or ""
        assert doc.startswith(verbs), f"LaminationPress.{name}: {doc[:30]!r}"
