"""The result of a peel reaches MQTT subscribers with QoS 1 (through the durable outbox)."""

from __future__ import annotations

import asyncio
import json
import secrets

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.bus import Bus
from daq.peel.procedure import PeelTest
from daq.peel.publish import publish_outbox_once
from daq.peel.store import PeelStore
from daq.storage.recorder import DbRecorder
from tests.conftest import need_service
from tests.peel.conftest import Bench
from tests.peel.test_procedure import make_specimen


async def test_peel_result_is_published_with_qos_1(
    bench: Bench, bus: Bus, store: PeelStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    prefix = f"lamina/test-{secrets.token_hex(4)}"
    recorder = DbRecorder(sessions, bus, prefix=prefix)
    await make_specimen(store, bench, "EX1-2026-020-M1")
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.subscribe(f"{prefix}/runs/+/events", qos=1)
        outcome = await PeelTest(bench.tester, bench.clock, recorder, bus,
                                 store).run("EX1-2026-020-M1")
        sent = await publish_outbox_once(sessions, bench.clock, "mqtt://127.0.0.1:1883", 1884)
        assert sent >= 2
        results = []
        async with asyncio.timeout(60):  # hang guard: the outbox already sent it
            async for message in client.messages:
                payload = json.loads(message.payload)
                assert message.qos == 1
                if payload["kind"] == "result":
                    results.append(payload)
                    break
    assert results[0]["run_id"] == outcome.run_id
    assert outcome.result is not None
    data = results[0]["data"]
    assert data["peel_strength_n_per_cm"] == outcome.result.peel_strength_n_per_cm
    assert data["specimen_id"] == "EX1-2026-020-M1" and data["garbled_lines"] == 0
