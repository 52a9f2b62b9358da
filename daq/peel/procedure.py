"""The PeelTest procedure: configure the tester, zero, load, peel, capture, conclude.

States: CONFIGURE → ZERO → LOAD → PEEL → DONE | INCOMPLETE | FAULTED | ABORTED. Every
transition is a run event. A lost link or a silent tester mid-peel ends the run
INCOMPLETE with its partial curve stored; cancelling the task (operator abort) stops the
tester, stores what was captured and ends the run ABORTED.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import RunEvent
from daq.peel.calculation import PeelResult, SteadyRegionRule
from daq.peel.capture import Capture, capture_stream, conclude
from daq.peel.store import PeelStore, SpecimenContext
from daq.record import Recorder, RunInfo, new_run_id
from drivers.errors import InstrumentCommandError, InstrumentError
from drivers.peel_tester import PeelTester

RUN_KIND = "peel_test"


@dataclass(frozen=True)
class PeelSettings:
    """How to peel: JIS C 6481 defaults (3 mm strip, 90°, 50 mm/min)."""

    width_mm: float = 3.0
    speed_mm_per_min: float = 50.0
    angle_deg: float = 90.0
    length_mm: float | None = None  # None: the tester's own setting
    rule: SteadyRegionRule = field(default_factory=SteadyRegionRule)
    idle_timeout_s: float = 5.0  # real seconds of silence that mean the tester is gone

    def __post_init__(self) -> None:
        if not 0.5 <= self.width_mm <= 25:
            raise ValueError(f"width_mm must be 0.5–25 mm, got {self.width_mm}")
        if not 1 <= self.speed_mm_per_min <= 500:
            raise ValueError(f"speed_mm_per_min must be 1–500, got {self.speed_mm_per_min}")
        if not 45 <= self.angle_deg <= 180:
            raise ValueError(f"angle_deg must be 45–180°, got {self.angle_deg}")


@dataclass(frozen=True)
class PeelOutcome:
    """How a peel test ended."""

    run_id: str
    status: str
    reason: str | None
    result: PeelResult | None
    n_points: int
    garbled_lines: int


class PeelTest:
    """One peel test of one specimen on one tester."""

    def __init__(
        self,
        tester: PeelTester,
        clock: SimClock,
        recorder: Recorder,
        bus: Bus | None = None,
        store: PeelStore | None = None,
        *,
        instrument: str = "peel1",
        settings: PeelSettings | None = None,
        operator: str | None = None,
    ) -> None:
        self.tester = tester
        self.clock = clock
        self.recorder = recorder
        self.bus = bus
        self.store = store
        self.instrument = instrument
        self.settings = settings or PeelSettings()
        self.operator = operator
        self.run_id = new_run_id(RUN_KIND)
        self.phase = "CREATED"
        self.capture: Capture | None = None

    async def _transition(self, to: str, reason: str | None = None) -> None:
        await self.recorder.event(
            RunEvent(self.run_id, self.clock.now(), "transition",
                     {"from": self.phase, "to": to, "reason": reason})
        )
        self.phase = to

    async def run(self, specimen_id: str) -> PeelOutcome:
        """Peel ``specimen_id``; the outcome is recorded whatever happens."""
        s = self.settings
        context: SpecimenContext | None = None
        if self.store is not None:
            context = await self.store.specimen_context(specimen_id)
        await self.recorder.start_run(
            RunInfo(
                run_id=self.run_id,
                kind=RUN_KIND,
                instrument=self.instrument,
                started_ts=self.clock.now(),
                recipe={
                    "specimen_id": specimen_id,
                    "width_mm": s.width_mm,
                    "speed_mm_per_min": s.speed_mm_per_min,
                    "angle_deg": s.angle_deg,
                    "length_mm": s.length_mm,
                    "rule": s.rule.as_dict(),
                },
                operator=self.operator,
                sample_id=context.sample_id if context else None,
            )
        )
        try:
            await self._prepare(specimen_id)
        except (InstrumentError, ValueError) as exc:
            refusal = (
                f"the tester refused: {exc.text}"
                if isinstance(exc, InstrumentCommandError)
                else f"{self.phase}: {exc}"
            )
            await self._transition("FAULTED", refusal)
            await self.recorder.finish_run(
                self.run_id, self.clock.now(), "FAULTED", refusal, {"specimen_id": specimen_id}
            )
            return PeelOutcome(self.run_id, "FAULTED", refusal, None, 0, 0)
        capture = self.capture = Capture(
            self.run_id, self.instrument, self.clock.now(), s.speed_mm_per_min
        )
        try:
            await capture_stream(self.tester.stream_chunks(s.idle_timeout_s), capture, self.bus)
        except asyncio.CancelledError:
            why = f"aborted by the operator after {capture.last_mm:.1f} mm"
            with contextlib.suppress(InstrumentError, asyncio.CancelledError):
                await asyncio.shield(self.tester.stop())
            await asyncio.shield(self._conclude(capture, context, specimen_id, "ABORTED", why))
            raise
        status, reason, result = await self._conclude(capture, context, specimen_id, None, None)
        return PeelOutcome(
            self.run_id, status, reason, result, len(capture.mm), capture.garbled_lines
        )

    async def _prepare(self, specimen_id: str) -> None:
        s = self.settings
        await self._transition("CONFIGURE")
        await self.tester.set_width_mm(s.width_mm)
        await self.tester.set_speed_mm_per_min(s.speed_mm_per_min)
        await self.tester.set_angle_deg(s.angle_deg)
        if s.length_mm is not None:
            await self.tester.set_length_mm(s.length_mm)
        await self._transition("ZERO")
        await self.tester.zero()
        await self._transition("LOAD")
        await self.tester.load_specimen(specimen_id)
        await self._transition("PEEL")
        await self.tester.start()

    async def _conclude(
        self,
        capture: Capture,
        context: SpecimenContext | None,
        specimen_id: str,
        status: str | None,
        reason: str | None,
    ) -> tuple[str, str | None, PeelResult | None]:
        return await conclude(
            capture,
            clock=self.clock,
            recorder=self.recorder,
            store=self.store,
            context=context,
            specimen_label=specimen_id,
            width_mm=self.settings.width_mm,
            angle_deg=self.settings.angle_deg,
            rule=self.settings.rule,
            trigger="command",
            status=status,
            reason=reason,
        )
