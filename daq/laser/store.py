"""Where laser jobs live in the database: the job row, its inspected holes and grade.

The job and its holes are written in one transaction, so a grade is never on record
without the holes it rests on. The sample lot must be on record first
(:meth:`LaserJobStore.ensure_sample`), since every job is linked to one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.laser.grading import JobGrade, hole_grade
from daq.laser.params import LaserJobParams
from daq.storage.laser_models import LaserHoleRow, LaserJobRow
from daq.storage.models import Sample
from drivers.uv_laser import HoleResult


class UnknownSample(LookupError):
    """A sample lot that is not on record (give its material to create it)."""

    def __init__(self, sample_id: str) -> None:
        self.sample_id = sample_id
        super().__init__(
            f"sample {sample_id!r} is not on record "
            "(give --material KEY --thickness-um T to register it)"
        )


@dataclass(frozen=True)
class SampleInfo:
    """What the laser job needs to know about the lot on the stage."""

    sample_id: str
    material_key: str
    material_name: str
    adhesive_thickness_um: float
    film_forms: bool


@dataclass
class LaserJobRecord:
    """A laser job as stored: parameters, outcome, inspected holes and grade."""

    run_id: str
    instrument: str
    params: LaserJobParams
    state: str  # "DONE" | "ABORTED"
    holes_done: int
    started_ts: float
    ended_ts: float
    stop_cause: str | None = None
    reason: str | None = None
    grade: JobGrade | None = None
    holes: Sequence[HoleResult] = field(default_factory=list)


class LaserJobStore:
    """Reads samples and writes laser jobs through a session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def sample(self, sample_id: str) -> SampleInfo | None:
        """The sample lot ``sample_id``, or ``None`` when it is not on record."""
        async with self.sessions() as session:
            row = await session.get(Sample, sample_id)
            if row is None:
                return None
            return SampleInfo(
                row.id,
                row.material_key,
                row.material_name,
                row.adhesive_thickness_um,
                row.film_forms,
            )

    async def ensure_sample(
        self, info: SampleInfo, now_ts: float, note: str | None = None
    ) -> SampleInfo:
        """The lot on record, created from ``info`` if it is missing (an existing one wins)."""
        async with self.sessions.begin() as session:
            row = await session.get(Sample, info.sample_id)
            if row is None:
                row = Sample(
                    id=info.sample_id,
                    material_key=info.material_key,
                    material_name=info.material_name,
                    adhesive_thickness_um=info.adhesive_thickness_um,
                    film_forms=info.film_forms,
                    note=note,
                    created_ts=now_ts,
                )
                session.add(row)
            return SampleInfo(
                row.id,
                row.material_key,
                row.material_name,
                row.adhesive_thickness_um,
                row.film_forms,
            )

    async def save(self, record: LaserJobRecord) -> None:
        """Write the job, its holes and its grade in one transaction."""
        p = record.params
        g = record.grade
        async with self.sessions.begin() as session:
            session.add(
                LaserJobRow(
                    id=record.run_id,
                    sample_id=p.sample_id,
                    instrument=record.instrument,
                    job_name=p.sample_id,
                    n_holes=p.n_holes,
                    holes_done=record.holes_done,
                    diameter_um=p.diameter_um,
                    pulse_frequency_hz=p.pulse_frequency_hz,
                    hole_rate_hz=p.hole_rate_hz,
                    power_w=p.power_w,
                    wavelength_nm=p.wavelength_nm,
                    state=record.state,
                    stop_cause=record.stop_cause,
                    reason=record.reason,
                    grade=g.grade if g else None,
                    holes_inspected=len(record.holes),
                    holes_open=g.holes_open if g else sum(h.opened for h in record.holes),
                    holes_with_dross=g.holes_with_dross if g else 0,
                    open_share=g.open_share if g else None,
                    dross_share=g.dross_share if g else None,
                    median_taper=g.median_taper if g else None,
                    started_ts=record.started_ts,
                    ended_ts=record.ended_ts,
                )
            )
            await session.flush()
            if record.holes:
                await session.execute(
                    insert(LaserHoleRow),
                    [
                        {
                            "job_id": record.run_id,
                            "hole_index": h.index,
                            "top_um": h.top_um,
                            "bottom_um": h.bottom_um,
                            "dross": h.dross,
                            "grade": hole_grade(h),
                        }
                        for h in record.holes
                    ],
                )

    async def job(self, run_id: str) -> tuple[LaserJobRow, list[LaserHoleRow]] | None:
        """A stored job and its holes (in hole order), or ``None``."""
        async with self.sessions() as session:
            job = await session.get(LaserJobRow, run_id)
            if job is None:
                return None
            holes = (
                await session.scalars(
                    select(LaserHoleRow)
                    .where(LaserHoleRow.job_id == run_id)
                    .order_by(LaserHoleRow.hole_index)
                )
            ).all()
            return job, list(holes)
