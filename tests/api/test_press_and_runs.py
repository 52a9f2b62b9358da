"""Press cycles through the API on a real station: start, refusals, abort to SAFE, readings."""

from __future__ import annotations

import asyncio
import csv
import io

from sqlalchemy import select

from daq.storage.models import AuditLog
from tests.api.conftest import Station


async def test_out_of_window_temperature_is_422_naming_field_and_range_and_nothing_starts(
    station: Station,
) -> None:
    async with station.client("operator") as op:
        r = await op.post("/api/press/cycles", json={"recipe": {"temperature_c": 250}})
        assert r.status_code == 422
        body = r.json()
        assert body["detail"][0]["field"] == "recipe.temperature_c"
        assert "temperature 250 °C is outside the allowed window 150–200 °C" in body["message"]
        r = await op.post("/api/press/cycles", json={"recipe": {"dwell_min": 30}})
        assert "dwell 30 min is outside the allowed window 5–20 min" in r.json()["message"]
        assert (await op.get("/api/runs")).json()["total"] == 0
    assert station.lab.active_runs() == []
    press = station.lab.simulators.instruments["press"]
    assert press.is_safe and not press.heater_on
    async with station.lab.sessions() as session:
        rows = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    refusals = [r for r in rows if r.action == "press.start"]
    assert [(r.user, r.result) for r in refusals] == [("operator1", "refused 422")] * 2
    assert "temperature 250" in refusals[0].detail["message"]


async def test_default_cycle_runs_to_done_and_its_readings_page_and_stream_as_csv(
    station: Station,
) -> None:
    async with station.client("operator") as op:
        started = await op.post("/api/press/cycles", json={"recipe_name": "default"})
        assert started.status_code == 201
        run_id = started.json()["run_id"]
        busy = await op.post("/api/press/cycles", json={"recipe_name": "default"})
        assert busy.status_code == 409 and "busy" in busy.json()["detail"]
        await station.lab.wait_run(run_id, timeout_s=60)
        await station.lab.writer.flush()
        detail = (await op.get(f"/api/runs/{run_id}")).json()
        assert detail["status"] == "DONE" and detail["operator"] == "operator1"
        assert detail["summary"]["dwell_achieved_min"] >= 20.0
        phases = [e["data"]["to"] for e in detail["events"] if e["kind"] == "transition"]
        assert phases[:3] == ["PRECHECK", "HEAT", "PRESS"] and phases[-1] == "DONE"
        total = sum(detail["channels"].values())
        assert total > 0 and set(detail["channels"]) >= {"temp_top", "temp_bottom", "pressure"}

        first = (await op.get(f"/api/runs/{run_id}/readings", params={"limit": 7})).json()
        assert first["total"] == total and len(first["items"]) == 7 and first["next_offset"] == 7
        seen = 0
        offset: int | None = 0
        while offset is not None:
            page = (
                await op.get(
                    f"/api/runs/{run_id}/readings",
                    params={"limit": 500, "offset": offset, "channel": "pressure"},
                )
            ).json()
            seen += len(page["items"])
            assert all(i["channel"] == "pressure" for i in page["items"])
            offset = page["next_offset"]
        assert seen == detail["channels"]["pressure"]

        csv_resp = await op.get(f"/api/runs/{run_id}/readings", params={"format": "csv"})
        assert csv_resp.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(csv_resp.text)))
        assert len(rows) == total
        assert list(rows[0]) == ["ts", "time", "instrument", "channel", "value", "unit", "replayed"]
        stamps = [float(r["ts"]) for r in rows]
        assert stamps == sorted(stamps)
        peak = max(float(r["value"]) for r in rows if r["channel"] == "temp_top")
        assert 195 < peak < 210

        done = (await op.get("/api/runs", params={"status": "DONE", "kind": "press_cycle"})).json()
        assert [r["id"] for r in done["items"]] == [run_id]
        again = await op.post(f"/api/runs/{run_id}/abort")
        assert again.status_code == 409
        assert (await op.get("/api/runs/press-000000000000")).status_code == 404
        assert (await op.get("/api/runs", params={"status": "BOGUS"})).status_code == 422


async def test_abort_takes_the_press_to_its_safe_state(station: Station) -> None:
    press = station.lab.simulators.instruments["press"]
    async with station.client("operator") as op:
        run_id = (await op.post("/api/press/cycles", json={"recipe_name": "default"})).json()[
            "run_id"
        ]
        for _ in range(200):
            if press.heater_on:
                break
            await asyncio.sleep(0.02)
        assert press.heater_on
        async with station.client("viewer") as viewer:
            assert (await viewer.post(f"/api/runs/{run_id}/abort")).status_code == 403
        r = await op.post(f"/api/runs/{run_id}/abort")
        assert r.status_code == 202 and r.json()["status"] == "ABORTED"
        assert press.is_safe and not press.heater_on and not press.pressure_on
        run = (await op.get(f"/api/runs/{run_id}")).json()
        assert run["status"] == "ABORTED" and run["phase"] == "SAFE"
        assert "operator1" in (run["reason"] or "")


async def test_recipes_are_validated_stored_and_the_default_is_read_only(
    station: Station,
) -> None:
    async with station.client("operator") as op:
        limits = (await op.get("/api/recipes/limits")).json()
        assert limits["temperature_c"] == {
            "label": "temperature", "low": 150.0, "high": 200.0, "unit": "°C"
        }
        put = await op.put(
            "/api/recipes/low-temp", json={"temperature_c": 170, "pressure_mpa": 2, "dwell_min": 10}
        )
        assert put.status_code == 200 and put.json()["recipe"]["name"] == "low-temp"
        bad = await op.put("/api/recipes/hot", json={"temperature_c": 201})
        assert bad.status_code == 422 and "150–200 °C" in bad.json()["message"]
        names = [r["name"] for r in (await op.get("/api/recipes")).json()]
        assert names == ["default", "low-temp"]
        assert (await op.put("/api/recipes/default", json={})).status_code == 409
        assert (await op.delete("/api/recipes/default")).status_code == 409
        started = await op.post("/api/press/cycles", json={"recipe_name": "low-temp"})
        assert started.status_code == 201
        await station.lab.abort(started.json()["run_id"], "operator1")
        assert (await op.delete("/api/recipes/low-temp")).status_code == 204
        assert (await op.get("/api/recipes/low-temp")).status_code == 404
        missing = await op.post("/api/press/cycles", json={"recipe_name": "low-temp"})
        assert missing.status_code == 404
    async with station.client("viewer") as viewer:
        assert (await viewer.put("/api/recipes/x", json={})).status_code == 403


async def test_health_and_metrics_report_database_instruments_and_stream(
    station: Station,
) -> None:
    async with station.client() as anon:
        health = (await anon.get("/health")).json()
        assert health["database"] == "ok" and health["instruments"]["press1"] == "online"
        metrics = (await anon.get("/metrics")).text
        assert "daq_api_stream_clients 0" in metrics
        assert "# TYPE" in metrics
    async with station.client("viewer") as viewer:
        instruments = {i["name"]: i for i in (await viewer.get("/api/instruments")).json()}
        press = instruments["press1"]
        assert press["driver"] == "lamination_press" and press["resource"].startswith("TCPIP::")
        assert press["status"] == "online" and "temp_top" in press["values"]
