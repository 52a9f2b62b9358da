"""A broker restart during an aging run loses no alarm and no run event: everything the
run records goes through the database outbox and reaches a subscriber afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from daq.aging.accounting import AgingPlan
from daq.aging.procedure import AgingRunner
from daq.bus import Bus
from daq.mqtt.outbox import OutboxDrainer
from daq.mqtt.publisher import MqttPublisher
from daq.storage.database import create_all, create_engine, session_factory
from daq.storage.models import MqttOutbox
from daq.storage.recorder import DbRecorder
from drivers.aging_oven import AgingOven
from tests.aging.conftest import add_specimens, start_rig
from tests.conftest import need_service
from tests.mqtt.helpers import PrivateMosquitto, Recorder

HOUR = 3600.0


@pytest.fixture
def broker() -> Iterator[PrivateMosquitto]:
    """A Mosquitto of our own whose persistence really works: it drops root for the
    ``mosquitto`` user, which cannot write into pytest's 0700 tmp_path, so its directory
    is world-writable (else a subscriber's session does not survive the restart)."""
    need_service("127.0.0.1", 1883, "Mosquitto")  # the binary comes with the service
    workdir = Path(tempfile.mkdtemp(prefix="lamina-aging-mqtt-"))
    os.chmod(workdir, 0o777)
    mosquitto = PrivateMosquitto(workdir)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()
    shutil.rmtree(workdir, ignore_errors=True)


async def test_broker_restart_during_the_run_loses_no_alarm_or_event(
    tmp_path: Path, broker: PrivateMosquitto,
) -> None:
    prefix = f"lamina/test-{secrets.token_hex(4)}"
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'lamina.db'}")
    await create_all(engine)
    sessions = session_factory(engine)
    await add_specimens(sessions, ["B1", "B2"])
    rig = await start_rig(tmp_path, 200_000.0)
    bus = Bus()
    drainer = OutboxDrainer(sessions, rig.clock)
    pub = MqttPublisher(host="127.0.0.1", port=broker.port, prefix=prefix,
                        clock=rig.clock, bus=bus, outbox=drainer, backoff_max_s=0.3)
    recorder = DbRecorder(sessions, bus, prefix=prefix, clock=rig.clock)
    try:
        async with Recorder(broker.port, f"{prefix}/#", persistent=True) as sub, \
                AgingOven(rig.resource) as oven:
            await pub.start()
            runner = AgingRunner(ovens={"oven1": oven}, clock=rig.clock, recorder=recorder,
                                 sessions=sessions, bus=bus)
            rig.freeze_oven()  # the oven's hours 10 to 30 pass while the broker is down
            rid = await runner.start(AgingPlan(target_h=150, pullouts_h=(50, 150)),
                                     ["B1", "B2"])
            run = runner.runs[rid]
            await rig.run_oven_to(run.acc.started_ts + 10 * HOUR,
                                  lambda: run.acc.accounted_until_ts)
            await asyncio.to_thread(broker.stop)
            rig.sim.inject("door", "2")  # an excursion and its alarm while the broker is down
            await rig.run_oven_to(run.acc.started_ts + 30 * HOUR,
                                  lambda: run.acc.accounted_until_ts)
            assert run.acc.excursion_count == 1 and run.acc.excursion is None  # and over
            await asyncio.to_thread(broker.start)
            rig.release_oven()
            await runner.wait(rid)
            async with sessions() as s:
                expected = {r.message_id: r.topic
                            for r in await s.scalars(select(MqttOutbox))}
            await sub.wait_for(
                lambda r: set(expected) <= {m.json().get("id") for m in r.messages
                                            if not m.topic.endswith("/readings")
                                            and m.payload.startswith(b"{")}, 20)
            await pub.stop()
    finally:
        await rig.server.stop()
        await engine.dispose()
    received = [m for m in sub.messages if m.payload.startswith(b"{")]
    alarms = {json.loads(m.payload)["id"] for m in received if m.topic.endswith("/alarms")}
    assert len(alarms) == 1
    events = [json.loads(m.payload) for m in received if m.topic.endswith(f"/{rid}/events")]
    whats = [e["data"].get("what") or e["data"].get("to") for e in
             {e["id"]: e for e in events}.values()]
    assert "excursion_started" in whats and "excursion_ended" in whats and "DONE" in whats
    assert set(expected.values()) >= {f"{prefix}/alarms", f"{prefix}/runs/{rid}/events"}
