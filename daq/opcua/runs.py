"""What the OPC UA ``Run`` object shows: the station's latest run, followed from its
events on the bus.

A run appears with its ``started`` note (kind, instrument) in state ``RUNNING``; each
transition sets its phase (``HEAT``, ``DWELL`` …); its stored result (``status``) sets
the state it ended in (``DONE``, ``ABORTED``, ``FAULTED`` …). Progress is a fraction
0..1 where the kind says how far it is: a ``fraction`` in its progress events (a laser
job), steps done of steps (a campaign), or, for a press cycle, the share of the recipe's
dwell served: counted on the run's readings from its ``DWELL`` transition, and set back to
what the procedure says (``dwell_min``) when a dwell pauses or resumes, so a pause stops it;
a run that ended ``DONE`` is at 1.
The latest run started is the one shown; it stays shown, ended, until another starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from daq.messages import Reading, RunEvent
from daq.storage.recorder import phase_of


@dataclass(frozen=True)
class RunView:
    """The run the ``Run`` object shows (all empty before the first run)."""

    run_id: str = ""
    kind: str = ""
    instrument: str = ""
    state: str = ""
    phase: str = ""
    progress: float = 0.0
    ts: float = 0.0


def _number(data: Mapping[str, object], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fraction(done: float | None, total: float | None) -> float | None:
    if done is None or total is None or total <= 0:
        return None
    return min(1.0, max(0.0, done / total))


class RunTracker:
    """Follows run events; :attr:`view` is the latest run as it stands now."""

    def __init__(self) -> None:
        self.view = RunView()
        #: The recipe dwell (min) of the run shown, where it has one (a press cycle).
        self._dwell_min: float | None = None
        #: Dwell served (s) up to ``_dwell_from`` (simulated ts); counting while not None.
        self._dwell_served_s = 0.0
        self._dwell_from: float | None = None

    def apply(self, event: RunEvent) -> bool:
        """Take one event in; True if the view changed."""
        before = self.view
        data = event.data
        if event.kind == "note" and data.get("event") == "started":
            recipe = data.get("recipe")
            self._dwell_min = (_number(recipe, "dwell_min")
                               if isinstance(recipe, Mapping) else None)
            self._dwell_served_s, self._dwell_from = 0.0, None
            self.view = RunView(event.run_id, str(data.get("run_kind") or ""),
                                str(data.get("instrument") or ""), "RUNNING", "", 0.0,
                                event.ts)
            return True
        if event.run_id != self.view.run_id:
            return False  # an older run's event (several live at once): the latest is shown
        view = replace(self.view, ts=event.ts)
        if event.kind == "transition":
            phase = phase_of(event)
            if phase:
                view = replace(view, phase=phase)
                self._dwell_from = event.ts if phase == "DWELL" else None
        elif event.kind == "result" and isinstance(data.get("status"), str):
            status = str(data["status"])
            view = replace(view, state=status, progress=1.0 if status == "DONE" else
                           view.progress)
        progress = self._progress(event)
        if progress is not None and view.state == "RUNNING":
            view = replace(view, progress=max(view.progress, progress))
        self.view = view
        return view != before

    def apply_reading(self, reading: Reading) -> bool:
        """A reading of the run shown counts its dwell on; True if the view changed."""
        if (reading.run_id != self.view.run_id or self._dwell_from is None
                or not self._dwell_min or self.view.state != "RUNNING"):
            return False
        served = self._dwell_served_s + max(0.0, reading.ts - self._dwell_from)
        progress = min(1.0, served / (self._dwell_min * 60.0))
        if progress <= self.view.progress:
            return False
        self.view = replace(self.view, progress=progress, ts=reading.ts)
        return True

    def _progress(self, event: RunEvent) -> float | None:
        data = event.data
        if event.kind == "progress":
            fraction = _number(data, "fraction")
            if fraction is not None:
                return min(1.0, max(0.0, fraction))
            return _fraction(_number(data, "steps_done"), _number(data, "steps"))
        served_min = _number(data, "dwell_min")
        if event.kind == "note" and self._dwell_min and served_min is not None:
            self._dwell_served_s = served_min * 60.0
            self._dwell_from = event.ts if data.get("note") == "dwell_resumed" else None
            return _fraction(served_min, self._dwell_min)
        return None
