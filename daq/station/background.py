"""The station's long-lived background work beside acquisition: automatic capture of
peel tests started at the tester's front panel, and the aging runs that outlive any
process (resumed at start-up, back-filled from the oven's own log).

`daq run` enters :func:`background_services` for as long as the station serves. It is
kept out of :class:`daq.station.lab.Lab` itself because a campaign drives the peel tester
and the oven with its own procedures, and two readers on one serial line would take each
other's lines.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from daq.aging.kind import AgingRunProcedure
from daq.aging.procedure import AgingRunner, resume_aging_runs
from daq.peel.station import peel_watchers
from drivers.oven import Oven

if TYPE_CHECKING:
    from daq.station.lab import Lab

log = logging.getLogger(__name__)


@dataclass
class BackgroundServices:
    """What runs in the background of a serving station."""

    aging: AgingRunner
    resumed_aging_runs: list[str] = field(default_factory=list)
    peel_watchers: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def background_services(lab: Lab) -> AsyncIterator[BackgroundServices]:
    """Watch every peel tester and resume every live aging run while inside the block."""
    ovens = {name: inst.driver for name, inst in lab.instruments.items()
             if isinstance(inst.driver, Oven)}
    aging = await resume_aging_runs(ovens=ovens, clock=lab.clock, recorder=lab.recorder,
                                    sessions=lab.sessions, bus=lab.bus)
    for run_id, run in aging.runs.items():  # resumed runs hold their oven, as any run
        lab.run_engine.adopt(AgingRunProcedure(aging, run_id, run.oven_name),
                             source="resumed")
    try:
        async with peel_watchers(lab) as watchers:
            services = BackgroundServices(aging, list(aging.tasks), sorted(watchers))
            for run_id in services.resumed_aging_runs:
                log.info("aging run %s resumed from its last checkpoint", run_id)
            yield services
    finally:
        # Aging runs checkpoint and stay RUNNING: the next start resumes them.
        await aging.stop()
