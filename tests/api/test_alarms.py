"""Alarms in ISA-18.2 states and the press's latch: a door opened mid-cycle trips the
press, its row says SAFE with the cause, the alarm is active unacknowledged; an operator
acknowledges it, cannot reset while the door is open, resets once it is closed, and the
alarm is cleared; every change is audited and on the MQTT outbox."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from daq.messages import AlarmChanged
from daq.storage.models import AuditLog, MqttOutbox
from tests.aging.conftest import until
from tests.api.conftest import Station


async def press_row(client: httpx.AsyncClient) -> dict[str, object]:
    rows = {r["name"]: r for r in (await client.get("/api/instruments")).json()}
    return rows["press1"]


async def test_a_door_trip_latches_the_press_until_an_operator_acknowledges_and_resets(
    station: Station,
) -> None:
    lab = station.lab
    press = lab.simulators.instruments["press"]
    live = lab.bus.subscribe("test", (AlarmChanged,))
    async with station.client("operator") as op, station.client("viewer") as viewer:
        # A slow ramp (2 °C/min) keeps the press heating while the door opens.
        resp = await op.post("/api/runs", json={"kind": "press_cycle",
                                                 "params": {"ramp_rate_c_per_min": 2}})
        assert resp.status_code == 201, resp.text
        run_id = resp.json()["run_id"]
        await until(lambda: press.heater_on, "the press heats")
        press.inject("door", "open")
        outcome = await lab.run_engine.wait(run_id, timeout_s=60)
        assert outcome.value == "FAULTED"
        await lab.recorder.settled(10)
        await until(lambda: str(press.state) in ("State.SAFE", "SAFE"), "the press is SAFE")

        row = await press_row(viewer)
        assert row["state"] == "safe" and row["status"] == "fault" and row["resettable"]
        assert "door" in str(row["cause"]).lower()

        open_alarms = (await viewer.get("/api/alarms?state=open")).json()
        latched = [a for a in open_alarms if a["latching"]]
        assert len(latched) == 1 and latched[0]["state"] == "UNACK", open_alarms
        alarm_id = latched[0]["id"]
        assert latched[0]["source"] == "press1" and latched[0]["run_id"] == run_id

        assert (await viewer.post(f"/api/alarms/{alarm_id}/ack")).status_code == 403
        acked = await op.post(f"/api/alarms/{alarm_id}/ack")
        assert acked.status_code == 200, acked.text
        assert acked.json()["state"] == "ACKED" and acked.json()["acked_by"] == "operator1"
        again = await op.post(f"/api/alarms/{alarm_id}/ack")
        assert again.status_code == 409 and "operator1" in again.json()["detail"]

        # A start against the latched press is refused before a run exists (#15: it
        # used to answer 201 and store a FAULTED run every time), saying what to do.
        runs_before = (await viewer.get("/api/runs?kind=press_cycle")).json()["total"]
        latched_start = await op.post("/api/runs", json={"kind": "press_cycle", "params": {}})
        assert latched_start.status_code == 409, latched_start.text
        assert "latched SAFE" in latched_start.json()["detail"]
        assert "/api/instruments/press1/reset" in latched_start.json()["detail"]
        assert (await op.post("/api/press/cycles", json={})).status_code == 409
        assert (await viewer.get("/api/runs?kind=press_cycle")).json()["total"] == runs_before

        # Not while the door is open: nothing is sent, the press stays SAFE.
        refused = await op.post("/api/instruments/press1/reset")
        assert refused.status_code == 409 and "door" in refused.json()["detail"]
        assert (await press_row(viewer))["state"] == "safe"
        press.inject("door", "closed")
        reset = await op.post("/api/instruments/press1/reset")
        assert reset.status_code == 200, reset.text
        assert reset.json()["state"] == "IDLE" and reset.json()["door"] == "closed"
        assert reset.json()["cleared_alarms"] == [alarm_id]
        row = await press_row(viewer)
        assert row["state"] == "online" and row["status"] == "online" and row["cause"] is None
        after = {a["id"]: a for a in (await viewer.get("/api/alarms")).json()}
        assert after[alarm_id]["state"] == "NORMAL" and after[alarm_id]["cleared_by"] == "operator1"
        assert not [a for a in (await viewer.get("/api/alarms?state=open")).json()
                    if a["latching"]]

        # The next cycle runs.
        resp = await op.post("/api/runs", json={"kind": "press_cycle", "params": {}})
        assert resp.status_code == 201, resp.text
        assert (await lab.run_engine.wait(resp.json()["run_id"], timeout_s=120)).value == "DONE"

    async with lab.sessions() as session:
        actions = [(a.action, a.user, a.result, a.target) for a in (await session.scalars(
            select(AuditLog).where(AuditLog.action.in_(("alarm.ack", "instrument.reset")))
            .order_by(AuditLog.id))).all()]
        changes = [json.loads(m.payload) for m in (await session.scalars(
            select(MqttOutbox).where(MqttOutbox.topic.endswith("/alarms"))
            .order_by(MqttOutbox.id))).all()]
    assert actions == [
        ("alarm.ack", "viewer1", "denied 403", str(alarm_id)),
        ("alarm.ack", "operator1", "ok", str(alarm_id)),
        ("alarm.ack", "operator1", "refused 409", str(alarm_id)),
        ("instrument.reset", "operator1", "refused 409", "press1"),
        ("instrument.reset", "operator1", "ok", "press1"),
    ]
    assert [(c["change"], c["state"], c["by"]) for c in changes if "change" in c] == [
        ("ack", "ACKED", "operator1"), ("clear", "NORMAL", "operator1")]
    # The same two changes reached live views (another operator's dashboard re-reads on them).
    assert [(m.alarm_id, m.change, m.state, m.by) for m in live.get_batch(10)
            if isinstance(m, AlarmChanged)] == [
        (alarm_id, "ack", "ACKED", "operator1"), (alarm_id, "clear", "NORMAL", "operator1")]


async def test_an_alarm_is_shelved_for_a_time_with_a_reason_and_unshelved(
    station: Station,
) -> None:
    lab = station.lab
    press = lab.simulators.instruments["press"]
    async with station.client("operator") as op:
        resp = await op.post("/api/runs", json={"kind": "press_cycle",
                                                 "params": {"ramp_rate_c_per_min": 2}})
        run_id = resp.json()["run_id"]
        await until(lambda: press.heater_on, "the press heats")
        assert (await op.post(f"/api/runs/{run_id}/abort")).status_code == 202
        await lab.run_engine.wait(run_id, timeout_s=60)
        await lab.recorder.settled(10)
        alarm = (await op.get("/api/alarms")).json()[0]
        assert alarm["run_id"] == run_id and alarm["state"] == "UNACK"
        short = await op.post(f"/api/alarms/{alarm['id']}/shelve",
                              json={"reason": "", "minutes": 30})
        assert short.status_code == 422 and "reason" in short.json()["message"]
        shelved = await op.post(f"/api/alarms/{alarm['id']}/shelve",
                                json={"reason": "known: operator test abort", "minutes": 30})
        assert shelved.status_code == 200, shelved.text
        body = shelved.json()
        assert body["state"] == "SHELVED" and body["shelve_reason"] == "known: operator test abort"
        assert alarm["id"] not in [a["id"] for a in
                                   (await op.get("/api/alarms?state=open")).json()]
        back = await op.post(f"/api/alarms/{alarm['id']}/unshelve")
        assert back.status_code == 200 and back.json()["state"] == "UNACK"
        again = await op.post(f"/api/alarms/{alarm['id']}/unshelve")
        assert again.status_code == 409
        missing = await op.post("/api/alarms/999999/ack")
        assert missing.status_code == 404
