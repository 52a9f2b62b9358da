"""Parameters of a peel test (JIS C 6481, 90°): which specimen, how to peel it, which
part of the travel counts, and which tester. One model for the HTTP body
(``POST /api/runs`` with ``kind=peel_test``), the CLI options and a campaign's ``[peel]``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from daq.peel.calculation import SteadyRegionRule
from daq.peel.procedure import PeelSettings


class PeelTestParams(BaseModel):
    """One peel of one specimen on record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specimen_id: str = Field(min_length=1, max_length=64, description="a specimen on record")
    width_mm: float = Field(default=3.0, ge=0.5, le=25.0, description="strip width, mm")
    speed_mm_per_min: float = Field(default=50.0, ge=1.0, le=500.0,
                                    description="crosshead speed, mm/min")
    angle_deg: float = Field(default=90.0, ge=45.0, le=180.0, description="peel angle, °")
    length_mm: float | None = Field(default=None, ge=5.0, le=300.0,
                                    description="travel, mm (default: the tester's own)")
    skip_start: float = Field(default=0.2, ge=0.0, lt=1.0,
                              description="fraction of travel left out at the start")
    skip_end: float = Field(default=0.1, ge=0.0, lt=1.0,
                            description="fraction of travel left out at the end")
    tester: str | None = Field(default=None, max_length=64,
                               description="which peel tester (default: the station's first)")

    @model_validator(mode="after")
    def _some_travel_counts(self) -> PeelTestParams:
        if self.skip_start + self.skip_end >= 1.0:
            raise ValueError(f"skip_start + skip_end = {self.skip_start + self.skip_end:g} "
                             "leaves no steady region: together they must be below 1")
        return self

    def settings(self) -> PeelSettings:
        """The procedure's settings."""
        return PeelSettings(self.width_mm, self.speed_mm_per_min, self.angle_deg,
                            self.length_mm, SteadyRegionRule(self.skip_start, self.skip_end))
