"""The aging run as a kind of run: how the station starts one, and its adapter to the
engine's :class:`~daq.station.procedures.Procedure` protocol.

An aging run outlives the station: on shutdown the engine suspends it (it checkpoints
and stays RUNNING) instead of aborting it, and the next start resumes it
(:func:`daq.station.background.background_services` adopts the resumed runs into the
engine, so they hold their oven as any run does).
"""

from __future__ import annotations

import asyncio
import contextlib

from daq.aging.accounting import Accountant
from daq.aging.params import AgingRunParams
from daq.aging.procedure import AgingRunner
from daq.aging.store import AgingError
from daq.station.errors import NoSuchInstrument, Refused
from daq.station.interface import Station
from daq.station.lookup import instrument_for
from daq.station.outcome import Outcome
from daq.station.procedures import Procedure, ProcedureKind
from drivers.oven import Oven

KIND = "aging_run"
DRIVER = "aging_oven"


class AgingRunProcedure:
    """One aging run held by an :class:`AgingRunner`: :meth:`run` waits for it to reach
    its target hours; :meth:`abort` ends it ABORTED."""

    kind = KIND

    def __init__(self, runner: AgingRunner, run_id: str, oven: str,
                 operator: str | None = None) -> None:
        self.runner = runner
        self._run_id = run_id
        self.oven = oven
        self.operator = operator
        self._abort = asyncio.Event()
        self._abort_reason = "aborted by operator"
        self._result: Accountant | None = None

    @property
    def run_id(self) -> str:
        """The aging run's id."""
        return self._run_id

    @property
    def instruments(self) -> tuple[str, ...]:
        """The oven."""
        return (self.oven,)

    @property
    def phase(self) -> str | None:
        """RUNNING while it accounts, then how it ended."""
        run = self.runner.runs.get(self._run_id)
        if run is not None and run.finished:
            return "DONE"
        return "ABORTED" if self._abort.is_set() else "RUNNING"

    @property
    def result(self) -> Accountant | None:
        """The hour accounting once it ended."""
        return self._result

    async def run(self) -> Outcome:
        """Wait until the specimens have their hours (or an abort)."""
        task = self.runner.tasks[self._run_id]
        aborted = asyncio.ensure_future(self._abort.wait())
        try:
            await asyncio.wait([task, aborted], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Station stopping: the run checkpoints and stays RUNNING (resumed later).
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise
        finally:
            aborted.cancel()
        if self._abort.is_set():
            await self.runner.abort(self._run_id, self.operator, self._abort_reason)
            run = self.runner.runs.get(self._run_id)
            self._result = run.acc if run is not None else None
            return Outcome.ABORTED
        if task.cancelled():  # the runner was stopped (station shutdown): suspended
            return Outcome.INTERRUPTED
        self._result = task.result()
        return Outcome.DONE

    def abort(self, reason: str) -> None:
        """End the run ABORTED (the specimens stay where they are)."""
        self._abort_reason = reason
        self._abort.set()


def occupies(station: Station, params: AgingRunParams) -> tuple[str, ...]:
    """The oven."""
    return (instrument_for(station, DRIVER, params.oven).name,)


async def build(station: Station, params: AgingRunParams, operator: str | None,
                parent: str | None) -> Procedure:
    """Check the specimens, set the oven, record the run and start accounting."""
    instrument = instrument_for(station, DRIVER, params.oven)
    oven = instrument.driver
    if not isinstance(oven, Oven):
        raise NoSuchInstrument(f"{instrument.name} is driven by {type(oven).__name__}, "
                               "not an oven driver")
    runner = AgingRunner(ovens={instrument.name: oven}, clock=station.clock,
                         recorder=station.recorder, sessions=station.sessions,
                         bus=station.bus)
    try:
        run_id = await runner.start(params.plan(), list(params.specimen_ids),
                                    oven_name=instrument.name, resource=instrument.resource,
                                    operator=operator)
    except AgingError as exc:
        raise Refused("specimen_ids", str(exc)) from None
    return AgingRunProcedure(runner, run_id, instrument.name, operator)


AGING_RUN: ProcedureKind[AgingRunParams] = ProcedureKind(
    KIND, AgingRunParams, occupies, build,
    "hold specimens at the setpoint for the target hours in tolerance (resumable)",
    resumable=True)
