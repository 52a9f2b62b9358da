"""Carry out a campaign through the station, step by step, resuming where it stopped.

Each step uses the area's own procedure and tables: the press cycle
(:meth:`daq.station.lab.Lab.start_press_cycle`), the peel test
(:class:`~daq.peel.procedure.PeelTest`), the aging run
(:class:`~daq.aging.procedure.AgingRunner`, which resumes from its checkpoint and
back-fills from the oven's log), the laser job (:class:`~daq.laser.procedure.LaserJob`).
A step already DONE is never done again; a step found RUNNING after a crash is completed
from its run if that run ended DONE, resumed if its procedure resumes (aging), and
otherwise redone with a new run (the cut-short one is on record as INTERRUPTED).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from daq.aging.accounting import AgingPlan
from daq.aging.procedure import AgingRunner
from daq.aging.pullout import pull_out
from daq.aging.store import load_accountant
from daq.campaign.model import Campaign
from daq.campaign.plan import aged_specimens, all_aged_specimens, as_made_specimens, laminate_id
from daq.campaign.state import (
    ClockAnchor,
    begin_step,
    fail_step,
    finish_campaign,
    finish_step,
    list_steps,
    save_clock,
)
from daq.campaign.station import StationIncomplete, instrument_of
from daq.laser.params import LaserRunParams
from daq.laser.procedure import LaserJobResult
from daq.materials import CATALOGUE
from daq.peel.params import PeelTestParams
from daq.peel.procedure import PeelOutcome
from daq.press.params import PressCycleParams
from daq.recipes import parse_recipe
from daq.station.interface import Station
from daq.station.outcome import Outcome
from daq.storage.aging_models import AgingRunRow
from daq.storage.campaign_models import CampaignStepRow
from daq.storage.models import Laminate, Run, Sample, Specimen
from drivers.oven import Oven

log = logging.getLogger(__name__)


class CampaignStepFailed(RuntimeError):
    """A step ended without its result; the campaign stops there (run it again to retry)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"step {key} failed: {reason}")


@dataclass
class Progress:
    """Where the campaign is, for a progress display."""

    total: int = 0
    done: int = 0
    current: str = ""
    aging_h: float | None = None
    aging_target_h: float | None = None


class CampaignRunner:
    """Runs one campaign's steps in order on a started :class:`~daq.station.lab.Lab`."""

    def __init__(self, lab: Station, campaign: Campaign,
                 on_progress: Callable[[Progress], None] | None = None,
                 parent: str | None = None) -> None:
        self.lab = lab
        #: The campaign's own run when the engine runs it: its steps start inside it,
        #: on the instruments it holds.
        self.parent = parent
        self.campaign = campaign
        self.sessions = lab.sessions
        self.on_progress = on_progress
        self.progress = Progress()
        self.operator = campaign.campaign.operator
        self.simulated = bool(lab.settings.simulated)
        self.samples = {s.lot: s for s in campaign.samples}
        self._aging: AgingRunner | None = None
        self._aging_run_id: str | None = None

    # -- the loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Carry out every step not yet done; raises :class:`CampaignStepFailed`."""
        steps = await list_steps(self.sessions, self.campaign.id)
        needed = {"press": "lamination_press", "peel": "peel_tester", "aging": "aging_oven",
                  "laser": "uv_laser"}
        for kind in sorted({s.kind for s in steps if s.status != "DONE"} & set(needed)):
            instrument_of(self.lab, needed[kind])  # missing → StationIncomplete, up front
        self.progress.total = len(steps)
        self.progress.done = sum(1 for s in steps if s.status == "DONE")
        self._tell()
        for step in steps:
            if step.status == "DONE":
                continue
            self.progress.current = step.key
            self._tell()
            await self._step(step)
            self.progress.done += 1
            self._tell()
        self.progress.current = "done"
        self._tell()
        await finish_campaign(self.sessions, self.campaign.id, self.lab.clock.now())

    def _tell(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    async def _step(self, step: CampaignStepRow) -> None:
        handler = {
            "samples": self._samples, "press": self._press, "peel": self._peel,
            "aging": self._aging_step, "pullout": self._pullout, "laser": self._laser,
        }[step.kind]
        if (step.status == "RUNNING" and step.run_id and step.kind in ("press", "peel", "laser")
                and await self._run_status(step.run_id) == "DONE"):
            await self._adopt(step)
            return
        await handler(step)

    async def _scale(self, scale: float) -> None:
        """Switch simulated time to ``scale`` (simulators only) and remember the clock."""
        if not self.simulated or self.lab.clock.scale == scale:
            return
        self.lab.set_time_scale(scale)
        clock = self.lab.clock
        await save_clock(self.sessions, self.campaign.id,
                         ClockAnchor(clock.now(), clock.wall(), clock.scale))

    async def _run_status(self, run_id: str) -> str | None:
        async with self.sessions() as session:
            run = await session.get(Run, run_id)
            return None if run is None else run.status

    async def _fail(self, step: CampaignStepRow, reason: str) -> None:
        await fail_step(self.sessions, step.id, self.lab.clock.now(), reason)
        raise CampaignStepFailed(step.key, reason)

    # -- samples -----------------------------------------------------------------------
    async def _samples(self, step: CampaignStepRow) -> None:
        now = self.lab.clock.now()
        await begin_step(self.sessions, step.id, None, now)

        async def write(session: AsyncSession) -> None:
            for s in self.campaign.samples:
                if await session.get(Sample, s.lot) is not None:
                    continue
                info = CATALOGUE[s.material_key]
                session.add(Sample(
                    id=s.lot, material_key=info.key, material_name=info.name,
                    adhesive_thickness_um=s.adhesive_thickness_um,
                    film_forms=info.film_forms, note=info.note, created_ts=now))

        no_film = {s.lot: CATALOGUE[s.material_key].note
                   for s in self.campaign.samples if not s.film_forms}
        await finish_step(self.sessions, step.id, now,
                          {"samples": [s.lot for s in self.campaign.samples],
                           "no_film": no_film}, also=write)

    # -- press -------------------------------------------------------------------------
    async def _press(self, step: CampaignStepRow) -> None:
        assert step.sample_id is not None
        await self._scale(self.campaign.time.press_scale)
        name, _ = instrument_of(self.lab, "lamination_press")
        params = PressCycleParams.of(parse_recipe(self.campaign.recipe()),
                                     sample_id=step.sample_id, press=name)
        run_id, _ = await self._run_step(step, "press_cycle", params)
        status = await self._run_status(run_id)
        if status != "DONE":
            async with self.sessions() as session:
                run = await session.get(Run, run_id)
                why = run.reason if run is not None else None
            await self._fail(step, f"press cycle {run_id} ended {status}: {why or '?'}")
        step.run_id = run_id
        await self._adopt(step)

    async def _run_step(self, step: CampaignStepRow, kind: str, params: BaseModel
                        ) -> tuple[str, Outcome]:
        """Start the step's run through the station's engine, tie it to the step, and
        see it to its end: the run and how it ended. Cancelled (the campaign stops), the
        run is aborted to its safe state before the cancel goes on."""
        run_id = await self.lab.run_engine.start(kind, params, self.operator, "campaign",
                                                 parent=self.parent)
        await begin_step(self.sessions, step.id, run_id, self.lab.clock.now())
        try:
            return run_id, await self.lab.run_engine.wait(run_id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.lab.run_engine.abort(run_id, self.operator))
            raise

    async def _adopt(self, step: CampaignStepRow) -> None:
        """Complete a step from its run that ended DONE."""
        assert step.run_id is not None
        if step.kind == "press":
            await self._laminate(step)
        elif step.kind == "peel":
            await finish_step(self.sessions, step.id, self.lab.clock.now(),
                              await self._peel_result(step.run_id))
        elif step.kind == "laser":
            await finish_step(self.sessions, step.id, self.lab.clock.now(),
                              await self._laser_result(step.run_id))

    async def _laminate(self, step: CampaignStepRow) -> None:
        """The laminate of a DONE press run and its specimens, with the step, atomically."""
        assert step.sample_id is not None and step.run_id is not None
        sample = self.samples[step.sample_id]
        lam = laminate_id(sample.lot)
        specimens = as_made_specimens(self.campaign, sample) + aged_specimens(self.campaign,
                                                                              sample)
        now = self.lab.clock.now()
        run_id = step.run_id

        async def write(session: AsyncSession) -> None:
            if await session.get(Laminate, lam) is None:
                session.add(Laminate(id=lam, sample_id=sample.lot, press_run_id=run_id,
                                     created_ts=now))
            for sid in specimens:
                if await session.get(Specimen, sid) is None:
                    session.add(Specimen(id=sid, laminate_id=lam, sample_id=sample.lot,
                                         width_mm=self.campaign.peel.width_mm,
                                         aging_hours=0.0, state="AS_MADE", created_ts=now))

        await finish_step(self.sessions, step.id, now,
                          {"run_id": run_id, "laminate_id": lam, "specimens": specimens},
                          also=write)

    # -- peel --------------------------------------------------------------------------
    async def _peel(self, step: CampaignStepRow) -> None:
        assert step.specimen_id is not None
        await self._scale(self.campaign.time.peel_scale)
        name, _ = instrument_of(self.lab, "peel_tester")
        p = self.campaign.peel
        params = PeelTestParams(specimen_id=step.specimen_id, width_mm=p.width_mm,
                                speed_mm_per_min=p.speed_mm_per_min, angle_deg=p.angle_deg,
                                length_mm=p.length_mm, tester=name)
        run_id, _ = await self._run_step(step, "peel_test", params)
        outcome = self.lab.run_engine.result(run_id)
        if not isinstance(outcome, PeelOutcome) or outcome.status != "DONE" \
                or outcome.result is None:
            status = outcome.status if isinstance(outcome, PeelOutcome) else "FAULTED"
            reason = outcome.reason if isinstance(outcome, PeelOutcome) else None
            await self._fail(step, f"peel test {run_id} ended {status}: "
                                   f"{reason or 'no result'}")
        await finish_step(self.sessions, step.id, self.lab.clock.now(),
                          await self._peel_result(run_id))

    async def _peel_result(self, run_id: str) -> dict[str, Any]:
        from daq.storage.peel_models import PeelResultRow

        async with self.sessions() as session:
            row = (await session.scalars(select(PeelResultRow).where(
                PeelResultRow.peel_test_id == run_id))).first()
        if row is None:
            return {"run_id": run_id}
        return {"run_id": run_id, "peel_strength_n_per_cm": row.peel_strength_n_per_cm,
                "aging_hours": row.aging_hours}

    # -- aging -------------------------------------------------------------------------
    async def _aging_step(self, step: CampaignStepRow) -> None:
        a = self.campaign.aging
        specimens = all_aged_specimens(self.campaign)
        name, driver = instrument_of(self.lab, "aging_oven")
        if not isinstance(driver, Oven):
            raise StationIncomplete(f"{name} is not an aging oven")
        oven = driver
        await self._scale(self.campaign.time.aging_scale)
        runner = self._aging = AgingRunner(
            ovens={name: oven}, clock=self.lab.clock, recorder=self.lab.recorder,
            sessions=self.sessions, bus=self.lab.bus)
        run_id = step.run_id or await self._aging_run_of(specimens[0])
        status = None
        if run_id is not None:
            async with self.sessions() as session:
                row = await session.get(AgingRunRow, run_id)
                status = None if row is None else row.status
        try:
            if status == "RUNNING":
                assert run_id is not None
                # The oven holds the setpoint on its own; after a power cycle (or a fresh
                # simulator) it must be told again, which is harmless when it still does.
                if not oven.is_connected:
                    await oven.open()
                await oven.set_setpoint_c(a.setpoint_c)
                await oven.set_running(True)
                await runner.resume(run_id)
                if step.run_id is None:
                    await begin_step(self.sessions, step.id, run_id, self.lab.clock.now())
            elif status == "DONE":
                assert run_id is not None
            else:
                plan = AgingPlan(setpoint_c=a.setpoint_c, tolerance_c=a.tolerance_c,
                                 target_h=a.hours, pullouts_h=(a.hours,),
                                 alarm_after_s=a.alarm_after_min * 60)
                run_id = await runner.start(plan, specimens, oven_name=name,
                                            resource=oven.resource, operator=self.operator)
                await begin_step(self.sessions, step.id, run_id, self.lab.clock.now())
            self._aging_run_id = run_id
            self.progress.aging_target_h = a.hours
            if run_id in runner.tasks:
                await self._follow_aging(runner, run_id)
        finally:
            await runner.stop()  # a run cut short checkpoints and stays RUNNING
        assert run_id is not None
        _, acc = await load_accountant(self.sessions, run_id)
        if not acc.completed:
            await self._fail(step, f"aging run {run_id} did not complete")
        await finish_step(self.sessions, step.id, self.lab.clock.now(),
                          {"run_id": run_id, **acc.totals()})

    async def _follow_aging(self, runner: AgingRunner, run_id: str) -> None:
        task = runner.tasks[run_id]
        while not task.done():
            self.progress.aging_h = runner.runs[run_id].acc.in_tolerance_h
            self._tell()
            await asyncio.wait([task], timeout=0.25)
        task.result()
        self.progress.aging_h = runner.runs[run_id].acc.in_tolerance_h
        self._tell()

    async def _aging_run_of(self, specimen_id: str) -> str | None:
        """The aging run a specimen went into (found after a crash before the step knew)."""
        async with self.sessions() as session:
            specimen = await session.get(Specimen, specimen_id)
            return None if specimen is None else specimen.aging_run_id

    async def _pullout(self, step: CampaignStepRow) -> None:
        specimens = all_aged_specimens(self.campaign)
        run_id = self._aging_run_id or await self._aging_run_of(specimens[0])
        if run_id is None:
            await self._fail(step, "no aging run holds the specimens")
        assert run_id is not None
        await begin_step(self.sessions, step.id, run_id, self.lab.clock.now())
        async with self.sessions() as session:
            inside = list(await session.scalars(select(Specimen.id).where(
                Specimen.id.in_(specimens), Specimen.state == "AGING")))
        now = self.lab.clock.now()
        hours = None
        if inside:
            done = await pull_out(self.sessions, self.lab.recorder, run_id, inside, now,
                                  self.operator)
            hours = done.in_tolerance_h
        await finish_step(self.sessions, step.id, now,
                          {"run_id": run_id, "specimens": specimens, "in_tolerance_h": hours})

    # -- laser -------------------------------------------------------------------------
    async def _laser(self, step: CampaignStepRow) -> None:
        assert step.sample_id is not None
        await self._scale(self.campaign.time.laser_scale)
        name, _ = instrument_of(self.lab, "uv_laser")
        j = self.campaign.laser
        params = LaserRunParams(
            sample_id=step.sample_id, n_holes=j.holes, diameter_um=j.diameter_um,
            pulse_frequency_hz=j.pulse_khz * 1000.0, hole_rate_hz=j.hole_rate_hz,
            power_w=j.power_w, wavelength_nm=j.wavelength_nm, laser=name)
        run_id, outcome = await self._run_step(step, "laser_job", params)
        if outcome is not Outcome.DONE:
            result = self.lab.run_engine.result(run_id)
            why = result.reason if isinstance(result, LaserJobResult) else "no result"
            await self._fail(step, f"laser job {run_id} did not finish: {why}")
        await finish_step(self.sessions, step.id, self.lab.clock.now(),
                          await self._laser_result(run_id))

    async def _laser_result(self, run_id: str) -> dict[str, Any]:
        async with self.sessions() as session:
            run = await session.get(Run, run_id)
        summary = run.summary if run is not None else {}
        return {"run_id": run_id, "grade": summary.get("grade"),
                "holes_done": summary.get("holes_done")}
