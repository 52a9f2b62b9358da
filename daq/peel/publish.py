"""Send what a command-line peel left in the MQTT outbox, once, to the configured broker.

The service's publisher drains the outbox continuously; a one-off ``daq peel run`` may
run without the service, so it tries once itself. If the broker cannot be reached the
rows stay in the outbox (durable) and the service delivers them when it next runs.
"""

from __future__ import annotations

import asyncio

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.clock import SimClock
from daq.mqtt.outbox import OutboxDrainer
from daq.mqtt.topics import parse_mqtt_url


async def publish_outbox_once(
    sessions: async_sessionmaker[AsyncSession],
    clock: SimClock,
    mqtt_url: str,
    embedded_port: int,
    timeout_s: float = 3.0,
) -> int:
    """Publish every pending outbox row with QoS 1; return how many went out.

    Raises ``aiomqtt.MqttError`` / ``OSError`` / ``TimeoutError`` when the broker is away.
    """
    address = parse_mqtt_url(mqtt_url, embedded_port)
    drainer = OutboxDrainer(sessions, clock)
    async with asyncio.timeout(timeout_s), aiomqtt.Client(
        address.host, address.port, timeout=timeout_s
    ) as client:

        async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
            await client.publish(topic, payload, qos=qos, retain=retain)

        return await drainer.drain(publish)
