"""Simulated aging oven: slow thermal response, drift and noise, a door that lets the heat
out, alarms, and the oven's own recorded history served by ``LOG?``.

Wire protocol (serial line, ``\\n``-terminated, errors as ``ERR,<code>,<text>`` lines):

========================  ==========================================================
``ID?``                   ``LAMINA,AO-150,<serial>,<firmware>``
``SP <°C>``               set the setpoint (0–300 °C) → ``OK``
``SP?``                   setpoint, e.g. ``150.0``
``PV?``                   process value, e.g. ``149.87`` (``ERR,201,Sensor fault``)
``MODE RUN|OFF``          heater on or off → ``OK``; ``MODE?`` → ``RUN`` / ``OFF``
``ALM?``                  ``NONE`` or the active alarms: ``OVERTEMP``, ``SENSOR``
``DOOR?``                 ``OPEN`` or ``CLOSED``
``LOG? <from-epoch>``     rows recorded after ``from-epoch``, oldest first, at most
                          ``LOG_PAGE_ROWS`` of them: ``L,<epoch>,<pv>,<sp>,<door>,<alarm>``
                          … then ``END,<rows>,<more>`` (``more`` = 1 when more rows wait)
========================  ==========================================================

The oven records one log row every ``LOG_INTERVAL_S`` simulated seconds (on the minute),
whether or not anyone is connected. ``pv`` is empty in a row recorded during a sensor
fault; ``door`` is 1 when open; ``alarm`` is ``-`` or alarm names joined by ``+``. The
log keeps ``LOG_CAPACITY_ROWS`` rows (100 days). A client pages through history by asking
again from the last epoch it received.

Faults (``SIM:FAULT name[,arg]``): ``door[,<sim h>]`` (open the door; until cleared without
a duration), ``overtemp[,<sim h>]`` (the controller runs away above the setpoint),
``sensor[,<sim h>]`` (the thermocouple reads open), ``log_holes[,<sim h>]`` (the logger
loses its rows for that long, default 1 h, then records two rows out of order), and the
framework's ``drop``, ``stall``, ``garble``.

Physics is computed analytically between row boundaries (first-order response with a
piecewise-constant target), so 1000 simulated hours cost 60 000 small steps, not millions
of ticks.
"""

from __future__ import annotations

import math
import struct
import zlib
from bisect import bisect_right
from dataclasses import dataclass

from simulators.clock import Clock
from simulators.framework import CommandError, SimInstrument, command, number

LOG_INTERVAL_S = 60.0
LOG_PAGE_ROWS = 500
LOG_CAPACITY_ROWS = 144_000
AMBIENT_C = 23.0
SETPOINT_MIN_C = 0.0
SETPOINT_MAX_C = 300.0
#: Time constant of heating toward the setpoint (simulated seconds).
HEAT_TAU_S = 20 * 60.0
#: Time constant of cooling toward ambient with the heater off (door closed).
COOL_TAU_S = 90 * 60.0
#: Time constant with the door open: the heat leaves quickly.
DOOR_TAU_S = 6 * 60.0
#: How far above the setpoint a runaway controller drives the chamber.
OVERTEMP_RISE_C = 30.0
#: The oven's own over-temperature trip: this far above the setpoint.
OVERTEMP_ALARM_C = 15.0
DRIFT_C = 0.15
DRIFT_PERIOD_S = 6 * 3600.0
NOISE_C = 0.12

SENSOR_FAULT = CommandError(201, "Sensor fault")


@dataclass(frozen=True, slots=True)
class LogRow:
    """One row of the oven's history."""

    ts: float
    pv_c: float | None
    sp_c: float
    door_open: bool
    alarms: tuple[str, ...]

    def line(self) -> str:
        pv = "" if self.pv_c is None else f"{self.pv_c:.2f}"
        alarm = "+".join(self.alarms) if self.alarms else "-"
        return f"L,{self.ts:.0f},{pv},{self.sp_c:.1f},{int(self.door_open)},{alarm}"


def _noise(ts: float) -> float:
    """Deterministic noise in [-NOISE_C, NOISE_C] for a time (same reading when asked twice)."""
    h = zlib.crc32(struct.pack("<d", round(ts, 3)))
    return (h / 0xFFFFFFFF * 2.0 - 1.0) * NOISE_C


class OvenSim(SimInstrument):
    """A forced-convection aging oven with a controller, a door and a data logger."""

    error_style = "line"
    tick_s = 0.02

    def __init__(self, clock: Clock | None = None, serial: str = "AO150-0042") -> None:
        super().__init__(clock)
        self.serial = serial
        now = self.clock.now()
        self.setpoint_c = 150.0
        self.running = True
        self.chamber_c = self.setpoint_c  # an oven that has been running
        self.model_ts = now
        self.door_until: float | None = None  # sim epoch; inf = until cleared
        self.overtemp_until: float | None = None
        self.sensor_until: float | None = None
        self.holes_until: float | None = None
        self._swap_pending = False
        self._held: LogRow | None = None
        self.log: list[LogRow] = []
        self._log_max: list[float] = []  # running max of ts, for bisect over a log with swaps
        self._next_row_ts = math.floor(now / LOG_INTERVAL_S) * LOG_INTERVAL_S + LOG_INTERVAL_S

    # -- physics -----------------------------------------------------------------------
    @staticmethod
    def _active(until: float | None, ts: float) -> bool:
        return until is not None and ts < until

    def _target(self, ts: float) -> tuple[float, float]:
        """Where the chamber temperature heads at ``ts``, and how fast (tau)."""
        if self._active(self.door_until, ts):
            return AMBIENT_C, DOOR_TAU_S
        if not self.running:
            return AMBIENT_C, COOL_TAU_S
        if self._active(self.overtemp_until, ts):
            return self.setpoint_c + OVERTEMP_RISE_C, HEAT_TAU_S
        return self.setpoint_c, HEAT_TAU_S

    def _evolve(self, to_ts: float) -> None:
        """Move the chamber temperature to ``to_ts`` exactly, splitting where faults end."""
        while self.model_ts < to_ts:
            seg_end = to_ts
            for until in (self.door_until, self.overtemp_until):
                if until is not None and self.model_ts < until < seg_end:
                    seg_end = until
            target, tau = self._target(self.model_ts)
            dt = seg_end - self.model_ts
            self.chamber_c = target + (self.chamber_c - target) * math.exp(-dt / tau)
            self.model_ts = seg_end

    def _measured(self, ts: float) -> float:
        drift = DRIFT_C * math.sin(2 * math.pi * ts / DRIFT_PERIOD_S)
        return self.chamber_c + drift + _noise(ts)

    def _alarms(self, ts: float) -> tuple[str, ...]:
        found: list[str] = []
        if self.chamber_c > self.setpoint_c + OVERTEMP_ALARM_C:
            found.append("OVERTEMP")
        if self._active(self.sensor_until, ts):
            found.append("SENSOR")
        return tuple(found)

    def advance(self, dt: float) -> None:
        end = self.model_ts + dt
        while self._next_row_ts <= end:
            ts = self._next_row_ts
            self._evolve(ts)
            self._record(ts)
            self._next_row_ts = ts + LOG_INTERVAL_S
        self._evolve(end)
        self._trim_log()

    def _record(self, ts: float) -> None:
        sensor_ok = not self._active(self.sensor_until, ts)
        row = LogRow(
            ts=ts,
            pv_c=round(self._measured(ts), 2) if sensor_ok else None,
            sp_c=self.setpoint_c,
            door_open=self._active(self.door_until, ts),
            alarms=self._alarms(ts),
        )
        if self._active(self.holes_until, ts):
            self._swap_pending = True
            return  # the logger lost this row
        if self._swap_pending:
            # The first two rows after a hole are written in the wrong order.
            if self._held is None:
                self._held = row
                return
            self._append(row)
            self._append(self._held)
            self._held = None
            self._swap_pending = False
            return
        self._append(row)

    def _append(self, row: LogRow) -> None:
        running_max = max(row.ts, self._log_max[-1]) if self._log_max else row.ts
        self.log.append(row)
        self._log_max.append(running_max)

    def _trim_log(self) -> None:
        # Once per update, not per row: a long catch-up at a huge scale (a slow machine
        # left the oven alone for seconds) would otherwise shift 144 000 rows per new row
        # and fall further behind the faster it tried to catch up.
        if len(self.log) > LOG_CAPACITY_ROWS:
            cut = len(self.log) - LOG_CAPACITY_ROWS
            del self.log[:cut]
            del self._log_max[:cut]

    def reading(self, ts: float) -> LogRow:
        """What the controller shows at ``ts`` (after :meth:`update`), unrounded: the
        face other front ends (the Modbus controller of ``simulators.oven_modbus``) read."""
        sensor_ok = not self._active(self.sensor_until, ts)
        return LogRow(ts=ts, pv_c=self._measured(ts) if sensor_ok else None,
                      sp_c=self.setpoint_c, door_open=self._active(self.door_until, ts),
                      alarms=self._alarms(ts))

    # -- faults ---------------------------------------------------------------------------
    def _until(self, arg: str | None, default_h: float | None) -> float:
        # Anchored to the model's time (just brought up to date), so a fault lasts
        # exactly its simulated duration however long the update took at a huge scale.
        now = self.model_ts
        hours = float(arg) if arg else default_h
        return float("inf") if hours is None else now + hours * 3600.0

    def on_fault(self, name: str, arg: str | None) -> bool:
        self.update()
        if name == "door":
            self.door_until = self._until(arg, None)
        elif name == "overtemp":
            self.overtemp_until = self._until(arg, None)
        elif name == "sensor":
            self.sensor_until = self._until(arg, None)
        elif name == "log_holes":
            self.holes_until = self._until(arg, 1.0)
        else:
            return False
        return True

    def clear_faults(self) -> None:
        super().clear_faults()
        self.update()
        self.door_until = self.overtemp_until = self.sensor_until = self.holes_until = None

    # -- commands -------------------------------------------------------------------------
    @command(r"ID\?")
    def _id(self) -> str:
        return f"LAMINA,AO-150,{self.serial},1.2"

    @command(r"SP\s+(\S+)")
    def _set_sp(self, value: str) -> str:
        self.setpoint_c = number(value, SETPOINT_MIN_C, SETPOINT_MAX_C)
        return "OK"

    @command(r"SP\?")
    def _get_sp(self) -> str:
        return f"{self.setpoint_c:.1f}"

    @command(r"PV\?")
    def _pv(self) -> str:
        now = self.clock.now()
        if self._active(self.sensor_until, now):
            raise SENSOR_FAULT
        return f"{self._measured(now):.2f}"

    @command(r"MODE\s+(RUN|OFF)")
    def _mode(self, mode: str) -> str:
        self.running = mode.upper() == "RUN"
        return "OK"

    @command(r"MODE\?")
    def _get_mode(self) -> str:
        return "RUN" if self.running else "OFF"

    @command(r"ALM\?")
    def _alm(self) -> str:
        alarms = self._alarms(self.clock.now())
        return ",".join(alarms) if alarms else "NONE"

    @command(r"DOOR\?")
    def _door(self) -> str:
        return "OPEN" if self._active(self.door_until, self.clock.now()) else "CLOSED"

    @command(r"LOG\?\s+(\S+)")
    def _log_query(self, since: str) -> str:
        from_ts = number(since)
        start = bisect_right(self._log_max, from_ts)
        rows: list[str] = []
        i = start
        while i < len(self.log) and len(rows) < LOG_PAGE_ROWS:
            row = self.log[i]
            if row.ts > from_ts:
                rows.append(row.line())
            i += 1
        more = int(i < len(self.log))
        # A multi-line reply, written at once to the one client that asked.
        return "\n".join([*rows, f"END,{len(rows)},{more}"])
