"""The press simulator's physics and self-protection, stepped directly in simulated time
(no sockets, no waiting): thermal lag, overshoot, ramp limit, cooling, pressure, faults."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.clock import Clock
from simulators.press import PressSimulator, State


def make_press() -> PressSimulator:
    # Scale 1e-9: wall time makes no difference, the test moves time with run_for().
    return PressSimulator(Clock(scale=1e-9), seed=7)


def run_for(sim: PressSimulator, seconds: float, step: float = 1.0) -> None:
    """Advance the physics by ``seconds`` of simulated time."""
    for _ in range(int(seconds / step)):
        sim.advance(step)
    sim.handle("*OPC?")  # an unknown header is harmless; it refreshes the state


def send(sim: PressSimulator, *lines: str) -> list[str | None]:
    return [sim.handle(line) for line in lines]


def error(sim: PressSimulator) -> str | None:
    return sim.handle("SYST:ERR?")


def test_platens_ramp_at_the_limit_then_overshoot_a_little_and_settle() -> None:
    sim = make_press()
    send(sim, "TEMP:SET 200", "OUTP:HEAT ON")
    run_for(sim, 5 * 60)
    assert sim.top.temp_c < 25 + 10 * 5 + 1  # 10 °C/min by default
    peak = 0.0
    for _ in range(40 * 60):
        sim.advance(1.0)
        peak = max(peak, sim.top.temp_c)
    assert 200.5 < peak < 203  # ~1.5 °C overshoot on arriving
    assert abs(sim.top.temp_c - 200) < 0.3
    assert -1.0 < sim.bottom.temp_c - sim.top.temp_c < 0.0  # bottom runs slightly cooler


def test_faster_ramp_rate_arrives_sooner() -> None:
    slow, fast = make_press(), make_press()
    send(slow, "TEMP:SET 150", "OUTP:HEAT ON")
    send(fast, "TEMP:SET 150", "TEMP:RAMP 25", "OUTP:HEAT ON")
    run_for(slow, 6 * 60)
    run_for(fast, 6 * 60)
    assert fast.top.temp_c > slow.top.temp_c + 40


def test_forced_cooling_reaches_unload_temperature_in_simulated_minutes() -> None:
    sim = make_press()
    send(sim, "TEMP:SET 200", "OUTP:HEAT ON")
    run_for(sim, 40 * 60)
    send(sim, "OUTP:HEAT OFF")
    run_for(sim, 5 * 60)
    assert sim.top.temp_c < 60
    run_for(sim, 60 * 60)
    assert abs(sim.top.temp_c - 25) < 0.5


def test_pressure_builds_and_releases_with_a_time_constant() -> None:
    sim = make_press()
    send(sim, "PRES:SET 3", "OUTP:PRES ON")
    run_for(sim, 1)
    assert 0.3 < sim.pressure_mpa < 2.5
    assert sim.state is State.PRESS
    run_for(sim, 20)
    assert abs(sim.pressure_mpa - 3) < 0.01
    assert sim.ram_mm > 24
    send(sim, "OUTP:PRES OFF")
    run_for(sim, 15)
    assert sim.pressure_mpa < 0.01
    assert sim.state is State.IDLE


def test_pressure_leak_drops_pressure_then_it_recovers() -> None:
    sim = make_press()
    send(sim, "PRES:SET 3", "OUTP:PRES ON")
    run_for(sim, 30)
    sim.inject("pressure_leak", "60")
    run_for(sim, 20)
    assert sim.pressure_mpa < 2.0
    run_for(sim, 60)
    assert abs(sim.pressure_mpa - 3) < 0.05


def test_setpoints_outside_the_press_limits_are_refused_with_222() -> None:
    sim = make_press()
    send(sim, "TEMP:SET 180", "PRES:SET 3")
    for line in ("TEMP:SET 250.1", "TEMP:SET -1", "PRES:SET 10.5", "PRES:SET -0.1"):
        send(sim, line)
        assert error(sim) == '-222,"Data out of range"'
    assert send(sim, "TEMP:SET?", "PRES:SET?") == ["180.00", "3.000"]
    assert error(sim) == '0,"No error"'


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_temperature_setpoint_is_taken_or_refused_never_half_applied(value: float) -> None:
    sim = make_press()
    send(sim, f"TEMP:SET {value!r}")
    reply = error(sim)
    if 0.0 <= value <= 250.0:
        assert reply == '0,"No error"'
        assert sim.temp_setpoint_c == value
    else:
        assert reply in {'-222,"Data out of range"', '-104,"Data type error"'}
        assert sim.temp_setpoint_c == 25.0


def test_malformed_and_unknown_commands_go_to_the_error_queue() -> None:
    sim = make_press()
    send(sim, "TEMP:SET hot", "PRES:FOO 3", "OUTP:HEAT MAYBE")
    assert error(sim) == '-104,"Data type error"'
    assert error(sim).startswith('-113,"Undefined header')  # type: ignore[union-attr]
    assert error(sim) == '-104,"Data type error"'
    assert error(sim) == '0,"No error"'


def test_door_opened_while_heating_trips_to_safe() -> None:
    sim = make_press()
    send(sim, "TEMP:SET 180", "OUTP:HEAT ON")
    run_for(sim, 60)
    sim.inject("door")
    assert sim.state is State.SAFE and not sim.heater_on
    assert send(sim, "STAT:ALARM?", "STAT:DOOR?") == ["DOOR", "OPEN"]
    assert [e.reason for e in sim.safe_events] == ["DOOR"]


def test_door_open_while_idle_only_refuses_heating() -> None:
    sim = make_press()
    sim.inject("door")
    assert sim.state is State.IDLE
    send(sim, "OUTP:HEAT ON")
    assert error(sim) == '-221,"Settings conflict"'
    assert not sim.heater_on and sim.safe_events == []


def test_runaway_heater_trips_on_over_temperature() -> None:
    sim = make_press()
    send(sim, "TEMP:SET 200", "OUTP:HEAT ON")
    run_for(sim, 25 * 60)
    sim.inject("overtemp")
    run_for(sim, 20 * 60)
    assert sim.state is State.SAFE
    assert not sim.heater_on
    assert send(sim, "STAT:ALARM?") == ["OVERTEMP"]
    assert max(sim.top.temp_c, sim.bottom.temp_c) < 262


def test_estop_latches_until_released_and_reset() -> None:
    sim = make_press()
    send(sim, "PRES:SET 3", "OUTP:PRES ON", "OUTP:HEAT ON")
    sim.inject("estop")
    assert sim.state is State.ESTOP and sim.is_safe
    send(sim, "*RST")
    assert sim.state is State.ESTOP  # button still pressed
    sim.inject("estop", "released")
    send(sim, "*RST")
    assert sim.state is State.IDLE
    assert send(sim, "STAT:ALARM?") == ["NONE"]


def test_abort_is_safe_without_an_alarm_and_cls_recovers() -> None:
    sim = make_press()
    send(sim, "OUTP:HEAT ON", "OUTP:PRES ON", "ABOR")
    assert sim.state is State.SAFE and sim.is_safe
    assert send(sim, "STAT:ALARM?") == ["NONE"]
    assert sim.safe_events[-1].reason == "ABORT"
    send(sim, "*CLS")
    assert sim.state is State.IDLE


def test_alarm_fault_is_reported_and_cleared_by_cls() -> None:
    sim = make_press()
    sim.inject("alarm", "overpres")
    assert send(sim, "STAT:ALARM?") == ["OVERPRES"]
    send(sim, "*CLS")
    assert send(sim, "STAT:ALARM?") == ["NONE"]


def test_history_keeps_commands_with_their_simulated_time() -> None:
    sim = make_press()
    send(sim, "TEMP:SET 150", "MEAS:ALL?")
    assert [line for _, line in sim.history] == ["TEMP:SET 150", "MEAS:ALL?"]


@pytest.mark.parametrize("line", ["MEAS:ALL?", "MEAS:TEMP?", "MEAS:PRES?"])
def test_measurement_replies_are_well_formed(line: str) -> None:
    reply = make_press().handle(line)
    assert reply is not None and reply.isascii() and "\n" not in reply
