"""The station end to end in one process: simulators, database, MQTT, a press cycle."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from collections.abc import Callable

import aiomqtt
import pytest
from sqlalchemy import func, select

from daq.config import Settings
from daq.messages import InstrumentStatus, Reading
from daq.metrics import render_prometheus
from daq.mqtt.broker import EmbeddedBroker
from daq.recipes import RecipeError
from daq.station.lab import Lab, LabError
from daq.storage.models import Instrument as InstrumentRow
from daq.storage.models import ReadingRow, Run
from tests.conftest import need_service
from tests.mqtt.helpers import Recorder, clear_retained, free_port
from tests.service.conftest import QUICK_RECIPE


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_embedded_broker_carries_readings_status_and_events(
    tmp_path, make_settings: Callable[..., Settings], prefix: str
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}")
    async with Lab(settings) as lab:
        assert lab.broker is not None and lab.broker.running
        async with Recorder(lab.broker.port, f"{prefix}/#") as sub:
            run_id = await lab.start_press_cycle(QUICK_RECIPE, "alice")
            result = await lab.wait_run(run_id, 60)
            assert result.outcome.value == "DONE"
            await sub.wait_for(lambda s: any(
                m.json().get("kind") == "result" for m in s.on(f"/runs/{run_id}/events")))
        assert sub.on("/service/status")[0].payload == b"online"
        assert sub.on("/instruments/press1/status")[-1].payload == b"online"
        readings = [m.json() for m in sub.on("/instruments/press1/readings")]
        assert any(r["run_id"] == run_id for r in readings)
        phases = [m.json()["data"].get("to") for m in sub.on(f"/runs/{run_id}/events")
                  if m.json()["kind"] == "transition"]
        assert phases[:3] == ["PRECHECK", "HEAT", "PRESS"] and "DONE" in phases
        text = render_prometheus(lab)
        assert "daq_mqtt_connected 1" in text
        assert 'daq_instrument_up{instrument="press1"} 1' in text
        async with lab.sessions() as session:
            row = await session.get(InstrumentRow, (lab.settings.station, "press1"))
        assert row is not None and row.driver == "lamination_press"
        assert row.idn is not None and "Press" in row.idn and row.status == "online"


async def test_bad_requests_are_refused_and_the_station_keeps_going(
    tmp_path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}")
    async with Lab(settings) as lab:
        with pytest.raises(RecipeError, match="temperature"):
            await lab.start_press_cycle({**QUICK_RECIPE, "temperature_c": 250}, "alice")
        with pytest.raises(LabError, match="no press"):
            await lab.start_press_cycle(QUICK_RECIPE, "alice", press="nope")
        run_id = await lab.start_press_cycle(QUICK_RECIPE, "alice")
        with pytest.raises(LabError, match="busy"):
            await lab.start_press_cycle(QUICK_RECIPE, "bob")
        with pytest.raises(LabError, match="not live"):
            await lab.abort("press-000000000000", "bob")
        await wait_until(lambda: lab.runs[run_id].phase in ("HEAT", "PRESS"))
        assert await lab.abort(run_id, "bob")
        result = await lab.wait_run(run_id)
        assert result.outcome.value == "ABORTED" and "bob" in result.reason
        assert lab.simulators.instruments["press"].safe_events, "press not made safe"
        polls = lab.pollers["press1"].polls
        await wait_until(lambda: lab.pollers["press1"].polls > polls + 3)
        assert lab.active_runs() == []


async def test_shutdown_mid_cycle_aborts_to_safe_and_flushes_every_reading(
    tmp_path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}")
    lab = Lab(settings)
    async with lab:
        seen = lab.bus.subscribe("test", (Reading,), maxsize=100_000)
        run_id = await lab.start_press_cycle(QUICK_RECIPE, "alice")
        await wait_until(lambda: lab.runs[run_id].phase == "PRESS")
        press = lab.simulators.instruments["press"]
    # after the context: procedure aborted, readings flushed, simulators stopped
    assert press.safe_events, "the press never went to its safe state"
    ours = [r for r in seen.get_batch(100_000) if r.run_id == run_id]  # type: ignore[union-attr]
    async with Lab(settings) as again, again.sessions() as session:
        run = await session.get(Run, run_id)
        stored = await session.scalar(
            select(func.count(func.distinct(ReadingRow.ts))).where(ReadingRow.run_id == run_id)
        )
    assert run is not None and run.status == "ABORTED" and "shutting down" in (run.reason or "")
    assert stored == len(ours) > 0


async def test_refused_broker_connection_keeps_acquiring_and_recovers_by_itself(
    tmp_path, make_settings: Callable[..., Settings], prefix: str
) -> None:
    port = free_port()
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}",
                             mqtt_url=f"mqtt://127.0.0.1:{port}")
    async with Lab(settings) as lab:
        lab.publisher.backoff_max_s = 0.3
        await wait_until(lambda: lab.publisher.stats.connect_failures >= 2)
        await wait_until(lambda: lab.writer.stats.rows_written > 0)
        assert lab.status()["mqtt"] == "disconnected"
        assert lab.pollers["press1"].status == "online"
        text = render_prometheus(lab)
        assert "daq_mqtt_connected 0" in text
        assert "daq_mqtt_readings_queue_depth 0" not in text
        broker = EmbeddedBroker(port=port)
        await broker.start()
        try:
            async with Recorder(port, f"{prefix}/#") as sub:
                await wait_until(lambda: lab.publisher.connected)
                await sub.wait_for(lambda s: len(s.on("/readings")) >= 3)
            assert lab.publisher.stats.readings_replayed > 0
            assert "daq_mqtt_connected 1" in render_prometheus(lab)
        finally:
            await lab.publisher.stop(timeout_s=1)
            await broker.stop()


async def test_mosquitto_sub_shows_readings_statuses_and_events(
    tmp_path, make_settings: Callable[..., Settings], prefix: str
) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}",
                             mqtt_url="mqtt://127.0.0.1:1883")
    exe = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
    out = tmp_path / "sub.txt"
    with out.open("w") as fh:
        # Popen returns at once; the subscriber runs beside the station.
        sub = subprocess.Popen(  # noqa: ASYNC220
            [exe, "-h", "127.0.0.1", "-p", "1883", "-t", f"{prefix}/#", "-v"], stdout=fh
        )
    try:
        # mosquitto_sub is subscribed once it prints what we publish (not after 0.3 s).
        async with aiomqtt.Client("127.0.0.1", 1883) as probe, asyncio.timeout(15):
            while f"{prefix}/probe ready" not in out.read_text():
                await probe.publish(f"{prefix}/probe", b"ready")
                await asyncio.sleep(0.05)
        async with Lab(settings) as lab:
            run_id = await lab.start_press_cycle(QUICK_RECIPE, "alice")
            await lab.wait_run(run_id, 60)
            # Events come in order (QoS 1, one publisher): the result event is the last.
            await wait_until(lambda: any(
                line.startswith(f"{prefix}/runs/{run_id}/events ") and '"result"' in line
                for line in out.read_text().splitlines()))
    finally:
        sub.send_signal(signal.SIGINT)
        sub.wait(5)
        await clear_retained(1883, prefix, ["service/status", "instruments/press1/status"])
    lines = out.read_text().splitlines()
    assert any(line.startswith(f"{prefix}/instruments/press1/readings {{") for line in lines)
    assert f"{prefix}/instruments/press1/status online" in lines
    assert f"{prefix}/service/status online" in lines
    events = [line for line in lines if line.startswith(f"{prefix}/runs/{run_id}/events ")]
    assert any('"to":"DWELL"' in e.replace(" ", "") for e in events)


async def test_garbled_replies_are_reported_and_acquisition_recovers(
    tmp_path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}")
    async with Lab(settings) as lab:
        poller = lab.pollers["press1"]
        await wait_until(lambda: poller.status == "online")
        statuses = lab.bus.subscribe("statuses", (InstrumentStatus,))
        lab.simulators.instruments["press"].inject("garble", "3")
        await wait_until(lambda: poller.errors >= 1)
        polls = poller.polls
        await wait_until(lambda: poller.polls > polls + 3 and poller.status == "online")
        seen = [s.state for s in statuses.get_batch(100)]  # type: ignore[union-attr]
        assert "fault" in seen and seen[-1] == "online"
        assert f'daq_poll_errors_total{{instrument="press1"}} {poller.errors}' in (
            render_prometheus(lab))
        rows_before = lab.writer.stats.rows_written
        await wait_until(lambda: lab.writer.stats.rows_written > rows_before)
