"""MQTT half of ``bench/ingest.py``: messages/s through the service's publisher next to a
bare aiomqtt publish loop on the same broker and the same payloads.

* readings, QoS 0: bus → :class:`daq.mqtt.publisher.MqttPublisher` (its window of
  senders) vs. one awaited ``client.publish`` per message;
* events, QoS 1: outbox table (SQLite) → :class:`daq.mqtt.outbox.OutboxDrainer`
  (marks each row published) vs. one awaited QoS 1 publish per message.

Uses the Mosquitto at 127.0.0.1:1883 when it runs, else an embedded amqtt broker.
Run alone: ``.venv/bin/python bench/_mqtt_ingest.py [--messages 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiomqtt

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import Reading, Value
from daq.mqtt.broker import EmbeddedBroker
from daq.mqtt.outbox import OutboxDrainer
from daq.mqtt.publisher import NODELAY, MqttPublisher
from daq.mqtt.topics import Topics, reading_payload
from daq.storage.database import create_all, create_engine, session_factory
from daq.storage.models import MqttOutbox

Result = tuple[str, float, float]


def _mosquitto_up() -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", 1883)) == 0


async def until(condition: Callable[[], bool], step_s: float) -> None:
    """Poll ``condition`` every ``step_s`` until it holds."""
    for _ in itertools.count():
        if condition():
            return
        await asyncio.sleep(step_s)


def _readings(n: int) -> list[Reading]:
    return [Reading("press1", 1.8e9 + i * 0.1,
                    {"temp_top": Value(199.8, "degC"), "temp_bottom": Value(199.5, "degC"),
                     "pressure": Value(3.0, "MPa"), "ram": Value(1.2, "mm")}, "press-bench")
            for i in range(n)]


async def bare_loop(port: int, topic: str, payloads: list[bytes], qos: int) -> float:
    """Messages/s of one awaited publish after another (TCP_NODELAY like ours)."""
    async with aiomqtt.Client("127.0.0.1", port, socket_options=[NODELAY]) as client:
        start = time.perf_counter()
        for payload in payloads:
            await client.publish(topic, payload, qos=qos)
        return len(payloads) / (time.perf_counter() - start)


async def publisher_readings(port: int, prefix: str, readings: list[Reading]) -> float:
    """Messages/s of readings through the bus and the publisher."""
    bus = Bus()
    pub = MqttPublisher(host="127.0.0.1", port=port, prefix=prefix, clock=SimClock(), bus=bus,
                        readings_queue=len(readings) + 1)
    await pub.start()
    await until(lambda: pub.connected, 0.01)
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    for i, reading in enumerate(readings):
        bus.publish(reading)
        if i % 5000 == 4999:
            await asyncio.sleep(0)  # let the pump move what the bus holds (bounded 10 000)
    await until(lambda: pub.stats.readings_published >= len(readings), 0.001)
    rate = len(readings) / (time.perf_counter() - start)
    await pub.stop()
    return rate


async def outbox_drain(port: int, prefix: str, n: int) -> float:
    """Messages/s of QoS 1 outbox rows drained (publish + PUBACK + marked in SQLite)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/outbox.db")
        await create_all(engine)
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            for i in range(n):
                mid = str(uuid.uuid4())
                session.add(MqttOutbox(
                    message_id=mid, topic=f"{prefix}/runs/press-bench/events", qos=1,
                    retain=False, created_ts=float(i),
                    payload=json.dumps({"id": mid, "kind": "progress", "data": {"i": i}}),
                ))
        drainer = OutboxDrainer(sessions, SimClock())
        async with aiomqtt.Client("127.0.0.1", port, socket_options=[NODELAY]) as client:
            async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
                await client.publish(topic, payload, qos=qos, retain=retain)

            start = time.perf_counter()
            sent = await drainer.drain(publish)
            rate = sent / (time.perf_counter() - start)
        await engine.dispose()
        return rate


async def run_mqtt_ingest(messages: int = 20_000) -> list[Result]:
    """[(label, rate, bare-loop rate)] for readings QoS 0 and outbox QoS 1."""
    broker: EmbeddedBroker | None = None
    if _mosquitto_up():
        port, where = 1883, "Mosquitto"
    else:
        broker = EmbeddedBroker(port=0)
        port, where = await broker.start(), "amqtt"
    prefix = f"lamina/bench-{secrets.token_hex(3)}"
    try:
        readings = _readings(messages)
        payloads = [reading_payload(r) for r in readings]
        topic = Topics(prefix).readings("press1")
        bare0 = await bare_loop(port, topic, payloads, qos=0)
        ours0 = await publisher_readings(port, prefix, readings)
        n1 = max(1000, messages // 4)
        event = json.dumps({"id": str(uuid.uuid4()), "seq": 1, "kind": "progress",
                            "data": {"i": 1}}).encode()
        bare1 = await bare_loop(port, f"{prefix}/runs/press-bench/events", [event] * n1, qos=1)
        ours1 = await outbox_drain(port, prefix, n1)
    finally:
        if broker is not None:
            await broker.stop()
    return [
        (f"MQTT publisher readings QoS 0 ({where})", ours0, bare0),
        (f"MQTT outbox drain QoS 1 + mark ({where})", ours1, bare1),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    for label, rate, bare in asyncio.run(run_mqtt_ingest(args.messages)):
        print(f"{label:<48} {rate:>10,.0f} /s   bare loop {bare:>10,.0f} /s   "
              f"ratio {rate / bare:6.1%}")


if __name__ == "__main__":
    main()
