"""An operator abort cancels a task in the middle of a query: the reply that arrives
afterwards must not be taken as the answer to the safe-state commands that follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from drivers.lamination_press import LaminationPress, PressState

REPLIES = {
    "MEAS:ALL?": "200.1,199.8,3.001,25.06,PRESS",
    "SYST:ERR?": '0,"No error"',
    "*IDN?": "Lamina Instruments,slow press,0,1",
}


@pytest.fixture
async def slow_press() -> AsyncIterator[tuple[str, list[str]]]:
    """A press that takes 50 ms over each query and answers them in order."""
    received: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while raw := await reader.readline():
            line = raw.decode().strip()
            received.append(line)
            if line.endswith("?"):
                await asyncio.sleep(0.05)
                writer.write(REPLIES[line].encode() + b"\n")

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"TCPIP::127.0.0.1::{port}::SOCKET", received
    server.close()


async def until_received(received: list[str], n: int) -> None:
    """Wait until the press has received ``n`` lines (60 s: a hang guard only). Its reply
    timer (50 ms) was set after this wait's last 1 ms one, so the loop runs this first."""
    deadline = asyncio.get_running_loop().time() + 60
    while len(received) < n:
        assert asyncio.get_running_loop().time() < deadline, f"press got only {received}"
        await asyncio.sleep(0.001)


async def test_cancelled_poll_does_not_answer_the_abort(
    slow_press: tuple[str, list[str]],
) -> None:
    resource, received = slow_press
    async with LaminationPress(resource, timeout_s=1.0) as press:
        poll = asyncio.create_task(press.measure_all())
        # Cancel while the query is in flight: the press has it and is still answering.
        await until_received(received, 1)
        poll.cancel()
        await asyncio.gather(poll, return_exceptions=True)
        assert poll.cancelled()
        await press.abort()  # its SYST:ERR? must not be answered by the late MEAS:ALL?
        assert (await press.measure_all()).state is PressState.PRESS
        assert "Lamina" in await press.identify()
    assert received == ["MEAS:ALL?", "ABOR", "SYST:ERR?", "MEAS:ALL?", "*IDN?"]


async def test_cancelled_setter_does_not_answer_the_next_query(
    slow_press: tuple[str, list[str]],
) -> None:
    resource, received = slow_press
    async with LaminationPress(resource, timeout_s=1.0) as press:
        setter = asyncio.create_task(press.set_temperature_c(150))
        # Cancel once the press has the setpoint and its SYST:ERR? (answered 50 ms later).
        await until_received(received, 2)
        setter.cancel()
        await asyncio.gather(setter, return_exceptions=True)
        assert "Lamina" in await press.identify()
        assert (await press.measure_all()).pressure_mpa == 3.001
