"""The campaign as a kind of run: it holds every instrument it drives for its whole
duration (nobody else can take them meanwhile) and submits each step to the same run
engine as a run *inside* it (``parent``), so each step is the same record as any run.

The campaign itself is recorded as a run of kind ``campaign`` (its id in ``recipe``);
its steps and their results are in the campaign tables (:mod:`daq.campaign.state`), and a
campaign run again resumes where it stopped.
"""

from __future__ import annotations

import asyncio

from daq.campaign.model import Campaign
from daq.campaign.params import definition_sha256
from daq.campaign.runner import CampaignRunner, CampaignStepFailed, Progress
from daq.campaign.state import CampaignMismatch, ClockAnchor, open_campaign, save_clock
from daq.messages import RunEvent
from daq.record import RunInfo, new_run_id
from daq.station.errors import Refused
from daq.station.interface import Station
from daq.station.lookup import instrument_for
from daq.station.outcome import Outcome
from daq.station.procedures import Procedure, ProcedureKind

KIND = "campaign"
#: The drivers a campaign drives (press, peel tester, oven, laser).
DRIVERS = ("lamination_press", "peel_tester", "aging_oven", "uv_laser")


class CampaignProcedure:
    """One campaign carried out through the engine."""

    kind = KIND

    def __init__(self, station: Station, campaign: Campaign, instruments: tuple[str, ...],
                 operator: str | None) -> None:
        self.station = station
        self.campaign = campaign
        self._instruments = instruments
        self.operator = operator
        self._run_id = new_run_id(KIND)
        self.runner = CampaignRunner(station, campaign, parent=self._run_id,
                                     on_progress=self._progress)
        self._shown: tuple[int, int, str, int] | None = None
        if operator is not None:  # whoever started it, not the file's default name
            self.runner.operator = operator
        self._task: asyncio.Task[None] | None = None
        self._abort_reason: str | None = None
        self._reason: str | None = None

    def _progress(self, p: Progress) -> None:
        """Where the campaign is, on the bus for the live stream (not recorded: its steps
        are runs with their own records); once per step, and per ten hours of aging."""
        aging_h = -1 if p.aging_h is None else int(p.aging_h // 10)
        shown = (p.total, p.done, p.current, aging_h)
        if shown == self._shown:
            return
        self._shown = shown
        self.station.bus.publish(RunEvent(self._run_id, self.station.clock.now(), "progress", {
            "steps": p.total, "steps_done": p.done, "current": p.current,
            "aging_h": p.aging_h, "aging_target_h": p.aging_target_h}))

    @property
    def run_id(self) -> str:
        """The campaign run's id (each attempt at a campaign is a run)."""
        return self._run_id

    @property
    def instruments(self) -> tuple[str, ...]:
        """Every instrument the campaign drives."""
        return self._instruments

    @property
    def phase(self) -> str | None:
        """The step it is on (``press:EX1-…``, ``aging`` …)."""
        return self.runner.progress.current or None

    @property
    def result(self) -> str | None:
        """Why it stopped, if it did not finish."""
        return self._reason

    async def run(self) -> Outcome:
        """Carry out every step not yet done."""
        st = self.station
        await st.recorder.start_run(RunInfo(
            run_id=self._run_id, kind=KIND, instrument=",".join(self._instruments)[:64],
            started_ts=st.clock.now(),
            recipe={"campaign_id": self.campaign.id, "title": self.campaign.campaign.title},
            operator=self.operator))
        self._task = asyncio.get_running_loop().create_task(self.runner.run())
        if self._abort_reason is not None:
            self._task.cancel()
        outcome = Outcome.DONE
        try:
            await self._task
        except asyncio.CancelledError:
            if self._abort_reason is None:
                raise
            outcome, self._reason = Outcome.ABORTED, self._abort_reason
        except CampaignStepFailed as exc:
            outcome, self._reason = Outcome.FAULTED, str(exc)
        except Exception as exc:  # the campaign stops; its steps keep their state
            outcome, self._reason = Outcome.FAULTED, f"{type(exc).__name__}: {exc}"
        p = self.runner.progress
        await st.recorder.finish_run(self._run_id, st.clock.now(), str(outcome), self._reason,
                                     {"campaign_id": self.campaign.id, "steps": p.total,
                                      "steps_done": p.done})
        return outcome

    def abort(self, reason: str) -> None:
        """Stop the campaign: the step under way is aborted to its safe state."""
        if self._abort_reason is None:
            self._abort_reason = reason
        if self._task is not None and not self._task.done():
            self._task.cancel()


def occupies(station: Station, params: Campaign) -> tuple[str, ...]:
    """Every instrument a campaign drives (the press, tester, oven and laser)."""
    return tuple(instrument_for(station, driver).name for driver in DRIVERS)


async def build(station: Station, params: Campaign, operator: str | None,
                parent: str | None) -> Procedure:
    """Open (or resume) the campaign's record on the station's clock."""
    clock = station.clock
    anchor = ClockAnchor(clock.now(), clock.wall(), clock.scale)
    try:
        _, created = await open_campaign(station.sessions, params, definition_sha256(params),
                                         "POST /api/runs", anchor)
    except CampaignMismatch as exc:
        raise Refused("campaign.id", str(exc)) from None
    if not created:
        await save_clock(station.sessions, params.id, anchor)
    return CampaignProcedure(station, params, occupies(station, params),
                             operator or params.campaign.operator)


CAMPAIGN: ProcedureKind[Campaign] = ProcedureKind(
    KIND, Campaign, occupies, build,
    "a whole campaign (samples, press, peel, aging, laser), resumable step by step")
