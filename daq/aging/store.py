"""Persistence of aging runs: create, checkpoint, load, pull-outs and status.

Every function takes an ``async_sessionmaker`` and does one transaction, so a crash at
any point leaves the database at the last whole checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.aging.accounting import Accountant, AgingPlan, Excursion, Outcome
from daq.storage.aging_models import AgingExcursionRow, AgingPulloutRow, AgingRunRow
from daq.storage.models import Specimen

Sessions = async_sessionmaker[AsyncSession]


class AgingError(Exception):
    """A request about an aging run that cannot be done as asked (the message says why)."""


def plan_specimens(specimens: list[str], pullouts_h: tuple[float, ...]) -> dict[str, list[str]]:
    """Share the specimens among the planned pull-outs in order, as evenly as possible."""
    slots = sorted(pullouts_h)
    plan: dict[str, list[str]] = {f"{p:g}": [] for p in slots}
    if not slots:
        return plan
    base, extra = divmod(len(specimens), len(slots))
    i = 0
    for n, p in enumerate(slots):
        take = base + (1 if n < extra else 0)
        plan[f"{p:g}"] = specimens[i:i + take]
        i += take
    return plan


async def check_specimens(sessions: Sessions, specimen_ids: list[str]) -> None:
    """Every specimen must exist and must not already be in an oven or pulled."""
    if len(set(specimen_ids)) != len(specimen_ids):
        raise AgingError("a specimen is listed twice")
    async with sessions() as session:
        rows = {s.id: s for s in await session.scalars(
            select(Specimen).where(Specimen.id.in_(specimen_ids)))}
    missing = [s for s in specimen_ids if s not in rows]
    if missing:
        raise AgingError(f"unknown specimen(s): {', '.join(missing)} (register them first)")
    busy = [s for s in specimen_ids if rows[s].state != "AS_MADE"]
    if busy:
        states = ", ".join(f"{s} is {rows[s].state}" for s in busy)
        raise AgingError(f"specimen(s) not available for aging: {states}")


async def create_run(
    sessions: Sessions, run_id: str, oven: str, resource: str, plan: AgingPlan,
    specimen_ids: list[str], started_ts: float,
) -> None:
    """Insert the aging run (its ``runs`` row must exist) and put its specimens in AGING."""
    async with sessions() as session, session.begin():
        session.add(AgingRunRow(
            id=run_id, oven=oven, resource=resource, status="RUNNING", plan=plan.to_json(),
            setpoint_c=plan.setpoint_c, tolerance_c=plan.tolerance_c, target_h=plan.target_h,
            specimen_plan=plan_specimens(specimen_ids, plan.pullouts_h),
            started_ts=started_ts, accounted_until_ts=started_ts, pullouts_announced=[],
            checkpoint_wall_ts=time.time(),
        ))
        for specimen in await session.scalars(
                select(Specimen).where(Specimen.id.in_(specimen_ids))):
            specimen.state = "AGING"
            specimen.aging_run_id = run_id
            specimen.aging_hours = 0.0


async def checkpoint(sessions: Sessions, run_id: str, acc: Accountant,
                     outcome: Outcome | None = None, status: str | None = None) -> None:
    """Write the accountant's state and the excursions that changed, in one transaction."""
    changed: list[Excursion] = []
    if outcome is not None:
        changed = [*outcome.opened, *outcome.closed, *outcome.alarm_due]
    if acc.excursion is not None:
        changed.append(acc.excursion)  # its peak and last row move on
    inserted: list[Excursion] = []
    try:
        await _write_checkpoint(sessions, run_id, acc, changed, inserted, status)
    except BaseException:
        for exc in inserted:  # rolled back: insert them again next time
            exc.db_id = None
        raise


async def _write_checkpoint(sessions: Sessions, run_id: str, acc: Accountant,
                            changed: list[Excursion], inserted: list[Excursion],
                            status: str | None) -> None:
    async with sessions() as session, session.begin():
        row = await session.get(AgingRunRow, run_id)
        if row is None:
            raise AgingError(f"aging run {run_id} is not in the database")
        seen: set[int] = set()
        for exc in changed:
            if id(exc) in seen:
                continue
            seen.add(id(exc))
            if exc.db_id is None:
                inserted.append(exc)
            await _save_excursion(session, run_id, exc)
        row.accounted_until_ts = acc.accounted_until_ts
        row.in_tolerance_s = acc.in_tolerance_s
        row.out_of_tolerance_s = acc.out_of_tolerance_s
        row.unmonitored_s = acc.unmonitored_s
        row.rows_out_of_order = acc.rows_out_of_order
        row.excursion_count = acc.excursion_count
        row.open_excursion_id = acc.excursion.db_id if acc.excursion is not None else None
        row.pullouts_announced = list(acc.pullouts_announced)
        row.last_pv_c = acc.last_pv_c
        row.completed_ts = acc.completed_ts
        row.checkpoint_wall_ts = time.time()
        if status is not None:
            row.status = status


async def _save_excursion(session: AsyncSession, run_id: str, exc: Excursion) -> None:
    if exc.db_id is None:
        new = AgingExcursionRow(
            run_id=run_id, start_ts=exc.start_ts, end_ts=exc.end_ts,
            last_out_ts=exc.last_out_ts, peak_deviation_c=exc.peak_deviation_c,
            peak_pv_c=exc.peak_pv_c, alarm_raised=exc.alarm_raised)
        session.add(new)
        await session.flush()
        exc.db_id = new.id
        return
    row = await session.get(AgingExcursionRow, exc.db_id)
    if row is None:
        raise AgingError(f"excursion {exc.db_id} of {run_id} vanished from the database")
    row.end_ts = exc.end_ts
    row.last_out_ts = exc.last_out_ts
    row.peak_deviation_c = exc.peak_deviation_c
    row.peak_pv_c = exc.peak_pv_c
    row.alarm_raised = exc.alarm_raised


async def load_accountant(sessions: Sessions, run_id: str) -> tuple[AgingRunRow, Accountant]:
    """The run's row and its accountant as of the last checkpoint."""
    async with sessions() as session:
        row = await session.get(AgingRunRow, run_id)
        if row is None:
            raise AgingError(f"no aging run {run_id}")
        exc: Excursion | None = None
        if row.open_excursion_id is not None:
            er = await session.get(AgingExcursionRow, row.open_excursion_id)
            if er is not None:
                exc = Excursion(start_ts=er.start_ts, last_out_ts=er.last_out_ts,
                                peak_deviation_c=er.peak_deviation_c, peak_pv_c=er.peak_pv_c,
                                end_ts=er.end_ts, alarm_raised=er.alarm_raised, db_id=er.id)
    acc = Accountant(
        plan=AgingPlan.from_json(row.plan), started_ts=row.started_ts,
        accounted_until_ts=row.accounted_until_ts, in_tolerance_s=row.in_tolerance_s,
        out_of_tolerance_s=row.out_of_tolerance_s, unmonitored_s=row.unmonitored_s,
        rows_out_of_order=row.rows_out_of_order, last_pv_c=row.last_pv_c,
        pullouts_announced=[float(p) for p in row.pullouts_announced], excursion=exc,
        excursion_count=row.excursion_count, completed_ts=row.completed_ts)
    return row, acc


async def note_resume(sessions: Sessions, run_id: str) -> int:
    """Count a resume of the run; returns how many there have been."""
    async with sessions() as session, session.begin():
        row = await session.get(AgingRunRow, run_id)
        if row is None:
            raise AgingError(f"no aging run {run_id}")
        row.resumes += 1
        return row.resumes


async def running_ids(sessions: Sessions) -> list[str]:
    """Aging runs still RUNNING (to resume), oldest first."""
    async with sessions() as session:
        result = await session.scalars(select(AgingRunRow.id).where(
            AgingRunRow.status == "RUNNING").order_by(AgingRunRow.started_ts))
        return list(result)


@dataclass
class PulloutResult:
    """A recorded pull-out."""

    run_id: str
    ts: float
    planned_h: float | None
    in_tolerance_h: float
    specimen_ids: list[str] = field(default_factory=list)
    #: The stored pull-out's id.
    pullout_id: int = 0


async def record_pullout(
    sessions: Sessions, run_id: str | None, specimen_ids: list[str] | None, ts: float,
    operator: str | None = None,
) -> PulloutResult:
    """Take specimens out of the oven at the run's current in-tolerance hours.

    Without ``specimen_ids`` the specimens planned for the earliest due pull-out still in
    the oven are taken. Each pulled specimen gets state PULLED and its aging hours.
    """
    async with sessions() as session, session.begin():
        row = await _pick_run(session, run_id)
        in_oven = {s.id: s for s in await session.scalars(select(Specimen).where(
            Specimen.aging_run_id == row.id, Specimen.state == "AGING"))}
        planned_h: float | None = None
        if not specimen_ids:
            announced = sorted(float(p) for p in row.pullouts_announced)
            for p in announced:
                ids = [s for s in row.specimen_plan.get(f"{p:g}", []) if s in in_oven]
                if ids:
                    planned_h, specimen_ids = p, ids
                    break
            if not specimen_ids:
                raise AgingError(f"no pull-out of {row.id} is due with specimens still inside "
                                 f"(in tolerance {row.in_tolerance_s / 3600:.1f} h)")
        else:
            absent = [s for s in specimen_ids if s not in in_oven]
            if absent:
                raise AgingError(f"not in the oven of {row.id}: {', '.join(absent)}")
            for key, ids in row.specimen_plan.items():
                if set(specimen_ids) <= set(ids):
                    planned_h = float(key)
        hours = row.in_tolerance_s / 3600.0
        for sid in specimen_ids:
            in_oven[sid].state = "PULLED"
            in_oven[sid].aging_hours = round(hours, 3)
        pullout = AgingPulloutRow(run_id=row.id, ts=ts, planned_h=planned_h,
                                  in_tolerance_h=hours, specimen_ids=list(specimen_ids),
                                  operator=operator)
        session.add(pullout)
        await session.flush()
        return PulloutResult(row.id, ts, planned_h, hours, list(specimen_ids), pullout.id)


async def _pick_run(session: AsyncSession, run_id: str | None) -> AgingRunRow:
    if run_id is not None:
        row = await session.get(AgingRunRow, run_id)
        if row is None:
            raise AgingError(f"no aging run {run_id}")
        return row
    latest = (await session.scalars(select(AgingRunRow).order_by(
        AgingRunRow.started_ts.desc()).limit(1))).first()
    if latest is None:
        raise AgingError("there is no aging run yet (start one with `daq aging start`)")
    return latest


async def status(sessions: Sessions, run_id: str | None = None) -> dict[str, Any]:
    """Everything ``daq aging status`` and the API show about a run (latest by default)."""
    async with sessions() as session:
        row = await _pick_run(session, run_id)
        excursions = list(await session.scalars(select(AgingExcursionRow).where(
            AgingExcursionRow.run_id == row.id).order_by(AgingExcursionRow.start_ts)))
        pullouts = list(await session.scalars(select(AgingPulloutRow).where(
            AgingPulloutRow.run_id == row.id).order_by(AgingPulloutRow.ts)))
        specimens = list(await session.scalars(select(Specimen).where(
            Specimen.aging_run_id == row.id).order_by(Specimen.id)))
    plan = AgingPlan.from_json(row.plan)
    announced = {float(p) for p in row.pullouts_announced}
    pending = sorted(p for p in plan.pullouts_h if p not in announced)
    pulled = {s for p in pullouts for s in p.specimen_ids}
    due = [
        {"planned_h": float(p), "specimens": [s for s in ids if s not in pulled]}
        for p, ids in row.specimen_plan.items()
        if float(p) in announced and any(s not in pulled for s in ids)
    ]
    return {
        "run_id": row.id, "status": row.status, "oven": row.oven, "resource": row.resource,
        "setpoint_c": row.setpoint_c, "tolerance_c": row.tolerance_c, "target_h": row.target_h,
        "started_ts": row.started_ts, "accounted_until_ts": row.accounted_until_ts,
        "in_tolerance_h": row.in_tolerance_s / 3600.0,
        "out_of_tolerance_h": row.out_of_tolerance_s / 3600.0,
        "unmonitored_h": row.unmonitored_s / 3600.0,
        "elapsed_h": (row.accounted_until_ts - row.started_ts) / 3600.0,
        "rows_out_of_order": row.rows_out_of_order, "resumes": row.resumes,
        "last_pv_c": row.last_pv_c, "completed_ts": row.completed_ts,
        "next_pullout_h": pending[0] if pending else None, "pullouts_due": due,
        "excursions": [
            {"id": e.id, "start_ts": e.start_ts, "end_ts": e.end_ts,
             "duration_h": ((e.end_ts if e.end_ts is not None else e.last_out_ts)
                            - e.start_ts) / 3600.0,
             "peak_deviation_c": e.peak_deviation_c, "peak_pv_c": e.peak_pv_c,
             "alarm_raised": e.alarm_raised} for e in excursions],
        "pullouts": [
            {"ts": p.ts, "planned_h": p.planned_h, "in_tolerance_h": p.in_tolerance_h,
             "specimens": p.specimen_ids, "operator": p.operator} for p in pullouts],
        "specimens": [
            {"id": s.id, "state": s.state, "aging_hours": s.aging_hours} for s in specimens],
    }
