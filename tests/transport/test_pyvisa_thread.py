"""The pyvisa-in-a-worker-thread path, forced onto a ``TCPIP::…::SOCKET`` resource so that
pyvisa-py really talks to the press simulator; and plain pyvisa in another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from drivers.errors import InstrumentConnectionError, InstrumentTimeout, ProtocolError
from drivers.lamination_press import LaminationPress, PressState
from drivers.transport.visa_thread import PyVisaTransport
from simulators.servers import TcpServer


async def test_driver_through_pyvisa_py(tcp_press: TcpServer) -> None:
    transport = PyVisaTransport(tcp_press.resource, timeout=1.0, backend="@py")
    async with LaminationPress.from_transport(transport) as press:
        assert "Lamination Press" in await press.identify()
        await press.set_temperature_c(200)
        assert await press.temperature_setpoint_c() == 200.0
        assert (await press.measure_all()).state is PressState.IDLE
        assert await press.door_closed()
    assert not transport.is_open


async def test_default_backend_finds_pyvisa_py(tcp_press: TcpServer) -> None:
    async with PyVisaTransport(tcp_press.resource, timeout=1.0) as link:
        assert "Lamination Press" in await link.query("*IDN?")


async def test_pyvisa_garbage_timeout_and_drop_are_typed(tcp_press: TcpServer) -> None:
    link = PyVisaTransport(tcp_press.resource, timeout=0.3, backend="@py")
    await link.open()
    try:
        tcp_press.instrument.inject("garble")
        with pytest.raises(ProtocolError):
            await link.query("MEAS:ALL?")
        assert await link.query("SYST:ERR?") == '0,"No error"'

        tcp_press.instrument.inject("stall")
        with pytest.raises(InstrumentTimeout):
            await link.query("*IDN?")
        assert not link.is_open
        tcp_press.instrument.clear_faults()
        await link.reconnect()
        assert await link.query("*IDN?")

        tcp_press.drop_clients()
        # One loop turn runs the socket close drop_clients() scheduled (RST on loopback).
        await asyncio.sleep(0)
        with pytest.raises((InstrumentConnectionError, InstrumentTimeout)):
            await link.query("*IDN?")
        await link.reconnect()
        assert await link.query("*IDN?")
    finally:
        await link.close()


async def test_pyvisa_to_a_closed_port_is_a_connection_error() -> None:
    link = PyVisaTransport("TCPIP::127.0.0.1::1::SOCKET", timeout=0.3, backend="@py")
    with pytest.raises(InstrumentConnectionError):
        # pyvisa-py connects a SOCKET session lazily: open() may succeed, the first
        # exchange then fails; either way the error is typed.
        await link.open()
        await link.query("*IDN?")
    assert not link.is_open


PLAIN_PYVISA = textwrap.dedent("""
    import sys
    import pyvisa
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(sys.argv[1], read_termination="\\n", write_termination="\\n")
    inst.timeout = 2000
    print(inst.query("*IDN?"))
    print(inst.query("MEAS:ALL?"))
    inst.close()
""")


async def test_plain_pyvisa_in_another_process_reads_the_press(tcp_press: TcpServer) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PLAIN_PYVISA, tcp_press.resource,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    idn, meas = out.decode().splitlines()
    assert "Lamination Press" in idn
    fields = meas.split(",")
    assert len(fields) == 5 and fields[4] == "IDLE"
    assert 20 < float(fields[0]) < 30
