"""The laser drilling job: one run of the UV laser on one sample lot, as a state machine.

PRECHECK → ARM → DRILL → INSPECT → DONE, or from anywhere → SAFE.

* Parameters are validated when the job is built (:func:`daq.laser.params.validate`),
  before anything is sent to the laser. PRECHECK then checks the sample lot (on record,
  makes a film), identifies the laser, sets pulse rate and power and loads the job.
* ARM reads the key and the interlocks *immediately* before ``SHUT OPEN``; with the key
  off or any interlock open the shutter is never commanded open and the run ends
  FAULTED. The laser refusing to open (it checks too) ends it the same way.
* DRILL starts the job and polls, key and interlocks first, every poll: an interlock
  opening or the key going off closes the shutter from that same poll (the laser also
  closes it by itself). Each poll publishes a :class:`~daq.messages.Reading`; progress
  events (kind ``progress``) are recorded at every 10 % of the holes.
* On completion the shutter is closed, INSPECT fetches the inspection (all holes, or an
  even sample, see :mod:`daq.laser.grading`) and grades the job O / Δ / X.

Operator abort (cancel the task or :meth:`LaserJob.abort`), interlock, key, instrument
error, repeated garbled replies or a lost link end in SAFE: ``SHUT CLOSE`` first, then
``JOB:ABOR``, reconnecting and retrying for a bounded time when the link is down. The run
ends ABORTED (operator) or FAULTED (everything else); the job row says ``ABORTED`` with
the holes done and what stopped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from daq.bus import Bus
from daq.clock import SimClock
from daq.laser.grading import JobGrade, grade_job, inspection_indices
from daq.laser.params import LaserJobParams, validate
from daq.laser.store import LaserJobRecord, LaserJobStore, SampleInfo
from daq.messages import Alarm, Reading, RunEvent, Value
from daq.record import Recorder, RunInfo, new_run_id
from drivers.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentTimeout,
    ProtocolError,
)
from drivers.uv_laser import HoleResult, JobStatus, UvLaser

log = logging.getLogger(__name__)

#: Real seconds SAFE keeps trying (reconnecting) to close the shutter before it gives up.
SAFE_DEADLINE_S = 5.0
#: Consecutive garbled replies tolerated in DRILL before the job is stopped.
MAX_GARBLED_POLLS = 2


def default_poll_interval_s(time_scale: float) -> float:
    """Real seconds between polls: 0.2 s at real time, down to 5 ms at high time scales."""
    return min(0.2, max(0.005, 0.2 / time_scale))


class Phase(StrEnum):
    """States of a laser job (``runs.phase``)."""

    PRECHECK = "PRECHECK"
    ARM = "ARM"
    DRILL = "DRILL"
    INSPECT = "INSPECT"
    DONE = "DONE"
    SAFE = "SAFE"


class JobFault(Exception):
    """Why a job cannot go on; ``cause`` is what stopped it (``interlock``, ``key`` …)."""

    cause = "instrument"


class PrecheckRefused(JobFault):
    """The sample or the laser is not fit to start; the shutter was never opened."""

    cause = "precheck"


class InterlockOpen(JobFault):
    """An interlock is open (door, enclosure, chiller)."""

    cause = "interlock"


class KeyOff(JobFault):
    """The key switch is off."""

    cause = "key"


@dataclass
class LaserJobResult:
    """How a job ended."""

    run_id: str
    outcome: str  # DONE | ABORTED | FAULTED
    reason: str | None
    holes_done: int
    grade: JobGrade | None
    summary: dict[str, Any] = field(default_factory=dict)


class LaserJob:
    """Drills one job on one laser; cancel the task or call :meth:`abort` to abort."""

    def __init__(
        self,
        laser: UvLaser,
        params: LaserJobParams,
        clock: SimClock,
        recorder: Recorder,
        bus: Bus,
        *,
        store: LaserJobStore | None = None,
        sample: SampleInfo | None = None,
        instrument: str = "laser",
        operator: str | None = None,
        poll_interval_s: float | None = None,
        safe_deadline_s: float = SAFE_DEADLINE_S,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.params = validate(params)  # refuses before anything reaches the laser
        self.laser = laser
        self.clock = clock
        self.recorder = recorder
        self.bus = bus
        self.store = store
        self.sample = sample
        self.instrument = instrument
        self.operator = operator
        self.poll_interval_s = poll_interval_s or default_poll_interval_s(clock.scale)
        self.safe_deadline_s = safe_deadline_s
        self.on_progress = on_progress
        self.run_id = new_run_id("laser")
        self.phase = Phase.PRECHECK
        self.holes_done = 0
        self.identity: str | None = None
        self.shutter_confirmed_closed: bool | None = None
        self._stop_cause: str | None = None
        self._abort_reason: str | None = None
        self._work: asyncio.Task[None] | None = None
        self._started_ts = clock.now()
        self._holes: list[HoleResult] = []
        self._grade: JobGrade | None = None
        self._next_progress = 0.1
        self._laser_touched = False  # nothing was sent yet: SAFE has nothing to undo
        self._job_loaded = False

    def abort(self, reason: str = "operator abort") -> None:
        """Abort the job: the shutter closes and the run ends ABORTED."""
        if self._abort_reason is None:
            self._abort_reason = reason
        if self._work is not None and not self._work.done():
            self._work.cancel()

    # -- the run -------------------------------------------------------------------------
    async def run(self) -> LaserJobResult:
        """Run the job to its end and return the outcome (also recorded)."""
        self._started_ts = self.clock.now()
        await self.recorder.start_run(
            RunInfo(
                run_id=self.run_id,
                kind="laser_job",
                instrument=self.instrument,
                started_ts=self._started_ts,
                recipe=self.params.as_recipe(),
                operator=self.operator,
                sample_id=self.params.sample_id,
            )
        )
        await self._enter(Phase.PRECHECK, "job started")
        outcome, reason = "DONE", None
        outer_cancel = False
        self._work = asyncio.get_running_loop().create_task(self._sequence())
        if self._abort_reason is not None:
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
            outcome, reason = "ABORTED", self._abort_reason or "operator abort (task cancelled)"
            self._stop_cause = "operator"
        except JobFault as exc:
            outcome, reason, self._stop_cause = "FAULTED", str(exc), exc.cause
        except (InstrumentConnectionError, InstrumentTimeout) as exc:
            outcome, reason, self._stop_cause = "FAULTED", f"lost link: {exc}", "link"
        except InstrumentError as exc:
            outcome, reason = "FAULTED", f"{type(exc).__name__}: {exc}"
            self._stop_cause = "instrument"
        except Exception as exc:  # a bug must still close the shutter and the run
            log.exception("laser job %s failed", self.run_id)
            outcome, reason = "FAULTED", f"internal error: {type(exc).__name__}: {exc}"
            self._stop_cause = "internal"
        if outcome != "DONE":
            await self._make_safe(outcome, reason or "")
        summary = await self._finish(outcome, reason)
        result = LaserJobResult(self.run_id, outcome, reason, self.holes_done, self._grade, summary)
        if outer_cancel:
            raise asyncio.CancelledError
        return result

    async def _sequence(self) -> None:
        await self._precheck()
        await self._arm()
        await self._drill()
        await self._inspect()
        await self._enter(Phase.DONE, f"graded {self._grade.grade if self._grade else '-'}")

    # -- phases --------------------------------------------------------------------------
    async def _precheck(self) -> None:
        p = self.params
        if self.store is not None and self.sample is None:
            self.sample = await self.store.sample(p.sample_id)
            if self.sample is None:
                raise PrecheckRefused(f"sample {p.sample_id!r} is not on record")
        if self.sample is not None and not self.sample.film_forms:
            raise PrecheckRefused(
                f"sample {p.sample_id} ({self.sample.material_name}) makes no film: "
                "nothing to drill"
            )
        self._laser_touched = True
        self.identity = await self.laser.identify()
        if await self.laser.shutter_open():  # left open by someone: close before anything
            await self.laser.close_shutter()
        await self.laser.set_pulse_frequency_hz(p.pulse_frequency_hz)
        await self.laser.set_power_w(p.power_w)
        await self.laser.load_job(p.sample_id, p.n_holes, p.diameter_um, p.hole_rate_hz)
        self._job_loaded = True

    async def _arm(self) -> None:
        await self._enter(Phase.ARM, "checking key and interlocks before opening the shutter")
        await self._check_safety_chain()
        await self.laser.open_shutter()
        if not await self.laser.shutter_open():
            raise JobFault("the shutter did not open")

    async def _drill(self) -> None:
        await self._enter(Phase.DRILL, "shutter open, drilling")
        await self.laser.start_job()
        garbled = 0
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self._check_safety_chain()
                status = await self.laser.job_status()
                power_w = await self.laser.measure_power_w()
            except ProtocolError:
                garbled += 1
                if garbled > MAX_GARBLED_POLLS:
                    raise
                continue
            garbled = 0
            self._publish(status, power_w)
            await self._progress(status)
            if status.state == "DONE":
                break
            if status.state in ("FAULT", "ABORTED"):
                raise JobFault(f"the laser stopped the job ({status.state})")
            if status.state != "RUNNING":
                raise JobFault(f"the laser lost the job (state {status.state})")
        await self.laser.close_shutter()
        self.shutter_confirmed_closed = not await self.laser.shutter_open()

    async def _inspect(self) -> None:
        await self._enter(Phase.INSPECT, f"{self.holes_done} holes drilled, shutter closed")
        self._holes = await self._fetch_holes(self.holes_done)
        self._grade = grade_job(self._holes)

    async def _fetch_holes(self, holes_done: int) -> list[HoleResult]:
        return [await self.laser.hole_result(i) for i in inspection_indices(holes_done)]

    # -- safety ----------------------------------------------------------------------
    async def _check_safety_chain(self) -> None:
        """Key and interlocks; on trouble, close the shutter now, then raise."""
        key_on = await self.laser.key_on()
        interlocks = await self.laser.interlocks()
        if key_on and interlocks.all_clear:
            return
        if self.phase is Phase.DRILL:
            with contextlib.suppress(InstrumentError):  # SAFE retries if this fails
                await self.laser.close_shutter()
        if not interlocks.all_clear:
            names = ", ".join(interlocks.open_names())
            raise InterlockOpen(f"interlock open: {names} (phase {self.phase})")
        raise KeyOff(f"key switch off (phase {self.phase})")

    async def _make_safe(self, outcome: str, reason: str) -> None:
        """SAFE: shutter closed first, then the job aborted, reconnecting if needed."""
        drilling = self.phase in (Phase.ARM, Phase.DRILL)
        # The shutter first, the record after: no record may delay closing it.
        if not self._laser_touched:
            confirmed, detail = True, "nothing was sent to the laser"
        else:
            confirmed, detail = await self._drive_safe(drilling)
        await self._enter(Phase.SAFE, reason)
        self.shutter_confirmed_closed = confirmed
        severity: Any = "warning" if outcome == "ABORTED" else "critical"
        message = f"laser job {outcome}: {reason}"
        if not confirmed:
            severity = "critical"
            message += f"; the shutter could NOT be confirmed closed ({detail})"
        await self.recorder.alarm(
            Alarm(
                self.clock.now(),
                self.instrument,
                severity,
                message,
                self.run_id,
                {"outcome": outcome, "holes_done": self.holes_done, "shutter_closed": confirmed},
            )
        )

    async def _drive_safe(self, fetch_holes: bool) -> tuple[bool, str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.safe_deadline_s
        attempt = 0
        detail = ""
        while True:
            try:
                if attempt:
                    await self.laser.reconnect()
                await self.laser.close_shutter()
                if not await self.laser.shutter_open():
                    break
                detail = "the laser reports the shutter open after SHUT CLOSE"
            except InstrumentError as exc:
                detail = f"{type(exc).__name__}: {exc}"
            attempt += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.error("laser %s: shutter not confirmed closed: %s", self.instrument, detail)
                return False, detail
            await asyncio.sleep(min(0.05 * attempt, remaining))
        # The beam is off; the rest is bookkeeping and may fail without harm.
        try:
            await self.laser.abort_job()
            status = await self.laser.job_status()
            self.holes_done = max(self.holes_done, status.holes_done)
            if fetch_holes:
                self._holes = await self._fetch_holes(self.holes_done)
        except InstrumentError as exc:
            log.warning("laser %s: after closing the shutter: %s", self.instrument, exc)
        return True, "shutter closed"

    # -- record ----------------------------------------------------------------------
    def _publish(self, status: JobStatus, power_w: float) -> None:
        self.holes_done = status.holes_done
        values = {
            "holes_done": Value(float(status.holes_done), "holes"),
            "power": Value(power_w, "W"),
        }
        self.bus.publish(Reading(self.instrument, self.clock.now(), values, self.run_id))
        if self.on_progress is not None:
            self.on_progress(status.holes_done, self.params.n_holes)

    async def _progress(self, status: JobStatus) -> None:
        fraction = status.holes_done / self.params.n_holes
        if fraction + 1e-9 < self._next_progress and status.state == "RUNNING":
            return
        while self._next_progress <= fraction + 1e-9:
            self._next_progress += 0.1
        data = {
            "holes_done": status.holes_done,
            "n_holes": self.params.n_holes,
            "fraction": round(fraction, 4),
            "state": status.state,
        }
        await self.recorder.event(RunEvent(self.run_id, self.clock.now(), "progress", data))

    async def _enter(self, phase: Phase, reason: str) -> None:
        previous, self.phase = self.phase, phase
        data = {"from": str(previous), "to": str(phase), "reason": reason}
        await self.recorder.event(RunEvent(self.run_id, self.clock.now(), "transition", data))

    async def _finish(self, outcome: str, reason: str | None) -> dict[str, Any]:
        ended_ts = self.clock.now()
        p = self.params
        summary: dict[str, Any] = {
            "sample_id": p.sample_id,
            "job_state": "DONE" if outcome == "DONE" else "ABORTED",
            "stop_cause": self._stop_cause,
            "n_holes": p.n_holes,
            "holes_done": self.holes_done,
            "drilling_time_s": p.drilling_time_s,
            "shutter_closed": self.shutter_confirmed_closed,
            "identity": self.identity,
            "grade": self._grade.grade if self._grade else None,
        }
        if self._grade is not None:
            summary["inspection"] = self._grade.as_dict()
        if self.store is not None and self._job_loaded:
            summary["stored"] = await self._store(outcome, reason, ended_ts)
        await self.recorder.event(RunEvent(self.run_id, ended_ts, "result", summary))
        await self.recorder.finish_run(self.run_id, ended_ts, outcome, reason, summary)
        return summary

    async def _store(self, outcome: str, reason: str | None, ended_ts: float) -> bool:
        if self.store is None:
            return False
        record = LaserJobRecord(
            run_id=self.run_id,
            instrument=self.instrument,
            params=self.params,
            state="DONE" if outcome == "DONE" else "ABORTED",
            holes_done=self.holes_done,
            started_ts=self._started_ts,
            ended_ts=ended_ts,
            stop_cause=self._stop_cause,
            reason=reason,
            grade=self._grade,
            holes=self._holes,
        )
        try:
            await self.recorder.settled()  # the run row before its laser_jobs row
            await self.store.save(record)
        except Exception as exc:  # the run record still closes; say what was lost
            log.exception("laser job %s: could not store the job", self.run_id)
            await self.recorder.alarm(
                Alarm(
                    ended_ts,
                    self.instrument,
                    "critical",
                    f"laser job {self.run_id}: job and holes NOT stored: {exc}",
                    self.run_id,
                )
            )
            return False
        return True
