"""Parameters of an aging run: the specimens going in, setpoint and band, the target
hours in tolerance and the planned pull-outs, and which oven. One model for the HTTP body
(``POST /api/runs`` with ``kind=aging_run``), the CLI options and a campaign's ``[aging]``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from daq.aging.accounting import AgingPlan

#: The lab's usual pull-outs (hours in tolerance) of a 1000-hour run.
STANDARD_PULLOUTS_H = (250.0, 500.0, 1000.0)


class AgingRunParams(BaseModel):
    """An aging run of specimens on record (each AS_MADE, in no oven yet)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specimen_ids: list[str] = Field(min_length=1, max_length=200,
                                    description="specimens on record going into the oven")
    setpoint_c: float = Field(default=150.0, ge=30.0, le=300.0, description="setpoint, °C")
    tolerance_c: float = Field(default=3.0, gt=0.0, le=50.0, description="band ± °C")
    hours: float = Field(default=1000.0, gt=0.0, le=100_000.0,
                         description="target hours in tolerance")
    pullouts_h: list[float] | None = Field(
        default=None, max_length=50,
        description="planned pull-outs, hours in tolerance, each in (0, hours] "
        "(default: those of 250, 500, 1000 h below the target, and the target)")
    alarm_after_min: float = Field(default=30.0, gt=0.0, le=10_000.0,
                                   description="alarm when an excursion lasts longer, min")
    oven: str | None = Field(default=None, max_length=64,
                             description="which oven (default: the station's first)")

    @model_validator(mode="after")
    def _plan_holds(self) -> AgingRunParams:
        self.plan()  # AgingPlan's own checks (pull-outs inside the target …), in words
        for sid in self.specimen_ids:
            if not 1 <= len(sid) <= 64:
                raise ValueError(f"specimen id {sid!r} must have 1–64 characters")
        return self

    def pullouts(self) -> tuple[float, ...]:
        """The planned pull-outs in force."""
        if self.pullouts_h is not None:
            return tuple(self.pullouts_h)
        return (*(p for p in STANDARD_PULLOUTS_H if p < self.hours), self.hours)

    def plan(self) -> AgingPlan:
        """The accounting plan of the run."""
        return AgingPlan(setpoint_c=self.setpoint_c, tolerance_c=self.tolerance_c,
                         target_h=self.hours, pullouts_h=self.pullouts(),
                         alarm_after_s=self.alarm_after_min * 60.0)
