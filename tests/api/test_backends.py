"""The same operator workflow through the API on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
from sqlalchemy import select

from daq.api import create_app
from daq.station.lab import Lab
from daq.storage.models import AuditLog
from tests.api.conftest import add_users, station_settings


async def test_cycle_readings_and_audit_through_the_api_on_each_backend(
    db_url: str, tmp_path: Path
) -> None:
    settings = station_settings(tmp_path).model_copy(update={"database_url": db_url})
    async with Lab(settings) as lab:
        tokens, _ = await add_users(lab)
        app = create_app(lab)
        headers = {"Authorization": f"Bearer {tokens['operator']}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://lab", headers=headers
        ) as op:
            refused = await op.post("/api/press/cycles", json={"recipe": {"pressure_mpa": 12}})
            assert refused.status_code == 422
            assert "pressure 12 MPa is outside the allowed window 0.1–10 MPa" in (
                refused.json()["message"]
            )
            started = await op.post(
                "/api/press/cycles",
                json={"recipe": {"temperature_c": 160, "dwell_min": 5, "name": "short"}},
            )
            run_id = started.json()["run_id"]
            await lab.wait_run(run_id, timeout_s=60)
            await lab.writer.flush()
            run = (await op.get(f"/api/runs/{run_id}")).json()
            assert run["status"] == "DONE"
            text = (await op.get(f"/api/runs/{run_id}/readings?format=csv")).text
            rows = list(csv.DictReader(io.StringIO(text)))
            assert len(rows) == sum(run["channels"].values()) > 0
        async with lab.sessions() as session:
            audit = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
        api_rows = [(a.user, a.action, a.result) for a in audit if "method" in a.detail]
        assert api_rows == [
            ("operator1", "press.start", "refused 422"),
            ("operator1", "press.start", "ok"),
        ]
