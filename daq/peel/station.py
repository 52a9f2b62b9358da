"""Automatic peel capture for a running station: one watcher per peel tester of a
:class:`daq.service.Lab`.

The service wires it in with one line in its start-up
(``await stack.enter_async_context(peel_watchers(lab))``); scripts and tests use it the
same way around a ``Lab``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from daq.peel.store import PeelStore
from daq.peel.watch import watch_and_capture
from daq.procedures.peel_test import PeelOutcome
from drivers.peel_tester import PeelTester

if TYPE_CHECKING:
    from daq.service import Lab


@contextlib.asynccontextmanager
async def peel_watchers(
    lab: Lab, on_outcome: Callable[[PeelOutcome], None] | None = None
) -> AsyncIterator[dict[str, asyncio.Task[None]]]:
    """Watch every peel tester of ``lab`` for front-panel starts while inside the block."""
    store = PeelStore(lab.sessions)
    tasks: dict[str, asyncio.Task[None]] = {}
    for name, instrument in lab.instruments.items():
        if isinstance(instrument.driver, PeelTester):
            tasks[name] = asyncio.get_running_loop().create_task(
                watch_and_capture(
                    instrument.driver, clock=lab.clock, recorder=lab.recorder, bus=lab.bus,
                    store=store, instrument=name, on_outcome=on_outcome,
                ),
                name=f"peel-watch-{name}",
            )
    try:
        yield tasks
    finally:
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
