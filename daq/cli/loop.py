"""The event loop of every command: uvloop where it installs (a command's in-process
station polls instruments on it), plain asyncio otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TypeVar

T = TypeVar("T")


def run(coro: Coroutine[object, object, T]) -> T:
    """Run ``coro`` to completion, like ``asyncio.run``."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
