"""Automatic capture in the running station: the embedded peel tester starts on its own
and the service records the test (database, run, result event over MQTT)."""

from __future__ import annotations

import secrets
from pathlib import Path

from daq.config import Settings
from daq.peel.procedure import PeelOutcome
from daq.peel.station import peel_watchers
from daq.peel.store import PeelStore
from daq.station.lab import Lab
from daq.storage.models import MqttOutbox, Run
from tests.peel.conftest import wait_until


async def test_the_station_records_a_front_panel_peel_by_itself(tmp_path: Path) -> None:
    prefix = f"lamina/test-{secrets.token_hex(4)}"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}", mqtt_url="embedded",
        embedded_mqtt_port=0, time_scale=1200.0, mqtt_prefix=prefix,
    )
    outcomes: list[PeelOutcome] = []
    async with Lab(settings) as lab, peel_watchers(lab, outcomes.append) as watchers:
        assert list(watchers) == ["peel1"]
        tester = lab.simulators.instruments["peel"]
        tester.handle("SIM:PANEL START")  # an operator presses START on the tester
        await wait_until(lambda: len(outcomes) == 1, "the station recorded the peel")
        outcome = outcomes[0]
        assert outcome.status == "DONE", outcome.reason
        row = await PeelStore(lab.sessions).test(outcome.run_id)
        assert row is not None and row.trigger == "front_panel" and row.n_points > 5000
        async with lab.sessions() as session:
            run = await session.get(Run, outcome.run_id)
            topics = [o.topic for o in (await session.execute(
                MqttOutbox.__table__.select())).all()]
        assert run is not None and run.status == "DONE" and run.instrument == "peel1"
        assert f"{prefix}/runs/{outcome.run_id}/events" in topics
