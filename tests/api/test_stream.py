"""``WS /api/stream`` over a real uvicorn: auth, live readings and run events, slow clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from daq.api.stream import StreamHub, encode
from daq.bus import Bus
from daq.messages import Alarm, QueueChanged, Reading, RunEvent, Value
from tests.api.conftest import Station
from tests.api.server import serve


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/api/stream"


async def next_of(ws: Any, kind: str, timeout_s: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == kind:
                return msg


async def test_stream_refuses_a_client_without_a_valid_token(station: Station) -> None:
    async with serve(station.app) as base:
        async with websockets.connect(ws_url(base) + "?token=nope") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_stream_pushes_live_readings_and_the_events_of_a_cycle(station: Station) -> None:
    # Token in the first message instead of the query string.
    async with serve(station.app) as base, websockets.connect(ws_url(base)) as ws:
        await ws.send(json.dumps({"token": station.tokens["viewer"]}))
        hello = await next_of(ws, "hello")
        assert hello["user"] == "viewer1" and hello["time_scale"] == 600.0
        reading = await next_of(ws, "reading")
        while reading["instrument"] != "press1":  # other instruments of the station stream too
            reading = await next_of(ws, "reading")
        assert "temp_top" in reading["values"]
        run_id = await station.lab.start_press_cycle({"temperature_c": 180}, "operator1")
        transitions: list[str] = []
        async with asyncio.timeout(30):
            while "DWELL" not in transitions:
                msg = json.loads(await ws.recv())
                if msg["type"] == "event" and msg["kind"] == "transition":
                    assert msg["run_id"] == run_id
                    transitions.append(msg["data"]["to"])
        assert transitions == ["PRECHECK", "HEAT", "PRESS", "DWELL"]
        await station.lab.abort(run_id, "operator1")
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while not (
                seen and seen[-1]["type"] == "event" and seen[-1]["kind"] == "result"
                and "status" in seen[-1]["data"]
            ):
                seen.append(json.loads(await ws.recv()))
        assert seen[-1]["data"]["status"] == "ABORTED"
        alarms = [m for m in seen if m["type"] == "alarm"]
        assert alarms and alarms[0]["run_id"] == run_id


async def test_a_slow_client_loses_its_oldest_messages_and_is_told_how_many() -> None:
    bus = Bus()
    hub = StreamHub(bus, client_queue=10)
    client = hub.connect()
    for i in range(25):
        bus.publish(Reading("press1", float(i), {"temp_top": Value(20.0 + i, "degC")}))
    # The hub has fanned out all 25 (a count), however long its pump task took to run.
    deadline = asyncio.get_running_loop().time() + 60  # hang guard only
    while hub.messages < 25:
        assert asyncio.get_running_loop().time() < deadline, "hub never fanned out 25"
        await asyncio.sleep(0.001)
    batch = await client.next_batch()
    assert len(batch) == 10 and client.dropped == 15
    assert json.loads(batch[0])["ts"] == 15.0  # the newest ten survive
    await hub.close()


def test_every_bus_message_kind_encodes_with_type_and_iso_time() -> None:
    event = json.loads(encode(RunEvent("press-1", 0.0, "transition", {"to": "HEAT"})))
    assert event["type"] == "event" and event["time"].startswith("1970-01-01T00:00:00")
    alarm = json.loads(encode(Alarm(1.0, "press1", "critical", "door open", "press-1")))
    assert alarm["type"] == "alarm" and alarm["severity"] == "critical"
    queue = json.loads(encode(QueueChanged("bench-1", 2.0, "ended", "stopped")))
    assert queue == {"type": "queue", "station": "bench-1", "ts": 2.0, "change": "ended",
                     "state": "stopped", "time": queue["time"]}
