"""``WS /api/stream``: live readings, run events, alarms and instrument statuses.

Authenticate with ``?token=<bearer token>`` or by sending ``{"token": "…"}`` as the first
message within 5 s. The server then sends ``{"type": "hello", …}`` followed by one JSON
object per bus message (``type``: reading, event, alarm, status). A client that falls
behind loses its oldest messages; the next message it gets carries ``dropped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from daq.api.accounts import Principal
from daq.api.principals import PrincipalCache
from daq.api.stream import StreamHub

router = APIRouter(tags=["stream"])

AUTH_TIMEOUT_S = 5.0


async def _authenticate(ws: WebSocket) -> Principal | None:
    token = ws.query_params.get("token")
    if not token:
        try:
            first = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S)
            token = str(json.loads(first).get("token", ""))
        except (TimeoutError, ValueError, AttributeError):
            return None
    principals: PrincipalCache = ws.app.state.principals
    return await principals.resolve(ws.app.state.sessions, token)


@router.websocket("/api/stream")
async def stream(ws: WebSocket) -> None:
    """Push live messages to one client until it goes away."""
    await ws.accept()
    try:
        principal = await _authenticate(ws)
    except WebSocketDisconnect:
        return
    if principal is None:
        await ws.close(code=4401, reason="not logged in: pass ?token= or send {token}")
        return
    hub: StreamHub = ws.app.state.stream_hub
    client = hub.connect()
    lab = ws.app.state.lab
    await ws.send_text(
        json.dumps(
            {"type": "hello", "user": principal.name, "role": principal.role,
             "ts": lab.clock.now(), "time_scale": lab.clock.scale}
        )
    )
    reader = asyncio.create_task(_drain_incoming(ws))
    try:
        reported = 0
        while not reader.done():
            batch_task = asyncio.create_task(client.next_batch())
            done, _ = await asyncio.wait({batch_task, reader}, return_when=asyncio.FIRST_COMPLETED)
            if batch_task not in done:
                batch_task.cancel()
                break
            batch = batch_task.result()
            if client.dropped != reported:
                reported = client.dropped
                await ws.send_text(json.dumps({"type": "dropped", "dropped": reported}))
            for text in batch:
                await ws.send_text(text)
            client.sent += len(batch)
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass
    finally:
        hub.disconnect(client)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await reader


async def _drain_incoming(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so that a disconnect is noticed."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await ws.receive_text()
