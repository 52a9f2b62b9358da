"""Acceptance: the broker goes away during a press cycle and comes back.

A private Mosquitto (persistence on) is stopped for a few polls mid-cycle and
started again on the same port. A subscriber with a persistent session, connected
before and after, must have every run event and alarm of the cycle, in order, none
missing; the database must hold every reading the poller made; readings published late
must say ``replayed``. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from daq.config import Settings
from daq.messages import Reading
from daq.station.lab import Lab
from daq.storage.models import MqttOutbox, ReadingRow
from tests.mqtt.helpers import PrivateMosquitto, Recorder
from tests.service.conftest import QUICK_RECIPE
from tests.service.test_lab import wait_until

#: Polls of the press made while the broker is away (the outage lasts that long).
OUTAGE_POLLS = 5


async def test_every_event_reading_and_replay_survives_a_broker_outage(
    db_url: str, private_mosquitto: PrivateMosquitto,
    make_settings: Callable[..., Settings], prefix: str,
) -> None:
    settings = make_settings(db_url, mqtt_url=f"mqtt://127.0.0.1:{private_mosquitto.port}",
                             time_scale=300.0)
    async with Lab(settings) as lab:
        lab.publisher.backoff_max_s = 0.5
        polled = lab.bus.subscribe("test-polls", (Reading,), maxsize=100_000)
        async with Recorder(private_mosquitto.port, f"{prefix}/#", persistent=True) as sub:
            run_id = await lab.start_press_cycle(QUICK_RECIPE, "alice")
            await wait_until(lambda: lab.runs[run_id].phase in ("PRESS", "DWELL"))
            private_mosquitto.stop()
            outage_start_ts = lab.clock.now()  # the port is closed now
            # The outage lasts until the publisher has lost the broker and holds readings
            # polled since (not a fixed number of real seconds).
            polls = lab.pollers["press1"].polls
            await wait_until(lambda: not lab.publisher.connected
                             and lab.pollers["press1"].polls >= polls + OUTAGE_POLLS
                             and lab.publisher.queue_depth > 0, timeout_s=60)
            outage_end_ts = lab.clock.now()
            assert not lab.publisher.connected
            assert lab.publisher.queue_depth > 0
            private_mosquitto.start()
            result = await lab.wait_run(run_id, 90)
            assert result.outcome.value == "DONE", result.reason
            async with lab.sessions() as session:
                rows = (await session.execute(
                    select(MqttOutbox.message_id, MqttOutbox.topic).order_by(MqttOutbox.id)
                )).all()
            expected = [mid for mid, topic in rows
                        if topic in (f"{prefix}/runs/{run_id}/events", f"{prefix}/alarms")]

            def all_events(s: Recorder) -> bool:
                got = {m.json().get("id") for m in s.messages if "/runs/" in m.topic
                       or m.topic.endswith("/alarms")}
                return set(expected) <= got

            await sub.wait_for(all_events, timeout_s=20)
        await lab.writer.flush()
        ours = [r for r in polled.get_batch(100_000) if r.run_id == run_id]  # type: ignore[union-attr]
        async with lab.sessions() as session:
            stored_polls = await session.scalar(
                select(func.count(func.distinct(ReadingRow.ts))).where(ReadingRow.run_id == run_id)
            )
    received = [m.json()["id"] for m in sub.messages
                if f"/runs/{run_id}/" in m.topic or m.topic.endswith("/alarms")]
    assert list(dict.fromkeys(received)) == expected, "events missing or out of order"
    seqs = [m.json()["seq"] for m in sub.messages if f"/runs/{run_id}/" in m.topic]
    assert list(dict.fromkeys(seqs)) == sorted(set(seqs))
    assert stored_polls == len(ours) > 0, "database lacks readings the poller made"
    late = [m.json() for m in sub.on("/instruments/press1/readings")
            if outage_start_ts < m.json()["ts"] < outage_end_ts]
    assert late, "no reading taken during the outage reached the subscriber"
    assert all(r["replayed"] for r in late)
    assert lab.publisher.stats.readings_replayed >= len(late)
