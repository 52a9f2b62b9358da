"""Taking specimens out of an aging run's oven: the pull-out stored (each specimen PULLED
with the run's hours in tolerance) and then announced as the run's ``note`` event
(``what: pullout``), the same whoever does it — an operator through the API, the CLI
with no station, or a campaign's pull-out step."""

from __future__ import annotations

from daq.aging.store import PulloutResult, Sessions, record_pullout
from daq.messages import RunEvent
from daq.record import Recorder


async def pull_out(sessions: Sessions, recorder: Recorder, run_id: str | None,
                   specimen_ids: list[str] | None, ts: float, operator: str | None
                   ) -> PulloutResult:
    """Record the pull-out (:class:`~daq.aging.store.AgingError` when none is due or a
    named specimen is not in the oven), then its event on the run."""
    done = await record_pullout(sessions, run_id, specimen_ids, ts, operator)
    await recorder.event(RunEvent(done.run_id, ts, "note", {
        "what": "pullout", "specimens": done.specimen_ids,
        "in_tolerance_h": round(done.in_tolerance_h, 3), "planned_h": done.planned_h,
        "operator": operator}))
    return done
