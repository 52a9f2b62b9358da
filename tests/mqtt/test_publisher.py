"""The publisher against real brokers: embedded amqtt, the system Mosquitto, and a private
Mosquitto we stop and start to make outages."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.bus import Bus
from daq.clock import SimClock
from daq.messages import InstrumentStatus, Reading, RunEvent, Value
from daq.mqtt.broker import EmbeddedBroker
from daq.mqtt.outbox import OutboxDrainer
from daq.mqtt.publisher import MqttPublisher
from daq.storage.models import MqttOutbox
from tests.mqtt.helpers import PrivateMosquitto, Recorder, clear_retained, free_port


def reading(i: int, run_id: str | None = "press-t") -> Reading:
    return Reading("press1", 1000.0 + i, {"temp_top": Value(20.0 + i, "degC")}, run_id)


async def add_outbox(sessions: async_sessionmaker[AsyncSession], topic: str, n: int) -> list[str]:
    ids = []
    async with sessions() as session, session.begin():
        for i in range(n):
            mid = str(uuid.uuid4())
            ids.append(mid)
            session.add(MqttOutbox(
                message_id=mid, topic=topic, qos=1, retain=False, created_ts=float(i),
                payload=json.dumps({"id": mid, "kind": "transition", "data": {"n": i}}),
            ))
    return ids


async def wait_until(predicate, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_readings_statuses_and_service_status_on_the_embedded_broker(
    embedded_broker: EmbeddedBroker, prefix: str, fast_clock: SimClock
) -> None:
    bus = Bus()
    pub = MqttPublisher(host="127.0.0.1", port=embedded_broker.port, prefix=prefix,
                        clock=fast_clock, bus=bus)
    async with Recorder(embedded_broker.port, f"{prefix}/#") as sub:
        await pub.start()
        await wait_until(lambda: pub.connected)
        bus.publish(InstrumentStatus("press1", 1.0, "online"))
        for i in range(50):
            bus.publish(reading(i))
        await sub.wait_for(lambda s: len(s.on("/readings")) == 50)
        await sub.wait_for(lambda s: s.on("/instruments/press1/status"))
        bodies = [m.json() for m in sub.on("/readings")]
        assert [b["values"]["temp_top"]["v"] for b in bodies] == [20.0 + i for i in range(50)]
        assert not any(b["replayed"] for b in bodies)
        assert sub.on("/instruments/press1/status")[0].payload == b"online"
        assert sub.on("/service/status")[0].payload == b"online"
        await pub.stop()
        await sub.wait_for(lambda s: s.on("/service/status")[-1].payload == b"offline")
    assert pub.stats.readings_published == 50


async def test_statuses_are_retained_for_late_subscribers(
    mosquitto_port: int, prefix: str, fast_clock: SimClock
) -> None:
    bus = Bus()
    pub = MqttPublisher(host="127.0.0.1", port=mosquitto_port, prefix=prefix,
                        clock=fast_clock, bus=bus)
    await pub.start()
    bus.publish(InstrumentStatus("press1", 1.0, "fault", "no reply"))
    await wait_until(lambda: pub.stats.statuses_published == 1)
    async with Recorder(mosquitto_port, f"{prefix}/#") as late:
        await late.wait_for(
            lambda s: s.on("/instruments/press1/status") and s.on("/service/status")
        )
        status = late.on("/instruments/press1/status")[0]
        assert status.payload == b"fault" and status.retain
    await pub.stop()
    await clear_retained(mosquitto_port, prefix, ["instruments/press1/status", "service/status"])


async def test_outbox_rows_go_out_in_order_once_and_are_marked(
    mosquitto_port: int, prefix: str, fast_clock: SimClock,
    outbox_sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = Bus()
    topic = f"{prefix}/runs/press-x/events"
    message_ids = await add_outbox(outbox_sessions, topic, 40)
    drainer = OutboxDrainer(outbox_sessions, fast_clock)
    pub = MqttPublisher(host="127.0.0.1", port=mosquitto_port, prefix=prefix,
                        clock=fast_clock, bus=bus, outbox=drainer)
    async with Recorder(mosquitto_port, topic) as sub:
        await pub.start()
        await sub.wait_for(lambda s: len(s.messages) >= 40)
        more = await add_outbox(outbox_sessions, topic, 5)
        bus.publish(RunEvent("press-x", 2.0, "note"))  # the recorder's wake-up after commit
        await sub.wait_for(lambda s: len(s.messages) >= 45, timeout_s=3)
        await pub.stop()
    bodies = [m.json() for m in sub.messages]
    assert [b["id"] for b in bodies] == message_ids + more
    seqs = [b["seq"] for b in bodies]
    assert seqs == sorted(seqs) and len(set(seqs)) == 45
    assert await drainer.pending() == 0
    async with outbox_sessions() as session:
        rows = (await session.scalars(select(MqttOutbox))).all()
    assert all(r.published_ts is not None and r.attempts == 1 for r in rows)


async def test_refused_connection_queues_readings_then_replays_them(
    prefix: str, fast_clock: SimClock
) -> None:
    port = free_port()  # nothing listens here yet: every connect is refused
    bus = Bus()
    pub = MqttPublisher(host="127.0.0.1", port=port, prefix=prefix, clock=fast_clock,
                        bus=bus, backoff_max_s=0.2)
    await pub.start()
    for i in range(30):
        bus.publish(reading(i))
    await wait_until(lambda: pub.stats.connect_failures >= 2 and pub.queue_depth == 30)
    assert not pub.connected and pub.state == "disconnected"
    assert "refused" in pub.stats.last_error.lower() or pub.stats.last_error
    broker = EmbeddedBroker(port=port)
    await broker.start()
    try:
        async with Recorder(port, f"{prefix}/#") as sub:
            await sub.wait_for(lambda s: len(s.on("/readings")) == 30)
            bodies = [m.json() for m in sub.on("/readings")]
            assert all(b["replayed"] for b in bodies)
            assert [b["ts"] for b in bodies] == [1000.0 + i for i in range(30)]
            bus.publish(reading(99))
            await sub.wait_for(lambda s: len(s.on("/readings")) == 31)
            assert sub.on("/readings")[-1].json()["replayed"] is False
        assert pub.stats.readings_replayed == 30
        await pub.stop()
    finally:
        await broker.stop()


async def test_readings_beyond_the_queue_bound_are_counted_and_logged(
    prefix: str, fast_clock: SimClock, caplog: pytest.LogCaptureFixture
) -> None:
    bus = Bus()
    pub = MqttPublisher(host="127.0.0.1", port=free_port(), prefix=prefix, clock=fast_clock,
                        bus=bus, readings_queue=10)
    await pub.start()
    with caplog.at_level(logging.WARNING, logger="daq.mqtt.publisher"):
        for i in range(25):
            bus.publish(reading(i))
        await wait_until(lambda: pub.stats.readings_dropped == 15)
    assert pub.queue_depth == 10
    assert any("queue full" in r.message for r in caplog.records)
    await pub.stop(timeout_s=0.5)


async def test_a_burst_never_trips_aiomqtt_pending_calls_warning(
    mosquitto_port: int, prefix: str, fast_clock: SimClock,
    outbox_sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture,
) -> None:
    bus = Bus()
    await add_outbox(outbox_sessions, f"{prefix}/alarms", 300)
    pub = MqttPublisher(host="127.0.0.1", port=mosquitto_port, prefix=prefix,
                        clock=fast_clock, bus=bus,
                        outbox=OutboxDrainer(outbox_sessions, fast_clock))
    with caplog.at_level(logging.WARNING):
        await pub.start()
        await wait_until(lambda: pub.connected)
        for i in range(5000):
            bus.publish(reading(i))
        await wait_until(lambda: pub.stats.readings_published == 5000, timeout_s=20)
        await wait_until(lambda: pub.outbox is not None and pub.outbox.stats.published == 300)
        await pub.stop()
    assert not [r for r in caplog.records if "pending" in r.message]


async def test_outbox_survives_a_broker_outage_in_order(
    private_mosquitto: PrivateMosquitto, prefix: str, fast_clock: SimClock,
    outbox_sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = Bus()
    topic = f"{prefix}/runs/press-o/events"
    drainer = OutboxDrainer(outbox_sessions, fast_clock)
    pub = MqttPublisher(host="127.0.0.1", port=private_mosquitto.port, prefix=prefix,
                        clock=fast_clock, bus=bus, outbox=drainer, backoff_max_s=0.3)
    async with Recorder(private_mosquitto.port, topic, persistent=True) as sub:
        await pub.start()
        first = await add_outbox(outbox_sessions, topic, 10)
        bus.publish(RunEvent("press-o", 1.0, "note"))
        await sub.wait_for(lambda s: len(s.messages) >= 10)
        await wait_until(lambda: drainer.stats.published == 10)
        private_mosquitto.stop()
        await wait_until(lambda: not pub.connected)
        failures_before = pub.stats.connect_failures
        during = await add_outbox(outbox_sessions, topic, 10)
        bus.publish(RunEvent("press-o", 2.0, "note"))
        for i in range(20):
            bus.publish(reading(i))
        # Outage seen through, not slept through: two reconnects failed after the rows were
        # queued (a count, whatever the machine's speed), and all ten are still pending.
        await wait_until(lambda: pub.stats.connect_failures >= failures_before + 2)
        assert await drainer.pending() == 10
        private_mosquitto.start()
        await sub.wait_for(lambda s: len({m.json()["id"] for m in s.messages}) >= 20, 15)
        await pub.stop()
    ids = [m.json()["id"] for m in sub.messages]
    deduplicated = list(dict.fromkeys(ids))
    assert deduplicated == first + during
    assert pub.stats.readings_replayed == 20
