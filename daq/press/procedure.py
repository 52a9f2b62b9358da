"""The press cycle: one lamination run as an explicit state machine.

PRECHECK → HEAT → PRESS → DWELL → COOL → RELEASE → DONE, or from anywhere → SAFE.

* PRECHECK refuses before anything moves: the press must identify itself, be in no
  tripped state, have its door closed and no alarm, and the recipe must lie inside the
  process window. It arms the press's watchdog, which every poll kicks: if this process
  dies, the press goes safe by itself.
* HEAT sets ramp and setpoint and waits until both platens are within tolerance.
* PRESS applies pressure and waits until it is within tolerance.
* DWELL accumulates time only while temperature (both platens) and pressure are all
  within tolerance, from the simulated timestamps of consecutive readings: an interval
  counts if the readings at both of its ends are in tolerance, otherwise it is paused
  time. The dwell resumes on its own when the values come back.
* COOL switches the heaters off and keeps the pressure on until both platens are at or
  below the unload temperature; RELEASE then releases the pressure.

Operator abort (:meth:`PressCycle.abort` or cancelling the task), an interlock (door,
alarm, e-stop, the press reporting SAFE/ESTOP), an instrument error, a garbled reply or
a lost link all end in SAFE: ``ABOR``, then heaters and pressure explicitly off,
reconnecting and retrying within a bounded time if the link is down. The press is
commanded first and the SAFE transition recorded after it (design.md, "Safety before
records"); in a station every record goes through the journal, so none of the cycle's
instrument timing waits on the database. The run ends
ABORTED (operator) or FAULTED (everything else) with the reason, and the summary says
whether the press was confirmed safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from daq.acquisition import InstrumentPoller, press_values
from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import Alarm, Reading, RunEvent, Value
from daq.press.record import CycleRecord, Outcome, Phase
from daq.press.safety import (
    SAFE_DEADLINE_S,
    CycleFault,
    InterlockTripped,
    PhaseTimeout,
    PrecheckRefused,
    PressStatus,
    drive_safe,
    interlock_problem,
)
from daq.recipes import PressRecipe, RecipeError, parse_recipe
from daq.record import Recorder, RunInfo, new_run_id
from drivers.errors import InstrumentError
from drivers.lamination_press import LaminationPress, PressState

log = logging.getLogger(__name__)

__all__ = [
    "CycleFault", "CycleResult", "InterlockTripped", "PhaseTimeout", "PrecheckRefused",
    "PressCycle", "PressStatus", "default_poll_interval_s",
]

#: Pressure (MPa) at or below which the press counts as released.
RELEASED_MPA = 0.05
#: Real seconds the press's watchdog waits for a command before it goes safe by itself.
DEFAULT_WATCHDOG_S = 3.0


def default_poll_interval_s(time_scale: float) -> float:
    """A real poll interval that gives a reading about every 30 simulated seconds, kept
    between 0.05 s (at high time scales) and 0.5 s (real time)."""
    return min(0.5, max(0.05, 30.0 / time_scale))


@dataclass
class CycleResult:
    """The end of a cycle: outcome, reason, summary (as recorded)."""

    run_id: str
    outcome: Outcome
    reason: str | None
    summary: dict[str, Any]


class PressCycle:
    """Runs one recipe on one press; cancel the task or call :meth:`abort` to abort."""

    def __init__(
        self,
        press: LaminationPress,
        recipe: PressRecipe,
        clock: SimClock,
        recorder: Recorder,
        bus: Bus,
        *,
        instrument: str = "press",
        poll_interval_s: float | None = None,
        poller: InstrumentPoller | None = None,
        operator: str | None = None,
        sample_id: str | None = None,
        watchdog_s: float = DEFAULT_WATCHDOG_S,
        safe_deadline_s: float = SAFE_DEADLINE_S,
        max_dwell_pause_min: float = 30.0,
    ) -> None:
        self.press = press
        self.recipe = recipe
        self.clock = clock
        self.recorder = recorder
        self.bus = bus
        self.instrument = instrument
        self.operator = operator
        self.sample_id = sample_id
        self.run_id = new_run_id("press")
        self.poll_interval_s = poll_interval_s or default_poll_interval_s(clock.scale)
        # The watchdog must outlast several polls, or a slow poll would trip the press.
        self.watchdog_s = max(watchdog_s, 4 * self.poll_interval_s)
        self.safe_deadline_s = safe_deadline_s
        self.max_dwell_pause_s = max_dwell_pause_min * 60.0
        self.record = CycleRecord(recipe)
        self.status: PressStatus | None = None
        self.identity: str | None = None
        self.last_reading: Reading | None = None
        self._own_poller = poller is None
        self.poller = poller or InstrumentPoller(
            instrument,
            self._poll,
            self.poll_interval_s,
            clock,
            bus,
            reconnect=press.reconnect,
        )
        self._work: asyncio.Task[None] | None = None
        self._abort_reason: str | None = None

    # -- what an operator sees -----------------------------------------------------------
    @property
    def phase(self) -> Phase:
        """The state the cycle is in now."""
        return self.record.phase

    def abort(self, reason: str = "operator abort") -> None:
        """Abort the cycle: the press goes safe and the run ends ABORTED."""
        if self._abort_reason is None:
            self._abort_reason = reason
        if self._work is not None and not self._work.done():
            self._work.cancel()

    # -- the run -------------------------------------------------------------------------
    async def run(self) -> CycleResult:
        """Run the cycle to its end and return the outcome (also recorded)."""
        await self.recorder.start_run(
            RunInfo(
                run_id=self.run_id,
                kind="press_cycle",
                instrument=self.instrument,
                started_ts=self.clock.now(),
                recipe=self.recipe.model_dump(),
                operator=self.operator,
                sample_id=self.sample_id,
            )
        )
        await self._enter(Phase.PRECHECK, "cycle started")
        outcome = Outcome.DONE
        reason: str | None = None
        outer_cancel = False
        refused = False
        self._work = asyncio.get_running_loop().create_task(self._sequence())
        if self._abort_reason is not None:  # abort() before the task existed
            self._work.cancel()
        try:
            await self._work
        except asyncio.CancelledError:
            task = asyncio.current_task()
            outer_cancel = task is not None and task.cancelling() > 0
            if outer_cancel:
                self._work.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.shield(self._work)
            outcome = Outcome.ABORTED
            reason = self._abort_reason or "operator abort (task cancelled)"
        except PrecheckRefused as exc:
            # Nothing was commanded: no ABOR, which would leave the press tripped (SAFE)
            # and refuse the next start until someone acknowledges it.
            outcome, reason, refused = Outcome.FAULTED, str(exc), True
        except CycleFault as exc:
            outcome, reason = Outcome.FAULTED, str(exc)
        except InstrumentError as exc:
            outcome, reason = Outcome.FAULTED, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug must still leave the press safe and the run closed
            log.exception("press cycle %s failed", self.run_id)
            outcome, reason = Outcome.FAULTED, f"internal error: {type(exc).__name__}: {exc}"
        try:
            if refused:
                await self._refuse(reason or "")
            elif outcome is not Outcome.DONE:
                await self._make_safe(outcome, reason or "")
        finally:
            if self._own_poller:
                await self.poller.stop()
            else:
                self.poller.detach_run(self.run_id)
            summary = await self._finish(outcome, reason)
        result = CycleResult(self.run_id, outcome, reason, summary)
        if outer_cancel:
            raise asyncio.CancelledError
        return result

    async def _sequence(self) -> None:
        await self._precheck()
        await self._heat()
        await self._press()
        await self._dwell()
        await self._cool()
        await self._release()
        with contextlib.suppress(InstrumentError):  # done already; the press is idle
            await self.press.arm_watchdog(0)
        await self._enter(Phase.DONE, "cycle complete")

    # -- phases --------------------------------------------------------------------------
    async def _precheck(self) -> None:
        try:
            recipe = parse_recipe(self.recipe.model_dump())
        except RecipeError as exc:
            raise PrecheckRefused(f"recipe refused: {exc}") from None
        self.identity = await self.press.identify()
        first = await self.press.measure_all()
        door_closed = await self.press.door_closed()
        alarms = await self.press.alarms()
        if first.state in (PressState.SAFE, PressState.ESTOP):
            raise PrecheckRefused(
                f"press is in {first.state} state (alarms: {', '.join(alarms) or 'none'}); "
                "find out why, then acknowledge it (`daq press reset`, *CLS) before starting"
            )
        if not door_closed:
            raise PrecheckRefused("press door is open; close it before starting")
        if alarms:
            raise PrecheckRefused(f"press has active alarms: {', '.join(alarms)}")
        await self.press.arm_watchdog(self.watchdog_s)
        self.status = PressStatus(first.state, door_closed, alarms)
        self.recipe = recipe
        self.poller.attach_run(self.run_id)
        self.poller.start()
        await self._next()

    async def _heat(self) -> None:
        r = self.recipe
        await self._enter(Phase.HEAT, f"heating to {r.temperature_c:g} °C")
        await self.press.set_ramp_rate_c_per_min(r.ramp_rate_c_per_min)
        await self.press.set_temperature_c(r.temperature_c)
        await self.press.set_heater(True)
        deadline = self.clock.now() + r.effective_heat_timeout_min() * 60.0
        while not self._temperature_ok(await self._next()):
            self._check_deadline(deadline, "platens did not reach the temperature setpoint",
                                 r.effective_heat_timeout_min())

    async def _press(self) -> None:
        r = self.recipe
        await self._enter(Phase.PRESS, f"pressing at {r.pressure_mpa:g} MPa")
        await self.press.set_pressure_mpa(r.pressure_mpa)
        await self.press.set_pressure_output(True)
        deadline = self.clock.now() + r.pressure_timeout_min * 60.0
        while not self._pressure_ok(await self._next()):
            self._check_deadline(deadline, "pressure did not reach the setpoint",
                                 r.pressure_timeout_min)

    async def _dwell(self) -> None:
        r = self.recipe
        await self._enter(Phase.DWELL, f"dwell {r.dwell_min:g} min inside tolerance")
        target_s = r.dwell_min * 60.0
        previous = self.last_reading
        previous_ok = previous is not None and self._in_tolerance(previous)
        paused_since: float | None = None if previous_ok else self.clock.now()
        while self.record.dwell_s < target_s:
            reading = await self._next()
            ok = self._in_tolerance(reading)
            if previous is not None:
                self.record.add_dwell_interval(previous, reading, ok and previous_ok)
            if ok != previous_ok:
                paused_since = None if ok else reading.ts
                await self._note("dwell_resumed" if ok else "dwell_paused", reading)
                if not ok:
                    await self.recorder.alarm(Alarm(
                        reading.ts, self.instrument, "warning",
                        f"dwell paused at {self.record.dwell_s / 60:.1f} min: "
                        f"{self._deviation(reading)} outside tolerance",
                        self.run_id, {"dwell_min": round(self.record.dwell_s / 60.0, 3)},
                    ))
            if paused_since is not None and reading.ts - paused_since > self.max_dwell_pause_s:
                raise CycleFault(
                    f"dwell paused for more than {self.max_dwell_pause_s / 60:g} min: "
                    f"{self._deviation(reading)}"
                )
            previous, previous_ok = reading, ok

    async def _cool(self) -> None:
        r = self.recipe
        await self._enter(Phase.COOL, f"cooling under pressure to {r.unload_temperature_c:g} °C")
        await self.press.set_heater(False)
        deadline = self.clock.now() + r.cool_timeout_min * 60.0
        while True:
            reading = await self._next()
            if max(_v(reading, "temp_top"), _v(reading, "temp_bottom")) <= r.unload_temperature_c:
                return
            self._check_deadline(deadline, "platens did not cool to the unload temperature",
                                 r.cool_timeout_min)

    async def _release(self) -> None:
        r = self.recipe
        await self._enter(Phase.RELEASE, "releasing pressure")
        await self.press.set_pressure_output(False)
        deadline = self.clock.now() + r.release_timeout_min * 60.0
        while _v(await self._next(), "pressure") > RELEASED_MPA:
            self._check_deadline(deadline, "pressure was not released", r.release_timeout_min)

    # -- readings and interlocks -----------------------------------------------------------
    async def _poll(self) -> dict[str, Value]:
        """One poll of the press: measurements, state, door, alarms (kicks the watchdog)."""
        reading = await self.press.measure_all()
        door_closed = await self.press.door_closed()
        alarms = await self.press.alarms()
        self.status = PressStatus(reading.state, door_closed, alarms)
        return press_values(reading)

    async def _next(self) -> Reading:
        """The next reading, after checking the press's interlocks."""
        timeout_s = self.poll_interval_s + 3 * self.press.transport.timeout + 1.0
        try:
            reading = await self.poller.next_reading(timeout_s)
        except TimeoutError:
            raise CycleFault(f"no reading from the press for {timeout_s:g} s") from None
        if not self._own_poller:
            # The station's poller reads only measurements: ask the interlock questions here.
            state = (await self.press.measure_all()).state
            door_closed = await self.press.door_closed()
            alarms = await self.press.alarms()
            self.status = PressStatus(state, door_closed, alarms)
        self.last_reading = reading
        self.record.observe(reading)
        if self._abort_reason is not None:
            # The abort's cancellation was lost in some library's await: honour it here.
            raise asyncio.CancelledError
        self._check_interlocks()
        return reading

    def _check_interlocks(self) -> None:
        if self.status is not None:
            problem = interlock_problem(self.status, self.phase)
            if problem is not None:
                raise InterlockTripped(problem)

    def _temperature_ok(self, reading: Reading) -> bool:
        r = self.recipe
        return all(
            abs(_v(reading, ch) - r.temperature_c) <= r.temperature_tolerance_c
            for ch in ("temp_top", "temp_bottom")
        )

    def _pressure_ok(self, reading: Reading) -> bool:
        r = self.recipe
        return abs(_v(reading, "pressure") - r.pressure_mpa) <= r.pressure_tolerance_mpa

    def _in_tolerance(self, reading: Reading) -> bool:
        return self._temperature_ok(reading) and self._pressure_ok(reading)

    def _deviation(self, reading: Reading) -> str:
        return (
            f"platens {_v(reading, 'temp_top'):.1f}/{_v(reading, 'temp_bottom'):.1f} °C, "
            f"pressure {_v(reading, 'pressure'):.2f} MPa"
        )

    def _check_deadline(self, deadline: float, what: str, minutes: float) -> None:
        if self.clock.now() > deadline:
            detail = self._deviation(self.last_reading) if self.last_reading else "no reading"
            raise PhaseTimeout(f"{what} within {minutes:g} min ({detail})")

    # -- record ------------------------------------------------------------------------------
    async def _enter(self, phase: Phase, reason: str, ts: float | None = None) -> None:
        now = self.clock.now() if ts is None else ts
        previous = self.record.enter(phase, now)
        data: dict[str, Any] = {"from": previous, "to": str(phase), "reason": reason}
        if self.last_reading is not None:
            data["readings"] = {k: v.v for k, v in self.last_reading.values.items()}
        await self.recorder.event(RunEvent(self.run_id, now, "transition", data))

    async def _note(self, what: str, reading: Reading) -> None:
        data = {
            "note": what,
            "dwell_min": round(self.record.dwell_s / 60.0, 3),
            "dwell_paused_min": round(self.record.dwell_paused_s / 60.0, 3),
            "readings": {k: v.v for k, v in reading.values.items()},
        }
        await self.recorder.event(RunEvent(self.run_id, reading.ts, "note", data))

    async def _make_safe(self, outcome: Outcome, reason: str) -> None:
        """SAFE: ABOR, then heaters and pressure off, confirmed by a reading — and only
        then the record of it, so that no record (database, broker) can delay the press."""
        commanded_ts = self.clock.now()
        confirmed, detail = await self._drive_safe()
        await self._enter(Phase.SAFE, reason, commanded_ts)
        self.record.safe_confirmed = confirmed
        severity: Any = "warning" if outcome is Outcome.ABORTED else "critical"
        message = f"press cycle {outcome}: {reason}"
        if not confirmed:
            severity = "critical"
            message += (
                f"; the press could NOT be confirmed safe ({detail}); its watchdog "
                f"({self.watchdog_s:g} s) is the last line"
            )
        await self.recorder.alarm(
            Alarm(self.clock.now(), self.instrument, severity, message, self.run_id,
                  {"outcome": str(outcome), "safe_confirmed": confirmed})
        )

    async def _refuse(self, reason: str) -> None:
        await self._enter(Phase.SAFE, reason)
        await self.recorder.alarm(
            Alarm(self.clock.now(), self.instrument, "warning",
                  f"press cycle refused at PRECHECK: {reason}", self.run_id,
                  {"outcome": str(Outcome.FAULTED), "refused": True})
        )

    async def _drive_safe(self) -> tuple[bool, str]:
        confirmed, detail = await drive_safe(self.press, self.safe_deadline_s)
        if not confirmed:
            log.error("press %s not confirmed safe: %s", self.instrument, detail)
        return confirmed, detail

    async def _finish(self, outcome: Outcome, reason: str | None) -> dict[str, Any]:
        if outcome is not Outcome.DONE and self.phase is not Phase.SAFE:
            await self._enter(Phase.SAFE, reason or str(outcome))
        summary = self.record.summary(outcome, reason)
        summary["identity"] = self.identity
        await self.recorder.event(RunEvent(self.run_id, self.clock.now(), "result", summary))
        await self.recorder.finish_run(self.run_id, self.clock.now(), str(outcome), reason,
                                       summary)
        return summary


def _v(reading: Reading, channel: str) -> float:
    return reading.values[channel].v
