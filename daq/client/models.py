"""What a station answers, as pydantic models (unknown fields are ignored, so a newer
station still talks to an older client).

JSON the station passes through from a procedure (a run's summary, an event's data)
stays ``JsonValue``: typed as JSON, read by whoever knows that kind of run.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

JsonObject = dict[str, JsonValue]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Token(_Answer):
    """A bearer token from ``POST /api/auth/token``, its owner and expiry (wall epoch s)."""

    access_token: str
    username: str
    role: str
    expires_ts: float | None = None


class WhoAmI(_Answer):
    """The caller as the station sees them."""

    username: str
    role: str


class Health(_Answer):
    """``/health``: ``ok``, or ``degraded`` naming each part that is down or lagging."""

    status: str
    degraded: dict[str, str] = Field(default_factory=dict)


class RunStarted(_Answer):
    """A run the station started: its id and kind."""

    run_id: str
    kind: str
    status: str = "RUNNING"


class AbortReply(_Answer):
    """The answer to an abort: ``ABORTED`` (safe state reached) or ``ABORTING``."""

    run_id: str
    status: str
    detail: str


class RunRecord(_Answer):
    """A run as stored: what, when, who, how it ended, and the kind's summary."""

    id: str
    kind: str
    instrument: str
    status: str
    phase: str | None = None
    recipe: JsonObject | None = None
    summary: JsonObject | None = None
    reason: str | None = None
    operator: str | None = None
    sample_id: str | None = None
    station: str | None = None
    started_ts: float
    ended_ts: float | None = None
    readings_stored: int | None = None
    last_reading_ts: float | None = None

    @property
    def ended(self) -> bool:
        """True once the run is no longer RUNNING."""
        return self.status != "RUNNING"


class RunEventRecord(_Answer):
    """A stored transition, progress point, result or note of a run."""

    ts: float
    kind: str
    data: JsonObject | None = None


class RunDetail(RunRecord):
    """A run with its events, reading counts per channel, and whether it is live."""

    events: list[RunEventRecord] = Field(default_factory=list)
    channels: dict[str, int] = Field(default_factory=dict)
    live: bool = False


class RunList(_Answer):
    """A page of runs, newest first."""

    total: int
    items: list[RunRecord]


class StoredReading(_Answer):
    """One stored reading of one channel (``value`` None where it was not finite)."""

    ts: float
    instrument: str
    channel: str
    value: float | None
    unit: str
    replayed: bool = False


class ReadingPage(_Answer):
    """A page of a run's stored readings, oldest first."""

    total: int
    next_offset: int | None
    items: list[StoredReading]


class CampaignRecord(_Answer):
    """A campaign: status, sessions it took, and its reproduced table (a row per lot)."""

    id: str
    title: str
    status: str
    reason: str | None = None
    sessions: int
    started_ts: float
    ended_ts: float | None = None
    table: list[JsonObject] = Field(default_factory=list)


class ChannelValue(_Answer):
    """One channel's value and unit."""

    v: float | None
    unit: str


class InstrumentInfo(_Answer):
    """An instrument of the station: status, identity, latest values."""

    name: str
    station: str | None = None
    driver: str | None = None
    resource: str | None = None
    status: str
    idn: str | None = None
    last_seen_ts: float | None = None
    run_id: str | None = None
    values: dict[str, ChannelValue] = Field(default_factory=dict)
    #: What it is in truth: online, offline, fault, safe, tripped, door open, …
    state: str = "offline"
    #: Why, when not online.
    cause: str | None = None
    #: A latched press an operator may reset.
    resettable: bool = False


class PulloutRecord(_Answer):
    """Specimens taken out of an aging run's oven, at its hours in tolerance."""

    id: int
    run_id: str
    ts: float
    planned_h: float | None = None
    in_tolerance_h: float
    specimen_ids: list[str]
    operator: str | None = None


class ResetReply(_Answer):
    """A press after its reset: its state, door and alarms, and the alarms cleared."""

    name: str
    state: str
    door: str
    alarms: list[str]
    cleared_alarms: list[int]


# -- the live stream (WS /api/stream) ------------------------------------------------------
class StreamHello(_Answer):
    """The first message: who the station thinks we are, its clock and time scale."""

    type: Literal["hello"]
    user: str
    role: str
    ts: float
    time_scale: float


class StreamDropped(_Answer):
    """We fell behind: the station dropped this many messages for us so far."""

    type: Literal["dropped"]
    dropped: int


class StreamReading(_Answer):
    """A reading of an instrument (``run_id`` set while a run holds it)."""

    type: Literal["reading"]
    instrument: str
    ts: float
    run_id: str | None = None
    values: dict[str, ChannelValue]
    replayed: bool = False


class StreamEvent(_Answer):
    """A run's transition, progress, result or note."""

    type: Literal["event"]
    run_id: str
    ts: float
    kind: str
    data: JsonObject = Field(default_factory=dict)

    @property
    def is_end(self) -> bool:
        """True for the event that says the run's record is closed (its final status)."""
        return self.kind == "result" and "status" in self.data


class StreamAlarm(_Answer):
    """An alarm (interlock, excursion, fault)."""

    type: Literal["alarm"]
    ts: float
    source: str
    severity: str
    message: str
    run_id: str | None = None


class StreamStatus(_Answer):
    """An instrument's link state."""

    type: Literal["status"]
    instrument: str
    ts: float
    state: str
    detail: str = ""


StreamMessage = Annotated[
    StreamHello | StreamDropped | StreamReading | StreamEvent | StreamAlarm | StreamStatus,
    Field(discriminator="type"),
]
