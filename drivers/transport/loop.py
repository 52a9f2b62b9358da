"""The event loop every entry point uses: uvloop where it installs, plain asyncio otherwise.

uvloop makes socket round trips 1.5–3× faster (see ``bench/transport.py``); nothing in
the code base depends on it, so a platform without it (Windows) runs unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``uvloop.new_event_loop`` if uvloop is importable, else ``None`` (asyncio's default)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: which loop :func:`run` uses here."""
    return "uvloop" if loop_factory() is not None else "asyncio"


def install_event_loop_policy() -> str:
    """Make uvloop the default for new loops (for servers like uvicorn that make their own).

    Returns the name of the loop now in force.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def run(coro: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Run ``coro`` to completion on uvloop when available (like ``asyncio.run``)."""
    with asyncio.Runner(debug=debug, loop_factory=loop_factory()) as runner:
        return runner.run(coro)
