"""The laser job as a kind of run: how the station builds one, and its adapter to the
engine's :class:`~daq.station.procedures.Procedure` protocol."""

from __future__ import annotations

from daq.laser.params import LaserRunParams
from daq.laser.procedure import LaserJob, LaserJobResult
from daq.laser.store import LaserJobStore, SampleInfo
from daq.station.errors import Refused
from daq.station.interface import Station
from daq.station.lookup import driver_as, instrument_for
from daq.station.outcome import Outcome
from daq.station.procedures import Procedure, ProcedureKind
from daq.station.specimens import SpecimenLoaded
from drivers.uv_laser import UvLaser

KIND = "laser_job"
DRIVER = "uv_laser"


class LaserJobProcedure:
    """A :class:`LaserJob` as the engine drives it."""

    kind = KIND

    def __init__(self, job: LaserJob) -> None:
        self.job = job
        self._result: LaserJobResult | None = None

    @property
    def run_id(self) -> str:
        """The job's run id."""
        return self.job.run_id

    @property
    def instruments(self) -> tuple[str, ...]:
        """The laser."""
        return (self.job.instrument,)

    @property
    def phase(self) -> str | None:
        """PRECHECK, ARM, DRILL, INSPECT, DONE or SAFE."""
        return str(self.job.phase)

    @property
    def result(self) -> LaserJobResult | None:
        """The job's result (grade included) once it ended."""
        return self._result

    async def run(self) -> Outcome:
        """Drill and grade."""
        self._result = await self.job.run()
        return Outcome.of(self._result.outcome)

    def abort(self, reason: str) -> None:
        """Shutter closed, run ABORTED."""
        self.job.abort(reason)


def occupies(station: Station, params: LaserRunParams) -> tuple[str, ...]:
    """The laser the job runs on."""
    return (instrument_for(station, DRIVER, params.laser).name,)


async def build(station: Station, params: LaserRunParams, operator: str | None,
                parent: str | None) -> Procedure:
    """A laser job on the station's laser, for a lot on record."""
    instrument = instrument_for(station, DRIVER, params.laser)
    store = LaserJobStore(station.sessions)
    sample = await store.sample(params.sample_id)
    if sample is None:
        raise Refused("sample_id", f"sample {params.sample_id!r} is not on record: "
                      "register it first (POST /api/samples)")
    job = LaserJob(
        driver_as(instrument, UvLaser), params.job(), station.clock, station.recorder,
        station.bus, store=store, sample=sample, instrument=instrument.name, operator=operator,
    )
    return LaserJobProcedure(job)


def sample_loaded(instrument: str, sample: SampleInfo) -> SpecimenLoaded:
    """The stored lot ``sample`` on the stage of the laser ``instrument``."""
    return SpecimenLoaded(instrument, sample.sample_id, sample.material_key,
                          sample.adhesive_thickness_um)


async def loads(station: Station, params: LaserRunParams) -> tuple[SpecimenLoaded, ...]:
    """The lot the job puts on the laser's stage, as stored (material, thickness)."""
    sample = await LaserJobStore(station.sessions).sample(params.sample_id)
    if sample is None:
        return ()
    return (sample_loaded(instrument_for(station, DRIVER, params.laser).name, sample),)


LASER_JOB: ProcedureKind[LaserRunParams] = ProcedureKind(
    KIND, LaserRunParams, occupies, build,
    "drill a lot and grade it O/Δ/X: PRECHECK → ARM → DRILL → INSPECT", loads_of=loads)
