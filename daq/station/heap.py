"""Keep the garbage collector's full collections off the data path of a long-running station.

After start-up a station holds a few hundred thousand long-lived objects (SQLAlchemy,
FastAPI, pydantic, the drivers' state): a full (generation 2) collection walks all of
them and took 76–96 ms of one core on the 2-core machine of issue 16, a stall of the
event loop that every reading in flight waited out (the longest MQTT latencies). Once
the station is up, :func:`freeze_startup_heap` collects once and moves what survived
into the permanent generation (``gc.freeze``, what the Python documentation advises for
a service after start-up); later collections walk only what the station made since.
The frozen objects are still freed by reference counting; only cycles among them are
never collected, and a station made them at start-up to keep them.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class FrozenHeap:
    """What :func:`freeze_startup_heap` did: objects frozen, and how long it took."""

    objects: int
    seconds: float


def freeze_startup_heap() -> FrozenHeap:
    """Collect once, then freeze every surviving object (call once, when the station is up)."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    return FrozenHeap(gc.get_freeze_count(), time.perf_counter() - started)
