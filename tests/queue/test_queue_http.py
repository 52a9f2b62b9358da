"""The queue routes on a real station: every route, roles, 404/409/422, and the audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy import select

from daq.api import create_app
from daq.messages import QueueChanged
from daq.station.lab import Lab
from daq.station.queue import QueueState
from daq.storage.models import AuditLog
from tests.api.conftest import Station, add_users, station_settings
from tests.queue.conftest import press_item

#: Hang guard only (a short cycle is well under 5 s real at 600×).
HANG_S = 60.0


@pytest_asyncio.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    async with Lab(station_settings(tmp_path)) as lab:
        tokens, passwords = await add_users(lab)
        app = create_app(lab)
        async with app.router.lifespan_context(app):
            yield Station(lab, app, tokens, passwords)


async def audit(station: Station, prefix: str = "queue.") -> list[AuditLog]:
    async with station.lab.sessions() as session:
        rows = await session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [r for r in rows if r.action.startswith(prefix)]


async def test_operator_queues_reorders_removes_and_runs_items_over_http(
    station: Station,
) -> None:
    async with station.client("operator") as op:
        uids = []
        for sample in ("S-A", "S-B", "S-C"):
            r = await op.post("/api/queue", json={"kind": "press_cycle",
                                                  "params": press_item(sample)})
            assert r.status_code == 201, r.text
            assert r.json()["state"] == "queued" and r.json()["operator"] == "operator1"
            uids.append(r.json()["uid"])
        a, b, c = uids
        r = await op.post(f"/api/queue/{c}/move", json={"before": a})
        assert r.status_code == 200 and r.json()["uid"] == c
        r = await op.delete(f"/api/queue/{a}")
        assert r.status_code == 200 and r.json()["uid"] == a
        body = (await op.get("/api/queue")).json()
        assert body["state"] == "stopped" and body["station"] == station.lab.settings.station
        assert [i["params"]["sample_id"] for i in body["items"]] == ["S-C", "S-B"]

        r = await op.post("/api/queue/start")
        assert r.status_code == 200 and r.json()["state"] == "running"
        assert (await op.post("/api/queue/start")).status_code == 409  # already running
        await station.lab.run_queue.wait_until(
            lambda s: s.state is QueueState.STOPPED and len(s.history) == 2, HANG_S)
        body = (await op.get("/api/queue")).json()
        assert [(h["uid"], h["state"], h["outcome"]) for h in body["history"]] == [
            (c, "done", "DONE"), (b, "done", "DONE")]
        for h in body["history"]:
            run = (await op.get(f"/api/runs/{h['run_id']}")).json()
            assert run["status"] == "DONE" and run["sample_id"] == h["params"]["sample_id"]
        assert (await op.post("/api/queue/stop")).status_code == 409  # stopped already

    rows = await audit(station)
    assert [(r.action, r.user, r.result) for r in rows] == [
        ("queue.add", "operator1", "ok")] * 3 + [
        ("queue.move", "operator1", "ok"), ("queue.remove", "operator1", "ok"),
        ("queue.start", "operator1", "ok"), ("queue.start", "operator1", "refused 409"),
        ("queue.stop", "operator1", "refused 409")]
    assert [r.target for r in rows[:3]] == uids
    assert rows[3].target == c and rows[3].detail["before"] == a


async def test_stop_over_http_lets_the_running_item_finish(station: Station) -> None:
    changes = station.lab.bus.subscribe("test", (QueueChanged,))
    async with station.client("operator") as op:
        for sample in ("S-1", "S-2"):
            await op.post("/api/queue", json={"kind": "press_cycle",
                                              "params": press_item(sample)})
        await op.post("/api/queue/start")
        snap = await station.lab.run_queue.wait_until(lambda s: s.running is not None, HANG_S)
        assert snap.running is not None
        running = snap.running.uid
        r = await op.delete(f"/api/queue/{running}")
        assert r.status_code == 409 and "abort the run" in r.json()["detail"]
        r = await op.post("/api/queue/stop")
        assert r.status_code == 200 and r.json()["state"] == "stopping"
        await station.lab.run_queue.wait_until(
            lambda s: s.state is QueueState.STOPPED and len(s.history) == 1, HANG_S)
        body = (await op.get("/api/queue")).json()
        assert body["history"][0]["uid"] == running
        assert body["history"][0]["outcome"] == "DONE"
        assert [i["params"]["sample_id"] for i in body["items"]] == ["S-2"]
        r = await op.post("/api/queue/clear")
        assert r.json() == {"state": "stopped", "removed": 1}
        assert (await op.get("/api/queue")).json()["items"] == []
    # Every change reached live views (the dashboard re-reads the queue on each), the
    # queue's state as it was once the change was stored.
    seen = [(m.change, m.state) for m in changes.get_batch(100) if isinstance(m, QueueChanged)]
    assert seen == [("added", "stopped"), ("added", "stopped"), ("started", "running"),
                    ("running", "running"), ("stopping", "stopping"), ("ended", "stopped"),
                    ("cleared", "stopped")]


async def test_bad_items_are_422_naming_the_field_and_unknown_uids_404(
    station: Station,
) -> None:
    async with station.client("operator") as op:
        r = await op.post("/api/queue", json={"kind": "press_cycle",
                                              "params": press_item("S-1", dwell_min=30)})
        assert r.status_code == 422
        assert "dwell 30 min is outside the allowed window 5–20 min" in r.json()["message"]
        assert r.json()["message"].startswith("params")
        r = await op.post("/api/queue", json={"kind": "press_cycle",
                                              "params": {"pressure_mpa": "lots"}})
        assert r.status_code == 422 and "params.pressure_mpa" in r.json()["message"]
        r = await op.post("/api/queue", json={"kind": "kiln", "params": {}})
        assert r.status_code == 422 and r.json()["message"].startswith("kind: unknown run kind")
        r = await op.post("/api/queue", json={"kind": "press_cycle", "params": {},
                                              "position": 0, "before": "x"})
        assert r.status_code == 422 and "before" in r.json()["message"]
        r = await op.post("/api/queue", json={"kind": "press_cycle", "params": {},
                                              "after": "nope"})
        assert r.status_code == 422 and "after: no queued item 'nope'" in r.json()["message"]
        assert (await op.delete("/api/queue/nope")).status_code == 404
        assert (await op.post("/api/queue/nope/move", json={"position": 0})).status_code == 404
        r = await op.post("/api/queue/start")
        assert r.status_code == 409 and "empty" in r.json()["detail"]
        assert (await op.get("/api/queue")).json()["items"] == []
    rows = await audit(station)
    assert [r.result for r in rows[:5]] == ["refused 422"] * 5
    assert all(r.user == "operator1" for r in rows)


async def test_a_viewer_reads_the_queue_but_cannot_change_it(station: Station) -> None:
    async with station.client("operator") as op:
        uid = (await op.post("/api/queue", json={"kind": "press_cycle",
                                                 "params": press_item("S-1")})).json()["uid"]
    async with station.client("viewer") as viewer:
        body = (await viewer.get("/api/queue")).json()
        assert [i["uid"] for i in body["items"]] == [uid]
        attempts = [
            viewer.post("/api/queue", json={"kind": "press_cycle", "params": {}}),
            viewer.delete(f"/api/queue/{uid}"),
            viewer.post(f"/api/queue/{uid}/move", json={"position": 0}),
            viewer.post("/api/queue/start"),
            viewer.post("/api/queue/stop"),
            viewer.post("/api/queue/clear"),
        ]
        for attempt in attempts:
            r = await attempt
            assert r.status_code == 403, r.text
    async with station.client() as anonymous:
        assert (await anonymous.get("/api/queue")).status_code == 401
    assert [i.uid for i in station.lab.run_queue.snapshot().items] == [uid]
    denied = [r for r in await audit(station) if r.user == "viewer1"]
    assert [r.action for r in denied] == ["queue.add", "queue.remove", "queue.move",
                                          "queue.start", "queue.stop", "queue.clear"]
    assert all(r.result == "denied 403" for r in denied)


async def test_another_stations_queue_is_readable_from_the_shared_database(
    station: Station,
) -> None:
    from daq.storage.queue_models import QueueItemRow

    async with station.lab.sessions() as session:
        session.add(QueueItemRow(uid="lab2-item", station="lab2", position=0, state="queued",
                                 kind="press_cycle", params={"sample_id": "S-9"},
                                 operator="erin", added_wall=1.0))
        await session.commit()
    async with station.client("viewer") as viewer:
        ours = (await viewer.get("/api/queue")).json()
        theirs = (await viewer.get("/api/queue", params={"station": "lab2"})).json()
    assert ours["items"] == []  # lab2's item is not ours to run
    assert theirs["station"] == "lab2" and theirs["state"] == "stopped"
    assert [(i["uid"], i["operator"]) for i in theirs["items"]] == [("lab2-item", "erin")]
