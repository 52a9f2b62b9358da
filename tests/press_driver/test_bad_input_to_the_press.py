"""Bad input on the press's side of the wire: any line, junk bytes, partial lines and
clients vanishing never crash the simulator, and the next client is served normally."""

from __future__ import annotations

import asyncio
import socket

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.lamination_press import LaminationPress
from simulators.clock import Clock
from simulators.press import PressSimulator
from tests.press_driver.conftest import SimulatedPress


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_any_line_gets_a_reply_or_a_queued_error(line: str) -> None:
    sim = PressSimulator(Clock(scale=1e-9), seed=1)
    reply = sim.handle(line)
    error = sim.handle("SYST:ERR?")
    for text in (reply, error):  # what goes back on the wire is printable ASCII
        assert text is None or all(" " <= c <= "~" for c in text)
    assert len(sim.errors) <= 31
    assert sim.temp_setpoint_c <= 250 and sim.pressure_setpoint_mpa <= 10


async def test_junk_partial_lines_and_vanishing_clients_leave_the_press_serving(
    press_sim: SimulatedPress,
) -> None:
    host, port = press_sim.server.host, press_sim.server.port
    junk = [b"\x00\xff\xfe garbage\n", b"TEMP:SET 1e999\n", b"MEAS:ALL", b"\n\n\r\n",
            b"A" * 70_000 + b"\n", b"PRES:SET 3;OUTP:PRES ON\n"]
    for payload in junk:
        _, writer = await asyncio.open_connection(host, port)
        writer.write(payload)
        await writer.drain()
        writer.close()  # gone mid-conversation, partial line or not
    with socket.create_connection((host, port)) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    await asyncio.sleep(0.05)
    async with LaminationPress(press_sim.resource, timeout_s=1.0) as press:
        assert "Lamination Press" in await press.identify()
        codes = {code for code, _ in await press.errors()}
        assert codes <= {-113, -104, -222}
        assert (await press.measure_all()).pressure_mpa == 0.0
        assert not press_sim.sim.pressure_on
