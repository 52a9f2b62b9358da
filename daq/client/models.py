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


# -- records a notebook reads (peel tests, aging runs, a campaign's Table 1) ---------------
class PeelResultRecord(_Answer):
    """The strength computed over the steady region of a peel curve (JIS C 6481)."""

    peel_strength_n_per_cm: float
    mean_force_n: float
    sd_force_n: float
    n_samples: int
    steady_start_mm: float
    steady_end_mm: float
    width_mm: float
    computed_ts: float


class PeelTestRecord(_Answer):
    """A peel test: specimen, conditions, how it ended, and every result computed for it
    (the latest last; ``peel_strength_n_per_cm`` is the latest's)."""

    id: str
    specimen_id: str | None = None
    specimen_label: str = ""
    sample_id: str | None = None
    laminate_id: str | None = None
    aging_hours: float | None = None
    instrument: str
    width_mm: float
    speed_mm_per_min: float
    angle_deg: float
    status: str
    reason: str | None = None
    started_ts: float
    ended_ts: float | None = None
    n_points: int
    peel_strength_n_per_cm: float | None = None
    results: list[PeelResultRecord] = Field(default_factory=list)

    @property
    def result(self) -> PeelResultRecord | None:
        """The latest result, None if none was computed (an aborted peel)."""
        return self.results[-1] if self.results else None


class PeelCurve(_Answer):
    """A peel test's force against travel as captured, every ``step``-th point."""

    id: str
    n_points: int
    step: int
    mm: list[float]
    force_n: list[float]


class ExcursionRecord(_Answer):
    """A period of an aging run out of tolerance: start, end (None while open), peak."""

    id: int
    start_ts: float
    end_ts: float | None = None
    peak_deviation_c: float
    peak_pv_c: float


class AgingRunRecord(_Answer):
    """An aging run (``/api/aging-runs/{id}``): its hour accounting in seconds, its
    excursions and pull-outs."""

    id: str
    oven: str
    status: str
    setpoint_c: float
    tolerance_c: float
    target_h: float
    started_ts: float
    accounted_until_ts: float
    in_tolerance_s: float
    out_of_tolerance_s: float
    unmonitored_s: float
    excursion_count: int
    last_pv_c: float | None = None
    completed_ts: float | None = None
    resumes: int = 0
    excursions: list[ExcursionRecord] = Field(default_factory=list)
    pullouts: list[PulloutRecord] = Field(default_factory=list)

    @property
    def in_tolerance_h(self) -> float:
        """Hours the oven held the setpoint within tolerance (what counts toward 1000 h)."""
        return self.in_tolerance_s / 3600.0

    @property
    def out_of_tolerance_h(self) -> float:
        """Hours out of tolerance (the excursions' total)."""
        return self.out_of_tolerance_s / 3600.0

    @property
    def unmonitored_h(self) -> float:
        """Hours nobody watched the oven (not back-filled from its log)."""
        return self.unmonitored_s / 3600.0


class Table1Specimen(_Answer):
    """One specimen's peel strength in a Table 1 cell, and the run that measured it."""

    specimen_id: str
    run_id: str
    peel_strength_n_per_cm: float | None = None
    aging_hours: float | None = None


class Table1Cell(_Answer):
    """One condition (as made, or aged) of one sample: mean, spread, the patent's value."""

    mean_n_per_cm: float | None = None
    sd_n_per_cm: float | None = None
    patent_n_per_cm: float | None = None
    diff_n_per_cm: float | None = None
    passed: bool | None = None
    specimens: list[Table1Specimen] = Field(default_factory=list)


class Table1Row(_Answer):
    """One sample of Table 1: what it is, its peel as made and aged, its laser grade."""

    lot: str
    label: str
    material: str
    adhesive_thickness_um: float
    no_film: bool
    note: str | None = None
    press_run_id: str | None = None
    as_made: Table1Cell
    aged: Table1Cell
    laser_run_id: str | None = None
    laser_grade: str | None = None
    patent_laser_grade: str | None = None
    grade_passed: bool | None = None


class CampaignProgress(_Answer):
    """A campaign's status and how many of its steps are done."""

    id: str
    title: str
    status: str
    reason: str | None = None
    started_ts: float
    ended_ts: float | None = None
    steps_done: int
    steps_total: int


class Table1Record(_Answer):
    """A campaign's Table 1 (``/api/campaigns/{id}/table1``), live while it runs."""

    campaign: CampaignProgress
    tolerance_n_per_cm: float
    aging_run_id: str | None = None
    rows: list[Table1Row]
