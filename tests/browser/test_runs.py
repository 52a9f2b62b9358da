"""The run browser: newest first by wall-clock start, whatever the simulated stamps say;
filters by kind, status, station and sample, search, paging, CSV and JSON downloads."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from daq.campaign.model import Campaign
from daq.station.lab import Lab
from tests.api.conftest import station_settings
from tests.browser.conftest import LiveStation, download_of_run, log_in, stored_readings

pytestmark = pytest.mark.browser

#: How far ahead the other station's simulated clock runs: a campaign's weeks.
AHEAD_S = 6 * 7 * 24 * 3600.0

SMALL_CAMPAIGN = {
    "campaign": {"id": "browser-small", "title": "one film sample, end to end"},
    "peel": {"specimens_per_condition": 1},
    "aging": {"hours": 10.0},
    "laser": {"holes": 100},
    "time": {"press_scale": 1200.0, "peel_scale": 1200.0, "aging_scale": 100000.0,
             "laser_scale": 1200.0},
    "samples": [{"lot": "EX1-B-001", "material": "EX1", "adhesive_thickness_um": 5.0,
                 "expected": {"peel_as_made_n_per_cm": 9.0, "peel_aged_n_per_cm": 7.0,
                              "laser_grade": "O"}}],
}


@asynccontextmanager
async def station_ahead(tmp_path: Path, live: LiveStation) -> AsyncIterator[Lab]:
    """A second station ("lab2") on the same database whose simulated clock runs weeks
    ahead, with its own simulators, journal and MQTT prefix."""
    scale = 600.0
    settings = station_settings(tmp_path, scale=scale).model_copy(update={
        "station": "lab2",
        "time_origin": time.time() - AHEAD_S / (scale - 1.0),
        "journal_dir": tmp_path / "lab2-journal",
        "mqtt_prefix": f"lamina/test-lab2-{tmp_path.name[-8:]}",
    })
    assert settings.database_url == live.lab.settings.database_url
    async with Lab(settings) as lab:
        yield lab


async def first_row(page: Page) -> str:
    return (await page.locator("#runs tbody tr").first.get_attribute("data-run")) or ""


async def test_a_run_made_after_a_campaign_stamped_weeks_ahead_is_listed_first(
    browser: Any, live: LiveStation, tmp_path: Path, screenshots: Path
) -> None:
    async with station_ahead(tmp_path, live) as lab2:
        campaign = Campaign.model_validate(SMALL_CAMPAIGN)
        campaign_run = await lab2.run_engine.start("campaign", campaign, "operator1", "api")
        outcome = await lab2.run_engine.wait(campaign_run, timeout_s=300)
        assert outcome.value == "DONE"

    page = await log_in(browser, live, "operator")
    await page.click("#start-press_cycle")
    await expect(page.locator("#live-status")).to_have_text("DONE", timeout=60_000)
    run_id = (await page.text_content("#live-run")) or ""

    # The campaign's runs are stamped weeks later in simulated time than this one ...
    async with live.lab.sessions() as session:
        from sqlalchemy import func, select

        from daq.storage.models import Run

        mine = await session.get(Run, run_id)
        latest_campaign_ts = await session.scalar(
            select(func.max(Run.started_ts)).where(Run.station == "lab2"))
        lab2_runs = await session.scalar(
            select(func.count()).select_from(Run).where(Run.station == "lab2"))
    assert mine is not None and latest_campaign_ts is not None and lab2_runs
    assert latest_campaign_ts - mine.started_ts > 0.9 * AHEAD_S
    # ... and it is still the first in the browser: it started last on the wall clock.
    await page.click("nav.views a[data-view=runs]")
    await expect(page.locator("#runs tbody tr").first).to_have_attribute("data-run", run_id)
    await page.screenshot(path=str(screenshots / "runs-newest-first.png"), full_page=True)

    # Filters: station, kind, status; the search; each narrows what the API answers.
    await page.select_option("#runs-station", "lab2")
    await expect(page.locator("#runs tbody")).to_have_attribute(
        "data-query", re.compile("station=lab2"))
    await expect(page.locator("#runs-count")).to_contain_text(f"of {lab2_runs}")
    stations = await page.locator("#runs tbody tr td:nth-child(7)").all_text_contents()
    assert set(stations) == {"lab2"}
    await page.select_option("#runs-kind", "peel_test")
    await expect(page.locator("#runs tbody tr")).to_have_count(2)  # as made, and aged
    kinds = await page.locator("#runs tbody tr td:nth-child(2)").all_text_contents()
    assert kinds == ["peel test", "peel test"]
    await page.select_option("#runs-station", "")
    await page.select_option("#runs-kind", "")
    await page.fill("#runs-q", run_id[-6:])
    await page.click("#runs-apply")
    await expect(page.locator("#runs tbody tr")).to_have_count(1)
    assert await first_row(page) == run_id
    await page.fill("#runs-q", "no-such-thing")
    await page.click("#runs-apply")
    await expect(page.locator("#runs-empty")).to_be_visible()
    await page.fill("#runs-q", "")
    await page.fill("#runs-sample", "EX1-B-001")
    await page.click("#runs-apply")
    await expect(page.locator("#runs tbody")).to_have_attribute(
        "data-query", re.compile("sample_id=EX1-B-001"))
    samples = await page.locator("#runs tbody tr td:nth-child(6)").all_text_contents()
    assert samples and set(samples) == {"EX1-B-001"}

    # Paging: 5 a page, "Older" shows the next, "Newer" comes back.
    await page.fill("#runs-sample", "")
    await page.select_option("#runs-limit", "5")
    total = lab2_runs + 1
    assert total > 5
    await expect(page.locator("#runs-count")).to_have_text(f"1–5 of {total}")
    await page.click("#runs-older")
    await expect(page.locator("#runs-count")).to_have_text(f"6–{min(10, total)} of {total}")
    assert run_id not in await page.locator("#runs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.run)")
    await page.click("#runs-newer")
    await expect(page.locator("#runs-count")).to_have_text(f"1–5 of {total}")
    assert await first_row(page) == run_id

    # JSON download of the run: its record and every stored reading.
    filename, text = await download_of_run(page, live, run_id, "#download-json")
    body = json.loads(text)
    assert body["run"]["id"] == run_id and body["run"]["status"] == "DONE"
    stored = await stored_readings(live, run_id)
    assert len(body["readings"]) == stored and stored
    assert filename == f"{run_id}.json"
