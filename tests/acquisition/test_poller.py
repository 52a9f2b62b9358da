"""The acquisition poller against the real press simulator over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from daq.acquisition import InstrumentPoller, PollerStopped, poll_press
from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import InstrumentStatus, Reading, Value
from drivers.errors import InstrumentConnectionError, ProtocolError
from drivers.lamination_press import LaminationPress
from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import TcpServer

SCALE = 600.0


@dataclass
class Rig:
    sim: PressSimulator
    press: LaminationPress
    clock: SimClock
    bus: Bus

    def poller(self, interval_s: float = 0.02) -> InstrumentPoller:
        return InstrumentPoller(
            "press1", lambda: poll_press(self.press), interval_s, self.clock, self.bus,
            reconnect=self.press.reconnect, backoff_initial_s=0.02,
        )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = SimClock(scale=SCALE)
    sim = PressSimulator(Clock(SCALE, clock.origin), seed=2)
    server = TcpServer(sim, "127.0.0.1", 0)
    resource = await server.start()
    press = LaminationPress(resource, timeout_s=0.5)
    await press.connect()
    try:
        yield Rig(sim, press, clock, Bus())
    finally:
        await press.close()
        await server.stop()


async def test_readings_are_published_with_simulated_time_and_the_run_id(rig: Rig) -> None:
    sub = rig.bus.subscribe("t", (Reading,))
    async with rig.poller() as poller:
        first = await poller.next_reading(2.0)
        poller.attach_run("press-abc")
        second = await poller.next_reading(2.0)
        third = await poller.next_reading(2.0)
        poller.detach_run("press-other")  # someone else's run: ours stays attached
        fourth = await poller.next_reading(2.0)
        poller.detach_run("press-abc")
        fifth = await poller.next_reading(2.0)
    assert first.run_id is None and fifth.run_id is None
    assert second.run_id == third.run_id == fourth.run_id == "press-abc"
    # Stamped with simulated time: 600× the real interval between polls, roughly.
    assert third.ts - second.ts >= 0.02 * SCALE * 0.8
    assert first.values["temp_top"] == Value(first.values["temp_top"].v, "degC")
    assert {k: v.unit for k, v in first.values.items()} == {
        "temp_top": "degC", "temp_bottom": "degC", "pressure": "MPa", "ram": "mm"}
    assert poller.latest is not None and poller.polls >= 5
    published = sub.get_batch(1000)
    assert [r.ts for r in published] == sorted(r.ts for r in published)
    assert first in published and fifth in published


async def test_a_garbled_reply_reaches_the_waiter_as_a_typed_error(rig: Rig) -> None:
    statuses = rig.bus.subscribe("s", (InstrumentStatus,))
    async with rig.poller() as poller:
        await poller.next_reading(2.0)
        rig.sim.inject("garble")
        with pytest.raises(ProtocolError):
            await poller.next_reading(2.0)
        after = await poller.next_reading(2.0)  # the poller goes on by itself
    assert after.values["temp_top"].v > 0
    assert poller.errors == 1
    assert [s.state for s in statuses.get_batch(10)] == ["online", "fault", "online"]


async def test_a_dropped_link_goes_offline_then_reconnects_by_itself(rig: Rig) -> None:
    statuses = rig.bus.subscribe("s", (InstrumentStatus,))
    async with rig.poller() as poller:
        await poller.next_reading(2.0)
        rig.sim.inject("drop")
        with pytest.raises(InstrumentConnectionError):
            await poller.next_reading(2.0)
        # Back without anyone restarting anything.
        reading = await poller.next_reading(5.0)
    assert reading.values["pressure"].unit == "MPa"
    assert poller.reconnects >= 1
    states = [s.state for s in statuses.get_batch(10)]
    assert states[:2] == ["online", "offline"] and states[-1] == "online"


async def test_a_failing_poll_function_is_counted_and_survived(rig: Rig) -> None:
    calls = 0

    async def flaky() -> dict[str, Value]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ValueError("bug in a poll function")
        return {"x": Value(float(calls), "mm")}

    poller = InstrumentPoller("flaky", flaky, 0.01, rig.clock, rig.bus)
    async with poller:
        assert (await poller.next_reading(1.0)).values["x"].v == 1.0
        with pytest.raises(ValueError, match="bug in a poll function"):
            await poller.next_reading(1.0)
        assert (await poller.next_reading(1.0)).values["x"].v == 3.0
    assert poller.errors == 1 and poller.status == "online"


async def test_waiting_on_a_stopped_poller_is_an_error_not_a_hang(rig: Rig) -> None:
    poller = rig.poller()
    with pytest.raises(PollerStopped):
        await poller.next_reading(1.0)
    poller.start()
    waiter = asyncio.create_task(poller.next_reading(5.0))
    await asyncio.sleep(0)
    await poller.stop()
    with pytest.raises((PollerStopped, asyncio.CancelledError)):
        await waiter
    with pytest.raises(ValueError, match="interval"):
        InstrumentPoller("p", lambda: poll_press(rig.press), 0, rig.clock, rig.bus)
