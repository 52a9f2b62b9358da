"""Where peel tests live in the database: specimens' context, curves and results.

Writes the test (with its packed curve), its result and the specimen's new state in one
transaction, so a result is never on record without its curve.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.peel.calculation import PeelResult, SteadyRegionRule
from daq.storage.models import Laminate, Run, Sample, Specimen
from daq.storage.peel_models import PeelResultRow, PeelTestRow, pack_curve, unpack_curve


class UnknownSpecimen(LookupError):
    """A specimen id that is not on record (create it with its sample first)."""

    def __init__(self, specimen_id: str) -> None:
        self.specimen_id = specimen_id
        super().__init__(
            f"specimen {specimen_id!r} is not on record "
            "(give --sample LOT --material KEY to create it)"
        )


class UnknownRun(LookupError):
    """A press run id that is not on record."""


class NoFilm(ValueError):
    """A material whose polyimide does not dissolve: no film, so no specimen."""


@dataclass(frozen=True)
class SpecimenContext:
    """What a peel test links to: the specimen, its sample lot, laminate and aging state."""

    specimen_id: str
    sample_id: str
    laminate_id: str | None
    aging_hours: float
    width_mm: float
    material_key: str
    adhesive_thickness_um: float

    @classmethod
    def of(cls, specimen: Specimen, sample: Sample) -> SpecimenContext:
        """The context of a stored specimen and its sample lot."""
        return cls(specimen.id, sample.id, specimen.laminate_id, specimen.aging_hours,
                   specimen.width_mm, sample.material_key, sample.adhesive_thickness_um)


@dataclass
class PeelRecord:
    """A peel test as stored: settings, outcome, curve and (if computed) its result."""

    run_id: str
    specimen_id: str | None
    specimen_label: str
    sample_id: str | None
    laminate_id: str | None
    aging_hours: float | None
    instrument: str
    width_mm: float
    speed_mm_per_min: float
    angle_deg: float
    trigger: str
    status: str
    end_reason: str | None
    reason: str | None
    started_ts: float
    ended_ts: float | None
    garbled_lines: int
    mm: list[float]
    force_n: list[float]
    result: PeelResult | None = None
    rule: SteadyRegionRule | None = None


class PeelStore:
    """Peel tests and the specimens they belong to, in the station's database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def specimen_context(self, specimen_id: str) -> SpecimenContext | None:
        """The specimen's sample, laminate, aging hours and material, if it is on record."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(Specimen, Sample)
                    .join(Sample, Sample.id == Specimen.sample_id)
                    .where(Specimen.id == specimen_id)
                )
            ).first()
        if row is None:
            return None
        specimen, sample = row
        return SpecimenContext.of(specimen, sample)

    async def ensure_specimen(
        self,
        specimen_id: str,
        *,
        sample_id: str,
        material_key: str,
        material_name: str,
        adhesive_thickness_um: float,
        film_forms: bool,
        note: str | None,
        now_ts: float,
        laminate_id: str | None = None,
        press_run_id: str | None = None,
        aging_hours: float = 0.0,
        width_mm: float = 3.0,
    ) -> SpecimenContext:
        """Create the sample lot, laminate and specimen where they are missing."""
        async with self.sessions.begin() as session:
            sample = await session.get(Sample, sample_id)
            if sample is None:
                sample = Sample(
                    id=sample_id,
                    material_key=material_key,
                    material_name=material_name,
                    adhesive_thickness_um=adhesive_thickness_um,
                    film_forms=film_forms,
                    note=note,
                    created_ts=now_ts,
                )
                session.add(sample)
            if not sample.film_forms:
                raise NoFilm(
                    f"{sample.material_name} ({sample.material_key}) cannot be made into "
                    f"specimens: {sample.note or 'no film'}"
                )
            if press_run_id is not None and await session.get(Run, press_run_id) is None:
                raise UnknownRun(f"no press run {press_run_id!r} on record (see `daq runs list`)")
            if laminate_id is not None and await session.get(Laminate, laminate_id) is None:
                session.add(Laminate(id=laminate_id, sample_id=sample_id,
                                     press_run_id=press_run_id, created_ts=now_ts))
            specimen = await session.get(Specimen, specimen_id)
            if specimen is None:
                specimen = Specimen(
                    id=specimen_id,
                    sample_id=sample_id,
                    laminate_id=laminate_id,
                    width_mm=width_mm,
                    aging_hours=aging_hours,
                    state="AS_MADE" if aging_hours == 0 else "PULLED",
                    created_ts=now_ts,
                )
                session.add(specimen)
            return SpecimenContext.of(specimen, sample)

    async def save(self, record: PeelRecord) -> None:
        """Store the test, its curve and its result; mark the specimen PEELED if done."""
        async with self.sessions.begin() as session:
            session.add(
                PeelTestRow(
                    id=record.run_id,
                    specimen_id=record.specimen_id,
                    specimen_label=record.specimen_label,
                    sample_id=record.sample_id,
                    laminate_id=record.laminate_id,
                    aging_hours=record.aging_hours,
                    instrument=record.instrument,
                    width_mm=record.width_mm,
                    speed_mm_per_min=record.speed_mm_per_min,
                    angle_deg=record.angle_deg,
                    trigger=record.trigger,
                    status=record.status,
                    end_reason=record.end_reason,
                    reason=record.reason,
                    started_ts=record.started_ts,
                    ended_ts=record.ended_ts,
                    n_points=len(record.mm),
                    garbled_lines=record.garbled_lines,
                    curve=pack_curve(record.mm, record.force_n),
                )
            )
            await session.flush()
            result = record.result
            if result is not None:
                session.add(
                    PeelResultRow(
                        peel_test_id=record.run_id,
                        specimen_id=record.specimen_id,
                        sample_id=record.sample_id,
                        aging_hours=record.aging_hours,
                        peel_strength_n_per_cm=result.peel_strength_n_per_cm,
                        mean_force_n=result.mean_force_n,
                        min_force_n=result.min_force_n,
                        max_force_n=result.max_force_n,
                        sd_force_n=result.sd_force_n,
                        n_samples=result.n_samples,
                        garbled_lines=result.garbled_lines,
                        steady_start_mm=result.steady_start_mm,
                        steady_end_mm=result.steady_end_mm,
                        width_mm=result.width_mm,
                        rule=record.rule.as_dict() if record.rule else {},
                        computed_ts=record.ended_ts or record.started_ts,
                    )
                )
                if record.specimen_id is not None:
                    specimen = await session.get(Specimen, record.specimen_id)
                    if specimen is not None:
                        specimen.state = "PEELED"

    async def test(self, run_id: str) -> PeelTestRow | None:
        """The stored test of a run."""
        async with self.sessions() as session:
            return await session.get(PeelTestRow, run_id)

    async def curve(self, run_id: str) -> tuple[list[float], list[float]]:
        """The (mm, N) points of a stored test (empty lists if there is none)."""
        async with self.sessions() as session:
            blob = await session.scalar(
                select(PeelTestRow.curve).where(PeelTestRow.id == run_id)
            )
        return unpack_curve(blob) if blob is not None else ([], [])

    async def results_for_sample(
        self, sample_id: str
    ) -> list[tuple[PeelTestRow, PeelResultRow | None]]:
        """Every peel test of a sample lot with its result, oldest first."""
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(PeelTestRow, PeelResultRow)
                    .outerjoin(PeelResultRow, PeelResultRow.peel_test_id == PeelTestRow.id)
                    .where(PeelTestRow.sample_id == sample_id)
                    .order_by(PeelTestRow.started_ts)
                )
            ).all()
        return [(t, r) for t, r in rows]
