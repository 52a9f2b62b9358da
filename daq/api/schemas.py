"""Request and response bodies of the API (pydantic), shared by the routers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from daq.materials import CATALOGUE
from daq.recipes import WINDOWS, PressRecipe


class LoginRequest(BaseModel):
    """Name and password, exchanged for a bearer token."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    """A bearer token, its owner's role and its expiry (wall-clock epoch seconds)."""

    access_token: str
    token_type: str = "bearer"
    username: str
    role: str
    expires_ts: float | None


class WhoAmI(BaseModel):
    """The caller as the API sees them."""

    username: str
    role: str


class UserIn(BaseModel):
    """A new user (password generated when not given)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: str = Field(default="viewer", pattern=r"^(viewer|operator|admin)$")
    password: str | None = Field(default=None, min_length=8, max_length=256)


class UserOut(BaseModel):
    """A user without secrets."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    role: str
    created_ts: float
    disabled: bool


class UserCreated(UserOut):
    """A created user and, once, their password."""

    password: str


class RolePatch(BaseModel):
    """A change of role or of the disabled flag."""

    role: str | None = Field(default=None, pattern=r"^(viewer|operator|admin)$")
    disabled: bool | None = None


class WindowOut(BaseModel):
    """The allowed range of one recipe field."""

    label: str
    low: float
    high: float
    unit: str


class RecipeOut(BaseModel):
    """A stored recipe."""

    name: str
    recipe: PressRecipe
    description: str
    created_ts: float | None = None
    updated_ts: float | None = None
    created_by: str | None = None
    builtin: bool = False


class PressCycleRequest(BaseModel):
    """Start a press cycle from a stored recipe (by name) or from recipe values."""

    model_config = ConfigDict(extra="forbid")

    recipe_name: str | None = Field(
        default=None, description="a stored recipe; 'default' is the patent's 200 °C/3 MPa/20 min"
    )
    recipe: PressRecipe | None = Field(
        default=None, description="recipe values (override recipe_name when both are given)"
    )
    sample_id: str | None = Field(default=None, max_length=64)


class RunStarted(BaseModel):
    """A run that was started."""

    run_id: str
    kind: str
    status: str = "RUNNING"


class AbortIn(BaseModel):
    """Why a client aborts a run (optional; added to the run's reason)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


class AbortOut(BaseModel):
    """The answer to an abort request."""

    run_id: str
    status: str
    detail: str


class RunOut(BaseModel):
    """One run: what, when, who, how it ended."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    instrument: str
    status: str
    phase: str | None
    recipe: dict[str, Any] | None
    summary: dict[str, Any] | None
    reason: str | None
    operator: str | None
    sample_id: str | None
    station: str | None
    started_ts: float
    started_wall: float | None = Field(
        default=None, description="real epoch seconds of the start (None: stored before it "
                                  "was kept)")
    ended_ts: float | None
    readings_stored: int | None
    last_reading_ts: float | None


class RunEventOut(BaseModel):
    """A transition, progress point, result or note of a run."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: float
    kind: str
    data: dict[str, Any] | None


class RunDetail(RunOut):
    """A run with its events and reading counts per channel."""

    events: list[RunEventOut]
    channels: dict[str, int]
    live: bool


class Page(BaseModel):
    """Paging facts of a list answer."""

    total: int
    limit: int
    offset: int
    next_offset: int | None


class RunList(Page):
    """A page of runs, newest first by wall-clock start."""

    items: list[RunOut]


class ReadingOut(BaseModel):
    """One stored reading (one channel of one poll)."""

    ts: float
    instrument: str
    channel: str
    value: float | None = Field(description="null for a stored NaN/inf")
    unit: str
    replayed: bool


class ReadingPage(Page):
    """A page of readings of a run, oldest first."""

    run_id: str
    items: list[ReadingOut]


class JournalOut(BaseModel):
    """The journal between procedures and the database, at a glance."""

    depth: int = Field(description="records not yet in the database")
    spilling: bool = Field(description="records are spilling to the journal file")
    oldest_age_s: float = Field(description="real seconds the oldest record has waited")


class HealthOut(BaseModel):
    """``GET /health``: is the service up, and each part that is not ok, with why."""

    status: str = Field(description="ok, or degraded when any part is down or lagging")
    degraded: dict[str, str] = Field(description="each part that is not ok → why")
    mqtt: str = Field(description="the broker link: connected, connecting, disconnected")
    database: str = Field(description="ok, or down: <why> (probed at most once a second)")
    journal: JournalOut
    station: str
    ts: float = Field(description="the station clock (epoch seconds, simulated time)")
    time: str = Field(description="the station clock as UTC ISO-8601")
    time_scale: float = Field(description="simulated seconds per real second")
    instruments: dict[str, str] = Field(description="instrument → link status")
    active_runs: list[str]


class InstrumentOut(BaseModel):
    """An instrument: link state, identity and the latest values; ``station`` is the
    station that controls it (another station's instruments are listed read-only)."""

    name: str
    station: str | None = None
    driver: str | None = None
    resource: str | None = None
    status: str
    idn: str | None = None
    last_seen_ts: float | None = None
    run_id: str | None = None
    values: dict[str, dict[str, Any]] = Field(default_factory=dict)
    state: str = Field(default="offline", description=(
        "what the instrument is in truth: online, offline, fault, safe (latched until a "
        "reset), tripped (e-stop), door open, interlock open"))
    cause: str | None = Field(default=None, description="why, when not online")
    resettable: bool = Field(default=False, description="a latched press an operator may "
                             "reset (POST /api/instruments/{name}/reset)")


class ResetOut(BaseModel):
    """The press after a reset: its state, door and alarms, and the alarms cleared."""

    name: str
    state: str
    door: str
    alarms: list[str]
    cleared_alarms: list[int]


class AlarmOut(BaseModel):
    """An alarm and its ISA-18.2 state (UNACK, ACKED, RTN_UNACK, NORMAL, SHELVED)."""

    id: int
    ts: float
    source: str
    severity: str
    message: str
    run_id: str | None
    station: str | None
    data: dict[str, Any]
    state: str
    active: bool
    latching: bool
    cleared_ts: float | None
    cleared_by: str | None
    acked_ts: float | None
    acked_by: str | None
    shelved_until_wall: float | None
    shelved_by: str | None
    shelve_reason: str | None


class ShelveIn(BaseModel):
    """Shelve an alarm: why, and for how long (real minutes)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500, description="why it is set aside")
    minutes: float = Field(gt=0.0, le=7 * 24 * 60, description="how long, real minutes "
                           "(at most a week)")


class SampleOut(BaseModel):
    """A lot of adhesive film."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    material_key: str
    material_name: str
    adhesive_thickness_um: float
    film_forms: bool
    note: str | None
    created_ts: float


class SpecimenOut(BaseModel):
    """A peel specimen and its state."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    laminate_id: str | None
    sample_id: str
    width_mm: float
    aging_hours: float
    aging_run_id: str | None
    state: str
    created_ts: float


class LaminateOut(BaseModel):
    """A laminate pressed from a sample."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    sample_id: str
    press_run_id: str | None
    created_ts: float


class SampleDetail(SampleOut):
    """A sample with its laminates and specimens."""

    laminates: list[LaminateOut]
    specimens: list[SpecimenOut]


class AuditOut(BaseModel):
    """One audit row."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: float
    wall_ts: float
    user: str | None
    action: str
    target: str | None
    from_state: str | None
    detail: dict[str, Any] | None
    result: str


class ErrorOut(BaseModel):
    """An error answer: what went wrong, in words."""

    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes a route can answer."""
    words = {
        401: "not logged in (missing, unknown, expired or revoked token)",
        403: "logged in, but the role is too low",
        404: "no such resource",
        409: "conflicts with the current state (busy, not live, read-only)",
        413: "request body over the size limit",
        429: "too many attempts; wait as many seconds as Retry-After says",
    }
    return {code: {"model": ErrorOut, "description": words[code]} for code in codes}


_RECORD_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class SampleIn(BaseModel):
    """Register a sample lot: its id, material (catalogue key) and adhesive thickness."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_RECORD_ID, description="the lot id, e.g. EX1-2026-001")
    material_key: str = Field(
        json_schema_extra={"enum": list(CATALOGUE)},
        description="the material: " + ", ".join(CATALOGUE))
    adhesive_thickness_um: float | None = Field(
        default=None, ge=0.0, le=100.0,
        description="adhesive thickness, µm (default: the material's own)")
    note: str | None = Field(default=None, max_length=500)

    @field_validator("material_key")
    @classmethod
    def _known_material(cls, value: str) -> str:
        key = value.strip().upper()
        if key not in CATALOGUE:
            raise ValueError(f"unknown material {value!r}; known: {', '.join(CATALOGUE)}")
        return key


class LaminateIn(BaseModel):
    """Register a laminate pressed from a sample (optionally by a press run on record)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_RECORD_ID, description="the laminate id")
    sample_id: str = Field(min_length=1, max_length=64, description="a sample on record")
    press_run_id: str | None = Field(default=None, min_length=1, max_length=64,
                                     description="the press run that made it")


class SpecimenIn(BaseModel):
    """Register a peel specimen cut from a laminate or, without one, from a sample."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_RECORD_ID, description="the specimen id, e.g. EX1-2026-001-A1")
    laminate_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="the laminate it was cut from")
    sample_id: str | None = Field(default=None, min_length=1, max_length=64,
                                  description="its sample (needed without a laminate)")
    width_mm: float = Field(default=3.0, ge=0.5, le=25.0, description="strip width, mm")
    aging_hours: float = Field(default=0.0, ge=0.0, le=100_000.0,
                               description="hours at 150 °C it has already had (0: as made)")


class RunKindOut(BaseModel):
    """A kind of run the station starts, and the JSON schema of its parameters."""

    kind: str
    description: str
    resumable: bool
    params_schema: dict[str, Any]


class ActiveRunOut(BaseModel):
    """A run live in this station: what, where, who, since when, in which phase."""

    run_id: str
    kind: str
    instruments: list[str]
    operator: str | None
    source: str
    parent: str | None
    started_wall: float
    started_ts: float
    phase: str | None


def declare_recipe_windows(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the recipe windows (:data:`daq.recipes.WINDOWS`) of one recipe schema as
    ``minimum``/``maximum``, its ``title`` as the window's label and its description as
    "allowed low–high unit"; ``schema`` is changed in place and returned.

    ``PressRecipe`` checks them in a validator (for its plain-words message), which the
    generated schema cannot see; clients (the dashboard's forms, schemathesis) should.
    """
    for name, prop in schema.get("properties", {}).items():
        window = WINDOWS.get(name)
        if window is None:
            continue
        for variant in prop.get("anyOf", [prop]):
            if variant.get("type") in ("number", "integer"):
                variant["minimum"], variant["maximum"] = window.low, window.high
        prop["title"] = window.label
        prop["description"] = f"allowed {window.low:g}–{window.high:g} {window.unit}"
        prop["x-unit"] = window.unit
    return schema
