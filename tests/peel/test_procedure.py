"""The PeelTest procedure against the simulated tester on a pty, stored in a real database."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.bus import Bus
from daq.materials import material_info
from daq.messages import Reading
from daq.peel.kind import specimen_loaded
from daq.peel.procedure import PeelSettings, PeelTest
from daq.peel.store import PeelStore
from daq.station.simulation import LocalDoor, SimulatorWiring
from daq.storage.models import MqttOutbox, Run, Specimen
from daq.storage.recorder import DbRecorder
from tests.peel.conftest import MID_PEEL_SCALE, Bench, wait_until


async def make_specimen(
    store: PeelStore, bench: Bench, specimen_id: str, key: str = "EX1", aging_hours: float = 0.0
) -> None:
    """Register the specimen, and tell the bench's simulator what it is through its side
    door, as a simulated station's wiring does when a peel test of it starts."""
    info = material_info(key)
    lot = specimen_id.rsplit("-", 1)[0]
    await store.ensure_specimen(
        specimen_id,
        sample_id=lot,
        material_key=info.key,
        material_name=info.name,
        adhesive_thickness_um=info.adhesive_thickness_um,
        film_forms=info.film_forms,
        note=info.note,
        now_ts=bench.clock.now(),
        laminate_id=f"{lot}-L1",
        aging_hours=aging_hours,
    )
    context = await store.specimen_context(specimen_id)
    assert context is not None
    wiring = SimulatorWiring({"peel1": LocalDoor(bench.sim.simulate)})
    await wiring.specimen_loaded(specimen_loaded("peel1", context))


def peel_test(bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore) -> PeelTest:
    return PeelTest(bench.tester, bench.clock, recorder, bus, store,
                    settings=PeelSettings(idle_timeout_s=1.0))


async def test_a_peel_is_stored_with_its_curve_result_and_history(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    readings = bus.subscribe("test", (Reading,), maxsize=100_000)
    await make_specimen(store, bench, "EX2-2026-007-A1", "EX2", aging_hours=1000)
    outcome = await peel_test(bench, recorder, bus, store).run("EX2-2026-007-A1")

    assert outcome.status == "DONE", outcome.reason
    assert outcome.result is not None
    assert abs(outcome.result.peel_strength_n_per_cm - 6.0) < 1.0  # Table 1: 6 N/cm aged
    assert outcome.n_points > 5000  # 50 mm at 50 mm/min, 100 Hz
    row = await store.test(outcome.run_id)
    assert row is not None
    assert (row.specimen_id, row.sample_id, row.laminate_id, row.aging_hours) == (
        "EX2-2026-007-A1", "EX2-2026-007", "EX2-2026-007-L1", 1000.0)
    mm, force = await store.curve(outcome.run_id)
    assert len(mm) == len(force) == outcome.n_points
    live = readings.get_batch(10_000)  # the live view: 10 Hz of the 100 Hz stream
    assert 550 <= len(live) <= 601
    assert all(r.run_id == outcome.run_id and r.values["force"].unit == "N" for r in live)
    async with sessions() as session:
        run = await session.get(Run, outcome.run_id)
        specimen = await session.get(Specimen, "EX2-2026-007-A1")
        outbox = (await session.execute(select(MqttOutbox))).scalars().all()
    assert run is not None and run.status == "DONE" and run.kind == "peel_test"
    assert run.sample_id == "EX2-2026-007"
    assert specimen is not None and specimen.state == "PEELED"
    results = [o for o in outbox if '"kind": "result"' in o.payload or '"result"' in o.payload]
    assert results and all(o.qos == 1 for o in results)
    assert any("peel_strength_n_per_cm" in o.payload for o in results)


async def test_garbled_lines_are_counted_skipped_and_on_the_result(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore
) -> None:
    await make_specimen(store, bench, "EX1-2026-001-G1")
    bench.sim.clock.set_scale(MID_PEEL_SCALE)  # until the fault: mid-peel is then hittable
    task = asyncio.create_task(peel_test(bench, recorder, bus, store).run("EX1-2026-001-G1"))
    await wait_until(lambda: bench.sim.peeling, "peeling")
    bench.sim.inject("garble", "7")
    bench.sim.clock.set_scale(bench.clock.scale)
    outcome = await task
    assert outcome.status == "DONE", outcome.reason
    assert outcome.garbled_lines == 7
    assert outcome.result is not None and outcome.result.garbled_lines == 7
    row = await store.test(outcome.run_id)
    assert row is not None and row.garbled_lines == 7


async def test_disconnect_mid_peel_leaves_it_incomplete_with_its_partial_curve(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await make_specimen(store, bench, "EX3-2026-002-D1", "EX3")
    readings = bus.subscribe("test", (Reading,), maxsize=100_000)
    bench.sim.clock.set_scale(MID_PEEL_SCALE)  # until the fault: mid-peel is then hittable
    task = asyncio.create_task(peel_test(bench, recorder, bus, store).run("EX3-2026-002-D1"))
    await wait_until(lambda: readings.depth() >= 150 and bench.sim.peeling, "~12 mm in")
    bench.sim.inject("drop")
    bench.sim.clock.set_scale(bench.clock.scale)
    outcome = await task
    assert outcome.status == "INCOMPLETE"
    assert outcome.reason is not None and "link to the tester lost mid-peel" in outcome.reason
    assert outcome.result is None
    mm, _ = await store.curve(outcome.run_id)
    assert 1000 <= len(mm) < 5900
    async with sessions() as session:
        run = await session.get(Run, outcome.run_id)
    assert run is not None and run.status == "INCOMPLETE"
    assert run.reason == outcome.reason


async def test_a_silent_tester_ends_the_peel_incomplete(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore
) -> None:
    await make_specimen(store, bench, "EX4-2026-003-S1", "EX4")
    bench.sim.clock.set_scale(MID_PEEL_SCALE)  # until the fault: mid-peel is then hittable
    task = asyncio.create_task(peel_test(bench, recorder, bus, store).run("EX4-2026-003-S1"))
    await wait_until(lambda: bench.sim.peeling, "peeling")
    bench.sim.inject("stall")
    bench.sim.clock.set_scale(bench.clock.scale)
    outcome = await task
    assert outcome.status == "INCOMPLETE"
    assert outcome.reason is not None and "stopped sending" in outcome.reason


async def test_load_cell_overload_faults_the_run(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore
) -> None:
    await make_specimen(store, bench, "EX5-2026-004-O1", "EX5")
    bench.sim.clock.set_scale(MID_PEEL_SCALE)  # until the fault: mid-peel is then hittable
    task = asyncio.create_task(peel_test(bench, recorder, bus, store).run("EX5-2026-004-O1"))
    await wait_until(lambda: bench.sim.peeling, "peeling")
    bench.sim.inject("overload")
    bench.sim.clock.set_scale(bench.clock.scale)
    outcome = await task
    assert outcome.status == "FAULTED"
    assert outcome.reason is not None and "overload" in outcome.reason
    row = await store.test(outcome.run_id)
    assert row is not None and row.end_reason == "OVERLOAD"


async def test_operator_abort_stops_the_tester_and_keeps_the_partial_curve(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await make_specimen(store, bench, "CMP5-2026-005-A1", "CMP5")
    procedure = peel_test(bench, recorder, bus, store)
    task = asyncio.create_task(procedure.run("CMP5-2026-005-A1"))
    await wait_until(lambda: procedure.capture is not None and len(procedure.capture.mm) >= 500,
                     "500 points captured")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with sessions() as session:
        run = await session.get(Run, procedure.run_id)
    assert run is not None and run.status == "ABORTED"
    mm, _ = await store.curve(procedure.run_id)
    assert len(mm) >= 500
    # The tester is usable again for the next specimen: once it has handled our STOP
    # (sent without waiting for a reply mid-peel), it is not peeling.
    await wait_until(lambda: "STOP" in bench.sim.commands_seen, "the tester got STOP")
    assert not bench.sim.peeling
    await bench.tester.set_width_mm(3.0)


async def test_an_unknown_material_is_refused_by_the_tester_and_the_run_faulted(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore
) -> None:
    outcome = await PeelTest(bench.tester, bench.clock, recorder, bus, store).run("XYZ-1")
    assert outcome.status == "FAULTED"
    assert outcome.reason is not None and "unknown specimen XYZ-1" in outcome.reason
