"""A real station and uvicorn in a background thread with their own event loop.

For clients that are synchronous (schemathesis uses ``requests``) and must not block
the loop that serves them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daq.api import create_app
from daq.station.lab import Lab
from tests.api.conftest import add_users, station_settings
from tests.api.server import serve


@dataclass
class ThreadedStation:
    """Where the station answers and the tokens of its users."""

    base_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    lab: Any = None
    loop: asyncio.AbstractEventLoop | None = None


@contextmanager
def threaded_station(tmp_path: Path, scale: float = 600.0, ready_s: float = 60.0
                     ) -> Iterator[ThreadedStation]:
    """Run a Lab + API in a thread; yield when it serves (waiting at most ``ready_s``);
    stop it on exit."""
    out = ThreadedStation()
    ready = threading.Event()
    errors: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with Lab(station_settings(tmp_path, scale)) as lab:
            out.tokens, _ = await add_users(lab)
            out.lab, out.loop = lab, loop
            async with serve(create_app(lab)) as base:
                out.base_url = base
                ready.set()
                await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            errors.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="station", daemon=True)
    thread.start()
    ready.wait(ready_s)
    if errors:
        raise errors[0]
    try:
        yield out
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()
