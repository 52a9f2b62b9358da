"""A view per kind of run: the press cycle's dwell counted live with elapsed time and ETA,
the peel's force curve with its steady region and the stored N/cm, the aging run's hours
accumulating with its pull-out schedule and specimens taken out from the page, the laser
job's progress, grade and why."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import LiveStation, log_in, register

pytestmark = pytest.mark.browser

LOT = "EX1-2026-007"


async def dwell_min(page: Page) -> float:
    text = (await page.text_content("#dwell-counter")) or ""
    return float(text.split("/")[0])


async def open_run(page: Page, run_id: str) -> None:
    await page.click("nav.views a[data-view=runs]")
    await page.click(f"#runs tbody tr[data-run='{run_id}']")
    await expect(page.locator("#run-detail")).to_have_attribute("data-run", run_id)


async def started_run(page: Page, kind: str) -> str:
    await page.click(f"#start-{kind}")
    await expect(page.locator(f"#{kind}-error")).to_contain_text("Started")
    return ((await page.text_content(f"#{kind}-error")) or "").removeprefix("Started ").strip()


async def test_the_dwell_counter_counts_up_during_dwell_at_60x_with_elapsed_and_eta(
    browser: Any, live60: LiveStation, screenshots: Path
) -> None:
    page = await log_in(browser, live60, "operator")
    # 150 °C at 30 °C/min heats in ~4 simulated minutes; the 5-minute dwell takes 5 s.
    await page.fill("#f-press_cycle-temperature_c", "150")
    await page.fill("#f-press_cycle-ramp_rate_c_per_min", "30")
    await page.fill("#f-press_cycle-dwell_min", "5")
    await page.click("#start-press_cycle")
    await expect(page.locator("#dwell-counter")).to_contain_text("/ 5 min")
    await expect(page.locator("#live-chart")).to_have_attribute(
        "data-bands", "temperature:147..153 pressure:2.8..3.2")
    await expect(page.locator("#live-phase")).to_have_text("DWELL", timeout=60_000)
    samples = [await dwell_min(page)]
    for _ in range(3):
        # The next reading that counts moves the counter on (0.1 min = 6 s simulated).
        await page.wait_for_function(
            "prev => parseFloat(document.querySelector('#dwell-counter').textContent) > prev",
            arg=samples[-1], timeout=30_000)
        assert (await page.text_content("#live-phase")) == "DWELL"
        samples.append(await dwell_min(page))
        await expect(page.locator("#live-eta")).to_contain_text("dwell ends in")
    assert all(b > a for a, b in itertools.pairwise(samples)), samples
    assert samples[-1] <= 5.0
    elapsed = (await page.text_content("#live-elapsed")) or ""
    assert "min" in elapsed
    await page.screenshot(path=str(screenshots / "press-dwell-counting.png"), full_page=True)
    await expect(page.locator("#live-status")).to_have_text("DONE", timeout=120_000)
    assert await dwell_min(page) >= 5.0
    print("dwell samples (min):", samples)


async def test_peel_view_shades_the_steady_region_and_shows_the_stored_n_per_cm(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    from daq.storage.peel_models import PeelResultRow

    await register(live, LOT, "EX1", [f"{LOT}-A1"])
    page = await log_in(browser, live, "operator")
    await page.click("#tab-peel_test")
    await page.select_option("#f-peel_test-specimen_id", f"{LOT}-A1")
    run_id = await started_run(page, "peel_test")
    await live.lab.run_engine.wait(run_id, timeout_s=120)
    await open_run(page, run_id)
    await expect(page.locator("#run-detail")).to_have_attribute("data-status", "DONE")
    async with live.lab.sessions() as session:
        result = (await session.scalars(
            select(PeelResultRow).where(PeelResultRow.peel_test_id == run_id))).one()
    strength = page.locator("#peel-strength")
    await expect(strength).to_have_text(f"{result.peel_strength_n_per_cm:.1f} N/cm")
    assert float(await strength.get_attribute("data-value") or "nan") == pytest.approx(
        result.peel_strength_n_per_cm, rel=1e-12)
    # The shaded region is the stored steady region (20 % in, 10 % before the end).
    regions = await page.get_attribute("#peel-chart", "data-regions") or ""
    assert regions == f"steady region:{result.steady_start_mm}..{result.steady_end_mm}"
    assert int(await page.get_attribute("#peel-chart", "data-points") or 0) > 0
    await expect(page.locator("#peel-genealogy")).to_contain_text(f"{LOT}-A1")
    await expect(page.locator("#peel-genealogy")).to_contain_text("as made")
    await page.screenshot(path=str(screenshots / "peel-view.png"), full_page=True)


async def test_laser_view_shows_progress_grade_and_why(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    from daq.storage.laser_models import LaserJobRow

    await register(live, LOT, "EX1", [])
    page = await log_in(browser, live, "operator")
    await page.click("#tab-laser_job")
    await page.select_option("#f-laser_job-sample_id", LOT)
    await page.fill("#f-laser_job-n_holes", "300")
    run_id = await started_run(page, "laser_job")
    await live.lab.run_engine.wait(run_id, timeout_s=120)
    await open_run(page, run_id)
    await expect(page.locator("#run-detail")).to_have_attribute("data-status", "DONE")
    async with live.lab.sessions() as session:
        job = await session.get(LaserJobRow, run_id)
    assert job is not None and job.grade is not None
    await expect(page.locator("#laser-grade")).to_have_text(job.grade)
    await expect(page.locator("#laser-progress-text")).to_have_text(" 300 of 300 holes")
    why = await page.locator("#laser-why li").all_text_contents()
    assert why[0] == (f"{job.holes_open} of {job.holes_inspected} inspected holes open "
                      f"({job.open_share:.1%}, ≥ 95%)")
    assert len(why) == 3  # open share, dross share, median taper
    await page.screenshot(path=str(screenshots / "laser-view.png"), full_page=True)


async def test_aging_view_accumulates_hours_and_lists_the_pullout_schedule(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    specimens = [f"{LOT}-B1", f"{LOT}-B2"]
    await register(live, LOT, "EX1", specimens)
    page = await log_in(browser, live, "operator")
    await page.click("#tab-aging_run")
    await page.select_option("#f-aging_run-specimen_ids", specimens)
    # 1000 h at 600× is 100 real minutes: the run is still accumulating however slow the
    # machine (a 2 h run could end, under load, before the page saw its hours grow twice).
    await page.fill("#f-aging_run-pullouts_h", "1, 2, 1000")
    run_id = await started_run(page, "aging_run")
    await open_run(page, run_id)
    await expect(page.locator("#aging-pullouts tbody tr")).to_have_count(3)
    hours = page.locator("#aging-in")
    seen = [float(await hours.get_attribute("data-s") or 0)]
    for _ in range(2):
        await page.wait_for_function(
            "prev => Number(document.querySelector('#aging-in').dataset.s) > prev",
            arg=seen[-1], timeout=60_000)
        seen.append(float(await hours.get_attribute("data-s") or 0))
    assert seen[0] < seen[1] < seen[2], seen
    await page.screenshot(path=str(screenshots / "aging-view-live.png"), full_page=True)
    # Ended, the view is drawn from the record: the hours it had grown to, and more.
    assert await live.lab.run_engine.abort(run_id, "operator1")
    await expect(page.locator("#run-detail")).to_have_attribute("data-status", "ABORTED",
                                                                  timeout=30_000)
    await expect(page.locator("#aging-in")).to_contain_text("h")
    in_s = float(await page.locator("#aging-in").get_attribute("data-s") or 0)
    # Progress events give hours to 4 decimals (0.36 s either way); the record is exact.
    assert in_s >= seen[-1] - 0.00005 * 3600
    print("aging in-tolerance seconds seen:", seen, "final", in_s)
    await page.screenshot(path=str(screenshots / "aging-view-done.png"), full_page=True)


async def test_an_operator_takes_a_specimen_out_of_a_running_aging_run_from_its_view(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    lot = "EX1-2026-008"
    specimens = [f"{lot}-B1", f"{lot}-B2"]
    await register(live, lot, "EX1", specimens)
    page = await log_in(browser, live, "operator")
    await page.click("#tab-aging_run")
    await page.select_option("#f-aging_run-specimen_ids", specimens)
    run_id = await started_run(page, "aging_run")  # 1000 h: still running at the end
    await open_run(page, run_id)
    form = page.locator("#aging-pullout")
    await expect(form.locator("input[name=pull]")).to_have_count(2)
    assert await page.locator("#pullout-due").count() == 0  # nothing due before 250 h
    await expect(page.locator("#pullout-selected")).to_be_disabled()
    await form.locator(f"input[value='{lot}-B1']").check()
    await page.click("#pullout-selected")
    # The pull-out's event comes back on the stream and the view is drawn again from the
    # record: B1 is in the pull-out table (in the slot its plan gave it, taken at its
    # hours so far), only B2 is left to tick.
    taken = page.locator("#aging-pullouts tbody tr", has_text=f"{lot}-B1")
    await expect(taken).to_have_attribute("data-done", "true")
    await expect(page.locator("#pullout-msg")).to_contain_text(f"Pulled {lot}-B1 at")
    await expect(page.locator("#aging-pullout input[name=pull]")).to_have_count(1)
    await page.screenshot(path=str(screenshots / "aging-pullout.png"), full_page=True)
    viewer = await log_in(browser, live, "viewer")
    await open_run(viewer, run_id)
    await expect(viewer.locator("#aging-pullouts tbody tr", has_text=f"{lot}-B1")).to_have_count(1)
    assert await viewer.locator("#aging-pullout").count() == 0  # no control a viewer cannot use
    assert await live.lab.run_engine.abort(run_id, "operator1")
