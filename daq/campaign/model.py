"""The campaign file (TOML): samples, press recipe, peel, aging plan, laser job, time.

The file is the lab's plan and the patent's expected values (``expected`` per sample),
which only the report compares against; nothing in the workflow reads them. Every field
is checked when the file is read, and an error names the field and what is allowed.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daq.laser.params import LaserJobParams, validate
from daq.materials import CATALOGUE
from daq.peel.procedure import PeelSettings
from daq.recipes import parse_recipe

_LOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,40}$")


class CampaignFileError(ValueError):
    """A campaign file that cannot be used; the message names the file and the fields."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expected(_Strict):
    """The patent's values for one sample (Table 1), for the report's comparison only."""

    peel_as_made_n_per_cm: float | None = None
    peel_aged_n_per_cm: float | None = None
    laser_grade: Literal["O", "Δ", "X"] | None = None
    no_film: bool = False


class SampleSpec(_Strict):
    """One sample lot: its id (prefix = material key), material and adhesive thickness."""

    lot: str
    material: str
    adhesive_thickness_um: float = Field(ge=0, le=100)
    label: str | None = None
    expected: Expected = Field(default_factory=Expected)

    @model_validator(mode="after")
    def _check(self) -> SampleSpec:
        if not _LOT.match(self.lot):
            raise ValueError(f"lot {self.lot!r}: letters, digits and - _ . only (≤ 41)")
        if self.material.upper() not in CATALOGUE:
            raise ValueError(f"lot {self.lot}: unknown material {self.material!r}; "
                             f"known: {', '.join(CATALOGUE)}")
        return self

    @property
    def material_key(self) -> str:
        """The catalogue key of the material (upper case)."""
        return self.material.upper()

    @property
    def film_forms(self) -> bool:
        """Whether the material makes a film at all (Comparatives 2 and 3 do not)."""
        return CATALOGUE[self.material_key].film_forms


class PressSpec(_Strict):
    """The press recipe: fields of :class:`daq.recipes.PressRecipe` (checked there too)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    temperature_c: float = 200.0
    pressure_mpa: float = 3.0
    dwell_min: float = 20.0


class PeelSpec(_Strict):
    """How many specimens per condition and how to peel them (JIS C 6481)."""

    specimens_per_condition: int = Field(default=3, ge=1, le=20)
    width_mm: float = 3.0
    speed_mm_per_min: float = 50.0
    angle_deg: float = 90.0
    length_mm: float | None = None


class AgingSpec(_Strict):
    """One aging run for all aged specimens, pulled out at the end."""

    setpoint_c: float = Field(default=150.0, ge=30, le=300)
    tolerance_c: float = Field(default=3.0, gt=0, le=20)
    hours: float = Field(default=1000.0, gt=0, le=20000)
    alarm_after_min: float = Field(default=30.0, gt=0)


class LaserSpec(_Strict):
    """Each sample's laser job; defaults are the patent's parameters [0056]."""

    holes: int = Field(default=500, ge=1, le=100_000)
    diameter_um: float = 40.0
    pulse_khz: float = 20.0
    hole_rate_hz: float = 100.0
    power_w: float = 2.0
    wavelength_nm: float = 355.0


class TimeSpec(_Strict):
    """Simulated-time scales per phase, used against simulators only (real instruments
    run in real time whatever the file says). Each must be > 1: the clock switches
    between them without a jump, which real time (1) cannot do once ahead."""

    press_scale: float = Field(default=1000.0, gt=1, le=10_000_000)
    peel_scale: float = Field(default=1000.0, gt=1, le=10_000_000)
    aging_scale: float = Field(default=100_000.0, gt=1, le=10_000_000)
    laser_scale: float = Field(default=1000.0, gt=1, le=10_000_000)


class CampaignHeader(_Strict):
    """Name and purpose of the campaign."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
    title: str = ""
    operator: str = "campaign"


class Campaign(_Strict):
    """A whole campaign file."""

    campaign: CampaignHeader
    samples: list[SampleSpec] = Field(min_length=1)
    press: PressSpec = Field(default_factory=PressSpec)
    peel: PeelSpec = Field(default_factory=PeelSpec)
    aging: AgingSpec = Field(default_factory=AgingSpec)
    laser: LaserSpec = Field(default_factory=LaserSpec)
    time: TimeSpec = Field(default_factory=TimeSpec)

    @model_validator(mode="after")
    def _check_whole(self) -> Campaign:
        lots = [s.lot for s in self.samples]
        twice = sorted({lot for lot in lots if lots.count(lot) > 1})
        if twice:
            raise ValueError(f"lot listed twice: {', '.join(twice)}")
        # Refuse what the procedures would refuse, before anything is recorded or moves.
        parse_recipe(self.recipe())  # RecipeError is a ValueError naming the field
        PeelSettings(width_mm=self.peel.width_mm, speed_mm_per_min=self.peel.speed_mm_per_min,
                     angle_deg=self.peel.angle_deg, length_mm=self.peel.length_mm)
        j = self.laser
        validate(LaserJobParams(self.samples[0].lot, j.holes, j.diameter_um,
                                j.pulse_khz * 1000.0, j.hole_rate_hz, j.power_w,
                                j.wavelength_nm))
        return self

    @property
    def id(self) -> str:
        """The campaign's id."""
        return self.campaign.id

    def recipe(self) -> dict[str, Any]:
        """The press recipe as a dict for :func:`daq.recipes.parse_recipe`."""
        return self.press.model_dump()


def load_campaign(path: str | Path) -> tuple[Campaign, str]:
    """The campaign in ``path`` and the SHA-256 of its bytes; refuses with one message."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CampaignFileError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CampaignFileError(f"{p} is not valid TOML: {exc}") from None
    return parse_campaign(data, str(p)), hashlib.sha256(raw).hexdigest()


def parse_campaign(data: dict[str, Any], where: str = "campaign") -> Campaign:
    """A :class:`Campaign` from parsed TOML; errors name each bad field."""
    try:
        return Campaign.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            problems.append(f"{loc}: {err['msg']}" if loc else err["msg"])
        raise CampaignFileError(f"{where}: " + "; ".join(problems)) from None
