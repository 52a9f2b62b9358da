"""The press cycle as a kind of run: how the station builds one, and its adapter to the
engine's :class:`~daq.station.procedures.Procedure` protocol."""

from __future__ import annotations

from daq.press.params import DEFAULT_RECIPE_NAME, PressCycleParams
from daq.press.procedure import CycleResult, PressCycle
from daq.recipes import PressRecipe
from daq.station.errors import InstrumentNotReady, NotOnRecord
from daq.station.interface import Station
from daq.station.lookup import driver_as, instrument_for
from daq.station.outcome import Outcome
from daq.station.procedures import Procedure, ProcedureKind
from daq.storage.auth_models import SavedRecipe
from drivers.errors import InstrumentError
from drivers.lamination_press import LaminationPress, PressState

KIND = "press_cycle"
DRIVER = "lamination_press"


class PressCycleProcedure:
    """A :class:`PressCycle` as the engine drives it."""

    kind = KIND

    def __init__(self, cycle: PressCycle) -> None:
        self.cycle = cycle
        self._result: CycleResult | None = None

    @property
    def run_id(self) -> str:
        """The cycle's run id."""
        return self.cycle.run_id

    @property
    def instruments(self) -> tuple[str, ...]:
        """The press."""
        return (self.cycle.instrument,)

    @property
    def phase(self) -> str | None:
        """PRECHECK, HEAT, PRESS, DWELL, COOL, RELEASE, DONE or SAFE."""
        return str(self.cycle.phase)

    @property
    def result(self) -> CycleResult | None:
        """The cycle's result once it ended."""
        return self._result

    async def run(self) -> Outcome:
        """Run the cycle."""
        self._result = await self.cycle.run()
        return self._result.outcome

    def abort(self, reason: str) -> None:
        """Press to safe state, run ABORTED."""
        self.cycle.abort(reason)


def occupies(station: Station, params: PressCycleParams) -> tuple[str, ...]:
    """The press the cycle runs on."""
    return (instrument_for(station, DRIVER, params.press).name,)


async def stored_recipe(station: Station, name: str) -> PressRecipe | None:
    """A recipe by name: the built-in default, or one saved in the database."""
    if name == DEFAULT_RECIPE_NAME:
        return PressRecipe(name=DEFAULT_RECIPE_NAME)
    async with station.sessions() as session:
        row = await session.get(SavedRecipe, name)
    return PressRecipe.model_validate(row.body) if row is not None else None


async def refuse_unless_ready(name: str, press: LaminationPress) -> None:
    """Refuse (before any run exists) to start on a press that is latched SAFE or has its
    emergency stop pressed: a run would only be refused at PRECHECK and stored FAULTED."""
    try:
        state = (await press.measure_all()).state
    except InstrumentError:
        return  # not answering: the run's PRECHECK finds that out and says so on record
    if state is PressState.SAFE:
        raise InstrumentNotReady(
            f"{name} is latched SAFE (tripped or aborted): find why, then reset it "
            f"(POST /api/instruments/{name}/reset, or the Reset button on its row)")
    if state is PressState.ESTOP:
        raise InstrumentNotReady(f"{name} has its emergency stop pressed: release it, "
                                 f"then reset the press")


async def build(station: Station, params: PressCycleParams, operator: str | None,
                parent: str | None) -> Procedure:
    """A press cycle on the station's press, on its poller (readings tagged with the run)."""
    instrument = instrument_for(station, DRIVER, params.press)
    base = None
    if params.recipe_name is not None:
        base = await stored_recipe(station, params.recipe_name)
        if base is None:
            raise NotOnRecord("recipe_name", f"no recipe {params.recipe_name!r}")
    recipe = params.recipe(base)
    press = driver_as(instrument, LaminationPress)
    await refuse_unless_ready(instrument.name, press)
    poller = instrument.poller
    cycle = PressCycle(
        press, recipe, station.clock, station.recorder,
        station.bus, instrument=instrument.name, poller=poller,
        poll_interval_s=poller.interval_s if poller else None, operator=operator,
        sample_id=params.sample_id,
    )
    return PressCycleProcedure(cycle)


PRESS_CYCLE: ProcedureKind[PressCycleParams] = ProcedureKind(
    KIND, PressCycleParams, occupies, build,
    "one lamination cycle: PRECHECK → HEAT → PRESS → DWELL → COOL → RELEASE")
