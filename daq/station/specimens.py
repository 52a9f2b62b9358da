"""What a run puts on an instrument: :class:`SpecimenLoaded`, announced by the run engine
for every run it starts, to every :class:`SpecimenListener` of the station.

A peel test clamps a specimen in the tester; a laser job puts a sample lot on the
laser's stage. The announcement is built from the stored specimen and sample rows (the
kind's ``loads`` function), before the procedure sends anything to the instrument. Real
instruments need no such telling; a simulated station's simulator wiring
(:mod:`daq.station.simulation`) listens and tells each simulator, through its own side
door, what it now holds — the drivers and the procedures never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SpecimenLoaded:
    """``ident`` (a specimen id, or a sample lot id) of ``material_key`` is on ``instrument``
    for run ``run_id``: its adhesive thickness and hours aged at 150 °C."""

    instrument: str
    ident: str
    material_key: str
    adhesive_thickness_um: float
    aging_hours: float = 0.0
    run_id: str | None = None


class SpecimenListener(Protocol):
    """Told, before a run starts, what each of its instruments will hold."""

    async def specimen_loaded(self, loaded: SpecimenLoaded) -> None:
        """``loaded`` is about to go on its instrument; raising refuses the run's start."""
