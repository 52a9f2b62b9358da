"""A real station (simulators, SQLite file, embedded broker, uvicorn on a real port) in a
thread with its own event loop, with a press cycle and a peel test on record, for the
notebook client to read as a notebook would: from another thread, over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from daq.station.lab import Lab
from tests.api.threaded import threaded_station

T = TypeVar("T")
#: The press's clock: a default cycle (heat, 20 min dwell, cool) in a few real seconds.
SCALE = 600.0
PEEL_SPECIMEN = "EX1-2026-901-A1"


@dataclass
class LiveStation:
    """A station serving in a thread: its URL, a token per role, the runs on record."""

    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    lab: Lab | None = None
    loop: asyncio.AbstractEventLoop | None = None
    press_run: str = ""
    peel_run: str = ""

    def on_lab(self, work: Callable[[Lab], Awaitable[T]], timeout_s: float = 300.0) -> T:
        """Run ``work(lab)`` on the station's loop; its result (a hang guard only)."""
        assert self.lab is not None and self.loop is not None
        lab = self.lab

        async def call() -> T:
            return await work(lab)

        done: Future[T] = asyncio.run_coroutine_threadsafe(call(), self.loop)
        return done.result(timeout_s)

    def http(self, role: str = "operator") -> httpx.Client:
        """A plain HTTP client of the station (not the client under test)."""
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {self.tokens[role]}"})

    def finish(self, run_id: str) -> None:
        """Wait for a run to end and its readings to be written."""
        self.on_lab(lambda lab: lab.wait_run(run_id, timeout_s=280))
        assert self.on_lab(lambda lab: lab.writer.flush())


@contextmanager
def live_station(tmp_path: Path, scale: float = SCALE) -> Iterator[LiveStation]:
    """A Lab + API served by uvicorn in a background thread; stopped on exit."""
    with threaded_station(tmp_path, scale, ready_s=120) as served:
        yield LiveStation(url=served.base_url, tokens=served.tokens, lab=served.lab,
                          loop=served.loop)


def start_run(station: LiveStation, kind: str, params: dict[str, Any]) -> str:
    """Start a run through the API as the operator; its id."""
    with station.http() as http:
        reply = http.post("/api/runs", json={"kind": kind, "params": params})
    assert reply.status_code in (200, 201, 202), reply.text
    run_id: str = reply.json()["run_id"]
    return run_id


def register_specimen(station: LiveStation, specimen_id: str, material: str) -> None:
    """Register a specimen's lot and the specimen (3 mm strip, as made)."""
    lot = specimen_id.rsplit("-", 1)[0]
    with station.http() as http:
        for path, body in (("/api/samples", {"id": lot, "material_key": material}),
                           ("/api/specimens", {"id": specimen_id, "sample_id": lot,
                                               "width_mm": 3.0, "aging_hours": 0.0})):
            reply = http.post(path, json=body)
            assert reply.status_code in (200, 201), reply.text


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStation]:
    """A station with a default press cycle (200 °C, 3 MPa, 20 min) and a peel test of an
    Example 1 specimen on record."""
    started = time.monotonic()
    with live_station(tmp_path_factory.mktemp("station")) as live:
        live.press_run = start_run(live, "press_cycle", {"recipe_name": "default"})
        live.finish(live.press_run)
        register_specimen(live, PEEL_SPECIMEN, "EX1")
        live.peel_run = start_run(live, "peel_test", {"specimen_id": PEEL_SPECIMEN})
        live.finish(live.peel_run)
        print(f"station ready in {time.monotonic() - started:.1f} s")
        yield live
