"""The messages that travel on the in-process bus: readings, run events, alarms, statuses,
and the changes of an alarm's state and of a station's run queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

InstrumentState = Literal["online", "offline", "fault"]


@dataclass(frozen=True, slots=True)
class Value:
    """One measured value with its unit (``degC``, ``MPa``, ``N``, ``mm``, ``W`` …)."""

    v: float
    unit: str


@dataclass(frozen=True, slots=True)
class Reading:
    """All channels an instrument returned in one poll, stamped with simulated time."""

    instrument: str
    ts: float
    values: dict[str, Value]
    run_id: str | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class RunEvent:
    """A state transition or result of a run (persisted, published with QoS 1)."""

    run_id: str
    ts: float
    kind: str  # "transition", "result", "progress", "note"
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alarm:
    """Something an operator must see: interlock, excursion, fault (published with QoS 1)."""

    ts: float
    source: str
    severity: Literal["info", "warning", "critical"]
    message: str
    run_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstrumentStatus:
    """An instrument's link state (retained on MQTT)."""

    instrument: str
    ts: float
    state: InstrumentState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AlarmChanged:
    """An operator changed a stored alarm (acknowledged, shelved, unshelved, or cleared it
    by resetting its latch), after the change was stored. Live views re-read the alarms on
    it; MQTT gets the same change from the alarm's own outbox row."""

    alarm_id: int
    ts: float
    change: str
    state: str
    by: str


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """A station's run queue changed (an item added, moved, started or ended, the queue
    started or stopped), after the change was stored. Live views re-read the queue on it;
    MQTT gets the same change from the queue's own outbox row."""

    station: str
    ts: float
    change: str
    state: str


Message = Reading | RunEvent | Alarm | InstrumentStatus | AlarmChanged | QueueChanged
