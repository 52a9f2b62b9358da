"""The native TCP SOCKET transport against the press simulator: replies, garbage, stalls,
dropped links, refused connections and reconnecting without a restart."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from drivers.errors import (
    InstrumentConnectionError,
    InstrumentTimeout,
    InvalidResource,
    ProtocolError,
)
from drivers.transport import make_transport, open_transport
from drivers.transport.tcp import TcpSocketTransport
from simulators.servers import TcpServer


async def test_query_and_write(tcp_press: TcpServer) -> None:
    async with make_transport(tcp_press.resource, timeout=1.0) as link:
        assert isinstance(link, TcpSocketTransport)
        assert "Lamination Press" in await link.query("*IDN?")
        await link.write("TEMP:SET 180")
        assert await link.query("TEMP:SET?") == "180.00"
    assert not link.is_open


async def test_concurrent_queries_never_swap_replies(tcp_press: TcpServer) -> None:
    async with make_transport(tcp_press.resource, timeout=1.0) as link:
        await link.write("PRES:SET 4")

        async def ask(command: str) -> str:
            return await link.query(command)

        replies = await asyncio.gather(*(ask("TEMP:SET?" if i % 2 else "PRES:SET?")
                                         for i in range(200)))
        assert all(r == ("25.00" if i % 2 else "4.000") for i, r in enumerate(replies))


async def test_garbled_reply_is_a_protocol_error_and_the_link_stays_usable(
    tcp_press: TcpServer,
) -> None:
    async with make_transport(tcp_press.resource, timeout=1.0) as link:
        tcp_press.instrument.inject("garble")
        with pytest.raises(ProtocolError) as info:
            await link.query("MEAS:ALL?")
        assert info.value.reply is not None and "\x15" in info.value.reply
        assert link.is_open
        assert "Lamination Press" in await link.query("*IDN?")


async def test_stalled_instrument_times_out_then_reconnect_works(tcp_press: TcpServer) -> None:
    async with make_transport(tcp_press.resource, timeout=0.2) as link:
        tcp_press.instrument.inject("stall")
        with pytest.raises(InstrumentTimeout) as info:
            await link.query("*IDN?")
        assert tcp_press.resource in str(info.value)
        assert not link.is_open  # a late reply must never answer the next query
        with pytest.raises(InstrumentConnectionError):
            await link.query("*IDN?")
        tcp_press.instrument.clear_faults()
        await link.reconnect()
        assert "Lamination Press" in await link.query("*IDN?")


async def test_a_stall_of_our_own_process_longer_than_the_timeout_is_no_timeout(
    tcp_press: TcpServer,
) -> None:
    # The loop is frozen (a busy PC, a long GC) right after the query is sent, before the
    # in-process simulator has even read it: the deadline passes while nobody could listen.
    async with make_transport(tcp_press.resource, timeout=0.2) as link:
        asyncio.get_running_loop().call_soon(time.sleep, 0.5)
        assert "Lamination Press" in await link.query("*IDN?")
        assert link.is_open


async def test_a_silent_instrument_still_times_out_after_a_stall(tcp_press: TcpServer) -> None:
    async with make_transport(tcp_press.resource, timeout=0.2) as link:
        tcp_press.instrument.inject("stall")
        asyncio.get_running_loop().call_soon(time.sleep, 0.5)
        with pytest.raises(InstrumentTimeout):
            await link.query("*IDN?")


async def test_dropped_link_is_a_connection_error_then_reconnect_works(
    tcp_press: TcpServer,
) -> None:
    async with make_transport(tcp_press.resource, timeout=1.0) as link:
        assert await link.query("*IDN?")
        tcp_press.drop_clients()
        # One loop turn runs the socket close drop_clients() scheduled (RST on loopback).
        await asyncio.sleep(0)
        with pytest.raises(InstrumentConnectionError):
            await link.query("*IDN?")
        assert not link.is_open
        await link.reconnect()
        assert "Lamination Press" in await link.query("*IDN?")


async def test_drop_fault_over_the_wire(tcp_press: TcpServer) -> None:
    async with make_transport(tcp_press.resource, timeout=1.0) as link:
        await link.write("SIM:FAULT drop")
        with pytest.raises(InstrumentConnectionError):
            for _ in range(1000):  # the simulator drops its links on its next loop turn
                await link.query("*IDN?")
        await link.reconnect()
        assert await link.query("SYST:ERR?") == '0,"No error"'


async def test_nobody_listening_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InstrumentConnectionError) as info:
        await open_transport(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=0.5)
    assert str(port) in str(info.value)


async def test_peer_closing_mid_line_reports_the_partial_line() -> None:
    async def half_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"199.8,19")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(half_reply, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make_transport(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=1.0) as link:
            with pytest.raises(InstrumentConnectionError) as info:
                await link.query("MEAS:TEMP?")
            assert "199.8,19" in str(info.value)
    finally:
        server.close()
        await server.wait_closed()


async def test_endless_line_is_a_protocol_error() -> None:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"9" * (2 << 20))
        await writer.drain()

    server = await asyncio.start_server(flood, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make_transport(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=2.0) as link:
            with pytest.raises(ProtocolError):
                await link.query("MEAS:TEMP?")
    finally:
        server.close()


def test_unknown_resource_is_refused() -> None:
    with pytest.raises(InvalidResource):
        make_transport("not an address")
