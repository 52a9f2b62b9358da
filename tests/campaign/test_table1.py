"""Acceptance: the Table 1 campaign, run by `daq campaign run` against the simulators at
accelerated time, on PostgreSQL and the external Mosquitto (whose subscriber must see
every run's events), reproduces the patent (peel ±0.5 N/cm as made and after 150 °C ×
1000 h, laser grades identical, Comparatives 2 and 3 without film); its report opens in
chromium with the same table. The same checks on SQLite and the embedded broker are made
by the Table 1 page test (tests/browser/test_table1.py), whose station runs the shipped
campaign to its end: one whole campaign per backend, not two on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Mapping
from pathlib import Path

import aiomqtt
import pytest

from daq.campaign.model import load_campaign
from tests.browser.conftest import CHROMIUM_ARGS, need_chromium
from tests.campaign.conftest import daq_env, faster_campaign, report_data, run_daq
from tests.campaign.table1_checks import check_report_in_chromium, check_table1
from tests.conftest import empty_postgres_schema, need_service

pytestmark = pytest.mark.postgres


async def _subscribe(prefix: str, seen: dict[str, set[str]], ready: asyncio.Event,
                     arrived: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.subscribe(f"{prefix}/runs/+/events", qos=1)
        ready.set()
        async for message in client.messages:
            data = json.loads(message.payload if isinstance(message.payload, bytes) else b"{}")
            seen.setdefault(str(data.get("run_id")), set()).add(str(data.get("kind")))
            arrived.set()


def _without_transition(runs: Mapping[str, object], seen: dict[str, set[str]]) -> list[str]:
    """Runs of which no transition event has reached the subscriber (yet)."""
    return [rid for rid in runs if "transition" not in seen.get(rid, set())]


async def test_table1_campaign_reproduces_the_patent_on_postgresql(
    postgres_database: str, tmp_path: Path
) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    db_url = postgres_database
    empty_postgres_schema(db_url)
    table1 = faster_campaign(tmp_path)
    campaign, _ = load_campaign(table1)
    prefix = f"lamina/test-{secrets.token_hex(4)}"
    seen: dict[str, set[str]] = {}
    arrived = asyncio.Event()
    ready = asyncio.Event()
    listener = asyncio.create_task(_subscribe(prefix, seen, ready, arrived))
    await asyncio.wait_for(ready.wait(), 10)
    env = daq_env(db_url, "mqtt://127.0.0.1:1883", prefix)
    try:
        code, out, err = await run_daq("campaign", "run", str(table1), env=env)
        assert code == 0, err[-2000:]
        assert "Table 1 reproduced" in out
        data = await report_data(db_url, campaign.id, traces=True)
        # The last QoS 1 events may still be on their way from the broker: wait until
        # every stored run's transitions have arrived (60 s only guards against a hang;
        # what is missing then is reported below).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(60):
                while _without_transition(data.runs, seen):
                    arrived.clear()
                    await arrived.wait()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await listener

    check_table1(data, campaign)
    missing = _without_transition(data.runs, seen)  # every run's events reached the broker
    assert not missing, missing[:5]

    out_dir = tmp_path / "report"
    code, out, err = await run_daq("report", str(table1), "--out", str(out_dir), env=env)
    assert code == 0, err
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(need_chromium()),
                                           args=CHROMIUM_ARGS)
        try:
            await check_report_in_chromium(browser, out_dir / "index.html", campaign,
                                           "postgresql")
        finally:
            await browser.close()
