"""The dashboard in chromium against a real station at 600× (a 20-min dwell takes 2 s)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.api.server import serve
from tests.browser.conftest import LiveStation, download_of_run, log_in, stored_readings

pytestmark = pytest.mark.browser


async def points(page: Page) -> int:
    return int(await page.get_attribute("#live-chart", "data-points") or 0)


async def test_operator_runs_the_default_cycle_sees_it_live_to_done_and_downloads_its_csv(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    page = await log_in(browser, live, "operator")
    await expect(
        page.locator("#instruments tbody tr[data-instrument=press1] td.values")
    ).to_contain_text("temp top")
    await expect(page.locator("#f-press_cycle-temperature_c")).to_have_value("200")
    await page.click("#start-press_cycle")
    await expect(page.locator("#live-status")).to_have_text("RUNNING")
    run_id = (await page.text_content("#live-run")) or ""
    assert run_id.startswith("press-")
    # The chart grows while the run is live.
    first = await points(page)
    await expect(page.locator("#live-phase")).to_have_text("DWELL", timeout=30_000)
    assert await points(page) > first
    await page.screenshot(path=str(screenshots / "operator-mid-cycle.png"), full_page=True)
    await expect(page.locator("#live-status")).to_have_text("DONE", timeout=60_000)
    markers = (await page.get_attribute("#live-chart", "data-markers")) or ""
    assert markers.split()[:4] == ["PRECHECK", "HEAT", "PRESS", "DWELL"]
    assert markers.split()[-1] == "DONE"
    dwell = (await page.text_content("#dwell-counter")) or ""
    assert float(dwell.split("/")[0]) >= 20.0, dwell
    await page.screenshot(path=str(screenshots / "operator-done.png"), full_page=True)

    await page.click("nav.views a[data-view=runs]")
    filename, text = await download_of_run(page, live, run_id, "#download-csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    stored = await stored_readings(live, run_id)
    assert len(rows) == stored and stored > 0
    assert filename == f"{run_id}.csv"
    await page.screenshot(path=str(screenshots / "run-detail.png"), full_page=True)


async def test_viewer_sees_no_start_or_abort_button_and_the_api_answers_403(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    page = await log_in(browser, live, "viewer")
    await expect(page.locator("#press-panel")).to_be_visible()
    assert await page.locator("#start-press_cycle").count() == 0
    assert await page.locator("#abort-run").count() == 0
    status = await page.evaluate(
        """async () => (await fetch('/api/press/cycles', {method: 'POST',
            headers: {'Content-Type': 'application/json',
                      'Authorization': 'Bearer ' + sessionStorage.getItem('lamina.token')},
            body: JSON.stringify({recipe_name: 'default'})})).status"""
    )
    assert status == 403
    assert live.lab.active_runs() == []
    await page.screenshot(path=str(screenshots / "viewer.png"), full_page=True)


async def test_out_of_window_temperature_shows_the_field_error_and_nothing_starts(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    page = await log_in(browser, live, "operator")
    await expect(page.locator("label[for=f-press_cycle-temperature_c] .range")).to_have_text(
        "allowed 150–200 °C"
    )
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await page.fill("#f-press_cycle-temperature_c", "250")
    await page.click("#start-press_cycle")
    await expect(page.locator("#err-press_cycle-temperature_c")).to_have_text(
        "temperature 250 °C is outside the allowed window 150–200 °C"
    )
    await expect(page.locator("#press_cycle-error")).to_contain_text("Refused")
    await page.screenshot(path=str(screenshots / "out-of-window.png"), full_page=True)
    # The limits live in one place, the station: the start went there and was refused.
    assert [url for url in posts if url.endswith("/api/runs")], posts
    assert live.lab.active_runs() == []
    press = live.lab.simulators.instruments["press"]
    assert not press.heater_on and not press.pressure_on
    async with live.lab.sessions() as session:
        from sqlalchemy import func, select

        from daq.storage.models import Run

        assert await session.scalar(select(func.count()).select_from(Run)) == 0


async def test_abort_with_confirmation_takes_the_press_to_its_safe_state(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    page = await log_in(browser, live, "operator")
    # A slow ramp (2 °C/min: ~90 simulated minutes of HEAT, ~9 s here) leaves time to abort.
    await page.fill("#f-press_cycle-ramp_rate_c_per_min", "2")
    await page.click("#start-press_cycle")
    await expect(page.locator("#live-phase")).to_have_text("HEAT", timeout=15_000)
    press = live.lab.simulators.instruments["press"]
    assert press.heater_on
    await page.click("#abort-run")
    await expect(page.locator("#confirm-abort")).to_be_visible()
    await page.screenshot(path=str(screenshots / "abort-confirm.png"))
    await page.click("#confirm-yes")
    await expect(page.locator("#live-status")).to_have_text("ABORTED", timeout=15_000)
    await expect(page.locator("#live-phase")).to_have_text("SAFE")
    assert press.is_safe and not press.heater_on and not press.pressure_on
    await expect(page.locator("#alarms")).to_contain_text("ABORTED")


async def test_dashboard_says_the_stream_dropped_and_reconnects_by_itself(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    from daq.api import create_app
    from daq.station.lab import Lab
    from tests.api.conftest import add_users, station_settings

    async with Lab(station_settings(tmp_path, scale=600.0)) as lab:
        _, passwords = await add_users(lab)
        app = create_app(lab)
        async with serve(app) as base:
            port = int(base.rsplit(":", 1)[1])
            page = await log_in(browser, LiveStation(lab, app, base, passwords, {}), "viewer")
        # The server is gone: the page says so and keeps trying.
        await expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
        await expect(page.locator("#conn-banner")).to_contain_text("reconnecting")
        await page.screenshot(path=str(screenshots / "stream-dropped.png"))
        async with serve(app, port=port):
            await expect(page.locator("#conn")).to_have_attribute(
                "data-state", "live", timeout=15_000
            )
            await expect(page.locator("#conn-banner")).to_be_hidden()
