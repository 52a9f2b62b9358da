"""Where procedures put their record: runs, state transitions, results, alarms.

A procedure talks to a :class:`Recorder`, not to the database or MQTT. The database
recorder (``daq.storage``) writes each event and its MQTT outbox row in one
transaction, so that nothing recorded can miss the broker; the in-memory recorder
serves scripts and tests that run without a database.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from daq.bus import Bus
from daq.messages import Alarm, RunEvent

LIVE_STATES = frozenset({"CREATED", "RUNNING"})


def new_run_id(kind: str) -> str:
    """A globally unique, human-typable run id such as ``press-3f9a1c0b7e21``."""
    return f"{kind}-{secrets.token_hex(6)}"


@dataclass
class RunInfo:
    """What a run is when it starts."""

    run_id: str
    kind: str  # "press_cycle", "peel_test", "aging_run", "laser_job"
    instrument: str
    started_ts: float
    recipe: dict[str, Any] = field(default_factory=dict)
    operator: str | None = None
    sample_id: str | None = None
    #: Real epoch seconds of the start: runs are listed newest first by it, since
    #: simulated time jumps (a campaign is stamped weeks ahead).
    started_wall: float = field(default_factory=time.time)


class Recorder(Protocol):
    """The sink of a procedure's record. Every method is durable when it returns."""

    async def start_run(self, run: RunInfo) -> None:
        """Record that a run started."""

    async def event(self, event: RunEvent) -> None:
        """Record a transition, progress point or result of a run."""

    async def finish_run(
        self, run_id: str, ts: float, outcome: str, reason: str | None, summary: dict[str, Any]
    ) -> None:
        """Record that a run ended with ``outcome`` (DONE, ABORTED, FAULTED, …)."""

    async def alarm(self, alarm: Alarm) -> None:
        """Record an alarm."""

    async def settled(self, timeout_s: float | None = None) -> bool:
        """Wait until everything recorded so far is stored (False on timeout).

        For code that writes rows of its own referring to the run (a peel result, an
        aging run's accounting): a journalled recorder stores records a little later
        than it returns. Never call it where an instrument is waiting."""


class MemoryRecorder:
    """Keeps the record in memory and mirrors events and alarms onto a bus (if given)."""

    def __init__(self, bus: Bus | None = None) -> None:
        self.bus = bus
        self.runs: dict[str, RunInfo] = {}
        self.events: list[RunEvent] = []
        self.alarms: list[Alarm] = []
        self.outcomes: dict[str, tuple[str, str | None, dict[str, Any]]] = {}

    async def start_run(self, run: RunInfo) -> None:
        self.runs[run.run_id] = run

    async def event(self, event: RunEvent) -> None:
        self.events.append(event)
        if self.bus is not None:
            self.bus.publish(event)

    async def finish_run(
        self, run_id: str, ts: float, outcome: str, reason: str | None, summary: dict[str, Any]
    ) -> None:
        self.outcomes[run_id] = (outcome, reason, summary)

    async def alarm(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)
        if self.bus is not None:
            self.bus.publish(alarm)

    async def settled(self, timeout_s: float | None = None) -> bool:
        return True


# -- records as JSON (the journal's spill file carries them) -----------------------------

def run_info_body(run: RunInfo) -> dict[str, Any]:
    """A :class:`RunInfo` as a JSON-ready dict."""
    return {"run_id": run.run_id, "kind": run.kind, "instrument": run.instrument,
            "started_ts": run.started_ts, "recipe": run.recipe, "operator": run.operator,
            "sample_id": run.sample_id, "started_wall": run.started_wall}


def run_info_of(body: dict[str, Any]) -> RunInfo:
    """The :class:`RunInfo` of :func:`run_info_body`'s dict."""
    return RunInfo(body["run_id"], body["kind"], body["instrument"], float(body["started_ts"]),
                   dict(body.get("recipe") or {}), body.get("operator"), body.get("sample_id"),
                   float(body.get("started_wall") or time.time()))


def event_body(event: RunEvent) -> dict[str, Any]:
    """A :class:`RunEvent` as a JSON-ready dict."""
    return {"run_id": event.run_id, "ts": event.ts, "kind": event.kind, "data": event.data}


def event_of(body: dict[str, Any]) -> RunEvent:
    """The :class:`RunEvent` of :func:`event_body`'s dict."""
    return RunEvent(body["run_id"], float(body["ts"]), body["kind"], dict(body["data"]))


def alarm_body(alarm: Alarm) -> dict[str, Any]:
    """An :class:`Alarm` as a JSON-ready dict."""
    return {"ts": alarm.ts, "source": alarm.source, "severity": alarm.severity,
            "message": alarm.message, "run_id": alarm.run_id, "data": alarm.data}


def alarm_of(body: dict[str, Any]) -> Alarm:
    """The :class:`Alarm` of :func:`alarm_body`'s dict."""
    return Alarm(float(body["ts"]), body["source"], body["severity"], body["message"],
                 body.get("run_id"), dict(body.get("data") or {}))


@dataclass(frozen=True)
class JournalRecord:
    """One record on its way to the database: ``op`` names what ``body`` is."""

    seq: int
    id: str
    op: str
    body: dict[str, Any]
    #: Real (wall-clock) epoch seconds when it was appended; the journal's age uses it.
    appended_wall: float

    def to_line(self) -> bytes:
        """The record as one JSON line (what the spill file holds)."""
        return (
            json.dumps(
                {"seq": self.seq, "id": self.id, "op": self.op, "body": self.body,
                 "wall": self.appended_wall},
                separators=(",", ":"), allow_nan=False,
            ) + "\n"
        ).encode()

    @classmethod
    def from_line(cls, line: bytes) -> JournalRecord:
        """Parse one line of the spill file (``ValueError`` if it is not a record)."""
        raw = json.loads(line)
        if not isinstance(raw, dict) or not isinstance(raw.get("body"), dict):
            raise ValueError("not a journal record")
        return cls(int(raw["seq"]), str(raw["id"]), str(raw["op"]), raw["body"],
                   float(raw["wall"]))
