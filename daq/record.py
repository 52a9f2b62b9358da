"""Where procedures put their record: runs, state transitions, results, alarms.

A procedure talks to a :class:`Recorder`, not to the database or MQTT. The database
recorder (``daq.storage``) writes each event and its MQTT outbox row in one
transaction, so that nothing recorded can miss the broker; the in-memory recorder
serves scripts and tests that run without a database.
"""

from __future__ import annotations

import secrets
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
