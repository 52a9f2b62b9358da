"""The native serial transport against the press protocol on a pseudo-terminal: by a
stable symlink, as ``ASRL<path>::INSTR`` and as a plain path; the port vanishing and
coming back under the same name."""

from __future__ import annotations

import asyncio

import pytest

from drivers.errors import InstrumentConnectionError, InstrumentTimeout, ProtocolError
from drivers.lamination_press import LaminationPress, PressState
from drivers.transport import make_transport
from drivers.transport.serial_port import SerialTransport
from simulators.servers import PtyServer


async def test_asrl_resource_through_the_stable_link(pty_press: PtyServer) -> None:
    assert pty_press.link is not None
    assert pty_press.resource == f"ASRL{pty_press.link}::INSTR"
    async with make_transport(pty_press.resource, timeout=1.0, baudrate=19200) as link:
        assert isinstance(link, SerialTransport)
        assert "Lamination Press" in await link.query("*IDN?")


async def test_plain_device_path(pty_press: PtyServer) -> None:
    assert pty_press.device is not None
    async with make_transport(pty_press.device, timeout=1.0) as link:
        assert link.resource == f"ASRL{pty_press.device}::INSTR"
        assert await link.query("SYST:ERR?") == '0,"No error"'


async def test_driver_works_over_serial(pty_press: PtyServer) -> None:
    async with LaminationPress(pty_press.resource, timeout_s=1.0) as press:
        await press.set_temperature_c(190)
        assert await press.temperature_setpoint_c() == 190.0
        assert (await press.measure_all()).state is PressState.IDLE


async def test_garbled_serial_reply_is_a_protocol_error(pty_press: PtyServer) -> None:
    async with make_transport(pty_press.resource, timeout=1.0) as link:
        pty_press.instrument.inject("garble")
        with pytest.raises(ProtocolError):
            await link.query("MEAS:TEMP?")
        assert await link.query("SYST:ERR?") == '0,"No error"'


async def test_stall_times_out(pty_press: PtyServer) -> None:
    async with make_transport(pty_press.resource, timeout=0.2) as link:
        pty_press.instrument.inject("stall")
        with pytest.raises(InstrumentTimeout):
            await link.query("*IDN?")
        pty_press.instrument.clear_faults()
        await link.reconnect()
        assert await link.query("*IDN?")


async def test_port_vanishes_then_reopens_by_the_same_name(pty_press: PtyServer) -> None:
    async with make_transport(pty_press.resource, timeout=0.3) as link:
        pty_press.instrument.inject("drop")
        with pytest.raises((InstrumentConnectionError, InstrumentTimeout)):
            for _ in range(200):
                await link.query("*IDN?")
                await asyncio.sleep(0.005)
        # The new pty appears behind the link a moment later (the server's 50 ms): wait
        # until the server has taken the drop and opened the new pty (hang-guarded), then
        # one reconnect must succeed.
        deadline = asyncio.get_running_loop().time() + 60
        while pty_press.instrument.faults.drop_requested.is_set() or not pty_press.is_open:
            assert asyncio.get_running_loop().time() < deadline, "no new pty"
            await asyncio.sleep(0.01)
        await link.reconnect()
        assert "Lamination Press" in await link.query("*IDN?")


async def test_missing_port_is_a_connection_error(tmp_path: object) -> None:
    with pytest.raises(InstrumentConnectionError):
        async with make_transport("ASRL/tmp/lamina-no-such-port::INSTR", timeout=0.5):
            pass
