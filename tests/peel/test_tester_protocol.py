"""The peel tester driver against the simulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.station.simulation import RemoteDoor
from drivers.errors import InstrumentCommandError, ProtocolError
from drivers.peel_tester import (
    GarbledLine,
    PeelBegin,
    PeelEnd,
    PeelFault,
    PeelPoint,
    PeelPoints,
    PeelTester,
    StreamItem,
    parse_chunk,
    parse_stream_line,
)
from drivers.transport.visa_thread import PyVisaTransport
from simulators.door import SimulationDoor
from simulators.materials import MATERIALS
from simulators.peel import ForceCurve, specimen_rng
from simulators.peel import PeelTester as SimPeelTester
from tests.peel.conftest import Bench


async def peel(tester: PeelTester) -> list[StreamItem]:
    await tester.start()
    return [item async for item in tester.stream(idle_timeout_s=1.0)]


async def test_identity_and_settings(bench: Bench) -> None:
    ident = await bench.tester.identify()
    assert (ident.maker, ident.model) == ("LAMINA", "PEEL-90")
    await bench.tester.set_width_mm(3.0)
    await bench.tester.set_speed_mm_per_min(50)
    await bench.tester.set_angle_deg(90)
    await bench.tester.zero()
    assert (bench.sim.width_mm, bench.sim.speed_mm_per_min, bench.sim.angle_deg) == (3, 50, 90)
    assert bench.sim.tare_n == 0.0


async def test_out_of_range_setting_is_an_instrument_error_and_the_link_stays_up(
    bench: Bench,
) -> None:
    with pytest.raises(InstrumentCommandError) as err:
        await bench.tester.set_speed_mm_per_min(5000)
    assert err.value.code == -222
    assert "SPEED 5000" in str(err.value)
    await bench.tester.set_speed_mm_per_min(50)


@pytest.mark.parametrize("key", ["CMP2", "CMP3"])
async def test_materials_that_form_no_film_cannot_be_loaded(bench: Bench, key: str) -> None:
    with pytest.raises(InstrumentCommandError, match="no film: polyimide insoluble"):
        await bench.tester.load_specimen(f"{key}-2026-001-A1")
    assert await bench.tester.loaded_specimen() is None


async def test_start_without_a_specimen_is_refused(bench: Bench) -> None:
    with pytest.raises(InstrumentCommandError, match="no specimen loaded"):
        await bench.tester.start()


async def test_a_peel_streams_a_physical_curve(bench: Bench) -> None:
    await bench.tester.zero()
    await bench.tester.load_specimen("EX1-2026-001-A1")
    items = await peel(bench.tester)
    assert isinstance(items[0], PeelBegin) and items[0].specimen_id == "EX1-2026-001-A1"
    assert items[-1] == PeelEnd("COMPLETE")
    points = [i for i in items if isinstance(i, PeelPoint)]
    assert 5900 <= len(points) <= 6000  # 50 mm at 50 mm/min = 60 s at 100 Hz
    mm = [p.mm for p in points]
    assert mm == sorted(mm) and mm[-1] < 50.0
    steady = [p.n for p in points if 10 <= p.mm <= 45]
    mean = statistics.fmean(steady)
    assert 2.0 < mean < 3.4  # Example 1: 9 N/cm × 0.3 cm ± scatter
    # Start transient: rises from zero and overshoots the steady force a little.
    assert points[0].n < 0.2 * mean
    assert mean < max(p.n for p in points if p.mm < 3) < 1.25 * max(steady)
    # Stick-slip: a few per cent of spread, not a flat line and not chaos.
    assert 0.02 < statistics.stdev(steady) / mean < 0.1
    # End transient: the force falls away as the strip runs out.
    assert points[-1].n < 0.2 * mean


async def test_the_same_specimen_peels_the_same(bench: Bench) -> None:
    await bench.tester.load_specimen("EX4-2026-001-A1")
    first = [i for i in await peel(bench.tester) if isinstance(i, PeelPoint)]
    bench.sim.peels_started = 0
    second = [i for i in await peel(bench.tester) if isinstance(i, PeelPoint)]
    assert first[:5000] == second[:5000]


async def test_the_side_door_sets_material_and_aging_away_from_the_serial_line(
    bench: Bench,
) -> None:
    door = SimulationDoor(bench.sim)
    link = RemoteDoor(await door.start())
    try:
        assert await link.send("SIM:SAMPLE LOT-42,EX5,5,1000") == "OK"
        assert await link.send("SIM:SAMPLE LOT-43,NOPE,5") == "ERR,302,unknown material NOPE"
        assert (await link.send("LOAD LOT-42-S1")).startswith("ERR,-113,not a simulation")
    finally:
        await link.close()
        await door.stop()
    await bench.tester.load_specimen("LOT-42-S1")
    assert bench.sim.loaded is not None
    assert bench.sim.loaded.material.key == "EX5"
    assert bench.sim.loaded.aging_hours == 1000
    # The serial line carried the tester's own commands only, and no stray reply or error.
    assert not [c for c in bench.sim.commands_seen if c.upper().startswith("SIM:")]
    assert await bench.tester.loaded_specimen() == "LOT-42-S1"


async def test_stop_ends_the_peel_early(bench: Bench) -> None:
    await bench.tester.load_specimen("EX2-2026-001-A1")
    await bench.tester.set_speed_mm_per_min(10)  # 0.5 s real for the whole peel
    await bench.tester.set_length_mm(100)
    await bench.tester.start()
    items: list[StreamItem] = []
    async for item in bench.tester.stream(1.0):
        items.append(item)
        if len(items) == 100:
            await bench.tester.stop()
    assert items[-1] == PeelEnd("STOPPED")
    assert len(items) < 50_000  # cut short of the full 100 mm
    await bench.tester.set_width_mm(3.0)  # idle again: a setter answers OK


async def test_garbled_stream_lines_are_yielded_not_raised(bench: Bench) -> None:
    await bench.tester.load_specimen("EX2-2026-001-A1")
    await bench.tester.start()
    bench.sim.inject("garble", "3")
    items = [item async for item in bench.tester.stream(1.0)]
    assert sum(isinstance(i, GarbledLine) for i in items) == 3
    assert items[-1] == PeelEnd("COMPLETE")


async def test_overload_sends_an_error_line_and_ends_the_peel(bench: Bench) -> None:
    await bench.tester.load_specimen("EX2-2026-001-A1")
    await bench.tester.start()
    bench.sim.inject("overload")
    items = [item async for item in bench.tester.stream(1.0)]
    assert isinstance(items[-2], PeelFault) and "overload" in items[-2].text
    assert items[-1] == PeelEnd("OVERLOAD")


async def test_a_garbled_reply_to_a_command_is_a_protocol_error(bench: Bench) -> None:
    bench.sim.inject("garble")
    with pytest.raises(ProtocolError):
        await bench.tester.identify()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("D,12.500,2.7012", PeelPoint(12.5, 2.7012)),
        ("END,COMPLETE", PeelEnd("COMPLETE")),
        ("ERR,210,load cell overload", PeelFault(210, "load cell overload")),
        ("BEGIN,-,3,50,90", PeelBegin(None, 3.0, 50.0, 90.0)),
        ("OK", None),
        ("D,12.5", GarbledLine("D,12.5")),
        ("D,1x,2", GarbledLine("D,1x,2")),
        ("END,MAYBE", GarbledLine("END,MAYBE")),
        ("#@~", GarbledLine("#@~")),
    ],
)
def test_stream_lines_parse(line: str, expected: StreamItem | None) -> None:
    assert parse_stream_line(line) == expected


def test_mean_steady_force_of_the_model_follows_table_1() -> None:
    # The model itself, without the wire: Example 1 as made → 9 N/cm on average.
    curve = ForceCurve(2.7, 50.0, specimen_rng("x"))
    steady = [curve.force_n(i * 0.01) for i in range(1000, 4500)]
    assert statistics.fmean(steady) == pytest.approx(2.7, rel=0.02)
    assert MATERIALS["EX1"].peel_as_made_n_per_cm == 9


async def test_the_visa_asrl_form_through_pyvisa_speaks_the_same_protocol(bench: Bench) -> None:
    await bench.tester.close()  # one reader per port: the native link lets go of it
    transport = PyVisaTransport(f"ASRL{bench.server.device}::INSTR", timeout=2.0, backend="@py")
    tester = PeelTester(transport)
    try:
        await tester.open()
    except Exception as exc:  # pragma: no cover - depends on pyvisa-py's serial support
        pytest.fail(f"pyvisa-py cannot open the pty: {exc}")
    try:
        ident = await tester.identify()
        assert ident.model == "PEEL-90"
        await tester.set_width_mm(3.0)
    finally:
        await tester.close()
    await asyncio.sleep(0)


def test_sim_refuses_unknown_ids() -> None:
    sim = SimPeelTester()
    assert sim.handle("LOAD NOPE-1") is None  # goes out as an ERR line


stream_lines = st.one_of(
    st.builds(lambda a, b: f"D,{a:.3f},{b:.4f}", st.floats(0, 300), st.floats(-5, 60)),
    st.sampled_from(["END,COMPLETE", "END,STOPPED", "ERR,210,load cell overload", "OK",
                     "BEGIN,EX1-1,3,50,90", "D,1.0", "D,x,2", "D,1,2,3", "#@~", "D,", "",
                     "D,1.5\x15#@~,2.0", "END,???", "D,1,2\r"]),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(stream_lines, min_size=1, max_size=40))
def test_a_chunk_parses_exactly_as_its_lines_do_one_by_one(lines: list[str]) -> None:
    raw = [line.encode("latin-1") + b"\n" for line in lines]
    expanded: list[StreamItem] = []
    for item in parse_chunk(raw):
        if isinstance(item, PeelPoints):
            expanded += [PeelPoint(x, f) for x, f in zip(item.mm, item.n, strict=True)]
        else:
            expanded.append(item)
    one_by_one = []
    for line in (text.rstrip("\r") for text in lines):  # CR LF ends a line too
        if any(ord(c) < 32 or ord(c) > 126 for c in line):
            noisy = line.encode("latin-1").decode("ascii", "backslashreplace")
            one_by_one.append(GarbledLine(noisy))
            continue
        item = parse_stream_line(line)
        if item is not None:
            one_by_one.append(item)
    assert expanded == one_by_one
