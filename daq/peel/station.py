"""Automatic peel capture for a running station: one watcher per peel tester.

The service wires it in with one line in its start-up
(``await stack.enter_async_context(peel_watchers(lab))``); scripts and tests use it the
same way around a ``Lab``. Each watcher is registered with the station's run engine as
the tester's background reader: while a run holds the tester (a commanded peel test, a
campaign) the watcher is paused, because two readers on one serial line would take each
other's lines, and it watches again once the run has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from daq.peel.procedure import PeelOutcome
from daq.peel.store import PeelStore
from daq.peel.watch import watch_and_capture
from daq.station.interface import Station
from drivers.peel_tester import PeelTester


class TesterWatcher:
    """The front-panel watcher of one tester, which can be paused and resumed."""

    def __init__(self, station: Station, name: str, tester: PeelTester, store: PeelStore,
                 on_outcome: Callable[[PeelOutcome], None] | None) -> None:
        self.station = station
        self.name = name
        self.tester = tester
        self.store = store
        self.on_outcome = on_outcome
        self.task: asyncio.Task[None] | None = None

    def resume(self) -> None:
        """Watch (again)."""
        if self.task is not None and not self.task.done():
            return
        st = self.station
        self.task = asyncio.get_running_loop().create_task(
            watch_and_capture(self.tester, clock=st.clock, recorder=st.recorder, bus=st.bus,
                              store=self.store, instrument=self.name,
                              on_outcome=self.on_outcome),
            name=f"peel-watch-{self.name}",
        )

    async def pause(self) -> None:
        """Stop watching; returns once the line is free (a front-panel capture under way
        is concluded INCOMPLETE with what it has)."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def peel_watchers(
    lab: Station, on_outcome: Callable[[PeelOutcome], None] | None = None
) -> AsyncIterator[dict[str, TesterWatcher]]:
    """Watch every peel tester of ``lab`` for front-panel starts while inside the block."""
    store = PeelStore(lab.sessions)
    watchers: dict[str, TesterWatcher] = {}
    for name, instrument in lab.instruments.items():
        if isinstance(instrument.driver, PeelTester):
            watcher = watchers[name] = TesterWatcher(lab, name, instrument.driver, store,
                                                     on_outcome)
            lab.run_engine.register_reader(name, watcher)
            if lab.run_engine.holder_of(name) is None:
                watcher.resume()
    try:
        yield watchers
    finally:
        for name, watcher in watchers.items():
            lab.run_engine.unregister_reader(name)
            await watcher.pause()
