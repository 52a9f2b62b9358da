"""Short-lived snapshots of the two reads polled most: ``GET /health`` and
``GET /api/instruments``.

Twenty monitoring clients asking a thousand times a second used to build the same answer
a thousand times (issue 16: building and rendering it was most of such a request's CPU).
Now the rendered answer is shared by the requests of :data:`SNAPSHOT_MAX_AGE_S`, far
below a poll interval (100–200 ms), so a client sees nothing older than it would between
two polls anyway. The caller is still authenticated on every request; only the body,
which is the same for every caller, is shared.

A snapshot never outlives a command: :class:`FreshAfterCommands` forgets every snapshot
once a state-changing request (POST, PUT, PATCH, DELETE) has been answered, so a read
made after a reset, a start or an abort shows what that command did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from daq.api.audit import STATE_CHANGING
from daq.api.shared_read import SharedRead

#: How long a rendered answer is shared (real seconds).
SNAPSHOT_MAX_AGE_S = 0.05


def json_bytes(content: Any) -> bytes:
    """``content`` as JSON, rendered by Starlette's ``JSONResponse`` (once per snapshot,
    not per request)."""
    return bytes(JSONResponse(content).body)


def snapshot(render: Callable[[], Awaitable[bytes]]) -> SharedRead[bytes]:
    """A rendered answer shared for :data:`SNAPSHOT_MAX_AGE_S`."""
    return SharedRead(render, SNAPSHOT_MAX_AGE_S)


class FreshAfterCommands:
    """Forgets the snapshots once each state-changing request is answered."""

    def __init__(self, app: ASGIApp, snapshots: Sequence[SharedRead[bytes]]) -> None:
        self.app = app
        self.snapshots = tuple(snapshots)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            for shared in self.snapshots:
                shared.forget()
