"""What a campaign report shows, read from the database (never from the campaign file's
expectations, which are only set beside the measured values).

The campaign's steps give the runs it used; the numbers come from the areas' own tables:
``peel_results`` (+ curves from ``peel_tests``), ``laser_jobs``, ``aging_runs`` /
``aging_excursions``, and ``readings`` / ``run_events`` for the traces.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

from daq.campaign.model import Campaign, parse_campaign
from daq.campaign.plan import all_aged_specimens
from daq.campaign.state import UnknownCampaign
from daq.storage.aging_models import AgingExcursionRow, AgingRunRow
from daq.storage.campaign_models import CampaignRow, CampaignStepRow
from daq.storage.laser_models import LaserJobRow
from daq.storage.models import ReadingRow, Run, RunEventRow, Sample
from daq.storage.peel_models import PeelResultRow, PeelTestRow, unpack_curve

Sessions = async_sessionmaker[AsyncSession]

#: How far a measured mean peel strength may lie from the patent's and still agree
#: (N/cm): the report and the dashboard's Table 1 judge by it.
TOLERANCE_N_PER_CM = 0.5


@dataclass
class SpecimenPeel:
    """One peel test of one specimen."""

    run_id: str
    specimen_id: str
    sample_id: str
    aged: bool
    aging_hours: float | None
    peel_strength_n_per_cm: float | None
    status: str
    mm: list[float] = field(default_factory=list, repr=False)
    force_n: list[float] = field(default_factory=list, repr=False)


@dataclass
class Condition:
    """The specimens of one sample in one condition (as made or aged) and their mean."""

    peels: list[SpecimenPeel] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        """Peel strengths of the specimens with a result."""
        return [p.peel_strength_n_per_cm for p in self.peels
                if p.peel_strength_n_per_cm is not None]

    @property
    def mean(self) -> float | None:
        """Mean peel strength, N/cm."""
        return statistics.fmean(self.values) if self.values else None

    @property
    def sd(self) -> float | None:
        """Sample standard deviation, N/cm (None below two specimens)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None


@dataclass
class Table1Row:
    """One sample of Table 1: measured beside expected."""

    lot: str
    label: str
    material_key: str
    adhesive_thickness_um: float
    no_film: bool
    note: str | None
    press_run_id: str | None = None
    as_made: Condition = field(default_factory=Condition)
    aged: Condition = field(default_factory=Condition)
    laser_run_id: str | None = None
    laser_grade: str | None = None
    expected_as_made: float | None = None
    expected_aged: float | None = None
    expected_grade: str | None = None
    expected_no_film: bool = False

    @property
    def diff_as_made(self) -> float | None:
        """Measured − patent, as made (N/cm)."""
        return _diff(self.as_made.mean, self.expected_as_made)

    @property
    def diff_aged(self) -> float | None:
        """Measured − patent, after aging (N/cm)."""
        return _diff(self.aged.mean, self.expected_aged)

    @property
    def grade_matches(self) -> bool | None:
        """Laser grade identical to the patent's (None when either is missing)."""
        if self.expected_grade is None or self.laser_grade is None:
            return None
        return self.expected_grade == self.laser_grade


def _diff(measured: float | None, expected: float | None) -> float | None:
    return None if measured is None or expected is None else measured - expected


@dataclass
class Trace:
    """A run's readings by channel: (ts list, value list)."""

    channels: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)


@dataclass
class RunInfo:
    """A run the campaign used, for its anchor section."""

    run_id: str
    kind: str
    status: str
    instrument: str
    sample_id: str | None
    started_ts: float
    ended_ts: float | None
    reason: str | None
    readings_stored: int
    specimen_id: str | None = None
    phases: list[tuple[float, str]] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)


@dataclass
class AgingInfo:
    """The aging run: totals, excursions and its oven trace."""

    run_id: str
    setpoint_c: float
    tolerance_c: float
    target_h: float
    in_tolerance_h: float
    out_of_tolerance_h: float
    unmonitored_h: float
    resumes: int
    excursions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LaserInfo:
    """One laser job's inspection figures."""

    run_id: str
    sample_id: str
    grade: str | None
    holes_done: int
    n_holes: int
    open_share: float | None
    dross_share: float | None
    median_taper: float | None


@dataclass
class ReportData:
    """Everything the report shows."""

    campaign_id: str
    title: str
    status: str
    campaign: Campaign
    table: list[Table1Row]
    runs: dict[str, RunInfo]
    aging: AgingInfo | None
    laser: list[LaserInfo]
    steps: list[CampaignStepRow]

    def table_json(self) -> list[dict[str, Any]]:
        """The reproduced table as plain data (``--json``, CSV)."""
        return [{
            "lot": r.lot, "sample": r.label, "material": r.material_key,
            "adhesive_thickness_um": r.adhesive_thickness_um, "no_film": r.no_film,
            "peel_as_made_n_per_cm": r.as_made.mean, "peel_as_made_sd": r.as_made.sd,
            "peel_as_made_n": len(r.as_made.values),
            "patent_as_made_n_per_cm": r.expected_as_made, "diff_as_made": r.diff_as_made,
            "peel_aged_n_per_cm": r.aged.mean, "peel_aged_sd": r.aged.sd,
            "peel_aged_n": len(r.aged.values),
            "patent_aged_n_per_cm": r.expected_aged, "diff_aged": r.diff_aged,
            "laser_grade": r.laser_grade, "patent_laser_grade": r.expected_grade,
            "press_run_id": r.press_run_id, "laser_run_id": r.laser_run_id,
            "as_made_runs": [p.run_id for p in r.as_made.peels],
            "aged_runs": [p.run_id for p in r.aged.peels],
        } for r in self.table]


async def load_report_data(sessions: Sessions, campaign_id: str, *,
                           with_traces: bool = True) -> ReportData:
    """Read the campaign and everything its steps produced."""
    async with sessions() as session:
        row = await session.get(CampaignRow, campaign_id)
        if row is None:
            raise UnknownCampaign(f"no campaign {campaign_id!r} in this database")
        campaign = parse_campaign(row.definition, f"campaign {campaign_id} on record")
        steps = list(await session.scalars(select(CampaignStepRow).where(
            CampaignStepRow.campaign_id == campaign_id).order_by(CampaignStepRow.seq)))
        table = await _table(session, campaign, steps, with_traces)
        run_ids = {rid for s in steps for rid in s.tried_runs}
        runs = await _runs(session, run_ids, with_traces)
        aging = await _aging(session, steps)
        laser = await _laser(session, [s.run_id for s in steps
                                       if s.kind == "laser" and s.run_id])
    for r in table:
        for p in r.as_made.peels + r.aged.peels:
            if p.run_id in runs:
                runs[p.run_id].specimen_id = p.specimen_id
    return ReportData(campaign_id, row.title, row.status, campaign, table, runs, aging, laser,
                      steps)


async def _table(session: AsyncSession, campaign: Campaign, steps: list[CampaignStepRow],
                 with_curves: bool) -> list[Table1Row]:
    samples = {s.id: s for s in await session.scalars(
        select(Sample).where(Sample.id.in_([x.lot for x in campaign.samples])))}
    rows: dict[str, Table1Row] = {}
    for spec in campaign.samples:
        rec = samples.get(spec.lot)
        e = spec.expected
        rows[spec.lot] = Table1Row(
            lot=spec.lot, label=spec.label or spec.lot, material_key=spec.material_key,
            adhesive_thickness_um=spec.adhesive_thickness_um,
            no_film=rec is not None and not rec.film_forms,
            note=rec.note if rec is not None else None,
            expected_as_made=e.peel_as_made_n_per_cm, expected_aged=e.peel_aged_n_per_cm,
            expected_grade=e.laser_grade, expected_no_film=e.no_film)
    aged_ids = set(all_aged_specimens(campaign))
    peel_runs = [s.run_id for s in steps if s.kind == "peel" and s.status == "DONE" and s.run_id]
    query = select(PeelTestRow).where(PeelTestRow.id.in_(peel_runs))
    if with_curves:
        query = query.options(undefer(PeelTestRow.curve))
    tests = {t.id: t for t in await session.scalars(query)}
    results = {r.peel_test_id: r for r in await session.scalars(
        select(PeelResultRow).where(PeelResultRow.peel_test_id.in_(peel_runs)))}
    for s in steps:
        if s.sample_id is None or s.sample_id not in rows or s.status != "DONE":
            continue
        row = rows[s.sample_id]
        if s.kind == "press":
            row.press_run_id = s.run_id
        elif s.kind == "laser":
            row.laser_run_id, row.laser_grade = s.run_id, s.result.get("grade")
        elif s.kind == "peel" and s.run_id in tests:
            t, res = tests[s.run_id], results.get(s.run_id)
            mm, force = unpack_curve(t.curve) if with_curves and t.curve else ([], [])
            aged = s.specimen_id in aged_ids
            peel = SpecimenPeel(
                s.run_id, s.specimen_id or t.specimen_label, s.sample_id, aged,
                t.aging_hours, res.peel_strength_n_per_cm if res else None, t.status,
                list(mm), list(force))
            (row.aged if aged else row.as_made).peels.append(peel)
    laser_runs = [r.laser_run_id for r in rows.values() if r.laser_run_id]
    for job in await session.scalars(select(LaserJobRow).where(LaserJobRow.id.in_(laser_runs))):
        rows[job.sample_id].laser_grade = job.grade  # the stored job is the source
    return list(rows.values())


async def _runs(session: AsyncSession, run_ids: set[str], with_traces: bool
                ) -> dict[str, RunInfo]:
    runs: dict[str, RunInfo] = {}
    for run in await session.scalars(select(Run).where(Run.id.in_(run_ids))
                                     .order_by(Run.started_ts)):
        runs[run.id] = RunInfo(run.id, run.kind, run.status, run.instrument, run.sample_id,
                               run.started_ts, run.ended_ts, run.reason, run.readings_stored)
    if not with_traces:
        return runs
    traced = [rid for rid, r in runs.items() if r.kind in ("press_cycle", "aging_run")]
    for ev in await session.scalars(select(RunEventRow).where(
            RunEventRow.run_id.in_(traced), RunEventRow.kind == "transition")
            .order_by(RunEventRow.id)):
        to = ev.data.get("to") if isinstance(ev.data, dict) else None
        if to:
            runs[ev.run_id].phases.append((ev.ts, str(to)))
    points: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(
        lambda: ([], []))
    result = await session.execute(
        select(ReadingRow.run_id, ReadingRow.channel, ReadingRow.ts, ReadingRow.value)
        .where(ReadingRow.run_id.in_(traced)).order_by(ReadingRow.ts))
    for run_id, channel, ts, value in result:
        xs, ys = points[(str(run_id), channel)]
        xs.append(ts)
        ys.append(value)
    for (run_id, channel), series in points.items():
        runs[run_id].trace.channels[channel] = series
    return runs


async def _aging(session: AsyncSession, steps: list[CampaignStepRow]) -> AgingInfo | None:
    run_id = next((s.run_id for s in steps if s.kind == "aging" and s.run_id), None)
    if run_id is None:
        return None
    row = await session.get(AgingRunRow, run_id)
    if row is None:
        return None
    excursions = [{"id": e.id, "start_ts": e.start_ts, "end_ts": e.end_ts,
                   "peak_deviation_c": e.peak_deviation_c, "peak_pv_c": e.peak_pv_c,
                   "alarm_raised": e.alarm_raised}
                  for e in await session.scalars(select(AgingExcursionRow).where(
                      AgingExcursionRow.run_id == run_id).order_by(AgingExcursionRow.start_ts))]
    return AgingInfo(run_id, row.setpoint_c, row.tolerance_c, row.target_h,
                     row.in_tolerance_s / 3600, row.out_of_tolerance_s / 3600,
                     row.unmonitored_s / 3600, row.resumes, excursions)


async def _laser(session: AsyncSession, run_ids: list[str]) -> list[LaserInfo]:
    jobs = {j.id: j for j in await session.scalars(
        select(LaserJobRow).where(LaserJobRow.id.in_(run_ids)))}
    return [LaserInfo(j.id, j.sample_id, j.grade, j.holes_done, j.n_holes, j.open_share,
                      j.dross_share, j.median_taper)
            for rid in run_ids if (j := jobs.get(rid)) is not None]
