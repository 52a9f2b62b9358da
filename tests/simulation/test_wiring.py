"""A simulated station tells its simulators what each run puts on them through their side
door, from the stored rows: protocol-level, against the real simulators on their real pty
and socket. Without the wiring the simulators fall back on their own default (the
material an id's prefix names, as made; a 5 µm film on the laser's stage)."""

from __future__ import annotations

from daq.laser.procedure import LaserJobResult
from daq.peel.procedure import PeelOutcome
from daq.station.lab import Lab
from daq.station.outcome import Outcome
from daq.station.specimens import SpecimenLoaded
from daq.storage.models import Run
from simulators.framework import SimInstrument
from tests.simulation.conftest import HANG_GUARD_S, register_lot, register_specimen


async def peel(lab: Lab, specimen_id: str) -> PeelOutcome:
    run_id = await lab.run_engine.start("peel_test", {"specimen_id": specimen_id}, "op1",
                                        "test")
    await lab.run_engine.wait(run_id, HANG_GUARD_S)
    outcome = lab.run_engine.result(run_id)
    assert isinstance(outcome, PeelOutcome)
    return outcome


async def drill(lab: Lab, lot: str) -> LaserJobResult:
    run_id = await lab.run_engine.start("laser_job", {"sample_id": lot, "n_holes": 100},
                                        "op1", "test")
    assert await lab.run_engine.wait(run_id, HANG_GUARD_S) is Outcome.DONE
    result = lab.run_engine.result(run_id)
    assert isinstance(result, LaserJobResult)
    return result


def simulator(lab: Lab, name: str) -> SimInstrument:
    assert lab.simulators is not None
    return lab.simulators.instruments[name]


def wire_commands(sim: SimInstrument) -> list[str]:
    """What reached the simulator over the instrument's own link, simulation commands only."""
    return [c for c in sim.commands_seen if c.upper().startswith("SIM:")]


async def test_a_specimen_of_example_1_peels_with_example_1s_force(lab: Lab) -> None:
    # The id names no material: only the stored rows say it is Example 1.
    await register_specimen(lab, "S-0001", "LOT-A", "EX1")
    outcome = await peel(lab, "S-0001")
    assert outcome.status == "DONE", outcome.reason
    assert outcome.result is not None
    # Table 1, Example 1 as made: 9 N/cm (specimen scatter σ 0.25 N/cm).
    assert 8.0 <= outcome.result.peel_strength_n_per_cm <= 10.0
    tester = simulator(lab, "peel")
    assert tester.door_commands == ["SIM:SAMPLE S-0001,EX1,5,0"]
    assert wire_commands(tester) == []
    assert lab.simulator_wiring is not None
    assert lab.simulator_wiring.told[-1] == SpecimenLoaded(
        "peel1", "S-0001", "EX1", 5.0, 0.0, outcome.run_id)
    # The run's record says which specimen it peeled, as before.
    async with lab.sessions() as session:
        run = await session.get(Run, outcome.run_id)
    assert run is not None and run.recipe["specimen_id"] == "S-0001"
    assert run.sample_id == "LOT-A"


async def test_an_aged_specimen_peels_with_its_aged_force(lab: Lab) -> None:
    await register_specimen(lab, "EX1-2026-001-B1", "EX1-2026-001", "EX1", aging_hours=1000)
    outcome = await peel(lab, "EX1-2026-001-B1")
    assert outcome.status == "DONE" and outcome.result is not None
    # Table 1, Example 1 after 150 °C × 1000 h: 7 N/cm (as made it would be 9).
    assert 6.0 <= outcome.result.peel_strength_n_per_cm <= 8.0
    assert simulator(lab, "peel").door_commands == ["SIM:SAMPLE EX1-2026-001-B1,EX1,5,1000"]


async def test_a_lot_of_comparative_1_drills_as_its_15_um_film(lab: Lab) -> None:
    await register_lot(lab, "LOT-C", "CMP1")
    result = await drill(lab, "LOT-C")
    # 15 µm of adhesive, more than the 10 µm a 2.0 W pulse train opens: no hole opens.
    assert result.grade is not None and result.grade.grade == "X"
    assert result.grade.holes_open == 0
    laser = simulator(lab, "laser")
    assert laser.door_commands == ["SIM:SAMPLE LOT-C,CMP1,15,0"]
    assert wire_commands(laser) == []


async def test_without_the_wiring_the_simulators_give_their_default(lab: Lab) -> None:
    assert lab.simulator_wiring is not None
    lab.run_engine.remove_specimen_listener(lab.simulator_wiring)
    await register_specimen(lab, "S-0002", "LOT-B", "EX1")
    unknown = await peel(lab, "S-0002")
    # The simulator's default: the material its id's prefix names — here none.
    assert unknown.status == "FAULTED"
    assert unknown.reason is not None and "no material known" in unknown.reason
    await register_specimen(lab, "EX1-2026-002-B1", "EX1-2026-002", "EX1", aging_hours=1000)
    as_made = await peel(lab, "EX1-2026-002-B1")
    assert as_made.status == "DONE" and as_made.result is not None
    # Untold of its 1000 h, the simulator peels it as made: 9 N/cm, not 7.
    assert 8.0 <= as_made.result.peel_strength_n_per_cm <= 10.0
    await register_lot(lab, "LOT-D", "CMP1")
    drilled = await drill(lab, "LOT-D")
    # The laser's default film is the product's own 5 µm: every hole opens, grade O.
    assert drilled.grade is not None and drilled.grade.grade == "O"
    assert simulator(lab, "peel").door_commands == []
    assert simulator(lab, "laser").door_commands == []
