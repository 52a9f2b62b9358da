"""The peel test as a kind of run: how the station builds one, and its adapter to the
engine's :class:`~daq.station.procedures.Procedure` protocol.

The station's front-panel watcher (:mod:`daq.peel.station`) reads the same serial line;
the engine pauses it while a peel test holds the tester (it is a registered background
reader of the tester) and resumes it after.
"""

from __future__ import annotations

import asyncio

from daq.peel.params import PeelTestParams
from daq.peel.procedure import PeelOutcome, PeelTest
from daq.peel.store import PeelStore, SpecimenContext
from daq.station.errors import Refused
from daq.station.interface import Station
from daq.station.lookup import driver_as, instrument_for
from daq.station.outcome import Outcome
from daq.station.procedures import Procedure, ProcedureKind
from daq.station.specimens import SpecimenLoaded
from drivers.peel_tester import PeelTester

KIND = "peel_test"
DRIVER = "peel_tester"


class PeelTestProcedure:
    """A :class:`PeelTest` of one specimen as the engine drives it."""

    kind = KIND

    def __init__(self, test: PeelTest, specimen_id: str) -> None:
        self.test = test
        self.specimen_id = specimen_id
        self._result: PeelOutcome | None = None
        self._task: asyncio.Task[PeelOutcome] | None = None
        self._abort_reason: str | None = None

    @property
    def run_id(self) -> str:
        """The test's run id."""
        return self.test.run_id

    @property
    def instruments(self) -> tuple[str, ...]:
        """The tester."""
        return (self.test.instrument,)

    @property
    def phase(self) -> str | None:
        """CONFIGURE, ZERO, LOAD, PEEL, or how it ended."""
        return self.test.phase

    @property
    def result(self) -> PeelOutcome | None:
        """Status, peel strength and points once it ended."""
        return self._result

    async def run(self) -> Outcome:
        """Peel the specimen; an abort stops the tester and keeps what was captured."""
        self._task = asyncio.get_running_loop().create_task(self.test.run(self.specimen_id))
        if self._abort_reason is not None:
            self._task.cancel()
        try:
            self._result = await self._task
        except asyncio.CancelledError:
            if not self._task.cancelled() or self._abort_reason is None:
                raise  # cancelled from outside, not aborted: pass it on
            if self.test.capture is None:  # aborted while configuring: close the record
                t = self.test
                await t.recorder.finish_run(t.run_id, t.clock.now(), str(Outcome.ABORTED),
                                            self._abort_reason,
                                            {"specimen_id": self.specimen_id})
            # Otherwise PeelTest recorded ABORTED with the partial curve.
            return Outcome.ABORTED
        return Outcome.of(self._result.status)

    def abort(self, reason: str) -> None:
        """Stop the tester; the run ends ABORTED."""
        if self._abort_reason is None:
            self._abort_reason = reason
        if self._task is not None and not self._task.done():
            self._task.cancel()



def occupies(station: Station, params: PeelTestParams) -> tuple[str, ...]:
    """The tester the test runs on."""
    return (instrument_for(station, DRIVER, params.tester).name,)


async def build(station: Station, params: PeelTestParams, operator: str | None,
                parent: str | None) -> Procedure:
    """A peel test of a specimen on record, on the station's tester."""
    instrument = instrument_for(station, DRIVER, params.tester)
    store = PeelStore(station.sessions)
    if await store.specimen_context(params.specimen_id) is None:
        raise Refused("specimen_id", f"specimen {params.specimen_id!r} is not on record: "
                      "register it first (POST /api/specimens)")
    tester = driver_as(instrument, PeelTester)
    test = PeelTest(
        tester, station.clock, station.recorder, station.bus,
        store, instrument=instrument.name, settings=params.settings(), operator=operator,
    )
    return PeelTestProcedure(test, params.specimen_id)


def specimen_loaded(instrument: str, context: SpecimenContext) -> SpecimenLoaded:
    """The stored specimen ``context`` clamped in the tester ``instrument``."""
    return SpecimenLoaded(instrument, context.specimen_id, context.material_key,
                          context.adhesive_thickness_um, context.aging_hours)


async def loads(station: Station, params: PeelTestParams) -> tuple[SpecimenLoaded, ...]:
    """The specimen the test clamps in its tester, as stored (material, aging hours)."""
    context = await PeelStore(station.sessions).specimen_context(params.specimen_id)
    if context is None:
        return ()
    return (specimen_loaded(instrument_for(station, DRIVER, params.tester).name, context),)


PEEL_TEST: ProcedureKind[PeelTestParams] = ProcedureKind(
    KIND, PeelTestParams, occupies, build,
    "peel one specimen (JIS C 6481): CONFIGURE → ZERO → LOAD → PEEL", loads_of=loads)
