"""Parameters of a laser drilling job and their validation, done before anything is sent.

Defaults are the patent's [0056]: 3rd-harmonic YAG at 355 nm, Ø 40 µm holes, 100 holes/s,
20 kHz pulse rate; 2.0 W is the lab's nominal power for that recipe. Every value is
checked against the laser's own ranges (:data:`drivers.uv_laser.LASER_LIMITS`), so a
bad request is refused with a message naming the field and its allowed range, and the
laser never sees it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from drivers.uv_laser import LASER_LIMITS, LaserLimits

NOMINAL_POWER_W = 2.0
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")


class LaserParameterOutOfRange(ValueError):
    """A job parameter the laser cannot or must not run; says which and what is allowed."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field} = {value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class LaserJobParams:
    """What to drill: sample lot, hole count and geometry, source settings."""

    sample_id: str
    n_holes: int = 500
    diameter_um: float = 40.0
    pulse_frequency_hz: float = 20_000.0
    hole_rate_hz: float = 100.0
    power_w: float = NOMINAL_POWER_W
    wavelength_nm: float = 355.0

    def as_recipe(self) -> dict[str, Any]:
        """The parameters as stored in ``runs.recipe``."""
        return asdict(self)

    @property
    def drilling_time_s(self) -> float:
        """Simulated seconds the drilling takes at the hole rate."""
        return self.n_holes / self.hole_rate_hz


def _check_range(field: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    low, high = bounds
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise LaserParameterOutOfRange(field, value, f"a finite number in {low:g}–{high:g} {unit}")
    if not low <= value <= high:
        raise LaserParameterOutOfRange(field, value, f"{low:g}–{high:g} {unit}")


def validate(params: LaserJobParams, limits: LaserLimits = LASER_LIMITS) -> LaserJobParams:
    """Return ``params`` if the laser can run them, else raise :class:`LaserParameterOutOfRange`."""
    if (
        not isinstance(params.sample_id, str)
        or not _JOB_NAME.match(params.sample_id)
        or len(params.sample_id) > limits.job_name_max_chars
    ):
        raise LaserParameterOutOfRange(
            "sample_id",
            params.sample_id,
            f"a lot id of 1–{limits.job_name_max_chars} letters, digits and - _ . /",
        )
    if params.wavelength_nm != limits.wavelength_nm:
        raise LaserParameterOutOfRange(
            "wavelength_nm", params.wavelength_nm, f"{limits.wavelength_nm:g} nm (fixed)"
        )
    low_n, high_n = limits.hole_count
    if (
        not isinstance(params.n_holes, int)
        or isinstance(params.n_holes, bool)
        or not low_n <= params.n_holes <= high_n
    ):
        allowed = f"a whole number {low_n}–{high_n}"
        raise LaserParameterOutOfRange("n_holes", params.n_holes, allowed)
    _check_range("diameter_um", params.diameter_um, limits.diameter_um, "µm")
    _check_range("pulse_frequency_hz", params.pulse_frequency_hz, limits.pulse_frequency_hz, "Hz")
    _check_range("hole_rate_hz", params.hole_rate_hz, limits.hole_rate_hz, "holes/s")
    _check_range("power_w", params.power_w, limits.power_w, "W")
    if params.hole_rate_hz > params.pulse_frequency_hz:
        raise LaserParameterOutOfRange(
            "hole_rate_hz",
            params.hole_rate_hz,
            f"at most the pulse rate ({params.pulse_frequency_hz:g} Hz): a hole needs a pulse",
        )
    return params


class LaserRunParams(BaseModel):
    """A laser job as the station runs it: the lot and the job's parameters, each field
    bounded by the laser's own ranges (:data:`drivers.uv_laser.LASER_LIMITS`), and which
    laser. One model for the HTTP body (``POST /api/runs``, ``kind=laser_job``), the CLI
    and the campaign file; :meth:`job` gives the procedure's :class:`LaserJobParams`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_id: str = Field(min_length=1, max_length=LASER_LIMITS.job_name_max_chars,
                           pattern=_JOB_NAME.pattern, description="the lot to drill")
    n_holes: int = Field(default=500, ge=LASER_LIMITS.hole_count[0],
                         le=LASER_LIMITS.hole_count[1])
    diameter_um: float = Field(default=40.0, ge=LASER_LIMITS.diameter_um[0],
                               le=LASER_LIMITS.diameter_um[1])
    pulse_frequency_hz: float = Field(default=20_000.0, ge=LASER_LIMITS.pulse_frequency_hz[0],
                                      le=LASER_LIMITS.pulse_frequency_hz[1])
    hole_rate_hz: float = Field(default=100.0, ge=LASER_LIMITS.hole_rate_hz[0],
                                le=LASER_LIMITS.hole_rate_hz[1],
                                description="holes per second, at most the pulse rate")
    power_w: float = Field(default=NOMINAL_POWER_W, ge=LASER_LIMITS.power_w[0],
                           le=LASER_LIMITS.power_w[1])
    wavelength_nm: float = Field(default=LASER_LIMITS.wavelength_nm,
                                 ge=LASER_LIMITS.wavelength_nm, le=LASER_LIMITS.wavelength_nm,
                                 description="the laser's one wavelength (fixed)")
    laser: str | None = Field(default=None, max_length=64,
                              description="which laser (default: the station's first)")

    @field_validator("hole_rate_hz", mode="after")
    @classmethod
    def _a_pulse_per_hole(cls, value: float, info: ValidationInfo) -> float:
        pulse = info.data.get("pulse_frequency_hz")
        if isinstance(pulse, float | int) and value > pulse:
            raise PydanticCustomError(
                "hole_rate_above_pulse_rate",
                "hole rate {value} holes/s is above the pulse rate {pulse} Hz: a hole "
                "needs a pulse", {"value": value, "pulse": pulse})
        return value

    def job(self) -> LaserJobParams:
        """The procedure's parameters (validated again by :func:`validate`)."""
        return validate(LaserJobParams(
            self.sample_id, self.n_holes, self.diameter_um, self.pulse_frequency_hz,
            self.hole_rate_hz, self.power_w, self.wavelength_nm))
