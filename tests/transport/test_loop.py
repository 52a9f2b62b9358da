"""The event-loop helpers: uvloop where it installs, and the transports work on it."""

from __future__ import annotations

import asyncio

from drivers.transport import make_transport
from drivers.transport.loop import loop_name, run
from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import TcpServer


def test_run_uses_uvloop_here_and_talks_to_the_press() -> None:
    async def session() -> tuple[str, str]:
        server = TcpServer(PressSimulator(Clock(scale=600)), "127.0.0.1", 0)
        resource = await server.start()
        try:
            async with make_transport(resource, timeout=1.0) as link:
                idn = await link.query("*IDN?")
        finally:
            await server.stop()
        return type(asyncio.get_running_loop()).__module__, idn

    module, idn = run(session())
    assert loop_name() == "uvloop"  # installed in this project's venv
    assert module.startswith("uvloop")
    assert "Lamination Press" in idn
