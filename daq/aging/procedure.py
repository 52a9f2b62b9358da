"""AgingRun: hold specimens at the setpoint for the target in-tolerance hours, account
every hour, record excursions, announce pull-outs, and outlive the software.

The oven's own log (``LOG?``, one row a simulated minute) is the run's source of truth:
each cycle the run asks for the rows after the time it has accounted up to, feeds them
to the :class:`~daq.aging.accounting.Accountant` and checkpoints. A run that was away
(service restarted, link down) simply asks from its last checkpoint, so the gap is
back-filled from the oven's record; only what the oven did not record counts as
unmonitored.

An oven whose controller keeps no log (a Modbus PID controller: ``oven.history()`` is
None) is sampled live instead, every cycle, each sample standing for the interval since
the one before. What the station did not see — the time it was down before a resume, an
outage of the link, or samples further apart than ``LIVE_GAP_REAL_S`` of real time —
counts as unmonitored, and the run's record says so in an ``unmonitored_gap`` note
("oven keeps no log: 400.0–450.0 h unmonitored (…)").

Cancelling the task (service shutdown) checkpoints and leaves the run RUNNING, to be
resumed by :func:`resume_aging_runs`; :meth:`AgingRunner.abort` ends it ABORTED.
Alarms and events go through the :class:`~daq.record.Recorder` *before* the checkpoint
that records them is committed: after a crash they may be sent again, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from daq.aging.accounting import Accountant, AgingPlan, Excursion, Outcome
from daq.aging.store import (
    AgingError,
    Sessions,
    check_specimens,
    checkpoint,
    create_run,
    load_accountant,
    note_resume,
    running_ids,
)
from daq.bus import Bus
from daq.clock import SimClock, iso
from daq.messages import Alarm, Reading, RunEvent, Value
from daq.record import Recorder, RunInfo, new_run_id
from daq.storage.errors import StorageError
from drivers.aging_oven import OvenLogPage, OvenLogRow, OvenSensorFault
from drivers.errors import InstrumentError
from drivers.oven import Oven, OvenLog

log = logging.getLogger(__name__)

KIND = "aging_run"
#: Pages of log fetched per cycle at most (so a long back-fill checkpoints as it goes).
PAGES_PER_CYCLE = 20
#: Attempts at one log page damaged on the line before its good rows are used as they are.
PAGE_ATTEMPTS = 3
#: A cycle never waits less than this in real seconds (at huge time scales).
MIN_REAL_WAIT_S = 0.02
#: An oven without a log is sampled at least this often (a fraction of the plan's gap).
LIVE_SAMPLES_PER_GAP = 3
#: Live samples further apart than this in real seconds mean the station was not
#: watching (at huge time scales the plan's max_gap_s is shorter than one cycle). In
#: real time the plan's max_gap_s (150 s) rules; this only matters on a simulator's
#: fast clock, where it must stay above the event-loop stalls a loaded CI machine has
#: (scripts/stress runs the suite beside stress-ng), or those become spurious gaps.
LIVE_GAP_REAL_S = 3.0


@dataclass(frozen=True)
class Cadence:
    """How often the run polls the oven and checkpoints (simulated seconds)."""

    poll_s: float = 300.0
    checkpoint_s: float = 30 * 60.0
    progress_event_s: float = 24 * 3600.0


class AgingRun:
    """One aging run bound to its oven; :meth:`run` drives it to the end."""

    def __init__(self, run_id: str, oven_name: str, oven: Oven, acc: Accountant,
                 clock: SimClock, recorder: Recorder, sessions: Sessions, bus: Bus | None,
                 cadence: Cadence | None = None) -> None:
        self.run_id = run_id
        self.oven_name = oven_name
        self.oven = oven
        self.acc = acc
        self.clock = clock
        self.recorder = recorder
        self.sessions = sessions
        self.bus = bus
        self.cadence = cadence or Cadence()
        self._last_checkpoint_ts = acc.accounted_until_ts
        self._last_progress_ts = acc.accounted_until_ts
        self._link_trouble: str | None = None
        self._page_trouble = False
        #: True once completion is recorded (DONE in aging_runs and runs).
        self.finished = False
        #: False for a resumed run until the oven's setpoint was checked.
        self.setpoint_checked = True
        self._oven_alarms: set[str] = set()
        self.errors_seen = 0
        #: Why the interval up to the next live sample was not watched (no-log ovens).
        self._unwatched: str | None = None

    def note_away(self, why: str) -> None:
        """The station was not watching since the last accounted time (a resume): for an
        oven without a log, that interval is unmonitored."""
        self._unwatched = why

    def _poll_s(self) -> float:
        if self.oven.history() is None:
            return min(self.cadence.poll_s, self.acc.plan.max_gap_s / LIVE_SAMPLES_PER_GAP)
        return self.cadence.poll_s

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> Accountant:
        """Account until the target is reached; returns the final accountant."""
        try:
            while not self.finished:
                try:
                    if self.acc.completed:
                        await self._finish()  # its first attempt failed: again
                    else:
                        await self.cycle()
                except (SQLAlchemyError, StorageError, OSError) as exc:
                    # The database is away: keep accounting in memory, checkpoint later.
                    self.errors_seen += 1
                    log.warning("aging run %s: cannot record (%s); retrying", self.run_id, exc)
                if self.finished:
                    break
                wait_real = max(self.clock.to_real(self._poll_s()), MIN_REAL_WAIT_S)
                await asyncio.sleep(wait_real)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(checkpoint(self.sessions, self.run_id, self.acc))
            raise
        return self.acc

    async def cycle(self) -> None:
        """Fetch what the oven logged since the last accounted time and account it."""
        try:
            if not self.oven.is_connected:
                await self.oven.open()
            if not self.setpoint_checked:
                await self._check_setpoint()
            history = self.oven.history()
            if history is None:
                await self._sample()
                await self._link_ok()
                return
            for _ in range(PAGES_PER_CYCLE):
                page = await self._fetch_page(history)
                await self._account(page.rows)
                if self.acc.completed or not page.more or not page.rows:
                    break
            await self._link_ok()
        except InstrumentError as exc:
            await self._trouble(str(exc))
            with contextlib.suppress(InstrumentError):
                await self.oven.close()

    async def _check_setpoint(self) -> None:
        """After a resume: the oven must still hold the run's setpoint, heater on (a power
        cycle or a hand on the front panel may have changed it). Restored, and noted."""
        held = await self.oven.setpoint_c()
        wanted = self.acc.plan.setpoint_c
        if abs(held - wanted) > 0.05:
            await self.oven.set_setpoint_c(wanted)
            await self._event("note", {"what": "setpoint_restored", "found_c": held,
                                       "setpoint_c": wanted})
        await self.oven.set_running(True)
        self.setpoint_checked = True

    async def _sample(self) -> None:
        """One live sample of an oven without a log, accounted for the interval since the
        last; an interval the station did not watch is unmonitored, and noted."""
        ts = self.clock.now()
        pv: float | None
        try:
            pv = await self.oven.process_value_c()
        except OvenSensorFault:
            pv = None
        row = OvenLogRow(ts, pv, self.acc.plan.setpoint_c, False, await self.oven.alarms())
        since = self.acc.accounted_until_ts
        if ts <= since:
            return
        limit_s = max(self.acc.plan.max_gap_s, self.clock.to_sim(LIVE_GAP_REAL_S))
        why = self._unwatched
        if why is None and ts - since > limit_s:
            why = f"no sample for {(ts - since) / 3600:.2f} h"
        self._unwatched = None
        if why is None:
            await self._account([row], max_gap_s=limit_s)
            return
        self.acc.account_gap_until(ts)
        from_h = (since - self.acc.started_ts) / 3600
        to_h = (ts - self.acc.started_ts) / 3600
        await self._event("note", {
            "what": "unmonitored_gap", "from_ts": since, "to_ts": ts,
            "hours": (ts - since) / 3600, "reason": why,
            "message": (f"oven keeps no log: gap {from_h:.1f}–{to_h:.1f} h unmonitored "
                        f"({why})")})
        await self._oven_alarm_check([row])
        await self._checkpoint()

    async def _fetch_page(self, history: OvenLog) -> OvenLogPage:
        """One page of the oven's log, asked again while rows were garbled or lost on
        the line; after PAGE_ATTEMPTS the rows that did arrive are used (what is missing
        becomes unmonitored, never guessed)."""
        page = await history.log_page(self.acc.accounted_until_ts)
        for _ in range(PAGE_ATTEMPTS - 1):
            if page.intact:
                self._page_trouble = False
                break
            self.errors_seen += 1
            if not self._page_trouble:  # one note per episode, not one per page
                self._page_trouble = True
                await self._event("note", {"what": "oven_log_damaged", "error": (
                    f"{len(page.rejected)} unreadable line(s), {len(page.rows)} of "
                    f"{page.declared} rows arrived"), "example": page.rejected[:1]})
            page = await history.log_page(self.acc.accounted_until_ts)
        return page

    async def _account(self, rows: list[OvenLogRow], max_gap_s: float | None = None) -> None:
        if not rows:
            return
        outcome = self.acc.feed([(r.ts, r.pv_c) for r in rows], max_gap_s)
        await self._oven_alarm_check(rows)
        last = rows[-1]
        if self.bus is not None and last.pv_c is not None:
            self.bus.publish(Reading(self.oven_name, last.ts, {
                "pv": Value(last.pv_c, "degC"), "sp": Value(last.sp_c, "degC")}, self.run_id))
        if outcome.rows_out_of_order:
            await self._event("note", {"what": "log_rows_out_of_order",
                                       "rows": outcome.rows_out_of_order})
        if outcome.significant:
            await self._announce(outcome)
            await self._checkpoint(outcome)
        elif self.acc.accounted_until_ts - self._last_checkpoint_ts >= self.cadence.checkpoint_s:
            await self._checkpoint()
        if self.acc.accounted_until_ts - self._last_progress_ts >= self.cadence.progress_event_s:
            self._last_progress_ts = self.acc.accounted_until_ts
            await self._event("progress", self.totals())
        if outcome.completed:
            await self._finish()

    # -- announcements ---------------------------------------------------------------------
    async def _announce(self, outcome: Outcome) -> None:
        for exc in outcome.opened:
            await self._event("note", {"what": "excursion_started", **_excursion(exc)})
        for exc in outcome.alarm_due:
            minutes = self.acc.plan.alarm_after_s / 60
            await self.recorder.alarm(Alarm(
                ts=exc.last_out_ts, source=self.oven_name, severity="warning",
                message=(f"aging oven out of tolerance for more than {minutes:g} min "
                         f"(since {iso(exc.start_ts)}, peak {exc.peak_deviation_c:+.1f} °C)"),
                run_id=self.run_id, data={"kind": "aging_excursion", **_excursion(exc)}))
        for exc in outcome.closed:
            await self._event("note", {"what": "excursion_ended", **_excursion(exc)})
        for planned in outcome.pullouts_due:
            await self._event("progress", {"what": "pullout_due", "planned_h": planned,
                                           **self.totals()})

    async def _oven_alarm_check(self, rows: list[OvenLogRow]) -> None:
        for row in rows:
            for name in row.alarms:
                if name not in self._oven_alarms:
                    self._oven_alarms.add(name)
                    await self.recorder.alarm(Alarm(
                        ts=row.ts, source=self.oven_name,
                        severity="critical" if name == "OVERTEMP" else "warning",
                        message=f"aging oven reports alarm {name}", run_id=self.run_id,
                        data={"kind": "oven_alarm", "alarm": name}))
            # An alarm that clears and comes back is a new episode, announced again.
            self._oven_alarms &= set(row.alarms)

    async def _trouble(self, message: str) -> None:
        self.errors_seen += 1
        self._unwatched = f"oven link trouble: {message}"  # for an oven without a log
        if self._link_trouble is None:  # one note per outage, not one per attempt
            log.warning("aging run %s: %s", self.run_id, message)
            await self._event("note", {"what": "oven_trouble", "error": message})
            self._link_trouble = message

    async def _link_ok(self) -> None:
        if self._link_trouble is not None:
            self._link_trouble = None
            await self._event("note", {"what": "oven_link_restored"})

    async def _event(self, kind: str, data: dict[str, Any]) -> None:
        ts = self.acc.accounted_until_ts
        await self.recorder.event(RunEvent(self.run_id, ts, kind, data))

    async def _checkpoint(self, outcome: Outcome | None = None, status: str | None = None
                          ) -> None:
        await checkpoint(self.sessions, self.run_id, self.acc, outcome, status)
        self._last_checkpoint_ts = self.acc.accounted_until_ts

    async def _finish(self) -> None:
        await self._checkpoint(status="DONE")
        ts = self.acc.completed_ts or self.acc.accounted_until_ts
        await self.recorder.event(RunEvent(self.run_id, ts, "transition", {"to": "DONE"}))
        await self.recorder.finish_run(self.run_id, ts, "DONE", None, self.totals())
        self.finished = True

    def totals(self) -> dict[str, Any]:
        """The run's hours and counts (for events, the summary and the CLI)."""
        data: dict[str, Any] = {k: round(v, 4) for k, v in self.acc.totals().items()}
        data["excursions"] = self.acc.excursion_count
        data["next_pullout_h"] = self.acc.next_pullout_h()
        data["rows_out_of_order"] = self.acc.rows_out_of_order
        return data


def _excursion(exc: Excursion) -> dict[str, Any]:
    return {"start_ts": exc.start_ts, "end_ts": exc.end_ts, "duration_h": exc.duration_s / 3600,
            "peak_deviation_c": round(exc.peak_deviation_c, 2)}


OvenSource = Mapping[str, Oven] | Callable[[str, str], Oven]


class AgingRunner:
    """Starts, resumes and aborts aging runs as tasks (the service and the CLI use it).

    ``ovens`` maps an oven name to its driver, or is a callable ``(name, resource)`` →
    driver for runs whose oven the caller does not hold yet.
    """

    def __init__(self, *, ovens: OvenSource, clock: SimClock, recorder: Recorder,
                 sessions: Sessions, bus: Bus | None = None, cadence: Cadence | None = None
                 ) -> None:
        self.ovens = ovens
        self.clock = clock
        self.recorder = recorder
        self.sessions = sessions
        self.bus = bus
        self.cadence = cadence or Cadence()
        self.tasks: dict[str, asyncio.Task[Accountant]] = {}
        self.runs: dict[str, AgingRun] = {}

    def _oven(self, name: str, resource: str) -> Oven:
        if callable(self.ovens):
            return self.ovens(name, resource)
        if name not in self.ovens:
            raise AgingError(f"no oven named {name!r} (known: {', '.join(self.ovens)})")
        return self.ovens[name]

    async def start(self, plan: AgingPlan, specimen_ids: list[str], *, oven_name: str = "oven1",
                    resource: str = "", operator: str | None = None) -> str:
        """Check the specimens, set the oven to the setpoint, record the run, start it."""
        await check_specimens(self.sessions, specimen_ids)
        oven = self._oven(oven_name, resource)
        if not oven.is_connected:
            await oven.open()
        idn = await oven.identify()
        await oven.set_setpoint_c(plan.setpoint_c)
        await oven.set_running(True)
        run_id = new_run_id("aging")
        started = self.clock.now()
        await self.recorder.start_run(RunInfo(
            run_id=run_id, kind=KIND, instrument=oven_name, started_ts=started,
            recipe={**plan.to_json(), "specimens": specimen_ids, "oven_idn": idn},
            operator=operator))
        await self.recorder.settled()  # the run row before its aging_runs row
        await create_run(self.sessions, run_id, oven_name, resource or oven.resource, plan,
                         specimen_ids, started)
        await self.recorder.event(RunEvent(run_id, started, "transition",
                                           {"to": "RUNNING", "specimens": specimen_ids}))
        self._launch(run_id, oven_name, oven, Accountant(plan=plan, started_ts=started))
        return run_id

    async def resume(self, run_id: str) -> AgingRun:
        """Resume one RUNNING run from its last checkpoint."""
        row, acc = await load_accountant(self.sessions, run_id)
        if row.status != "RUNNING":
            raise AgingError(f"aging run {run_id} is {row.status}, not RUNNING")
        oven = self._oven(row.oven, row.resource)
        count = await note_resume(self.sessions, run_id)
        await self.recorder.event(RunEvent(run_id, acc.accounted_until_ts, "note", {
            "what": "resumed", "resumes": count, "from_ts": acc.accounted_until_ts,
            "now_ts": self.clock.now()}))
        run = self._launch(run_id, row.oven, oven, acc)
        run.setpoint_checked = False
        run.note_away(f"the station was not running from {iso(acc.accounted_until_ts)}")
        return run

    async def resume_all(self) -> list[str]:
        """Resume every RUNNING aging run; returns their ids."""
        resumed = []
        for run_id in await running_ids(self.sessions):
            if run_id not in self.tasks:
                await self.resume(run_id)
                resumed.append(run_id)
        return resumed

    def _launch(self, run_id: str, oven_name: str, oven: Oven, acc: Accountant
                ) -> AgingRun:
        run = AgingRun(run_id, oven_name, oven, acc, self.clock, self.recorder, self.sessions,
                       self.bus, self.cadence)
        self.runs[run_id] = run
        self.tasks[run_id] = asyncio.get_running_loop().create_task(
            run.run(), name=f"aging-{run_id}")
        return run

    async def wait(self, run_id: str) -> Accountant:
        """Wait for a run to complete."""
        return await self.tasks[run_id]

    async def abort(self, run_id: str, operator: str | None = None,
                    reason: str = "aborted by operator") -> None:
        """End a run ABORTED (the specimens stay where they are)."""
        task = self.tasks.pop(run_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        _, acc = await load_accountant(self.sessions, run_id)
        run = self.runs.pop(run_id, None)
        if run is not None:
            acc = run.acc
        await checkpoint(self.sessions, run_id, acc, status="ABORTED")
        ts = self.clock.now()
        await self.recorder.event(RunEvent(run_id, ts, "transition",
                                           {"to": "ABORTED", "operator": operator}))
        await self.recorder.finish_run(run_id, ts, "ABORTED", reason, acc.totals())

    async def stop(self) -> None:
        """Stop every task (service shutdown): runs checkpoint and stay RUNNING."""
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()


async def resume_aging_runs(*, ovens: OvenSource, clock: SimClock, recorder: Recorder,
                            sessions: Sessions, bus: Bus | None = None,
                            cadence: Cadence | None = None) -> AgingRunner:
    """Resume every RUNNING aging run (service start-up); returns the runner holding them."""
    runner = AgingRunner(ovens=ovens, clock=clock, recorder=recorder, sessions=sessions,
                         bus=bus, cadence=cadence)
    await runner.resume_all()
    return runner
