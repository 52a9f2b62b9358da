"""Testers differ (design.md, #15 probe 8): some answer ``START`` with ``OK`` and a header,
some stream at once, some stream far faster than 100 Hz. The driver captures each, every
point, and the peel strength of what it captured is the specimen's true steady force
(the simulator's model: Table 1 × width plus the specimen's scatter) within 0.05 N/cm."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from daq.peel.calculation import peel_result
from drivers.peel_tester import PeelBegin, PeelEnd, PeelPoints, PeelTester
from simulators.clock import Clock
from simulators.peel import PeelTester as SimPeelTester
from simulators.peel import mean_force_n
from simulators.servers import PtyServer

#: One peel of a 30 mm strip at 50 mm/min: 36 simulated seconds. Long enough that the
#: steady region (6–27 mm) is clear of the start and end transients (3 mm each).
LENGTH_MM = 30.0
PEEL_S = LENGTH_MM / 50.0 * 60.0
#: Simulated time runs 5× real time: at 2 kHz the tester sends 10 000 lines a real second
#: (160 kB/s), a rate a reader must keep up with; at the other tests' 1200× a 2 kHz
#: tester would send 2.4 million a second, and its UART (the simulator's 1 MiB buffer)
#: would overrun as a real one would.
SCALE = 5.0


@pytest.fixture
async def tester(tmp_path: Path) -> AsyncIterator[tuple[SimPeelTester, PeelTester]]:
    sim = SimPeelTester(Clock(SCALE))
    server = PtyServer(sim, link=tmp_path / "peel1")
    driver = PeelTester(await server.start(), timeout=2.0)
    await driver.open()
    try:
        yield sim, driver
    finally:
        await driver.close()
        await server.stop()


@pytest.mark.parametrize(("start", "header", "rate_hz"), [
    ("AT-ONCE", "NO-HEADER", 100.0),  # the hardest start: no OK, no header
    ("AT-ONCE", "HEADER", 2000.0),
    ("OK", "NO-HEADER", 2000.0),
])
async def test_a_tester_that_streams_at_once_or_fast_is_captured_whole(
    tester: tuple[SimPeelTester, PeelTester], start: str, header: str, rate_hz: float,
) -> None:
    sim, driver = tester
    assert sim.handle(f"SIM:DIALECT {start},{header},{rate_hz:g}") == "OK"
    await driver.zero()
    await driver.set_length_mm(LENGTH_MM)
    await driver.load_specimen("EX1-2026-001-A1")
    assert sim.loaded is not None
    truth_n = mean_force_n(sim.loaded, 3.0)
    await driver.start()
    mm: list[float] = []
    force: list[float] = []
    headers = ends = 0
    async for chunk in driver.stream_chunks(idle_timeout_s=5.0):
        for item in chunk:
            if isinstance(item, PeelPoints):
                mm.extend(item.mm)
                force.extend(item.n)
            elif isinstance(item, PeelBegin):
                headers += 1
            elif isinstance(item, PeelEnd):
                ends += 1
                assert item.reason == "COMPLETE"
    assert headers == (1 if header == "HEADER" else 0) and ends == 1
    # Every sample the tester sent: one per 1/rate s of the peel, the last one short of
    # the strip's end (the tester ends at its length without sending that point).
    assert len(mm) == int(PEEL_S * rate_hz) - 1
    assert mm == sorted(mm)
    result = peel_result(mm, force, 3.0)
    assert abs(result.peel_strength_n_per_cm - truth_n / 0.3) <= 0.05, (
        result.peel_strength_n_per_cm, truth_n / 0.3)
    # The link is in step afterwards: the next command gets its own answer.
    assert await driver.loaded_specimen() == "EX1-2026-001-A1"
