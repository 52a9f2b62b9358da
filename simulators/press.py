"""Simulated hot lamination press: two heated platens, a hydraulic ram, a door, alarms and
a communication watchdog, speaking the press protocol of design.md over a TCP socket.

Physics runs on the simulated clock:

* each platen follows a heater-driven target that moves toward ``TEMP:SET`` no faster
  than ``TEMP:RAMP`` (°C/min). The platen's response is second order (heater, plate and
  sensor lag), slightly under-damped, so it overshoots by about 1.5 °C on arriving and
  trails a ramp by about 10 °C. The bottom platen is a little slower and runs 0.3 °C
  cooler. Readings carry ~0.1 °C of noise;
* with the heater off the platens cool toward ambient (25 °C) by forced (water/air)
  cooling, Newtonian with a 2-minute time constant: 200 → 60 °C takes about 3 minutes;
* with ``OUTP:PRES ON`` the pressure builds toward ``PRES:SET`` with a 3-second time
  constant and is released with a 2-second one; the ram position follows the pressure.

The press protects itself: setpoints outside 0–250 °C / 0–10 MPa are refused with SCPI
−222 (setpoint unchanged); a door opened while heating or pressing, a platen above
260 °C, an expired watchdog or ``ABOR`` put it in ``SAFE`` (heaters off, pressure
released) until ``*RST`` or ``*CLS``; an e-stop puts it in ``ESTOP``.

The watchdog counts *real* seconds, not simulated ones: it watches the controlling
software's communication cadence, which does not speed up with the time scale (a poll
loop's round trips take real milliseconds whatever the scale). Counting simulated
seconds would make a 5 s watchdog expire after 8 ms of real time at scale 600.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from enum import StrEnum

from simulators.clock import Clock
from simulators.framework import (
    SETTINGS_CONFLICT,
    CommandError,
    SimInstrument,
    command,
    number,
    on_off,
)

AMBIENT_C = 25.0
MAX_TEMP_C = 250.0
MAX_PRESSURE_MPA = 10.0
TRIP_TEMP_C = 260.0
TRIP_PRESSURE_MPA = 11.0
DEFAULT_RAMP_C_PER_MIN = 10.0
COOLING_TAU_S = 120.0
PRESSURE_BUILD_TAU_S = 3.0
PRESSURE_RELEASE_TAU_S = 2.0
RUNAWAY_C_PER_MIN = 60.0
RAM_CLOSED_MM = 25.0
ALARM_NAMES = ("OVERTEMP", "OVERPRES", "DOOR", "ESTOP", "WATCHDOG")
IDN = "Lamina Instruments,HP-250 Lamination Press (simulated),SIM-0001,1.0"


class State(StrEnum):
    """The press's own state, as reported in the last field of ``MEAS:ALL?``."""

    IDLE = "IDLE"
    HEAT = "HEAT"
    PRESS = "PRESS"
    SAFE = "SAFE"
    ESTOP = "ESTOP"


@dataclass(frozen=True)
class SafeEvent:
    """One entry into the safe (or e-stop) state: when (simulated epoch s) and why."""

    sim_time: float
    reason: str
    state: State


class Platen:
    """One heated platen: a second-order response to a ramp-limited heater target."""

    def __init__(self, omega: float, zeta: float, offset_c: float) -> None:
        self.omega = omega  # rad/s
        self.zeta = zeta
        self.offset_c = offset_c
        self.temp_c = AMBIENT_C
        self.rate_c_per_s = 0.0

    def heat_toward(self, target_c: float, dt: float) -> None:
        """Integrate ``dt`` simulated seconds of heating toward ``target_c``."""
        target = target_c + self.offset_c
        w, z = self.omega, self.zeta
        accel = w * w * (target - self.temp_c) - 2 * z * w * self.rate_c_per_s
        self.rate_c_per_s += accel * dt  # semi-implicit Euler: stable for w·dt < 1
        self.temp_c += self.rate_c_per_s * dt

    def settle_at(self, target_c: float) -> None:
        """Jump to equilibrium (a step much longer than the platen's response time)."""
        self.temp_c = target_c + self.offset_c
        self.rate_c_per_s = 0.0

    def cool(self, dt: float) -> None:
        """Forced Newtonian cooling toward ambient for ``dt`` simulated seconds."""
        self.temp_c = AMBIENT_C + (self.temp_c - AMBIENT_C) * math.exp(-dt / COOLING_TAU_S)
        self.rate_c_per_s = 0.0


class PressSimulator(SimInstrument):
    """A lamination press on the wire protocol of design.md (see the module docstring)."""

    tick_s = 0.02
    #: Largest physics step (simulated s); longer intervals are split or settled.
    max_step_s = 1.0

    def __init__(self, clock: Clock | None = None, seed: int | None = None) -> None:
        super().__init__(clock)
        self.rng = random.Random(seed)
        self.top = Platen(omega=0.020, zeta=0.60, offset_c=0.0)
        self.bottom = Platen(omega=0.018, zeta=0.62, offset_c=-0.3)
        self.noise_c = 0.1
        self.noise_mpa = 0.003
        self.history: list[tuple[float, str]] = []
        self.safe_events: list[SafeEvent] = []
        self._reset_settings()
        self.state = State.IDLE
        self.alarms: list[str] = []
        self.door_closed = True
        self.estop_pressed = False
        self.runaway = False
        self.leak_remaining_s = 0.0  # simulated seconds of pressure leak still to come
        self.watchdog_s = 0.0
        self._watchdog_deadline: float | None = None  # time.monotonic()

    def _reset_settings(self) -> None:
        self.temp_setpoint_c = AMBIENT_C
        self.ramp_c_per_min = DEFAULT_RAMP_C_PER_MIN
        self.pressure_setpoint_mpa = 0.0
        self.heater_on = False
        self.pressure_on = False
        self.pressure_mpa = 0.0
        self.heater_target_c = max(self.top.temp_c, AMBIENT_C)

    # -- physics -----------------------------------------------------------------------
    def advance(self, dt: float) -> None:
        self._check_watchdog()
        steps = math.ceil(dt / self.max_step_s)
        if steps > 600:
            self._settle(dt)
        else:
            step = dt / steps
            for _ in range(steps):
                self._step(step)
        self._check_limits()

    def _step(self, dt: float) -> None:
        if self.heater_on:
            self._move_heater_target(dt)
            self.top.heat_toward(self.heater_target_c, dt)
            self.bottom.heat_toward(self.heater_target_c, dt)
        else:
            self.top.cool(dt)
            self.bottom.cool(dt)
        self._step_pressure(dt)

    def _move_heater_target(self, dt: float) -> None:
        if self.runaway:
            self.heater_target_c += RUNAWAY_C_PER_MIN / 60.0 * dt
            return
        limit = self.ramp_c_per_min / 60.0 * dt
        gap = self.temp_setpoint_c - self.heater_target_c
        self.heater_target_c += max(-limit, min(limit, gap))

    def _settle(self, dt: float) -> None:
        """A very long step (huge time scales): jump to where the press would be."""
        if self.heater_on:
            self._move_heater_target(dt)
            self.top.settle_at(self.heater_target_c)
            self.bottom.settle_at(self.heater_target_c)
        else:
            self.top.cool(dt)
            self.bottom.cool(dt)
        self._step_pressure(dt)

    def _step_pressure(self, dt: float) -> None:
        target = self.pressure_setpoint_mpa if self.pressure_on else 0.0
        if self.leak_remaining_s > 0:
            # A leaking seal: the pump cannot hold more than 40 % of the setpoint.
            target *= 0.4
            self.leak_remaining_s = max(0.0, self.leak_remaining_s - dt)
        tau = PRESSURE_BUILD_TAU_S if target >= self.pressure_mpa else PRESSURE_RELEASE_TAU_S
        self.pressure_mpa = target + (self.pressure_mpa - target) * math.exp(-dt / tau)

    @property
    def ram_mm(self) -> float:
        """Ram travel: closes as pressure comes up, then compresses the stack a little."""
        closing = min(1.0, self.pressure_mpa / 0.1)
        return RAM_CLOSED_MM * closing + 0.02 * self.pressure_mpa

    def _check_limits(self) -> None:
        if self.state in (State.SAFE, State.ESTOP):
            return
        if max(self.top.temp_c, self.bottom.temp_c) > TRIP_TEMP_C:
            self.trip("OVERTEMP")
        elif self.pressure_mpa > TRIP_PRESSURE_MPA:
            self.trip("OVERPRES")

    def _check_watchdog(self) -> None:
        deadline = self._watchdog_deadline
        if deadline is not None and time.monotonic() > deadline:
            # Disarm once tripped: the controlling software must re-arm it after a reset.
            self.watchdog_s = 0.0
            self._watchdog_deadline = None
            self.trip("WATCHDOG")

    def kick_watchdog(self) -> None:
        """Restart the watchdog's countdown (any command does this)."""
        if self.watchdog_s > 0:
            self._watchdog_deadline = time.monotonic() + self.watchdog_s

    # -- state ---------------------------------------------------------------------------
    def _outputs_off(self) -> None:
        self.heater_on = False
        self.pressure_on = False
        self.runaway = False

    def trip(self, reason: str, *, alarm: bool = True) -> None:
        """Go to the safe state: heaters off, pressure released; ``reason`` becomes an alarm
        unless ``alarm`` is false (an ordered ``ABOR`` is not an alarm)."""
        self._outputs_off()
        if alarm and reason not in self.alarms:
            self.alarms.append(reason)
        if self.state is not State.ESTOP:
            self.state = State.SAFE
        self.safe_events.append(SafeEvent(self.clock.now(), reason, self.state))

    def _refresh_state(self) -> None:
        if self.state in (State.SAFE, State.ESTOP):
            return
        if self.pressure_on:
            self.state = State.PRESS
        elif self.heater_on:
            self.state = State.HEAT
        else:
            self.state = State.IDLE

    def _leave_safe(self) -> None:
        if self.state is State.ESTOP and self.estop_pressed:
            return  # the mushroom button is still latched in
        self.alarms.clear()
        self.state = State.IDLE
        self._refresh_state()

    @property
    def is_safe(self) -> bool:
        """Heaters off and pressure output off (what the watchdog and interlocks guarantee)."""
        return not self.heater_on and not self.pressure_on

    # -- faults --------------------------------------------------------------------------
    def on_fault(self, name: str, arg: str | None) -> bool:
        if name == "door":
            opening = (arg or "open").strip().lower() != "closed"
            self.door_closed = not opening
            if opening and self.state in (State.HEAT, State.PRESS):
                self.trip("DOOR")
            return True
        if name == "estop":
            if (arg or "").strip().lower() in {"off", "released", "release"}:
                self.estop_pressed = False
                return True
            self.estop_pressed = True
            self._outputs_off()
            if "ESTOP" not in self.alarms:
                self.alarms.append("ESTOP")
            self.state = State.ESTOP
            self.safe_events.append(SafeEvent(self.clock.now(), "ESTOP", State.ESTOP))
            return True
        if name == "overtemp":
            self.runaway = True
            return True
        if name == "pressure_leak":
            self.leak_remaining_s = number(arg, 0) if arg else 120.0
            return True
        if name == "alarm":
            alarm = (arg or "OVERPRES").strip().upper()
            if alarm not in self.alarms:
                self.alarms.append(alarm)
            return True
        return False

    def clear_faults(self) -> None:
        super().clear_faults()
        self.door_closed = True
        self.estop_pressed = False
        self.runaway = False
        self.leak_remaining_s = 0.0

    # -- the command table -------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        text = line.strip()
        if text:
            self.history.append((self.clock.now(), text))
            if len(self.history) > 20_000:
                del self.history[:10_000]
            # An expired watchdog has tripped, whether or not the tick has run since: a
            # command arriving late finds the press safe, it does not re-arm it.
            self._check_watchdog()
            self.kick_watchdog()
        reply = super().handle(line)
        self._refresh_state()
        return reply

    @command(r"\*IDN\?")
    def _idn(self) -> str:
        return IDN

    @command(r"\*RST")
    def _rst(self) -> None:
        self._reset_settings()
        self.runaway = False
        self.leak_remaining_s = 0.0
        self.watchdog_s = 0.0
        self._watchdog_deadline = None
        self._leave_safe()

    @command(r"\*CLS")
    def _cls(self) -> None:
        self.errors.clear()
        self._leave_safe()

    @command(r"TEMP:SET\s+(\S+)")
    def _temp_set(self, value: str) -> None:
        self.temp_setpoint_c = number(value, 0.0, MAX_TEMP_C)

    @command(r"TEMP:SET\?")
    def _temp_set_q(self) -> str:
        return f"{self.temp_setpoint_c:.2f}"

    @command(r"TEMP:RAMP\s+(\S+)")
    def _temp_ramp(self, value: str) -> None:
        rate = number(value, 0.0, 100.0)
        if rate == 0:
            raise CommandError(-222, "Data out of range")
        self.ramp_c_per_min = rate

    @command(r"TEMP:RAMP\?")
    def _temp_ramp_q(self) -> str:
        return f"{self.ramp_c_per_min:.2f}"

    @command(r"PRES:SET\s+(\S+)")
    def _pres_set(self, value: str) -> None:
        self.pressure_setpoint_mpa = number(value, 0.0, MAX_PRESSURE_MPA)

    @command(r"PRES:SET\?")
    def _pres_set_q(self) -> str:
        return f"{self.pressure_setpoint_mpa:.3f}"

    def _temps(self) -> tuple[float, float]:
        return (
            self.top.temp_c + self.rng.gauss(0.0, self.noise_c),
            self.bottom.temp_c + self.rng.gauss(0.0, self.noise_c),
        )

    def _pressure_reading(self) -> float:
        if self.pressure_mpa < 0.005:
            return 0.0
        return max(0.0, self.pressure_mpa + self.rng.gauss(0.0, self.noise_mpa))

    @command(r"MEAS:TEMP\?")
    def _meas_temp(self) -> str:
        top, bottom = self._temps()
        return f"{top:.2f},{bottom:.2f}"

    @command(r"MEAS:PRES\?")
    def _meas_pres(self) -> str:
        return f"{self._pressure_reading():.3f}"

    @command(r"MEAS:ALL\?")
    def _meas_all(self) -> str:
        top, bottom = self._temps()
        pressure = self._pressure_reading()
        return f"{top:.2f},{bottom:.2f},{pressure:.3f},{self.ram_mm:.2f},{self.state.value}"

    @command(r"OUTP:HEAT\s+(\S+)")
    def _outp_heat(self, value: str) -> None:
        on = on_off(value)
        if on and (self.state in (State.SAFE, State.ESTOP) or not self.door_closed):
            raise SETTINGS_CONFLICT  # tripped or door open: reset / close the door first
        if on and not self.heater_on:
            self.heater_target_c = self.top.temp_c
        self.heater_on = on

    @command(r"OUTP:HEAT\?")
    def _outp_heat_q(self) -> str:
        return "1" if self.heater_on else "0"

    @command(r"OUTP:PRES\s+(\S+)")
    def _outp_pres(self, value: str) -> None:
        on = on_off(value)
        if on and (self.state in (State.SAFE, State.ESTOP) or not self.door_closed):
            raise SETTINGS_CONFLICT
        self.pressure_on = on

    @command(r"OUTP:PRES\?")
    def _outp_pres_q(self) -> str:
        return "1" if self.pressure_on else "0"

    @command(r"STAT:DOOR\?")
    def _stat_door(self) -> str:
        return "CLOSED" if self.door_closed else "OPEN"

    @command(r"STAT:ALARM\?")
    def _stat_alarm(self) -> str:
        return ",".join(self.alarms) if self.alarms else "NONE"

    @command(r"SYST:WDOG\s+(\S+)")
    def _syst_wdog(self, value: str) -> None:
        self.watchdog_s = number(value, 0.0, 3600.0)
        self._watchdog_deadline = None
        self.kick_watchdog()

    @command(r"SYST:WDOG\?")
    def _syst_wdog_q(self) -> str:
        return f"{self.watchdog_s:g}"

    @command(r"SYST:WDOG:KICK")
    def _syst_wdog_kick(self) -> None:
        self.kick_watchdog()

    @command(r"ABOR")
    def _abor(self) -> None:
        self.trip("ABORT", alarm=False)
