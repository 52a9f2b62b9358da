"""What a run is to the station: a :class:`Procedure`, built by its :class:`ProcedureKind`.

Every kind of work (press cycle, peel test, aging run, laser job, campaign) is one
:class:`ProcedureKind`: its name, ONE pydantic parameter model (the HTTP body, the CLI
options and the campaign file validate with it alike), the instruments it occupies, and
an async factory that builds the procedure from the station, the parameters and the
operator with the same wiring everywhere (stores, bus, recorder, poll intervals,
specimen and sample lookups). The registry of kinds is :mod:`daq.station.kinds`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from daq.station.interface import Station
from daq.station.outcome import Outcome
from daq.station.specimens import SpecimenLoaded


class Procedure(Protocol):
    """A run the engine drives: run it to its end, abort it to the safe state."""

    @property
    def run_id(self) -> str:
        """The run's id (known before it starts: the engine answers with it)."""

    @property
    def kind(self) -> str:
        """The kind of run (``press_cycle``, ``peel_test``, …)."""

    @property
    def instruments(self) -> tuple[str, ...]:
        """The instruments it occupies while it runs."""

    @property
    def phase(self) -> str | None:
        """The state it is in now (``HEAT``, ``DRILL``, …), if it has started."""

    @property
    def result(self) -> object:
        """The kind's own result once :meth:`run` returned (``CycleResult``,
        ``LaserJobResult``, ``PeelOutcome``, …), else ``None``."""

    async def run(self) -> Outcome:
        """Run to the end; the run's record is written by the procedure itself."""

    def abort(self, reason: str) -> None:
        """Go to the safe state and end ABORTED (returns at once; :meth:`run` ends)."""


P = TypeVar("P", bound=BaseModel)

#: The instruments a run of these parameters occupies on this station.
Occupies = Callable[[Station, P], tuple[str, ...]]
#: Build the procedure: ``(station, params, operator, parent run id)``.
Factory = Callable[[Station, P, str | None, str | None], Awaitable[Procedure]]
#: What a run with these parameters puts on its instruments (from the stored rows).
Loads = Callable[[Station, P], Awaitable[tuple[SpecimenLoaded, ...]]]


class Kind(Protocol):
    """A kind of run, its parameter type erased (what the engine and the API hold)."""

    @property
    def name(self) -> str:
        """The kind's name (``press_cycle``)."""

    @property
    def params_model(self) -> type[BaseModel]:
        """The pydantic model of its parameters."""

    @property
    def resumable(self) -> bool:
        """True when a station shutdown suspends it (it resumes at the next start)
        instead of aborting it."""

    @property
    def description(self) -> str:
        """One line for the operator."""

    def validate(self, raw: BaseModel | Mapping[str, object]) -> BaseModel:
        """The parameters, validated (``pydantic.ValidationError`` names the field)."""

    def occupies(self, station: Station, params: BaseModel) -> tuple[str, ...]:
        """The instruments a run with ``params`` would occupy."""

    async def build(self, station: Station, params: BaseModel, operator: str | None,
                    parent: str | None) -> Procedure:
        """The procedure, ready to run."""

    async def loads(self, station: Station, params: BaseModel) -> tuple[SpecimenLoaded, ...]:
        """The specimens or samples a run with ``params`` puts on its instruments."""


@dataclass(frozen=True)
class ProcedureKind(Generic[P]):
    """One kind of run: name, parameter model, instruments occupied, factory."""

    name: str
    params_model: type[P]
    occupies_of: Occupies[P]
    factory: Factory[P]
    description: str = ""
    resumable: bool = False
    #: What it puts on its instruments; ``None``: nothing (a press cycle, a campaign).
    loads_of: Loads[P] | None = None

    def validate(self, raw: BaseModel | Mapping[str, object]) -> P:
        """The parameters as this kind's model (a model of another type is re-validated
        from its fields, so a caller can never hand a kind the wrong model)."""
        if isinstance(raw, self.params_model):
            return raw
        data = raw.model_dump() if isinstance(raw, BaseModel) else dict(raw)
        return self.params_model.model_validate(data)

    def occupies(self, station: Station, params: BaseModel) -> tuple[str, ...]:
        """The instruments a run with ``params`` occupies."""
        return self.occupies_of(station, self.validate(params))

    async def build(self, station: Station, params: BaseModel, operator: str | None,
                    parent: str | None) -> Procedure:
        """Build the procedure with the station's parts."""
        return await self.factory(station, self.validate(params), operator, parent)

    async def loads(self, station: Station, params: BaseModel) -> tuple[SpecimenLoaded, ...]:
        """The specimens or samples a run with ``params`` puts on its instruments."""
        if self.loads_of is None:
            return ()
        return await self.loads_of(station, self.validate(params))
