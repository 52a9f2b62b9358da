"""The press cycle against the real press simulator over a real socket, at 600×."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from daq.messages import Alarm, Reading
from daq.press.procedure import PressCycle
from daq.press.record import Outcome, Phase
from daq.recipes import PressRecipe
from tests.press_cycle.conftest import Bench


def make_cycle(bench: Bench, recipe: PressRecipe | None = None) -> PressCycle:
    return PressCycle(bench.press, recipe or PressRecipe(), bench.clock, bench.recorder, bench.bus)


async def wait_for(condition: object, timeout_s: float = 10.0) -> None:
    """Wait (real time) until ``condition()`` is true: synchronisation, not a time check."""
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


#: The default recipe's physics on the simulated press, by hand: ramp 25 → 200 °C at
#: 10 °C/min (17.5 min) plus ≤ 2 min of platen lag, 3 s-τ pressure build to 2.8 MPa
#: (3·ln 15 = 8 s, say 0.2 min), 20 min dwell, 2 min-τ cooling 200 → 60 °C
#: (2·ln(175/35) = 3.2 min, say 3.3) and 2 s-τ release to 0.05 MPa (8 s, 0.2 min).
DEFAULT_CYCLE_PHYSICS_MIN = 17.5 + 2.0 + 0.2 + 20.0 + 3.3 + 0.2


def cycle_minutes(summary: dict[str, Any]) -> float:
    """Simulated minutes from the start of PRECHECK to the end of the last phase."""
    return sum(p["duration_min"] or 0.0 for p in summary["phases"])


def max_poll_gap_min(readings: list[Reading]) -> float:
    """The longest interval between consecutive readings, in simulated minutes: each phase
    can end up to one such interval after its condition was met."""
    return max(b.ts - a.ts for a, b in itertools.pairwise(readings)) / 60.0


def transitions(bench: Bench, run_id: str) -> list[tuple[str | None, str]]:
    return [
        (e.data["from"], e.data["to"])
        for e in bench.recorder.events
        if e.run_id == run_id and e.kind == "transition"
    ]


def assert_press_safe(bench: Bench) -> None:
    sim = bench.sim
    sim.update()
    assert not sim.heater_on, "heaters still on"
    assert not sim.pressure_on, "pressure output still on"


async def test_default_cycle_completes_with_full_dwell_inside_tolerance(bench: Bench) -> None:
    readings = bench.bus.subscribe("test", (Reading,))
    cycle = make_cycle(bench)
    result = await asyncio.wait_for(cycle.run(), 60)  # hang guard only

    assert result.outcome is Outcome.DONE, result.reason
    s = result.summary
    # The cycle does not dawdle, judged on the simulated clock rather than by real seconds
    # (which a busy machine stretches): each phase ends at the first poll after its physics.
    got = readings.get_batch(10_000)
    assert cycle_minutes(s) <= DEFAULT_CYCLE_PHYSICS_MIN + 6 * max_poll_gap_min(got)
    assert s["dwell_achieved_min"] >= 20.0
    assert s["dwell_complete"] is True
    assert 197.0 <= s["dwell_temp_range_c"][0] <= s["dwell_temp_range_c"][1] <= 203.0
    assert 2.8 <= s["dwell_pressure_range_mpa"][0] <= s["dwell_pressure_range_mpa"][1] <= 3.2
    assert s["dwell_mean_temp_c"] == pytest.approx(200.0, abs=1.0)
    assert s["dwell_mean_pressure_mpa"] == pytest.approx(3.0, abs=0.05)
    assert s["peak_temp_top_c"] >= 199.0 and s["peak_pressure_mpa"] >= 2.9
    assert [p["phase"] for p in s["phases"]] == [
        "PRECHECK", "HEAT", "PRESS", "DWELL", "COOL", "RELEASE", "DONE"
    ]
    dwell_phase = next(p for p in s["phases"] if p["phase"] == "DWELL")
    assert dwell_phase["duration_min"] >= 20.0
    # The heat-up follows the 10 °C/min ramp from room temperature: not faster.
    heat_phase = next(p for p in s["phases"] if p["phase"] == "HEAT")
    assert heat_phase["duration_min"] >= (200 - 30) / 10

    assert transitions(bench, result.run_id) == [
        (None, "PRECHECK"), ("PRECHECK", "HEAT"), ("HEAT", "PRESS"), ("PRESS", "DWELL"),
        ("DWELL", "COOL"), ("COOL", "RELEASE"), ("RELEASE", "DONE"),
    ]
    outcome, reason, summary = bench.recorder.outcomes[result.run_id]
    assert (outcome, reason) == ("DONE", None)
    assert summary["dwell_achieved_min"] == s["dwell_achieved_min"]
    assert bench.recorder.runs[result.run_id].kind == "press_cycle"

    assert len(got) == s["readings"] > 20
    assert {r.run_id for r in got} == {result.run_id}
    assert set(got[0].values) == {"temp_top", "temp_bottom", "pressure", "ram"}
    # Cooled under pressure: at the end of COOL the press was still pressing.
    cool_end = next(p for p in s["phases"] if p["phase"] == "COOL")["end_ts"]
    last_cool = [r for r in got if r.ts <= cool_end][-1]
    assert last_cool.values["pressure"].v > 2.8
    assert max(last_cool.values["temp_top"].v, last_cool.values["temp_bottom"].v) <= 60.0
    # The press is left idle, released, with its watchdog disarmed.
    assert_press_safe(bench)
    assert bench.sim.pressure_mpa <= 0.05
    assert bench.sim.watchdog_s == 0
    assert bench.sim.safe_events == []


async def test_dwell_pauses_while_pressure_is_out_of_tolerance_and_resumes(bench: Bench) -> None:
    readings = bench.bus.subscribe("test", (Reading,))
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    await wait_for(lambda: cycle.phase is Phase.DWELL and cycle.record.dwell_s >= 180)
    bench.sim.inject("pressure_leak", "300")  # 5 simulated minutes at 40 % of setpoint
    result = await task

    assert result.outcome is Outcome.DONE, result.reason
    s = result.summary
    assert s["dwell_achieved_min"] >= 20.0
    # Paused for the leak: its 300 s, plus the 3 s-τ pump getting back within 0.2 MPa of
    # 3 MPa (3·ln 9 = 6.6 s) and one 1 s physics step, by hand 300 ≤ out-of-tolerance ≤ 308 s.
    # A pause runs from the last good reading before the leak to the first good one after
    # it, so it may exceed that by the two poll intervals that straddle the edges: those are
    # read from the readings themselves (a busy machine stretches them), not a fixed margin.
    got = [r for r in readings.get_batch(10_000) if r.run_id == result.run_id]
    note_ts = {e.data["note"]: e.ts for e in bench.recorder.events if e.kind == "note"}
    paused_at = next(i for i, r in enumerate(got) if r.ts == note_ts["dwell_paused"])
    resumed_at = next(i for i, r in enumerate(got) if r.ts == note_ts["dwell_resumed"])
    last_good, first_bad = got[paused_at - 1], got[paused_at]
    last_bad, first_good = got[resumed_at - 1], got[resumed_at]
    edge_polls_s = (first_bad.ts - last_good.ts) + (first_good.ts - last_bad.ts)
    paused_s = s["dwell_paused_min"] * 60.0
    assert paused_s == pytest.approx(first_good.ts - last_good.ts, abs=0.06)  # 0.001 min
    assert 300.0 <= paused_s <= 308.0 + edge_polls_s
    dwell_phase = next(p for p in s["phases"] if p["phase"] == "DWELL")
    assert dwell_phase["duration_min"] >= 20.0 + 4.0
    notes = [e.data["note"] for e in bench.recorder.events if e.kind == "note"]
    assert notes == ["dwell_paused", "dwell_resumed"]
    [alarm] = bench.recorder.alarms
    assert alarm.severity == "warning" and "dwell paused" in alarm.message
    assert "pressure" in alarm.message
    # The mean during the counted dwell is unaffected by the leak.
    assert s["dwell_pressure_range_mpa"][0] >= 2.8


async def test_abort_mid_dwell_puts_press_safe_within_one_poll(bench: Bench) -> None:
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    await wait_for(lambda: cycle.phase is Phase.DWELL and cycle.record.dwell_s > 60)
    seen_before_abort = len(bench.sim.history)  # same thread as the simulator: exact
    cycle.abort("operator pressed abort")
    result = await task

    assert result.outcome is Outcome.ABORTED
    assert result.reason == "operator pressed abort"
    assert_press_safe(bench)
    safe = bench.sim.safe_events[0]
    # Within one poll, counted rather than timed (0.05 s of real time would decide it
    # otherwise): before ABOR the press sees at most the rest of the poll that was in
    # flight (MEAS:ALL?, STAT:DOOR?, STAT:ALARM? once each), never the start of another.
    after_abort = [line for _, line in bench.sim.history[seen_before_abort:]]
    before_abor = after_abort[: after_abort.index("ABOR")]
    assert set(before_abor) <= {"MEAS:ALL?", "STAT:DOOR?", "STAT:ALARM?"}, before_abor
    assert len(before_abor) == len(set(before_abor)), before_abor
    assert safe.reason == "ABORT"
    assert result.summary["safe_confirmed"] is True
    assert result.summary["dwell_complete"] is False
    assert transitions(bench, result.run_id)[-1] == ("DWELL", "SAFE")
    assert bench.recorder.outcomes[result.run_id][0] == "ABORTED"
    assert [a.severity for a in bench.recorder.alarms] == ["warning"]


async def test_cancelling_the_task_is_an_abort(bench: Bench) -> None:
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    await wait_for(lambda: cycle.phase is Phase.HEAT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_press_safe(bench)
    outcome, reason, _ = bench.recorder.outcomes[cycle.run_id]
    assert outcome == "ABORTED" and reason is not None and "cancel" in reason


async def test_garbled_reply_mid_cycle_faults_and_leaves_the_press_safe(bench: Bench) -> None:
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    await wait_for(lambda: cycle.phase is Phase.HEAT and cycle.record.readings > 3)
    bench.sim.inject("garble")
    result = await task

    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None and "ProtocolError" in result.reason
    assert_press_safe(bench)
    assert result.summary["safe_confirmed"] is True
    assert [a.severity for a in bench.recorder.alarms] == ["critical"]
    # The process and the link live on: the driver still talks to the press.
    assert (await bench.press.measure_all()).state == "SAFE"


async def test_door_opened_mid_cycle_faults_with_the_reason(bench: Bench) -> None:
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    await wait_for(lambda: cycle.phase is Phase.DWELL)
    bench.sim.inject("door")
    result = await task

    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None and "door" in result.reason.lower()
    assert_press_safe(bench)
    assert bench.recorder.outcomes[result.run_id][1] == result.reason


async def test_estop_mid_cycle_faults(bench: Bench) -> None:
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    # Mid-cycle means the press is pressing: the cycle has entered PRESS *and* the press has
    # taken ``OUTP:PRES ON``. Entering PRESS comes before that command, and an e-stop in
    # between makes the press refuse it (-221) instead of the cycle seeing the e-stop.
    await wait_for(lambda: cycle.phase in (Phase.PRESS, Phase.DWELL) and bench.sim.pressure_on)
    bench.sim.inject("estop")
    result = await task
    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None and "ESTOP" in result.reason
    assert_press_safe(bench)


async def test_lost_link_mid_cycle_reconnects_and_makes_the_press_safe(bench: Bench) -> None:
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    await wait_for(lambda: cycle.phase is Phase.HEAT and cycle.record.readings > 3)
    bench.sim.inject("drop")
    result = await task

    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None and "Connection" in result.reason
    assert_press_safe(bench)
    assert result.summary["safe_confirmed"] is True


async def test_stalled_press_times_out_and_is_made_safe_once_it_answers(bench: Bench) -> None:
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    await wait_for(lambda: cycle.phase is Phase.HEAT and cycle.record.readings > 3)
    bench.sim.inject("stall", "1.5")  # real seconds: longer than the 1 s reply timeout
    result = await task

    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None and "Timeout" in result.reason
    assert_press_safe(bench)
    assert result.summary["safe_confirmed"] is True


async def test_heat_timeout_faults_and_names_the_phase(bench: Bench) -> None:
    recipe = PressRecipe(heat_timeout_min=5)  # 175 °C at 10 °C/min needs ~18 min
    result = await make_cycle(bench, recipe).run()
    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None and "within 5 min" in result.reason
    assert "temperature setpoint" in result.reason
    assert_press_safe(bench)


@pytest.mark.parametrize(
    ("fault", "arg", "words"),
    [("door", None, "door is open"), ("alarm", "OVERPRES", "OVERPRES"),
     ("estop", None, "ESTOP")],
)
async def test_precheck_refuses_before_anything_moves(
    bench: Bench, fault: str, arg: str | None, words: str
) -> None:
    bench.sim.inject(fault, arg)
    result = await make_cycle(bench).run()
    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None and words in result.reason
    sent = [line for _, line in bench.sim.history]
    # Nothing commanded, not even ABOR: a refusal must not trip the press.
    assert not any(line.startswith(("TEMP:", "OUTP:", "PRES:", "ABOR", "SYST:WDOG"))
                   for line in sent)
    assert bench.sim.safe_events == [] or fault == "estop"
    assert transitions(bench, result.run_id) == [(None, "PRECHECK"), ("PRECHECK", "SAFE")]
    assert isinstance(bench.recorder.alarms[0], Alarm)
    assert "refused at PRECHECK" in bench.recorder.alarms[0].message


async def test_a_cycle_can_use_the_stations_own_poller(bench: Bench) -> None:
    """The service polls the press continuously; a cycle attaches its run to that poller."""
    from daq.acquisition import InstrumentPoller, poll_press

    poller = InstrumentPoller("press1", lambda: poll_press(bench.press), 0.05, bench.clock,
                              bench.bus, reconnect=bench.press.reconnect)
    async with poller:
        cycle = PressCycle(bench.press, PressRecipe(dwell_min=5), bench.clock, bench.recorder,
                           bench.bus, instrument="press1", poller=poller)
        task = asyncio.create_task(cycle.run())
        await wait_for(lambda: cycle.phase is Phase.DWELL)
        assert poller.run_id == cycle.run_id
        bench.sim.inject("door")
        result = await task
        assert poller.running and poller.run_id is None  # the station keeps polling
    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None and "door" in result.reason
    assert_press_safe(bench)


async def test_precheck_refuses_a_recipe_that_bypassed_validation(bench: Bench) -> None:
    """A recipe built without validation (``model_construct``) is checked again at PRECHECK."""
    recipe = PressRecipe.model_construct(**{**PressRecipe().model_dump(), "temperature_c": 250.0})
    result = await make_cycle(bench, recipe).run()
    assert result.outcome is Outcome.FAULTED
    assert result.reason is not None
    assert "temperature 250 °C is outside the allowed window 150–200 °C" in result.reason
    assert not any(line.startswith(("TEMP:", "OUTP:", "ABOR")) for _, line in bench.sim.history)


async def test_an_abort_arriving_with_a_reading_is_not_lost(bench: Bench) -> None:
    """Abort at the very moment a reading is delivered (the race in which Python 3.11's
    ``wait_for`` swallows a cancellation): the cycle must still abort."""
    readings = bench.bus.subscribe("test", (Reading,))
    cycle = make_cycle(bench)
    task = asyncio.create_task(cycle.run())
    while not (cycle.phase is Phase.DWELL and cycle.record.dwell_s > 120):
        await readings.get()
    cycle.abort("abort with a reading")
    result = await task
    assert result.outcome is Outcome.ABORTED
    assert result.summary["dwell_complete"] is False
    assert_press_safe(bench)
